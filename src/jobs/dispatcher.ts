// Takes jobs from the durable queue as workers free up; holds leases; drains on shutdown.
import type { Logger } from 'pino';
import type { Job, JobStore } from './job-store.js';

export interface DispatcherOptions {
  store: JobStore;
  concurrency: number;
  leaseMs: number;
  /** Runs one job; `stopping` aborts when the shutdown grace ran out and the job was put back. */
  run: (job: Job, stopping: AbortSignal) => Promise<void>;
  /** False while nothing can transcribe (no ASR worker loaded, or the queue away): jobs then stay queued (not claimed, not failed). */
  workersReady: () => boolean;
  /** Jobs a killed bot left processing get their attempt back: true when this process never runs the audio (ROLE=bot). */
  resumeGivesBackAttempts?: boolean;
  /** False delays new jobs while others run (never the only one: that would wait forever). */
  memoryAllowsMore: () => boolean;
  onQueueDepth: (depth: number) => void;
  log: Logger;
}

/** Picks up jobs whose lease ran out even when nothing new arrives. */
const POLL_MS = 1_000;

export class Dispatcher {
  private readonly inFlight = new Map<number, Promise<void>>();
  private readonly stopping = new AbortController();
  private running = false;
  private timer?: NodeJS.Timeout;

  constructor(private readonly options: DispatcherOptions) {}

  start(): void {
    const released = this.options.store.releaseAbandoned(this.options.resumeGivesBackAttempts);
    if (released > 0) this.options.log.warn({ jobs: released }, 'resuming jobs cut off by the previous run');
    this.running = true;
    this.timer = setInterval(() => this.poke(), POLL_MS);
    this.poke();
  }

  get active(): number {
    return this.inFlight.size;
  }

  /** Called when a job is queued or a worker becomes ready: starts jobs while workers are free. */
  poke(): void {
    const { store, concurrency, leaseMs, workersReady, memoryAllowsMore, onQueueDepth } = this.options;
    onQueueDepth(store.pendingCount());
    while (this.running && this.inFlight.size < concurrency && workersReady()) {
      if (this.inFlight.size > 0 && !memoryAllowsMore()) return;
      const job = store.claimNext(leaseMs);
      if (!job) return;
      this.launch(job);
    }
  }

  private launch(job: Job): void {
    const { store, leaseMs, log } = this.options;
    const heartbeat = setInterval(() => store.heartbeat(job.id, leaseMs), Math.max(1_000, leaseMs / 3));
    const work = this.options
      .run(job, this.stopping.signal)
      .catch((error: Error) => {
        // run() reports its own failures; reaching here is a bug, so keep the job for the next start.
        log.error({ err: error, jobId: job.id }, 'job runner threw');
        store.release(job.id);
      })
      .finally(() => {
        clearInterval(heartbeat);
        this.inFlight.delete(job.id);
        this.poke();
      });
    this.inFlight.set(job.id, work);
  }

  /**
   * Stops taking jobs and waits up to `graceMs` for those running. Jobs still running then go back
   * to the queue with their attempt given back (the shutdown, not the note, cut them off) and their
   * runs are told to stop; queued ones stay queued. Returns how many were left.
   */
  async drain(graceMs: number): Promise<number> {
    this.running = false;
    clearInterval(this.timer);
    const unfinished = [...this.inFlight.keys()];
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
    const done = Promise.all(this.inFlight.values()).then(() => 'done' as const);
    if ((await Promise.race([done, timeout])) === 'done') return 0;
    const left = unfinished.filter((id) => this.inFlight.has(id));
    for (const id of left) this.options.store.releaseForShutdown(id);
    this.stopping.abort();
    return left.length;
  }

  /** Waits up to `ms` for the runs told to stop to wind down (they must not touch a closed database). */
  async settled(ms: number): Promise<void> {
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
    await Promise.race([Promise.all(this.inFlight.values()).then(() => undefined), timeout]);
  }
}
