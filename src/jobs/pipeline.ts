// One job, start to end: transcribe (download → decode → speech → Whisper) → reply + record.
import type { Logger } from 'pino';
import type { WindowRecord } from '../asr/protocol.js';
import type { Metrics } from '../metrics/metrics.js';
import type { TranscriptRecord } from '../storage/schema.js';
import { asJobError, JobError } from './errors.js';
import type { Job, JobOutcome, JobStore } from './job-store.js';
import { MemoryTracker } from './memory-tracker.js';
import { StatusUpdates } from './status-updates.js';
import { inferenceRtf, totalRtf } from './rtf.js';
import type { Transcriber, Transcription, TranscriptionRequest } from './transcriber.js';

export interface Transcript extends TranscriptRecord {
  fromCache: boolean;
}

/** What the pipeline needs from Telegram; the bot implements it. */
export interface ReplyChannel {
  working(job: Job): Promise<void>;
  progress(job: Job, chunksDone: number, chunksTotal: number): Promise<void>;
  /** Sends what of the answer Telegram has not accepted yet (a retry sends no piece twice). */
  deliver(job: Job, transcript: Transcript): Promise<void>;
  refuse(job: Job, error: JobError): Promise<void>;
}

export interface PipelineDeps {
  store: JobStore;
  channel: ReplyChannel;
  /** This process's worker threads, or workers elsewhere through the queue. */
  transcriber: Transcriber;
  metrics: Metrics;
  log: Logger;
  /** The model this bot answers with: what a job row records unless the transcriber says otherwise. */
  modelId: string;
  storeTranscripts: boolean;
}

/** Both RTFs, once what they are made of is measured. */
function addRtf(outcome: JobOutcome): void {
  const { audioSeconds, inferenceMs } = outcome;
  if (audioSeconds == null || inferenceMs == null) return;
  outcome.rtf = inferenceRtf(inferenceMs, audioSeconds);
  outcome.rtfTotal = totalRtf(
    { queueWaitMs: outcome.queueWaitMs ?? 0, downloadMs: outcome.downloadMs ?? 0, decodeMs: outcome.decodeMs ?? 0, vadMs: outcome.vadMs ?? 0, inferenceMs },
    audioSeconds,
  );
}

/**
 * A job gets this many attempts before it fails: retryable failures (download, worker, reply), and
 * claims that never came back because the process died (every claim counts one).
 */
export const MAX_ATTEMPTS = 3;

/** Telegram's pacing of a chat (~1 s) is what a "working" edit costs the answer: only slower notes show it. */
const WORKING_STATUS_AFTER_MS = 1_000;

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
    let updates: StatusUpdates | undefined;
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
        const { queueWaitMs, downloadMs, decodeMs, audioSeconds, speechSeconds, vadMs, inferenceMs, fallbacks, rtf, rtfTotal, model, language, workerId, threads, worker } = stored;
        outcome = { queueWaitMs, downloadMs, decodeMs, audioSeconds, speechSeconds, vadMs, inferenceMs, fallbacks, rtf, rtfTotal, model, language, workerId, threads, worker };
      } else {
        // The status message is a courtesy: failing to update it must not fail the job.
        updates = new StatusUpdates(
          (update) => (update.kind === 'working' ? channel.working(job) : channel.progress(job, update.done, update.total)),
          (error) => log.warn({ err: error }, 'status update failed'),
          WORKING_STATUS_AFTER_MS,
        );
        ({ transcript: result, windows } = await this.transcribe(job, outcome, updates, log, stopping));
      }
      try {
        await channel.deliver(job, { ...result, fromCache: false });
      } catch (error) {
        throw asJobError(error, 'reply_failed');
      }
      this.finish(job, 'done', { ...outcome, ...memory.stop(), ...this.kept(result) }, log, windows);
    } catch (error) {
      await updates?.stop();
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
   * The transcriber's transcript, stored in the job row with what making it measured (in `outcome`,
   * with the RTFs); status edits stop before it is stored.
   */
  private async transcribe(job: Job, outcome: JobOutcome, updates: StatusUpdates, log: Logger, stopping: AbortSignal): Promise<Transcription> {
    const { channel, store } = this.deps;
    const request: TranscriptionRequest = {
      jobId: job.id,
      createdAt: job.createdAt,
      fileId: job.fileId,
      claimedSeconds: job.claimedSeconds,
      language: job.requestedLanguage,
      task: job.task,
      timestamps: job.timestamps,
    };
    let transcription: Transcription;
    try {
      transcription = await this.deps.transcriber.transcribe(request, {
        log,
        started: () => updates.working(),
        progress: (done, total) => updates.progress(done, total),
        measured: outcome,
        stopping,
      });
    } finally {
      // A failure after Whisper ran (no text came out) still records what it cost.
      addRtf(outcome);
    }
    await updates.stop();
    store.saveResult(job.id, transcription.transcript, outcome);
    await transcription.stored?.().catch((error: Error) => log.warn({ err: error }, 'the transcript is stored, but the queue still holds its copy (it expires by itself)'));
    return transcription;
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
