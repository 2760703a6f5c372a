// One job, start to end: download → decode → transcribe → reply + record.
import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import { AudioError } from '../audio/errors.js';
import type { AudioDecoder } from '../audio/decoder-process.js';
import { SAMPLE_RATE, type DecodedAudio } from '../audio/ffmpeg.js';
import type { AsrPool, PoolResult } from '../asr/pool.js';
import type { WindowRecord } from '../asr/protocol.js';
import { cleanTranscript } from '../asr/transcript-cleanup.js';
import { onOriginalTimeline, type SpeechPlan, type SpeechStage } from '../asr/window-plan.js';
import type { Metrics } from '../metrics/metrics.js';
import type { TranscriptRecord } from '../storage/schema.js';
import { asJobError, JobError } from './errors.js';
import type { Job, JobOutcome, JobStore } from './job-store.js';
import { MemoryTracker } from './memory-tracker.js';
import { ProgressReporter } from './progress-reporter.js';
import { inferenceRtf, totalRtf } from './rtf.js';

export interface Transcript extends TranscriptRecord {
  fromCache: boolean;
}

/** What the pipeline needs from Telegram; the bot implements it. */
export interface ReplyChannel {
  /** Downloads the job's file to a temporary path that the caller deletes. */
  download(job: Job, maxBytes: number): Promise<string>;
  working(job: Job): Promise<void>;
  progress(job: Job, chunksDone: number, chunksTotal: number): Promise<void>;
  /** Sends what of the answer Telegram has not accepted yet (a retry sends no piece twice). */
  deliver(job: Job, transcript: Transcript): Promise<void>;
  refuse(job: Job, error: JobError): Promise<void>;
}

export interface PipelineDeps {
  store: JobStore;
  channel: ReplyChannel;
  pool: AsrPool;
  /** Silero VAD, or the RMS gate with VAD=off: finds the speech and plans Whisper's windows. */
  speech: SpeechStage;
  metrics: Metrics;
  log: Logger;
  /** ffmpeg, run from the decoder process (see decoder-process.ts). */
  decoder: AudioDecoder;
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
    let outcome: JobOutcome = {
      queueWaitMs: Math.max(0, Date.now() - job.createdAt),
      model: this.deps.modelId,
    };
    let progress: ProgressReporter | undefined;
    let windows: WindowRecord[] | undefined;
    try {
      if (job.attempts > MAX_ATTEMPTS) {
        throw new JobError('too_many_attempts', `claimed ${job.attempts} times; the earlier ${job.attempts - 1} never finished (the process died)`);
      }
      // A result stored by an earlier attempt is delivered as it is: Telegram failing never costs another Whisper run.
      const stored = store.get(job.id);
      let result = stored?.result;
      if (stored && result) {
        log.info({ attempt: job.attempts, deliveredPieces: stored.deliveredPieces }, 'delivering a stored transcript');
        // What the attempt that transcribed measured, for the finished row, log line and metrics.
        const { queueWaitMs, downloadMs, decodeMs, audioSeconds, speechSeconds, vadMs, inferenceMs, fallbacks, rtf, rtfTotal, model, language, workerId, threads } = stored;
        outcome = { queueWaitMs, downloadMs, decodeMs, audioSeconds, speechSeconds, vadMs, inferenceMs, fallbacks, rtf, rtfTotal, model, language, workerId, threads };
      } else {
        progress = new ProgressReporter(
          (done, total) => channel.progress(job, done, total),
          (error) => log.warn({ err: error }, 'progress update failed'),
        );
        ({ transcript: result, windows } = await this.transcribe(job, outcome, progress, log));
        store.saveResult(job.id, result, outcome);
      }
      try {
        await channel.deliver(job, { ...result, fromCache: false });
      } catch (error) {
        throw asJobError(error, 'reply_failed');
      }
      this.finish(job, 'done', { ...outcome, ...memory.stop(), ...this.kept(result) }, log, windows);
    } catch (error) {
      await progress?.stop();
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
      this.finish(job, status, { ...outcome, ...report, errorCode: failure.code, errorDetail: failure.detail, result: null }, log);
    }
  }

  /** Without STORE_TRANSCRIPTS the result lives only until it is delivered. */
  private kept(result: TranscriptRecord): JobOutcome {
    return this.deps.storeTranscripts ? { transcript: result.text } : { transcript: null, result: null };
  }

  /**
   * Download → decode → speech → Whisper → cleaned transcript, with how each window was decoded;
   * progress edits stop before it returns.
   */
  private async transcribe(job: Job, outcome: JobOutcome, progress: ProgressReporter, log: Logger): Promise<{ transcript: TranscriptRecord; windows: WindowRecord[] }> {
    const { channel, metrics } = this.deps;
    // The status message is a courtesy: failing to show it must not fail the job.
    await channel.working(job).catch((error: Error) => log.warn({ err: error }, 'showing "working" failed'));

    let started = performance.now();
    const file = await channel.download(job, this.deps.maxFileMb * 2 ** 20);
    outcome.downloadMs = performance.now() - started;
    const decode = () =>
      this.deps.decoder.decode(file, { maxSeconds: this.deps.maxAudioSeconds, expectedSeconds: job.claimedSeconds ?? undefined }).catch((error: unknown) => {
        if (error instanceof AudioError && error.failure === 'timed_out') metrics.deadlinesExceeded.inc({ stage: 'decode' });
        throw error;
      });
    let audio: DecodedAudio;
    let speech: SpeechPlan;
    let transcribed: PoolResult;
    try {
      started = performance.now();
      audio = await decode();
      outcome.decodeMs = performance.now() - started;
      outcome.audioSeconds = audio.seconds;

      speech = await this.deps.speech.plan(audio.samples);
      Object.assign(outcome, { speechSeconds: speech.speechSeconds, vadMs: speech.vadMs });
      if (speech.windows.length === 0) throw new JobError('no_speech', `no speech found in ${audio.seconds.toFixed(1)} s`);

      // The samples move to the worker; a retry on a fresh worker decodes the file again.
      transcribed = await this.deps.pool.transcribe(
        { samples: audio.samples, reload: () => decode().then((again) => again.samples) },
        { language: job.requestedLanguage, task: job.task, timestamps: job.timestamps, windows: speech.windows },
        (done, total) => progress.report(done, total),
      );
    } finally {
      await rm(file, { force: true });
    }
    const { result, workerId, threads } = transcribed;
    await progress.stop();
    const cleaned = cleanTranscript(result.text, onOriginalTimeline(result.segments, speech.windows, SAMPLE_RATE));
    Object.assign(outcome, {
      inferenceMs: result.inferenceMs,
      fallbacks: result.fallbacks,
      language: result.language,
      workerId,
      threads,
      rtf: inferenceRtf(result.inferenceMs, audio.seconds),
    });
    outcome.rtfTotal = totalRtf(
      { queueWaitMs: outcome.queueWaitMs!, downloadMs: outcome.downloadMs, decodeMs: outcome.decodeMs, vadMs: speech.vadMs ?? 0, inferenceMs: result.inferenceMs },
      audio.seconds,
    );
    metrics.workerHeapBytes.set({ worker: String(workerId) }, result.workerHeapMb * 2 ** 20);
    log.info({ inferenceMs: Math.round(result.inferenceMs), chunks: result.chunks, language: result.language, workerId }, 'transcribed');

    if (!cleaned.text) throw new JobError('no_speech', 'the model produced no text');
    return {
      transcript: { text: cleaned.text, language: result.language, segments: cleaned.segments, audioSeconds: audio.seconds, loopCut: cleaned.cut },
      windows: result.windows,
    };
  }

  /** `windows`: how each window was decoded (temperature, compression ratio, log-prob, no-speech). */
  private finish(job: Job, status: 'done' | 'failed', outcome: JobOutcome, log: Logger, windows?: WindowRecord[]): void {
    const { metrics } = this.deps;
    this.deps.store.finish(job.id, status, outcome);
    metrics.jobs.inc({ status, code: outcome.errorCode ?? '' });
    if (outcome.rtf !== undefined && outcome.rtf !== null) {
      metrics.rtf.observe({ model: this.deps.modelId, media_kind: job.mediaKind }, outcome.rtf);
      metrics.inferenceSeconds.observe({ model: this.deps.modelId }, (outcome.inferenceMs ?? 0) / 1000);
    }
    if (outcome.decodeMs) metrics.decodeSeconds.observe(outcome.decodeMs / 1000);
    if (outcome.queueWaitMs != null) metrics.queueWaitSeconds.observe(outcome.queueWaitMs / 1000);
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
      ...(windows ? { windows } : {}),
    };
    if (status === 'done') log.info(line, 'job finished');
    else log.error(line, 'job failed');
  }
}
