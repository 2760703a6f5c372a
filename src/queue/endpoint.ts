// Pure: QUEUE_URL read into what ioredis needs, and a description of it that is safe to log.
import type { RedisOptions } from 'ioredis';

export interface QueueEndpoint {
  host: string;
  port: number;
  /** rediss://: TLS, for a Redis reached over a network nobody else should read. */
  tls: boolean;
  db: number;
  /** An ACL user; Redis's default user when absent. */
  username?: string;
  password?: string;
}

/** Shorter passwords are refused: too weak for a Redis on a network, and too short to be scrubbed from logs without hitting ordinary text. */
const MIN_PASSWORD_LENGTH = 8;

/** Why QUEUE_URL was refused. Its message never quotes the URL: the URL may hold the password. */
export class QueueUrlError extends Error {
  override readonly name = 'QueueUrlError';
}

export function parseQueueUrl(text: string): QueueEndpoint {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new QueueUrlError('expected a URL such as redis://:password@host:6379/0 or rediss://...');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new QueueUrlError(`expected redis:// or rediss://, got ${url.protocol}//`);
  if (!url.hostname) throw new QueueUrlError('has no host');
  const db = url.pathname.replace(/^\/+/, '');
  if (db !== '' && !/^\d{1,2}$/.test(db)) throw new QueueUrlError(`expected a database number after the host (e.g. /0), got "/${db}"`);
  if (url.search || url.hash) throw new QueueUrlError('takes no ?query or #fragment: put settings in their own variables');
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  if (password !== undefined && password.length < MIN_PASSWORD_LENGTH) {
    throw new QueueUrlError(`its password is shorter than ${MIN_PASSWORD_LENGTH} characters: use a long random one (e.g. openssl rand -hex 24)`);
  }
  return {
    // new URL keeps IPv6 literals in brackets; ioredis wants the bare address.
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : 6379,
    tls: url.protocol === 'rediss:',
    db: db === '' ? 0 : Number(db),
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password,
  };
}

/** host:port/db with the scheme, and whether a password is set: never the password itself. */
export function describeEndpoint(endpoint: QueueEndpoint): string {
  const user = endpoint.username ? `${endpoint.username}@` : '';
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  const auth = endpoint.password ? 'with a password' : 'without a password';
  return `${endpoint.tls ? 'rediss' : 'redis'}://${user}${host}:${endpoint.port}/${endpoint.db} (${auth})`;
}

/** The ioredis connection settings; BullMQ adds its own (e.g. maxRetriesPerRequest for blocking connections). */
export function redisOptions(endpoint: QueueEndpoint): RedisOptions {
  return {
    host: endpoint.host,
    port: endpoint.port,
    db: endpoint.db,
    username: endpoint.username,
    password: endpoint.password,
    // Node checks the certificate against the host (SNI included) by itself.
    ...(endpoint.tls ? { tls: {} } : {}),
  };
}

/** The forms in which the password could reach a log line: as given, and URL-encoded. */
export function endpointSecrets(endpoint: QueueEndpoint): string[] {
  if (!endpoint.password) return [];
  return [...new Set([endpoint.password, encodeURIComponent(endpoint.password)])];
}
