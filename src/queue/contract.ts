// What the bot and its workers exchange through BullMQ: the job's data, its result, its progress,
// and the names they share. Plain JSON, so bot and workers may run on different machines.
import type { WindowRecord } from '../asr/protocol.js';
import type { TranscriptionMeasures, TranscriptionRequest } from '../jobs/transcriber.js';
import type { TranscriptRecord } from '../storage/schema.js';

/** BullMQ's name for every job in the queue (the queue itself is QUEUE_NAME). */
export const JOB_NAME = 'transcribe';

export type QueuedJobData = TranscriptionRequest;

export interface QueuedJobResult {
  transcript: TranscriptRecord;
  windows: WindowRecord[];
  /**
   * The worker's measures, with `worker` (host:pid), and as `queueWaitMs` the queue's own wait: from
   * the bot handing the job over to a worker starting it (the bot adds its own wait before that).
   */
  measured: TranscriptionMeasures;
}

export interface QueuedProgress {
  done: number;
  total: number;
}

/**
 * The queued job's id: the job row's id, and when the row was made, because after a database
 * restore ids come round again and must not find another note's finished job. BullMQ ignores a job
 * added again under an id it holds, so a bot that restarts finds the job it handed over before.
 */
export function queuedJobId(request: Pick<TranscriptionRequest, 'jobId' | 'createdAt'>): string {
  return `job-${request.jobId}-${request.createdAt}`;
}

/** Where a worker publishes what /stats shows of it (model, threads): outside BullMQ's own keys. */
export function workerInfoKey(queueName: string, workerName: string): string {
  return `voicebot:${queueName}:worker:${workerName}`;
}

/** What a worker publishes about itself, refreshed while it runs and gone soon after it stops. */
export interface WorkerInfo {
  host: string;
  pid: number;
  model: string;
  /** Jobs at once (ASR_WORKERS) and onnxruntime threads for each (ASR_THREADS). */
  concurrency: number;
  threads: number;
  version: string;
}
