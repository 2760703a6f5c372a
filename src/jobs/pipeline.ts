// One job, start to end: download → decode → transcribe → reply + record.
import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import { decodeToPcm, SAMPLE_RATE } from '../audio/ffmpeg.js';
import { hasSpeech } from '../audio/speech-gate.js';
import type { AsrPool } from '../asr/pool.js';
import type { Segment } from '../asr/protocol.js';
import { cutRepetitionLoops } from '../asr/transcript-cleanup.js';
import type { Metrics } from '../metrics/metrics.js';
import { asJobError, JobError } from './errors.js';
import type { Job, JobOutcome, JobStore } from './job-store.js';
import { MemoryTracker } from './memory-tracker.js';
import { inferenceRtf, totalRtf } from './rtf.js';

export interface Transcript {
  text: string;
  language: string | null;
  segments: Segment[];
  audioSeconds: number;
  /** A repetition loop was cut out of the model's output. */
  loopCut: boolean;
  fromCache: boolean;
}

/** What the pipeline needs from Telegram; the bot implements it. */
export interface ReplyChannel {
  /** Downloads the job's file to a temporary path that the caller deletes. */
  download(job: Job, maxBytes: number): Promise<string>;
  working(job: Job): Promise<void>;
  progress(job: Job, chunksDone: number, chunksTotal: number): Promise<void>;
  deliver(job: Job, transcript: Transcript): Promise<void>;
  refuse(job: Job, error: JobError): Promise<void>;
}

export interface PipelineDeps {
  store: JobStore;
  channel: ReplyChannel;
  pool: AsrPool;
  metrics: Metrics;
  log: Logger;
  ffmpegPath: string;
  modelId: string;
  maxAudioSeconds: number;
  maxFileMb: number;
  storeTranscripts: boolean;
}

/**
 * A job gets this many attempts before it fails: retryable failures (download, worker, reply), and
 * claims that never came back because the process died (every claim counts one).
 */
export const MAX_ATTEMPTS = 3;

export class JobPipeline {
  constructor(private readonly deps: PipelineDeps) {}

  /** `stopping` aborts when a shutdown cut the job off: it is back in the queue, and the user is told nothing. */
  async run(job: Job, stopping: AbortSignal = new AbortController().signal): Promise<void> {
    const { store, channel, metrics } = this.deps;
    const log = this.deps.log.child({ requestId: `job-${job.id}`, jobId: job.id });
    const memory = new MemoryTracker();
    const outcome: JobOutcome = {
      queueWaitMs: Math.max(0, Date.now() - job.createdAt),
      model: this.deps.modelId,
    };
    let file: string | undefined;
    try {
      if (job.attempts > MAX_ATTEMPTS) {
        throw new JobError('too_many_attempts', `claimed ${job.attempts} times; the earlier ${job.attempts - 1} never finished (the process died)`);
      }
      await channel.working(job).catch((error: Error) => {
        throw new JobError('reply_failed', `showing progress failed: ${error.message}`);
      });

      let started = performance.now();
      file = await channel.download(job, this.deps.maxFileMb * 2 ** 20);
      outcome.downloadMs = performance.now() - started;

      started = performance.now();
      const decode = (path: string) =>
        decodeToPcm(path, { ffmpegPath: this.deps.ffmpegPath, maxSeconds: this.deps.maxAudioSeconds, expectedSeconds: job.claimedSeconds ?? undefined }).catch((error: unknown) => {
          if (error instanceof JobError && error.code === 'timed_out') metrics.deadlinesExceeded.inc({ stage: 'decode' });
          throw error;
        });
      const audio = await decode(file);
      const decoded = file;
      outcome.decodeMs = performance.now() - started;
      outcome.audioSeconds = audio.seconds;

      if (!hasSpeech(audio.samples, SAMPLE_RATE)) throw new JobError('no_speech', `no voiced frames in ${audio.seconds.toFixed(1)} s`);

      // The samples move to the worker; a retry on a fresh worker decodes the file again.
      const { result, workerId, threads } = await this.deps.pool.transcribe(
        { samples: audio.samples, reload: () => decode(decoded).then((again) => again.samples) },
        { language: job.requestedLanguage, task: job.task, timestamps: job.timestamps },
        (done, total) => void channel.progress(job, done, total).catch((error: Error) => log.warn({ err: error }, 'progress update failed')),
      );
      const cleaned = cutRepetitionLoops(result.text);
      Object.assign(outcome, {
        inferenceMs: result.inferenceMs,
        language: result.language,
        workerId,
        threads,
        rtf: inferenceRtf(result.inferenceMs, audio.seconds),
      });
      outcome.rtfTotal = totalRtf(
        { queueWaitMs: outcome.queueWaitMs!, downloadMs: outcome.downloadMs, decodeMs: outcome.decodeMs, inferenceMs: result.inferenceMs },
        audio.seconds,
      );
      metrics.workerHeapBytes.set({ worker: String(workerId) }, result.workerHeapMb * 2 ** 20);

      if (!cleaned.text) throw new JobError('no_speech', 'the model produced no text');
      try {
        await channel.deliver(job, {
          text: cleaned.text,
          language: result.language,
          segments: result.segments,
          audioSeconds: audio.seconds,
          loopCut: cleaned.cut,
          fromCache: false,
        });
      } catch (error) {
        throw new JobError('reply_failed', `sending the transcript failed: ${(error as Error).message}`);
      }
      this.finish(job, 'done', { ...outcome, ...memory.stop(), transcript: this.deps.storeTranscripts ? cleaned.text : null }, log);
    } catch (error) {
      if (stopping.aborted) {
        log.info({ err: error, attempt: job.attempts }, 'job cut off by the shutdown: it resumes at the next start');
        return;
      }
      const failure = asJobError(error, 'asr_failed');
      const report = memory.stop();
      if (failure.retryable && job.attempts < MAX_ATTEMPTS) {
        store.release(job.id);
        metrics.errors.inc({ where: failure.code });
        log.warn({ err: failure, attempt: job.attempts }, 'job failed, will retry');
        return;
      }
      try {
        await channel.refuse(job, failure);
      } catch (replyError) {
        log.error({ err: replyError }, 'could not tell the user the job failed');
      }
      // "No speech" is an answer, not an error: the job is done.
      const status = failure.code === 'no_speech' ? 'done' : 'failed';
      this.finish(job, status, { ...outcome, ...report, errorCode: failure.code, errorDetail: failure.detail }, log);
    } finally {
      if (file) await rm(file, { force: true });
    }
  }

  private finish(job: Job, status: 'done' | 'failed', outcome: JobOutcome, log: Logger): void {
    const { metrics } = this.deps;
    this.deps.store.finish(job.id, status, outcome);
    metrics.jobs.inc({ status, code: outcome.errorCode ?? '' });
    if (outcome.rtf !== undefined && outcome.rtf !== null) {
      metrics.rtf.observe({ model: this.deps.modelId, media_kind: job.mediaKind }, outcome.rtf);
      metrics.inferenceSeconds.observe({ model: this.deps.modelId }, (outcome.inferenceMs ?? 0) / 1000);
    }
    if (outcome.decodeMs) metrics.decodeSeconds.observe(outcome.decodeMs / 1000);
    if (outcome.audioSeconds) metrics.audioSeconds.inc(outcome.audioSeconds);
    if (outcome.rssPeakMb) metrics.jobPeakRssBytes.set(outcome.rssPeakMb * 2 ** 20);
    if (status === 'failed') metrics.errors.inc({ where: outcome.errorCode ?? 'job' });

    const { transcript: _omitted, ...measured } = outcome;
    const line = {
      userId: job.userId,
      chatId: job.chatId,
      messageId: job.messageId,
      fileUniqueId: job.fileUniqueId,
      mediaKind: job.mediaKind,
      attempts: job.attempts,
      status,
      ...measured,
    };
    if (status === 'done') log.info(line, 'job finished');
    else log.error(line, 'job failed');
  }
}
