// The link to the queue's Redis, for the bot and for workers: reached (or retried, saying plainly
// what is wrong), checked for the settings BullMQ needs, and watched while the process runs.
import { EventEmitter } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/metrics.js';
import { describeEndpoint, redisOptions, type QueueEndpoint } from './endpoint.js';
import { describeRedisFailure, parseRedisInfo, type RedisFailure } from './redis-facts.js';

/** Redis cannot be used and retrying will not change that (wrong password, evicting keys it may not fix). */
export class QueueError extends Error {
  override readonly name = 'QueueError';
  constructor(
    readonly kind: RedisFailure['kind'] | 'settings',
    message: string,
  ) {
    super(message);
  }
}

/** 0.5 s doubling to 5 s: a reconnect costs Redis nothing, and notes wait while it is away. */
export function reconnectDelayMs(failures: number): number {
  return Math.min(5_000, 500 * 2 ** Math.max(0, failures));
}

/** Every attempt of an outage's first few, then about one a minute: plain, without flooding the log. */
export function logsAttempt(failures: number): boolean {
  return failures <= 3 || failures % 12 === 0;
}

/**
 * A BullMQ client's close, which waits for Redis while it is away (its QUIT is queued; a client
 * that never connected waits for its first connection): bounded, then the connection is cut
 * without waiting any more, since the process is on its way out.
 */
export async function closeWithin(ms: number, close: () => Promise<void>, cut: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<true>((resolve) => (timer = setTimeout(() => resolve(true), ms)));
  const late = await Promise.race([close().then(() => false), timedOut]);
  clearTimeout(timer);
  if (late) cut().catch(() => undefined);
}

/** ioredis settings for any client of the queue (BullMQ's included): the endpoint, and the reconnect pace. */
export function connectionOptions(endpoint: QueueEndpoint): RedisOptions {
  return { ...redisOptions(endpoint), retryStrategy: (times: number) => reconnectDelayMs(times) };
}

export interface QueueConnectionOptions {
  endpoint: QueueEndpoint;
  log: Logger;
  metrics: Metrics;
}

interface ConnectionEvents {
  /** Reached and checked: jobs may be handed over or taken. */
  ready: [];
  /** The connection dropped; reconnecting goes on. */
  lost: [];
  /** Redis cannot be used (credentials, settings): the process should stop. */
  fatal: [QueueError];
}

export class QueueConnection extends EventEmitter<ConnectionEvents> {
  /** For the checks and the workers' own keys; BullMQ opens connections of its own. */
  readonly redis: Redis;
  private readonly where: string;
  private usable = false;
  private failures = 0;
  private stopped = false;
  private first?: { resolve: (ready: boolean) => void; reject: (error: QueueError) => void };

  constructor(private readonly options: QueueConnectionOptions) {
    super();
    const { endpoint } = options;
    this.where = `${endpoint.host}:${endpoint.port}`;
    // Commands fail at once while Redis is away: the callers retry on their own schedule.
    this.redis = new Redis({
      ...redisOptions(endpoint),
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: () => (this.stopped ? null : reconnectDelayMs(this.failures)),
    });
    this.redis.on('error', (error: Error) => this.onError(error));
    this.redis.on('ready', () => void this.onReady());
    this.redis.on('close', () => this.onClose());
  }

  /** Reached and checked now. */
  get ready(): boolean {
    return this.usable;
  }

  /**
   * Connects. Resolves after the first attempt: true when Redis is ready, false when it cannot be
   * reached (attempts go on, and `ready` is emitted when one succeeds); rejects when it cannot be used.
   */
  start(): Promise<boolean> {
    const { log, endpoint } = this.options;
    log.info({ queue: describeEndpoint(endpoint) }, 'connecting to Redis');
    return new Promise((resolve, reject) => {
      this.first = { resolve, reject };
      this.redis.connect().catch(() => {
        // reported through the 'error' event, and retried
      });
    });
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.usable = false;
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private onError(error: Error): void {
    if (this.stopped) return;
    const failure = describeRedisFailure(error, this.where);
    if (failure.fatal) {
      this.fail(new QueueError(failure.kind, failure.reason));
      return;
    }
    this.failures++;
    this.options.metrics.queueReachable.set(0);
    if (logsAttempt(this.failures)) {
      const retryInMs = reconnectDelayMs(this.failures);
      const { host, port } = this.options.endpoint;
      this.options.log.error({ host, port, kind: failure.kind, attempt: this.failures, retryInMs }, `${failure.reason}; retrying in ${retryInMs / 1000} s`);
    }
    this.settleFirst(false);
  }

  private async onReady(): Promise<void> {
    const { log, endpoint, metrics } = this.options;
    let settings;
    try {
      settings = parseRedisInfo(await this.redis.info());
      if (settings.maxmemoryPolicy !== 'noeviction') await this.setNoEviction(settings.maxmemoryPolicy);
    } catch (error) {
      if (error instanceof QueueError) this.fail(error);
      // Anything else is the connection failing again: reported and retried through 'error'.
      return;
    }
    if (!settings.appendonly) {
      log.warn(
        { host: endpoint.host, port: endpoint.port },
        `Redis at ${this.where} runs without appendonly: if it restarts, the jobs it held are lost (the bot hands them over again, at the cost of transcribing them again); set appendonly yes`,
      );
    }
    this.failures = 0;
    this.usable = true;
    metrics.queueReachable.set(1);
    log.info({ queue: describeEndpoint(endpoint), redisVersion: settings.version, appendonly: settings.appendonly }, 'connected to Redis');
    this.emit('ready');
    this.settleFirst(true);
  }

  /** BullMQ's keys must never be evicted: a job or a lock that vanishes is lost work. */
  private async setNoEviction(policy: string): Promise<void> {
    try {
      await this.redis.config('SET', 'maxmemory-policy', 'noeviction');
    } catch (error) {
      throw new QueueError(
        'settings',
        `Redis at ${this.where} may evict keys (maxmemory-policy ${policy}) and would not let it be changed (CONFIG SET: ${(error as Error).message}): ` +
          'set maxmemory-policy noeviction in redis.conf or your provider\'s settings; BullMQ loses jobs otherwise',
      );
    }
    this.options.log.warn(
      { host: this.options.endpoint.host, port: this.options.endpoint.port, was: policy },
      `Redis at ${this.where} had maxmemory-policy ${policy}: set it to noeviction, which BullMQ needs; put it in redis.conf too, or a restart undoes it`,
    );
  }

  private onClose(): void {
    if (!this.usable || this.stopped) return;
    this.usable = false;
    this.options.metrics.queueReachable.set(0);
    this.options.log.warn({ host: this.options.endpoint.host, port: this.options.endpoint.port }, `lost the connection to Redis at ${this.where}: reconnecting`);
    this.emit('lost');
  }

  private fail(error: QueueError): void {
    if (this.stopped) return;
    this.stopped = true;
    this.usable = false;
    this.redis.disconnect();
    if (this.first) {
      this.first.reject(error);
      this.first = undefined;
    } else {
      this.emit('fatal', error);
    }
  }

  private settleFirst(ready: boolean): void {
    this.first?.resolve(ready);
    this.first = undefined;
  }
}
