// ROLE=bot: the transcription workers connected to the queue now (BullMQ's worker list), with what
// each publishes of itself: for /stats, /readyz, and whether jobs may be handed over.
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/metrics.js';
import { workerInfoKey, type WorkerInfo } from './contract.js';

export interface ConnectedWorker {
  /** host:pid, as the worker names itself to BullMQ (and in the job rows' `worker` column). */
  name: string;
  /** Absent for a worker that has not published yet, or whose entry expired. */
  info?: WorkerInfo;
}

/** BullMQ names a worker's connection <prefix>:<queue, base64>:w:<name>. */
export function workerNameOf(rawname: string | undefined): string | undefined {
  const at = rawname?.indexOf(':w:') ?? -1;
  return at >= 0 ? rawname!.slice(at + 3) : undefined;
}

/**
 * Pure: jobs go to the queue only while Redis is reachable and a worker is there to take them
 * (otherwise they wait in SQLite, in the bot's fair order). `workers` null: this Redis does not
 * list its clients (some managed ones), so workers cannot be counted and do not hold jobs back.
 */
export function handOverAllowed(reachable: boolean, workers: number | null): boolean {
  return reachable && workers !== 0;
}

/** What BullMQ answers for a Redis that refuses CLIENT LIST. */
const NO_CLIENT_LIST = 'GCP does not support client list';

export interface FleetOptions {
  queue: Queue;
  redis: Redis;
  queueName: string;
  metrics: Metrics;
  log: Logger;
  /** How often the list is read (default 3 s). */
  refreshMs?: number;
}

export class Fleet {
  private workers: ConnectedWorker[] = [];
  /** False when Redis does not list clients: the count is then unknown. */
  private countable = true;
  private timer?: NodeJS.Timeout;
  private refreshing = false;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly options: FleetOptions) {}

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.refreshMs ?? 3_000).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Workers connected at the last look; null when they cannot be counted. */
  get count(): number | null {
    return this.countable ? this.workers.length : null;
  }

  list(): ConnectedWorker[] {
    return this.workers;
  }

  /** Called after each look that found workers: the dispatcher may have jobs to hand over. */
  onWorkers(listener: () => void): void {
    this.listeners.add(listener);
  }

  /** One look at a time: while Redis is away a look waits for it, and looks must not pile up. */
  async refresh(): Promise<void> {
    if (this.refreshing) return;
    this.refreshing = true;
    const { queue, redis, queueName, metrics, log } = this.options;
    try {
      const clients = await queue.getWorkers();
      if (clients.length === 1 && clients[0]!.name === NO_CLIENT_LIST) {
        if (this.countable) log.warn('this Redis does not list its clients (CLIENT LIST): /stats cannot show the workers, and jobs are handed over without knowing one is there');
        this.countable = false;
        return;
      }
      const names = [...new Set(clients.map((c) => workerNameOf(c.rawname)).filter((n): n is string => n !== undefined))].sort();
      const infos = await Promise.all(names.map((name) => redis.hgetall(workerInfoKey(queueName, name))));
      this.workers = names.map((name, i) => ({ name, info: toInfo(infos[i]!) }));
      metrics.queueWorkers.set(this.workers.length);
      if (this.workers.length > 0) for (const listener of this.listeners) listener();
    } catch (error) {
      // Redis away: the connection says so; the last list stands until it is back.
      log.debug({ err: error }, 'reading the worker list failed');
    } finally {
      this.refreshing = false;
    }
  }
}

function toInfo(hash: Record<string, string>): WorkerInfo | undefined {
  if (!hash.model) return undefined;
  return {
    host: hash.host ?? '?',
    pid: Number(hash.pid),
    model: hash.model,
    concurrency: Number(hash.concurrency),
    threads: Number(hash.threads),
    version: hash.version ?? '?',
  };
}
