// ROLE=bot: a job's transcription handed to a worker through BullMQ, and its result waited for.
// The wait holds up through Redis and bot restarts: the queued job's id comes from the job row, so
// adding it again finds the one handed over before (finished or not), and a job Redis lost is
// simply handed over again. Events only wake the wait early; what decides is the job's state, read
// from Redis every poll, because events can be missed across a reconnect.
import { Queue, QueueEvents, type JobsOptions } from 'bullmq';
import type { Logger } from 'pino';
import type { Transcriber, TranscriptionContext, TranscriptionMeasures, TranscriptionRequest, Transcription } from '../jobs/transcriber.js';
import { closeWithin, connectionOptions } from './connection.js';
import { JOB_NAME, queuedJobId, type QueuedJobData, type QueuedJobResult, type QueuedProgress } from './contract.js';
import type { QueueEndpoint } from './endpoint.js';
import { decodeFailure } from './failure.js';

const DAY_SECONDS = 86_400;
/** Closing waits this long for Redis, then cuts the connections. */
const CLOSE_MS = 3_000;

/**
 * Retries are the bot's (the job row's attempts, with the same replies as in a single process), so
 * BullMQ runs a job once; a worker dying is BullMQ's stalled-job check, bounded by the workers'
 * maxStalledCount. Finished jobs are removed by the bot once it has their outcome; the ages only
 * clear what a bot that never came back leaves behind.
 */
const JOB_OPTIONS: JobsOptions = {
  attempts: 1,
  removeOnComplete: { age: DAY_SECONDS },
  removeOnFail: { age: 7 * DAY_SECONDS },
};

export interface RemoteTranscriberOptions {
  endpoint: QueueEndpoint;
  queueName: string;
  /** The bot's limits, which workers apply on top of their own. */
  limits: { maxAudioSeconds: number; maxFileMb: number };
  log: Logger;
  /** How often a job's state is read when no event woke the wait (default 1 s). */
  pollMs?: number;
}

/** The wait between two looks at a job, which an event for it cuts short. */
class Wakeup {
  private pending = false;
  private cut?: () => void;

  wake(): void {
    if (this.cut) this.cut();
    else this.pending = true;
  }

  /** Until woken (or woken since the last wait), `ms` passed, or `signal` aborted. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.pending || signal.aborted) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.cut = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
      this.cut = done;
    });
  }
}

/** One job being waited for: events wake it and bring its progress. */
interface Watch {
  wakeup: Wakeup;
  progress(data: unknown): void;
}

/** The queued job as Redis holds it. */
type Seen =
  | { kind: 'absent' }
  | { kind: 'waiting' | 'running'; progress: unknown }
  | { kind: 'completed'; result: QueuedJobResult; remove: () => Promise<void> }
  | { kind: 'failed'; reason: string | undefined; remove: () => Promise<void> };

function isProgress(data: unknown): data is QueuedProgress {
  return typeof data === 'object' && data !== null && typeof (data as QueuedProgress).done === 'number' && typeof (data as QueuedProgress).total === 'number';
}

/** The worker's measures into the job's: the queue's wait adds to the bot's own, the rest is the worker's. */
export function absorbMeasures(into: TranscriptionMeasures, remote: TranscriptionMeasures): void {
  const waited = (into.queueWaitMs ?? 0) + (remote.queueWaitMs ?? 0);
  Object.assign(into, remote, { queueWaitMs: waited });
}

export class RemoteTranscriber implements Transcriber {
  readonly queue: Queue<QueuedJobData, QueuedJobResult>;
  private readonly events: QueueEvents;
  private readonly watches = new Map<string, Watch>();

  constructor(private readonly options: RemoteTranscriberOptions) {
    const connection = connectionOptions(options.endpoint);
    // A command while Redis is away fails at once instead of waiting: the wait loop retries it.
    this.queue = new Queue(options.queueName, { connection: { ...connection, enableOfflineQueue: false } });
    this.events = new QueueEvents(options.queueName, { connection });
    const wake = ({ jobId }: { jobId: string }) => this.watches.get(jobId)?.wakeup.wake();
    for (const event of ['active', 'completed', 'failed', 'removed'] as const) this.events.on(event, wake);
    this.events.on('progress', ({ jobId, data }) => this.watches.get(jobId)?.progress(data));
    // BullMQ's clients report a lost connection as 'error' events; QueueConnection says plainly what is wrong.
    const quiet = (error: Error) => options.log.debug({ err: error }, 'queue client error');
    this.queue.on('error', quiet);
    this.events.on('error', quiet);
  }

  async transcribe(request: TranscriptionRequest, context: TranscriptionContext): Promise<Transcription> {
    const { log, stopping } = context;
    const id = queuedJobId(request);
    const data: QueuedJobData = { ...request, limits: this.options.limits };
    let relayed = '';
    const watch: Watch = {
      wakeup: new Wakeup(),
      progress: (progress) => {
        if (!isProgress(progress) || `${progress.done}/${progress.total}` === relayed) return;
        relayed = `${progress.done}/${progress.total}`;
        context.progress(progress.done, progress.total);
      },
    };
    this.watches.set(id, watch);
    let started = false;
    let handedOver = 0;
    try {
      for (;;) {
        if (stopping.aborted) throw new Error('the bot is stopping: the queued job goes on, and the next start waits for it again');
        let state: Seen;
        try {
          state = await this.look(id);
          if (state.kind === 'absent') {
            await this.queue.add(JOB_NAME, data, { ...JOB_OPTIONS, jobId: id });
            log.info({ queuedJob: id, again: handedOver > 0 }, handedOver > 0 ? 'handed over to the queue again: Redis had lost the job' : 'handed over to the queue');
            handedOver++;
          } else if (state.kind === 'failed') {
            // Gone before the job row is released: a retry must hand over a fresh job, not find this one.
            await state.remove();
          }
        } catch (error) {
          log.debug({ err: error, queuedJob: id }, 'reading the queued job failed: trying again');
          await watch.wakeup.wait(this.pollMs, stopping);
          continue;
        }
        if (state.kind === 'completed') {
          absorbMeasures(context.measured, state.result.measured);
          return { transcript: state.result.transcript, windows: state.result.windows, stored: state.remove };
        }
        if (state.kind === 'failed') {
          const failure = decodeFailure(state.reason);
          absorbMeasures(context.measured, failure.measured);
          throw failure.error;
        }
        if (state.kind === 'running' && !started) {
          started = true;
          context.started();
        }
        if (state.kind === 'running' || state.kind === 'waiting') watch.progress(state.progress);
        await watch.wakeup.wait(this.pollMs, stopping);
      }
    } finally {
      this.watches.delete(id);
    }
  }

  private get pollMs(): number {
    return this.options.pollMs ?? 1_000;
  }

  private async look(id: string): Promise<Seen> {
    const state = await this.queue.getJobState(id);
    const job = state === 'unknown' ? undefined : await this.queue.getJob(id);
    if (!job) return { kind: 'absent' };
    const remove = () => job.remove();
    if (state === 'completed') {
      // A completed job read before its result landed: look again at the next poll.
      if (!job.returnvalue) return { kind: 'waiting', progress: job.progress };
      return { kind: 'completed', result: job.returnvalue, remove };
    }
    if (state === 'failed') return { kind: 'failed', reason: job.failedReason, remove };
    return { kind: state === 'active' ? 'running' : 'waiting', progress: job.progress };
  }

  async close(): Promise<void> {
    await Promise.all([
      closeWithin(CLOSE_MS, () => this.events.close(), () => this.events.disconnect()),
      closeWithin(CLOSE_MS, () => this.queue.close(), () => this.queue.disconnect()),
    ]);
  }
}
