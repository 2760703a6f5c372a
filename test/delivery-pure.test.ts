// Issue 10's pure pieces: secret scrubbing, the loop cut for every form of the answer, retry
// timing, what a failed connection means, and the order and timing of status edits.
import { Writable } from 'node:stream';
import { GrammyError, HttpError } from 'grammy';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanTranscript } from '../src/asr/transcript-cleanup.js';
import { describeHttpFailure, describeNetworkFailure } from '../src/bot/connect-failure.js';
import { connectRetryDelayMs, deliveryRetryDelayMs } from '../src/bot/retry-policy.js';
import { toSrt, withTimestamps } from '../src/bot/transcript-format.js';
import { StatusUpdates, type StatusUpdate } from '../src/jobs/status-updates.js';
import { createLogger, SecretScrubber } from '../src/metrics/logger.js';

const TOKEN = '7654321:AAH-secret_part-of-the-token-0123456789';
const SECRET = 'webhook-secret-abcdefghij';

function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { lines, stream };
}

describe('secrets in logs', () => {
  it('are scrubbed from nested errors, cause chains, fields and messages, however encoded', () => {
    const { lines, stream } = capture();
    const log = createLogger('info', new SecretScrubber(TOKEN, SECRET), stream);
    const url = `https://api.telegram.org/bot${TOKEN}/getMe`;
    // grammY's HttpError keeps the fetch error, whose message holds the URL, as an enumerable field.
    const fetchError = Object.assign(new Error(`request to ${url} failed, reason: connect ECONNREFUSED`), { type: 'system', code: 'ECONNREFUSED' });
    log.error({ err: new HttpError("Network request for 'getMe' failed!", fetchError) }, 'nested');
    log.error({ err: new Error('outer', { cause: new Error('middle', { cause: new Error(`inner ${url}`) }) }) }, 'cause chain');
    log.warn({ request: { url: url.replace(':', '%3A'), headers: { 'x-telegram-bot-api-secret-token': SECRET } } }, 'fields');
    log.child({ jobId: 1 }).info(`message with ${TOKEN} in it`);
    expect(lines).toHaveLength(4);
    const all = lines.join('');
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain(TOKEN.split(':')[1]);
    expect(all).not.toContain(SECRET);
    expect(all).toContain('ECONNREFUSED');
    expect(all.match(/<redacted>/g)!.length).toBeGreaterThanOrEqual(5);
  });

  it('leaves text alone when there is no secret to hide', () => {
    expect(new SecretScrubber('', undefined).scrub('plain text')).toBe('plain text');
  });
});

describe('the loop cut, in every form of the answer', () => {
  const looped = [
    { start: 0, end: 2, text: ' I went home.' },
    { start: 2, end: 4, text: ' Thank you.' },
    { start: 4, end: 6, text: ' Thank you.' },
    { start: 6, end: 8, text: ' thank you' },
    { start: 8, end: 10, text: ' Thank you.' },
    { start: 10, end: 12, text: ' Bye bye bye bye bye now.' },
  ];
  const text = looped.map((s) => s.text).join('');

  it('cuts repeated segments and loops inside a segment, for [mm:ss] text and .srt alike', () => {
    const cleaned = cleanTranscript(text, looped);
    expect(cleaned.cut).toBe(true);
    expect(cleaned.text).toBe('I went home. Thank you. Bye now.');
    expect(withTimestamps(cleaned.segments)).toBe('[00:00] I went home.\n[00:02] Thank you.\n[00:10] Bye now.');
    expect(toSrt(cleaned.segments).match(/Thank you/g)).toHaveLength(1);
    expect(toSrt(cleaned.segments)).not.toMatch(/bye bye/i);
  });

  it('keeps speech that repeats less than a loop does', () => {
    const speech = [
      { start: 0, end: 1, text: 'Yes.' },
      { start: 1, end: 2, text: 'Yes.' },
      { start: 2, end: 3, text: 'No.' },
    ];
    expect(cleanTranscript('Yes. Yes. No.', speech)).toEqual({ text: 'Yes. Yes. No.', segments: speech, cut: false });
  });
});

describe('retry timing', () => {
  it('never retries a delivery sooner than Telegram asks, and backs off without an ask', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => deliveryRetryDelayMs(n))).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    expect(deliveryRetryDelayMs(1, 7)).toBe(7000);
    expect(deliveryRetryDelayMs(4, 3)).toBe(8000);
  });

  it('reconnects from 1 s up to a minute', () => {
    expect([1, 2, 3, 6, 7, 20].map(connectRetryDelayMs)).toEqual([1000, 2000, 4000, 32000, 60000, 60000]);
  });
});

describe('what a failed connection to the Bot API says', () => {
  const undici = (code: string) => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(`${code} something`), { code }) });

  it('names DNS, refused, reset, timeout, TLS and HTTP failures', () => {
    expect(describeNetworkFailure(undici('EAI_AGAIN'))).toMatchObject({ kind: 'dns', code: 'EAI_AGAIN', reason: 'DNS resolution failed (EAI_AGAIN)' });
    expect(describeNetworkFailure(undici('ENOTFOUND')).kind).toBe('dns');
    expect(describeNetworkFailure(undici('ECONNREFUSED')).kind).toBe('refused');
    expect(describeNetworkFailure(undici('UND_ERR_SOCKET')).kind).toBe('reset');
    expect(describeNetworkFailure(undici('UND_ERR_CONNECT_TIMEOUT')).kind).toBe('timeout');
    expect(describeNetworkFailure(new DOMException('The operation was aborted due to timeout', 'TimeoutError')).kind).toBe('timeout');
    expect(describeNetworkFailure(undici('CERT_HAS_EXPIRED')).kind).toBe('tls');
    expect(describeNetworkFailure(undici('EHOSTUNREACH')).kind).toBe('network');
    expect(describeHttpFailure(502, undefined)).toEqual({ kind: 'http', status: 502, reason: 'HTTP 502' });
    expect(describeHttpFailure(401, 'Unauthorized').reason).toBe('HTTP 401 (Unauthorized): check BOT_TOKEN');
  });
});

/** What an update looks like in the chat. */
function shown(update: StatusUpdate): string {
  return update.kind === 'working' ? 'working' : `${update.done}/${update.total}`;
}

describe('status edits', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('go one at a time, the latest wins, and none starts or lands after stop()', async () => {
    const landed: string[] = [];
    let release: () => void = () => {};
    const show = (update: StatusUpdate) =>
      new Promise<void>((resolve) => {
        release = () => {
          landed.push(shown(update));
          resolve();
        };
      });
    const updates = new StatusUpdates(show, (error) => {
      throw error;
    }, 1_000);
    updates.progress(1, 4);
    updates.progress(2, 4);
    updates.progress(3, 4);
    const stopped = updates.stop();
    let done = false;
    void stopped.then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(done).toBe(false);
    release();
    await stopped;
    landed.push('answer');
    updates.progress(4, 4);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(landed).toEqual(['1/4', 'answer']);
  });

  it('show "working" only when the note is still being worked on after the delay, and never after progress or the answer', async () => {
    vi.useFakeTimers();
    const run = async (steps: (updates: StatusUpdates) => Promise<unknown>) => {
      const landed: string[] = [];
      const updates = new StatusUpdates(async (update) => void landed.push(shown(update)), (error) => {
        throw error;
      }, 1_000);
      updates.working();
      await steps(updates);
      await updates.stop();
      await vi.advanceTimersByTimeAsync(5_000);
      return landed;
    };
    // A quick note: its answer (stop) comes before the delay, so the chat goes from "queued" to the answer.
    expect(await run(() => vi.advanceTimersByTimeAsync(999))).toEqual([]);
    // A slow one is told it is being worked on.
    expect(await run(() => vi.advanceTimersByTimeAsync(1_000))).toEqual(['working']);
    // Progress reported first says more than "working", which then never overwrites it.
    expect(await run(async (updates) => {
      updates.progress(1, 3);
      await vi.advanceTimersByTimeAsync(2_000);
    })).toEqual(['1/3']);
    // Working, then progress: both, in order.
    expect(await run(async (updates) => {
      await vi.advanceTimersByTimeAsync(1_500);
      updates.progress(2, 3);
      await vi.advanceTimersByTimeAsync(10);
    })).toEqual(['working', '2/3']);
  });

  it('report a failed edit and go on', async () => {
    const errors: Error[] = [];
    const updates = new StatusUpdates(() => Promise.reject(new GrammyError('edit failed', { ok: false, error_code: 429, description: 'Too Many Requests' }, 'editMessageText', {})), (e) => errors.push(e), 1_000);
    updates.progress(1, 2);
    await updates.stop();
    expect(errors).toHaveLength(1);
  });
});
