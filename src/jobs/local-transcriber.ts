// Transcription in this process: the file from the Bot API, ffmpeg (in the decoder process), the
// speech stage and the worker-thread pool. ROLE=all runs it for its own jobs; ROLE=worker for jobs from the queue.
import { rm } from 'node:fs/promises';
import { AudioError } from '../audio/errors.js';
import { withDecodedAudio, type AudioDecoder } from '../audio/decoder-process.js';
import type { DecodedAudio } from '../audio/ffmpeg.js';
import { SAMPLE_RATE } from '../audio/pcm.js';
import type { AsrPool } from '../asr/pool.js';
import { cleanTranscript } from '../asr/transcript-cleanup.js';
import { onOriginalTimeline, type SpeechPlan, type SpeechStage } from '../asr/window-plan.js';
import type { Metrics } from '../metrics/metrics.js';
import { JobError } from './errors.js';
import type { Transcriber, TranscriptionContext, TranscriptionRequest, Transcription } from './transcriber.js';

export interface LocalTranscriberDeps {
  /** Fetches the file to a temporary path that the transcriber deletes. */
  download: (fileId: string, jobId: number, maxBytes: number) => Promise<string>;
  pool: AsrPool;
  /**
   * With VAD=off, the RMS gate: finds the speech and plans Whisper's windows here. Null when the
   * pool's workers do it with Silero VAD (WorkerInit.vad), on the samples they receive anyway.
   */
  speech: SpeechStage | null;
  metrics: Metrics;
  /** ffmpeg, run from the decoder process (see decoder-process.ts). */
  decoder: AudioDecoder;
  modelId: string;
  maxAudioSeconds: number;
  maxFileMb: number;
}

export class LocalTranscriber implements Transcriber {
  /** The deps' decoder, with ffmpeg past its deadline counted: the deadline is the decode's. */
  private readonly decoder: AudioDecoder;

  constructor(private readonly deps: LocalTranscriberDeps) {
    this.decoder = {
      decode: (inputPath, request) =>
        deps.decoder.decode(inputPath, request).catch((error: unknown) => {
          if (error instanceof AudioError && error.failure === 'timed_out') deps.metrics.deadlinesExceeded.inc({ stage: 'decode' });
          throw error;
        }),
    };
  }

  async transcribe(request: TranscriptionRequest, { log, started, progress, measured }: TranscriptionContext): Promise<Transcription> {
    const maxAudioSeconds = Math.min(this.deps.maxAudioSeconds, request.limits?.maxAudioSeconds ?? Infinity);
    const maxFileMb = Math.min(this.deps.maxFileMb, request.limits?.maxFileMb ?? Infinity);
    started();

    let begun = performance.now();
    const file = await this.deps.download(request.fileId, request.jobId, maxFileMb * 2 ** 20);
    measured.downloadMs = performance.now() - begun;
    try {
      begun = performance.now();
      const decodeRequest = { maxSeconds: maxAudioSeconds, expectedSeconds: request.claimedSeconds ?? undefined };
      // The worker reads the note's PCM file, and so does a retry on a fresh worker: it is removed
      // once the pool is done with it.
      return await withDecodedAudio(this.decoder, file, decodeRequest, (audio) => {
        measured.decodeMs = performance.now() - begun;
        measured.audioSeconds = audio.seconds;
        return this.transcribeDecoded(audio, request, { log, progress, measured });
      });
    } finally {
      await rm(file, { force: true });
    }
  }

  /** The speech stage and the pool on a decoded note, and the transcript they give. */
  private async transcribeDecoded(
    audio: DecodedAudio,
    request: TranscriptionRequest,
    { log, progress, measured }: Pick<TranscriptionContext, 'log' | 'progress' | 'measured'>,
  ): Promise<Transcription> {
    const { seconds } = audio;
    // A plan is recorded on the job and ends it when it found no speech: the gate's here, before
    // the pool; the worker's (Silero VAD) after it, since the worker plans where the samples are.
    const accept = (plan: SpeechPlan): SpeechPlan => {
      Object.assign(measured, { speechSeconds: plan.speechSeconds, vadMs: plan.vadMs });
      if (plan.windows.length === 0) throw new JobError('no_speech', `no speech found in ${seconds.toFixed(1)} s`);
      return plan;
    };
    const gated = this.deps.speech ? accept(await this.deps.speech.plan(audio)) : undefined;
    const transcribed = await this.deps.pool.transcribe(
      audio,
      {
        language: request.language,
        task: request.task,
        timestamps: request.timestamps,
        ...(gated ? { windows: gated.windows } : {}),
        ...(request.fixedTokensPerSecond ? { fixedTokensPerSecond: request.fixedTokensPerSecond } : {}),
      },
      progress,
    );
    if (!gated && !transcribed.speech) throw new JobError('asr_failed', 'the ASR worker planned no windows: its pool has no VAD, and none were sent');
    const speech = gated ?? accept(transcribed.speech!);

    const { result, workerId, threads } = transcribed;
    const cleaned = cleanTranscript(result.text, onOriginalTimeline(result.segments, speech.windows, SAMPLE_RATE));
    Object.assign(measured, { inferenceMs: result.inferenceMs, fallbacks: result.fallbacks, language: result.language, model: this.deps.modelId, workerId, threads });
    this.deps.metrics.workerHeapBytes.set({ worker: String(workerId) }, result.workerHeapMb * 2 ** 20);
    log.info({ inferenceMs: Math.round(result.inferenceMs), chunks: result.chunks, language: result.language, workerId }, 'transcribed');

    if (!cleaned.text) throw new JobError('no_speech', 'the model produced no text');
    return {
      transcript: { text: cleaned.text, language: result.language, segments: cleaned.segments, audioSeconds: seconds, loopCut: cleaned.cut },
      windows: result.windows,
    };
  }
}
