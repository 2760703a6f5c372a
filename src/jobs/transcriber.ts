// The transcription step of a job, whoever runs it: this process's worker threads
// (local-transcriber.ts), or a worker process on any machine through the queue
// (src/queue/remote-transcriber.ts). The pipeline around it (claims, delivery, records) is the same.
import type { Logger } from 'pino';
import type { Task, WindowRecord } from '../asr/protocol.js';
import type { TranscriptRecord } from '../storage/schema.js';
import type { JobOutcome } from './job-store.js';

/** What transcribing needs to know of a job: a job row's fields, or a queued job's data. */
export interface TranscriptionRequest {
  /** The job row's id: temporary file names and log lines, and (through the queue) the queued job's identity. */
  jobId: number;
  /** When the job row was made: with the id, the queued job's identity (ids come round again after a database restore). */
  createdAt: number;
  fileId: string;
  /** The duration Telegram reported. */
  claimedSeconds: number | null;
  /** Fixed language, or null to detect it. */
  language: string | null;
  task: Task;
  timestamps: boolean;
  /** The bot's limits, which a worker applies on top of its own (the lower one wins). */
  limits?: { maxAudioSeconds: number; maxFileMb: number };
  /** Benchmarks only: see TranscribeRequest.fixedTokensPerSecond. */
  fixedTokensPerSecond?: number;
}

/** What making a transcript measured: the job row's columns. */
export type TranscriptionMeasures = Pick<
  JobOutcome,
  'queueWaitMs' | 'downloadMs' | 'decodeMs' | 'audioSeconds' | 'speechSeconds' | 'vadMs' | 'inferenceMs' | 'fallbacks' | 'language' | 'model' | 'workerId' | 'threads' | 'worker'
>;

export interface TranscriptionContext {
  /** The job's logger. */
  log: Logger;
  /** Work on the note begins (the user is shown "working" if it takes a while); failures are the caller's to report. */
  started(): void;
  /** Window `done` of `total` is decoded. */
  progress(done: number, total: number): void;
  /** Measures are written here as they are taken, so a failure keeps the ones made before it. */
  measured: TranscriptionMeasures;
  /** Aborts when a shutdown cut the job off: a wait for another process's work ends there. */
  stopping: AbortSignal;
}

export interface Transcription {
  transcript: TranscriptRecord;
  /** How each window was decoded (temperature, compression ratio, log-prob, no-speech): the job's log line. */
  windows: WindowRecord[];
  /** For a transcript that another process made: called once it is stored in the job row, so the copy held there can go. */
  stored?: () => Promise<void>;
}

export interface Transcriber {
  /** Download → decode → speech → Whisper → cleaned transcript; failures are thrown as the stages' errors or JobErrors. */
  transcribe(request: TranscriptionRequest, context: TranscriptionContext): Promise<Transcription>;
}
