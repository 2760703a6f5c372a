// Pure: what a failed connection to Redis means for the operator, and what Redis says of its settings.
import { describeNetworkFailure } from '../bot/connect-failure.js';

export interface RedisFailure {
  /** Retrying cannot help (wrong credentials): the process stops. */
  fatal: boolean;
  kind: 'auth' | 'permission' | 'dns' | 'refused' | 'reset' | 'timeout' | 'tls' | 'http' | 'network';
  /** One line for the operator: what failed and what to check. Never the password. */
  reason: string;
}

/** `where`: host:port, as safe to log. */
export function describeRedisFailure(error: unknown, where: string): RedisFailure {
  const message = error instanceof Error ? error.message : String(error);
  if (/^WRONGPASS/.test(message)) {
    return { fatal: true, kind: 'auth', reason: `Redis at ${where} refused the credentials in QUEUE_URL (WRONGPASS): check the password (Redis's requirepass, or the ACL user's)` };
  }
  if (/^NOAUTH/.test(message)) {
    return { fatal: true, kind: 'auth', reason: `Redis at ${where} requires a password (NOAUTH) and QUEUE_URL has none: write it as redis://:<password>@host:port` };
  }
  if (/^NOPERM/.test(message)) {
    return { fatal: true, kind: 'permission', reason: `the Redis user in QUEUE_URL may not do what the queue needs at ${where} (NOPERM): give it all commands on the queue's keys (${message})` };
  }
  const network = describeNetworkFailure(error);
  const kind = network.kind;
  return {
    fatal: false,
    kind,
    reason:
      `cannot reach Redis at ${where}: ${network.reason}; check that Redis is running and listening there, QUEUE_URL's host and port, ` +
      `and the way between (firewall, the private network or WireGuard tunnel, rediss:// for a TLS port)`,
  };
}

export interface RedisSettings {
  version: string;
  maxmemoryPolicy: string;
  appendonly: boolean;
}

/** From INFO's text: the server version, the eviction policy (BullMQ needs noeviction), and AOF. */
export function parseRedisInfo(info: string): RedisSettings {
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
  return {
    version: field('redis_version') ?? 'unknown',
    maxmemoryPolicy: field('maxmemory_policy') ?? 'unknown',
    appendonly: field('aof_enabled') === '1',
  };
}
