// The queue's pure parts, without Redis: QUEUE_URL and its secrecy, the roles' configuration,
// failures both ways through BullMQ, what a Redis failure tells the operator, readiness and memory rules.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { JobError } from '../src/jobs/errors.js';
import { createLogger, SecretScrubber } from '../src/metrics/logger.js';
import { logsAttempt, reconnectDelayMs } from '../src/queue/connection.js';
import { queuedJobId } from '../src/queue/contract.js';
import { describeEndpoint, endpointSecrets, parseQueueUrl, QueueUrlError } from '../src/queue/endpoint.js';
import { decodeFailure, encodeFailure } from '../src/queue/failure.js';
import { handOverAllowed, workerNameOf } from '../src/queue/fleet.js';
import { describeRedisFailure, parseRedisInfo } from '../src/queue/redis-facts.js';
import { absorbMeasures } from '../src/queue/remote-transcriber.js';
import { takesMoreJobs } from '../src/queue/transcription-worker.js';

const PASSWORD = 'p@ss/word:with#odd%chars';
const URL_WITH_PASSWORD = `redis://:${encodeURIComponent(PASSWORD)}@10.8.0.1:6380/2`;
const machine = { vcpus: 2, memoryMb: 2048 };
const base = { BOT_TOKEN: '1:abc', WHISPER_MODEL: 'base' };

describe('QUEUE_URL', () => {
  it('reads host, port, database, TLS, user and the URL-encoded password', () => {
    expect(parseQueueUrl(URL_WITH_PASSWORD)).toEqual({ host: '10.8.0.1', port: 6380, tls: false, db: 2, username: undefined, password: PASSWORD });
    expect(parseQueueUrl('rediss://voicebot:longenough@redis.example.org')).toEqual({ host: 'redis.example.org', port: 6379, tls: true, db: 0, username: 'voicebot', password: 'longenough' });
    expect(parseQueueUrl('redis://[::1]:7000').host).toBe('::1');
    expect(parseQueueUrl('redis://redis:6379/0').password).toBeUndefined();
  });

  it.each([
    ['http://:longenough@redis:6379', /redis:\/\/ or rediss:\/\//],
    ['redis://:longenough@redis:6379/queue', /database number/],
    ['redis://:longenough@redis:6379/0?tls=true', /no \?query/],
    ['redis://:short@redis:6379', /shorter than 8/],
    ['not a url with secretpassword', /expected a URL/],
  ])('refuses %s, without quoting it', (url, reason) => {
    let error: unknown;
    try {
      parseQueueUrl(url);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(QueueUrlError);
    expect((error as Error).message).toMatch(reason);
    expect((error as Error).message).not.toMatch(/longenough|short@|secretpassword/);
  });

  it('is described for logs without the password', () => {
    const described = describeEndpoint(parseQueueUrl(URL_WITH_PASSWORD));
    expect(described).toBe('redis://10.8.0.1:6380/2 (with a password)');
    expect(describeEndpoint(parseQueueUrl('rediss://[::1]:7000'))).toBe('rediss://[::1]:7000/0 (without a password)');
  });

  it('keeps the password out of log lines, as given and URL-encoded', () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const log = createLogger('info', new SecretScrubber('123:secret-token-part', undefined, endpointSecrets(parseQueueUrl(URL_WITH_PASSWORD))), stream);
    log.error({ err: new Error(`AUTH ${PASSWORD} failed`), url: URL_WITH_PASSWORD }, 'connecting');
    expect(lines.join('')).toContain('<redacted>');
    expect(lines.join('')).not.toContain(PASSWORD);
    expect(lines.join('')).not.toContain(encodeURIComponent(PASSWORD));
  });
});

describe('ROLE and the queue settings', () => {
  const load = (env: Record<string, string>) => loadConfig({ ...base, ...env }, machine);
  const refusal = (env: Record<string, string>): ConfigError => {
    try {
      load(env);
    } catch (error) {
      if (error instanceof ConfigError) return error;
      throw error;
    }
    throw new Error('the configuration was accepted');
  };

  it('defaults to one process without a queue: nothing new is needed', () => {
    const config = load({});
    expect(config.role).toBe('all');
    expect(config.queue).toBeUndefined();
  });

  it('bot and worker take the queue from QUEUE_URL, with defaults for the rest', () => {
    for (const role of ['bot', 'worker']) {
      const config = load({ ROLE: role, QUEUE_URL: URL_WITH_PASSWORD });
      expect(config.role).toBe(role);
      expect(config.queue).toEqual({ endpoint: parseQueueUrl(URL_WITH_PASSWORD), name: 'voicebot-transcribe', lockSeconds: 30, maxInFlight: 16 });
    }
    expect(load({ ROLE: 'bot', QUEUE_URL: 'redis://redis', QUEUE_NAME: 'vb.eu-1', QUEUE_LOCK_SECONDS: '3', REMOTE_MAX_IN_FLIGHT: '4' }).queue).toMatchObject({ name: 'vb.eu-1', lockSeconds: 3, maxInFlight: 4 });
  });

  it.each([
    [{ ROLE: 'scheduler' }, 'ROLE'],
    [{ ROLE: 'bot' }, 'QUEUE_URL'],
    [{ ROLE: 'worker' }, 'QUEUE_URL'],
    [{ QUEUE_URL: 'redis://redis:6379' }, 'QUEUE_URL'],
    [{ ROLE: 'bot', QUEUE_URL: 'redis://redis', QUEUE_NAME: 'a:b' }, 'QUEUE_NAME'],
    [{ ROLE: 'bot', QUEUE_URL: 'redis://redis', QUEUE_LOCK_SECONDS: '0' }, 'QUEUE_LOCK_SECONDS'],
    [{ ROLE: 'bot', QUEUE_URL: 'redis://redis', REMOTE_MAX_IN_FLIGHT: 'many' }, 'REMOTE_MAX_IN_FLIGHT'],
  ])('refuses %j, naming %s', (env, variable) => {
    expect(refusal(env).variable).toBe(variable);
  });

  it('names QUEUE_URL for a bad URL without repeating the password', () => {
    const error = refusal({ ROLE: 'worker', QUEUE_URL: 'redis://:tooshrt@redis:6379' });
    expect(error.variable).toBe('QUEUE_URL');
    expect(error.message).not.toContain('tooshrt');
  });
});

describe('a failed job through BullMQ', () => {
  it('comes back as the same JobError, with what the worker measured', () => {
    const sent = new JobError('too_long', 'decoded 900 s', { maxSeconds: 600 });
    const { error, measured } = decodeFailure(encodeFailure(sent, { audioSeconds: 900, decodeMs: 12, worker: 'gpu-box:41' }));
    expect(error).toBeInstanceOf(JobError);
    expect([error.code, error.detail, error.params, error.retryable]).toEqual(['too_long', 'decoded 900 s', { maxSeconds: 600 }, false]);
    expect(measured).toEqual({ audioSeconds: 900, decodeMs: 12, worker: 'gpu-box:41' });
    expect(decodeFailure(encodeFailure(new JobError('download_failed', 'getFile: 502'), {})).error.retryable).toBe(true);
  });

  it('a job that kept killing its workers fails for good, as one that kept killing the bot', () => {
    const { error } = decodeFailure('job stalled more than allowable limit');
    expect(error.code).toBe('too_many_attempts');
    expect(error.retryable).toBe(false);
  });

  it('anything else the queue says is a failure a retry may fix', () => {
    for (const reason of ['Missing lock for job job-1-2. moveToFinished', 'voicebot-job-error {broken', 'voicebot-job-error {"code":"no_such_code","detail":"x"}', undefined]) {
      const { error } = decodeFailure(reason);
      expect(error.code).toBe('asr_failed');
      expect(error.retryable).toBe(true);
    }
  });
});

describe('what a Redis failure tells the operator', () => {
  const where = '10.8.0.1:6380';

  it('wrong or missing credentials stop the process, saying which', () => {
    const wrong = describeRedisFailure(new Error('WRONGPASS invalid username-password pair or user is disabled.'), where);
    expect(wrong).toMatchObject({ fatal: true, kind: 'auth' });
    expect(wrong.reason).toMatch(/10\.8\.0\.1:6380.*WRONGPASS.*check the password/);
    expect(describeRedisFailure(new Error('NOAUTH Authentication required.'), where)).toMatchObject({ fatal: true, kind: 'auth', reason: expect.stringMatching(/NOAUTH.*QUEUE_URL has none/) });
    expect(describeRedisFailure(new Error("NOPERM this user has no permissions to run the 'config' command"), where)).toMatchObject({ fatal: true, kind: 'permission' });
  });

  it('an unreachable Redis is retried, with what to check', () => {
    const refused = describeRedisFailure(Object.assign(new Error('connect ECONNREFUSED 10.8.0.1:6380'), { code: 'ECONNREFUSED' }), where);
    expect(refused).toMatchObject({ fatal: false, kind: 'refused' });
    expect(refused.reason).toMatch(/cannot reach Redis at 10\.8\.0\.1:6380: connection refused.*running.*host and port.*firewall/);
    expect(describeRedisFailure(Object.assign(new Error('getaddrinfo ENOTFOUND redis'), { code: 'ENOTFOUND' }), where).kind).toBe('dns');
  });

  it('reads the version, eviction policy and AOF from INFO', () => {
    const info = '# Server\r\nredis_version:7.0.15\r\n# Memory\r\nmaxmemory_policy:allkeys-lru\r\n# Persistence\r\naof_enabled:0\r\n';
    expect(parseRedisInfo(info)).toEqual({ version: '7.0.15', maxmemoryPolicy: 'allkeys-lru', appendonly: false });
    expect(parseRedisInfo('maxmemory_policy:noeviction\naof_enabled:1\n')).toEqual({ version: 'unknown', maxmemoryPolicy: 'noeviction', appendonly: true });
  });

  it('reconnects within seconds, and logs an outage without flooding', () => {
    expect([0, 1, 2, 3, 4, 10].map(reconnectDelayMs)).toEqual([500, 1000, 2000, 4000, 5000, 5000]);
    expect([1, 2, 3, 4, 11, 12, 13, 24].map(logsAttempt)).toEqual([true, true, true, false, false, true, false, true]);
  });
});

describe('readiness, memory and identities', () => {
  it('jobs are handed over only with Redis reachable and a worker connected (or workers that cannot be counted)', () => {
    expect(handOverAllowed(true, 2)).toBe(true);
    expect(handOverAllowed(true, 0)).toBe(false);
    expect(handOverAllowed(false, 2)).toBe(false);
    expect(handOverAllowed(true, null)).toBe(true);
  });

  it('a worker takes another job only when its memory allows, but never refuses its only one', () => {
    expect(takesMoreJobs(0, 10, 150)).toBe(true);
    expect(takesMoreJobs(1, 10, 150)).toBe(false);
    expect(takesMoreJobs(1, 150, 150)).toBe(true);
  });

  it('reads the worker name from BullMQ client names', () => {
    expect(workerNameOf(`bull:${Buffer.from('voicebot-transcribe').toString('base64')}:w:gpu-box:4242`)).toBe('gpu-box:4242');
    expect(workerNameOf('bull:dm9pY2Vib3Q=')).toBeUndefined();
    expect(workerNameOf(undefined)).toBeUndefined();
  });

  it('a queued job is named after its row: never an integer, no colon, and a restored database cannot collide', () => {
    const id = queuedJobId({ jobId: 17, createdAt: 1_795_700_000_123 });
    expect(id).toBe('job-17-1795700000123');
    expect(id).not.toMatch(/^\d+$|:/);
    expect(queuedJobId({ jobId: 17, createdAt: 1_795_800_000_000 })).not.toBe(id);
  });

  it("the queue's wait adds to the bot's own; the rest is the worker's", () => {
    const measured = { queueWaitMs: 1_000, model: 'bot-model' };
    absorbMeasures(measured, { queueWaitMs: 250, model: 'worker-model', inferenceMs: 900, worker: 'box:1' });
    expect(measured).toEqual({ queueWaitMs: 1_250, model: 'worker-model', inferenceMs: 900, worker: 'box:1' });
  });
});
