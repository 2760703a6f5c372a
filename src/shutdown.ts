// The stop sequence: no new updates, jobs in flight finish within the grace period, the rest go
// back to the queue for the next start (and their users are told nothing), then everything closes.
import type { Logger } from 'pino';
import type { AsrPool } from './asr/pool.js';
import type { Dispatcher } from './jobs/dispatcher.js';
import type { JobStore } from './jobs/job-store.js';
import type { Retention } from './jobs/retention.js';
import type { Db } from './storage/database.js';
import type { LifecycleLog } from './storage/lifecycle.js';

/** How long runs cut off at the end of the grace period get to wind down before the database closes. */
const WIND_DOWN_MS = 5_000;

export interface ShutdownParts {
  /** Stops taking updates: long polling, or the webhook route. */
  stopIntake: () => Promise<void>;
  dispatcher: Dispatcher;
  pool: AsrPool;
  /** The VAD stage's worker. */
  speech: { close(): Promise<void> };
  /** The process ffmpeg runs from. */
  decoder: { close(): Promise<void> };
  http: { close(): Promise<void> };
  retention: Retention;
  store: JobStore;
  lifecycle: LifecycleLog;
  db: Db;
  log: Logger;
  graceMs: number;
}

export class Shutdown {
  private started = false;

  constructor(private readonly parts: ShutdownParts) {}

  get stopping(): boolean {
    return this.started;
  }

  /** SIGTERM (docker stop) and SIGINT (Ctrl-C) stop cleanly, with exit code 0. */
  onSignals(): void {
    process.once('SIGTERM', () => void this.run('SIGTERM'));
    process.once('SIGINT', () => void this.run('SIGINT'));
  }

  /**
   * Runs the sequence once and exits. A non-zero `exitCode` (the bot cannot work, e.g. no ASR
   * worker loads) is recorded as a crash, so the supervisor's restart is explained.
   */
  async run(reason: string, exitCode = 0): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { dispatcher, pool, speech, decoder, http, retention, store, lifecycle, db, log, graceMs } = this.parts;
    log.info({ reason, inFlight: dispatcher.active }, 'stopping: no new updates, finishing jobs in flight');
    retention.stop();
    await this.parts.stopIntake();
    const left = await dispatcher.drain(graceMs);
    await Promise.all([pool.close(), speech.close()]);
    await dispatcher.settled(WIND_DOWN_MS);
    await decoder.close();
    await http.close();
    const detail = { reason, leftForNextStart: left, queued: store.pendingCount() };
    if (exitCode === 0) lifecycle.record('stop', { signal: reason, ...detail });
    else lifecycle.record('crash', { error: reason, ...detail });
    log.info({ leftForNextStart: left, pending: detail.queued, exitCode }, 'stopped');
    db.$client.close();
    process.exit(exitCode);
  }
}
