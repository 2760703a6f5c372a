// ROLE=worker: takes transcription jobs from BullMQ, as many at once as its pool has workers, and
// only when its own memory allows; reports progress per window; publishes what /stats shows of it.
// At shutdown it takes nothing new, lets running jobs finish within the grace period, and hands the
// rest back to the queue for another worker (never stopping onnxruntime mid-run: the pool does that).
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { asJobError } from '../jobs/errors.js';
import { MAX_ATTEMPTS } from '../jobs/pipeline.js';
import type { Transcriber, TranscriptionMeasures } from '../jobs/transcriber.js';
import type { Metrics } from '../metrics/metrics.js';
import { closeWithin, connectionOptions } from './connection.js';
import { workerInfoKey, type QueuedJobData, type QueuedJobResult, type WorkerInfo } from './contract.js';
import type { QueueEndpoint } from './endpoint.js';
import { encodeFailure } from './failure.js';

/** What /stats shows of this worker is refreshed this often, and expires after three misses. */
const INFO_REFRESH_MS = 10_000;
const MEMORY_CHECK_MS = 500;
const CLOSE_MS = 3_000;

/**
 * Pure: another job only when memory allows, but a worker with nothing running takes one anyway:
 * refusing its only job would leave it waiting forever (as the bot's dispatcher does in a single process).
 */
export function takesMoreJobs(running: number, availableMb: number, minAvailableMb: number): boolean {
  return running === 0 || availableMb >= minAvailableMb;
}

/** This process as BullMQ's worker list and the job rows name it. */
export function workerName(): string {
  return `${os.hostname()}:${process.pid}`;
}

export interface TranscriptionWorkerOptions {
  endpoint: QueueEndpoint;
  queueName: string;
  name: string;
  /** Jobs at once: the pool's size (ASR_WORKERS). */
  concurrency: number;
  lockSeconds: number;
  transcriber: Transcriber;
  /** Published for /stats, with the name. */
  info: Omit<WorkerInfo, 'host' | 'pid'>;
  /** The connection's own client, for the published info. */
  redis: Redis;
  memory: { minAvailableMb: number; availableMb: () => number };
  metrics: Metrics;
  log: Logger;
}

export class TranscriptionWorker {
  private worker?: Worker<QueuedJobData, QueuedJobResult>;
  private readonly running = new Map<string, { job: Job<QueuedJobData, QueuedJobResult>; token?: string }>();
  private handingBack = false;
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly options: TranscriptionWorkerOptions) {}

  get active(): number {
    return this.running.size;
  }

  /** Starts taking jobs (Redis reached and checked). */
  start(): void {
    const { queueName, name, concurrency, lockSeconds, log } = this.options;
    this.worker = new Worker<QueuedJobData, QueuedJobResult>(queueName, (job, token) => this.process(job, token), {
      connection: connectionOptions(this.options.endpoint),
      name,
      concurrency,
      lockDuration: lockSeconds * 1000,
      stalledInterval: lockSeconds * 1000,
      // A job whose worker died this many times more fails for good, like a note that keeps killing the bot.
      maxStalledCount: MAX_ATTEMPTS - 1,
    });
    this.worker.on('error', (error) => log.debug({ err: error }, 'queue worker error'));
    this.worker.on('stalled', (jobId) => log.warn({ queuedJob: jobId }, 'a job whose worker stopped answering goes back to the queue'));
    this.timers = [setInterval(() => this.checkMemory(), MEMORY_CHECK_MS), setInterval(() => void this.publish(), INFO_REFRESH_MS)];
    for (const timer of this.timers) timer.unref();
    void this.publish();
    log.info({ queue: queueName, worker: name, concurrency, lockSeconds }, 'taking transcription jobs');
  }

  /**
   * Takes no new job; waits up to `graceMs` for the running ones; after that, running jobs are handed
   * back to the queue as soon as `closeStages` has stopped the pool between two onnxruntime runs.
   * Returns how many were handed back.
   */
  async stop(graceMs: number, closeStages: () => Promise<void>): Promise<number> {
    for (const timer of this.timers) clearInterval(timer);
    if (!this.worker) {
      await closeStages();
      return 0;
    }
    // Takes no new job; resolves once the running ones have ended and the connections are closed.
    const closing = this.worker.close();
    const left = await this.runningAfter(graceMs);
    this.handingBack = left > 0;
    await closeStages();
    // Every job has ended by now; only Redis being away can hold the close up.
    await closeWithin(CLOSE_MS, () => closing, () => this.worker!.disconnect());
    await this.options.redis.del(workerInfoKey(this.options.queueName, this.options.name)).catch(() => undefined);
    return left;
  }

  /** Jobs still running after `ms` (0 as soon as none is): the wait is for jobs, never for Redis. */
  private async runningAfter(ms: number): Promise<number> {
    const until = Date.now() + ms;
    while (this.running.size > 0 && Date.now() < until) await sleep(100);
    return this.running.size;
  }

  private async process(job: Job<QueuedJobData, QueuedJobResult>, token?: string): Promise<QueuedJobResult> {
    const { name, metrics, transcriber } = this.options;
    const request = job.data;
    const log = this.options.log.child({ requestId: `job-${request.jobId}`, jobId: request.jobId, queuedJob: job.id });
    const measured: TranscriptionMeasures = { queueWaitMs: Math.max(0, (job.processedOn ?? Date.now()) - job.timestamp), worker: name };
    this.running.set(job.id!, { job, token });
    log.info({ worker: name, started: job.attemptsStarted, stalls: job.stalledCounter }, 'transcription job started');
    try {
      const { transcript, windows } = await transcriber.transcribe(request, {
        log,
        // Nobody to show "working" to here: the bot shows it when the job turns active.
        started: () => undefined,
        progress: (done, total) => void job.updateProgress({ done, total }).catch((error: Error) => log.debug({ err: error }, 'progress not reported')),
        measured,
        // Never aborted: a stopping worker lets the pool end its runs, and hands the job back.
        stopping: new AbortController().signal,
      });
      metrics.queueJobs.inc({ outcome: 'completed' });
      return { transcript, windows, measured };
    } catch (error) {
      if (this.handingBack && token) {
        await job.moveToWait(token).catch((moveError: Error) => log.warn({ err: moveError }, 'could not hand the job back: another worker takes it once its lock expires'));
        metrics.queueJobs.inc({ outcome: 'handed_back' });
        log.info('cut off by the shutdown: handed back to the queue');
        throw new WaitingError();
      }
      const failure = asJobError(error, 'asr_failed');
      metrics.queueJobs.inc({ outcome: 'failed' });
      log.warn({ err: failure }, 'transcription job failed');
      // Unrecoverable: BullMQ must not retry on its own; the bot decides (the job row's attempts).
      throw new UnrecoverableError(encodeFailure(failure, measured));
    } finally {
      this.running.delete(job.id!);
    }
  }

  private checkMemory(): void {
    const worker = this.worker;
    if (!worker || this.handingBack || worker.closing) return;
    const { minAvailableMb, availableMb } = this.options.memory;
    const available = availableMb();
    const takes = takesMoreJobs(this.running.size, available, minAvailableMb);
    if (!takes && !worker.isPaused()) {
      void worker.pause(true);
      this.options.metrics.queuePaused.set(1);
      this.options.log.warn({ availableMb: available, minAvailableMb, running: this.running.size }, 'memory is low: taking no new job until it recovers');
    } else if (takes && worker.isPaused()) {
      worker.resume();
      this.options.metrics.queuePaused.set(0);
      this.options.log.info({ availableMb: available }, 'memory recovered: taking jobs again');
    }
  }

  private async publish(): Promise<void> {
    const { redis, queueName, name, info, log } = this.options;
    const key = workerInfoKey(queueName, name);
    try {
      await redis
        .multi()
        .hset(key, { host: os.hostname(), pid: process.pid, ...info })
        .pexpire(key, 3 * INFO_REFRESH_MS)
        .exec();
    } catch (error) {
      log.debug({ err: error }, 'publishing this worker for /stats failed');
    }
  }
}
