// Scale-out through BullMQ on a real Redis (Debian's redis-server, loopback, its own data dir):
// the bot (ROLE=bot) and transcription workers (ROLE=worker) as real processes, against the fake
// Bot API with the test model. Lock times are short (QUEUE_LOCK_SECONDS=2) so that a dead worker's
// job moves on within seconds. The cases run in order on one Redis, bot and set of workers.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { speechOgg } from './support/audio.js';
import type { BotProcess, LogLine } from './support/bot-process.js';
import { Harness } from './support/harness.js';
import { freePort, RedisServer } from '../bench/redis-server.js';

const PASSWORD = 'test-redis-password-0123456789';
const ADMIN = 6999;
const LOCK_SECONDS = '2';
/**
 * Fifteen windows of speech: still being transcribed after a Redis or bot restart. Six (160 s) once
 * took ~6 s; on an idle machine the last five windows finished before a restarted bot was back.
 */
const LONG_NOTE_SECONDS = 400;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const started = (line: LogLine) => line.msg === 'transcription job started';

interface Note {
  chatId: number;
  messageId: number;
}

describe('transcription workers through Redis (ROLE=bot, ROLE=worker)', () => {
  let h: Harness;
  let redis: RedisServer;
  let clip: Buffer;
  // A second of grace at SIGTERM: a job still running then is handed back to the queue.
  const workerEnv = () => ({ QUEUE_URL: redis.url(), QUEUE_LOCK_SECONDS: LOCK_SECONDS, SHUTDOWN_GRACE_SECONDS: '1' });
  const launchWorker = () => h.launchWorker(workerEnv());
  const takingJobs = (worker: BotProcess) => worker.waitForLog((l) => l.msg === 'taking transcription jobs', 90_000);
  const workerNameOf = async (worker: BotProcess) => String((await takingJobs(worker)).worker);
  const live = () => h.workers.filter((w) => !w.hasExited());

  const send = (users: number, perUser: number, firstChat: number, tag: string): Note[] =>
    Array.from({ length: users * perUser }, (_, i) => {
      const chatId = firstChat + (i % users);
      return { chatId, ...h.api.sendVoice({ chatId, userId: chatId, bytes: clip, duration: 1, fileUniqueId: `${tag}-${i}` }) };
    });
  const answered = (notes: Note[]) => notes.filter((n) => h.answerTo(n.chatId, n.messageId)).length;
  /** Every note answered, each exactly once and with a transcript; none left in the queue. */
  async function expectAnsweredOnce(notes: Note[], what: string): Promise<void> {
    await h.api.waitFor(() => answered(notes) === notes.length, 90_000, `${notes.length} answers (${what})`);
    await h.waitForEmptyQueue(30_000);
    // A doubled answer would come after the last one: give it a moment to show.
    await sleep(1_000);
    const shown = notes.map((n) => h.answersShown(n.chatId, n.messageId));
    expect(shown.filter((a) => a.length !== 1), `notes not answered exactly once (${what})`).toEqual([]);
    expect(shown.filter((a) => !/language/.test(a[0]!)), `notes answered with an error (${what})`).toEqual([]);
  }
  const jobRow = (n: Note) => h.query<{ id: number; status: string; worker: string | null; attempts: number }>('SELECT id, status, worker, attempts FROM jobs WHERE chat_id = ? AND message_id = ?', n.chatId, n.messageId)[0];
  /** Progress edits of the note's status message sent to Telegram after `since`. */
  const progressEditsAfter = (n: Note, since: number) => {
    const status = h.api.repliesTo(n.chatId, n.messageId)[0]?.message_id;
    return h.api.calls.filter((c) => c.method === 'editMessageText' && c.at > since && Number(c.payload.message_id) === status && /Transcribing… \d+\/\d+/.test(String(c.payload.text)));
  };

  beforeAll(async () => {
    clip = speechOgg('Scaled out.', 1);
    // An evicting policy, as a stock Redis may have: the first process to connect sets noeviction.
    redis = new RedisServer({ port: await freePort(), password: PASSWORD, args: ['--maxmemory-policy', 'allkeys-lru'] });
    h = await Harness.create({ ROLE: 'bot', QUEUE_URL: redis.url(), QUEUE_LOCK_SECONDS: LOCK_SECONDS, QUEUE_MAX: '1000', ADMIN_IDS: String(ADMIN), SHUTDOWN_GRACE_SECONDS: '2' });
  });

  afterAll(async () => {
    await h?.stop();
    await redis?.destroy();
  });

  it('Redis unreachable at start: the bot says where and what to check, keeps trying, and the notes it took meanwhile are answered once Redis is up', async () => {
    h.launchBot();
    // The workers wait for Redis too (and load their model meanwhile).
    launchWorker();
    launchWorker();
    await h.bot.ready();
    const unreachable = (l: LogLine) => l.level === 50 && String(l.msg).startsWith(`cannot reach Redis at 127.0.0.1:${redis.port}`);
    const first = await h.bot.waitForLog(unreachable);
    expect(first).toMatchObject({ host: '127.0.0.1', port: redis.port, kind: 'refused' });
    expect(first.msg).toMatch(/connection refused \(ECONNREFUSED\); check that Redis is running.*QUEUE_URL's host and port.*; retrying in [\d.]+ s$/);
    await h.bot.waitForLog((l) => unreachable(l) && l.attempt === 2);

    const notes = send(5, 1, 6000, 'away');
    await h.api.waitFor(() => h.query('SELECT id FROM jobs').length === 5, 30_000, 'five accepted notes');
    await sleep(1_000);
    expect(h.query<{ status: string; attempts: number }>('SELECT status, attempts FROM jobs')).toEqual(Array(5).fill({ status: 'queued', attempts: 0 }));
    const readyz = await fetch(`http://127.0.0.1:${await h.bot.httpPort()}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.json()).toMatchObject({ queue: false, database: true, telegram: true });

    await redis.start();
    await expectAnsweredOnce(notes, 'accepted while Redis was away');
    const everyone = [h.bot, ...h.workers].flatMap((p) => p.logs);
    expect(everyone.some((l) => /had maxmemory-policy allkeys-lru: set it to noeviction/.test(l.msg))).toBe(true);
    const check = new Redis({ port: redis.port, host: '127.0.0.1', password: PASSWORD });
    try {
      expect(await check.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    } finally {
      check.disconnect();
    }
  });

  it('100 notes from 10 users on two workers: both take jobs, every note is answered exactly once, /stats lists both', async () => {
    const names = await Promise.all(h.workers.map(workerNameOf));
    const notes = send(10, 10, 6100, 'hundred');
    await expectAnsweredOnce(notes, '100 notes');
    const byWorker = h.query<{ worker: string; n: number }>("SELECT worker, COUNT(*) AS n FROM jobs WHERE chat_id BETWEEN 6100 AND 6109 GROUP BY worker ORDER BY worker");
    console.log(`[figure] 100 notes from 10 users on 2 workers: ${byWorker.map((w) => `${w.worker} ${w.n}`).join(', ')}`);
    expect(byWorker.map((w) => w.worker).sort()).toEqual([...names].sort());
    const rssMb = async (p: BotProcess) => {
      const metrics = await (await fetch(`http://127.0.0.1:${await p.httpPort()}/metrics`)).text();
      return Math.round(Number(/^voicebot_process_resident_memory_bytes (\d+)/m.exec(metrics)![1]) / 2 ** 20);
    };
    console.log(`[figure] RSS after 100 notes: bot ${await rssMb(h.bot)} MB (no model), workers ${(await Promise.all(h.workers.map(rssMb))).join(' and ')} MB (test model)`);

    const { messageId } = h.api.sendText({ chatId: ADMIN, userId: ADMIN }, '/stats');
    const stats = await h.api.waitFor(() => [...h.api.messages.values()].find((m) => m.chat_id === ADMIN && m.message_id > messageId)?.text, 30_000, 'the /stats reply');
    expect(stats).toMatch(/through the queue \(Redis reachable\); 2 worker\(s\) connected/);
    for (const name of names) expect(stats).toMatch(new RegExp(`${name}: voicebot-test/whisper-test-tiny, 1 × 1 thread\\(s\\); 24h: \\d+ jobs, RTF p50 \\d`));
  });

  it('a worker SIGKILLed in the middle of a job: the other worker answers that note, once', async () => {
    const note: Note = { chatId: 6200, ...h.api.sendVoice({ chatId: 6200, userId: 6200, bytes: speechOgg('This worker dies while it transcribes this note.', 30), duration: 30 }) };
    const row = await h.api.waitFor(() => jobRow(note), 30_000, 'the job row');
    const holder = await h.api.waitFor(() => live().find((w) => w.logs.some((l) => started(l) && l.jobId === row.id)), 60_000, 'a worker to start the note');
    const survivor = live().find((w) => w !== holder)!;
    await holder.stop('SIGKILL');
    const killedAt = Date.now();
    await expectAnsweredOnce([note], 'its worker killed');
    const answeredAt = h.api.calls.filter((c) => c.method === 'editMessageText' && Number(c.payload.chat_id) === note.chatId).at(-1)!.at;
    console.log(`[figure] worker SIGKILLed mid-job (QUEUE_LOCK_SECONDS=${LOCK_SECONDS}): answered by the other worker ${((answeredAt - killedAt) / 1000).toFixed(1)} s later, once`);
    expect(jobRow(note)).toMatchObject({ status: 'done', worker: await workerNameOf(survivor) });
    expect(survivor.logs.some((l) => started(l) && l.jobId === row.id)).toBe(true);
    launchWorker();
  });

  it('a worker stopped (SIGTERM) in the middle of a job hands it back: the other worker answers it, once', async () => {
    // Three windows (~4 s): still running when the worker's second of grace is over.
    const note: Note = { chatId: 6250, ...h.api.sendVoice({ chatId: 6250, userId: 6250, bytes: speechOgg('This worker is stopped while it transcribes this note.', 90), duration: 90 }) };
    const row = await h.api.waitFor(() => jobRow(note), 30_000, 'the job row');
    const holder = await h.api.waitFor(() => live().find((w) => w.logs.some((l) => started(l) && l.jobId === row.id)), 60_000, 'a worker to start the note');
    const other = live().find((w) => w !== holder)!;
    expect(await holder.stop('SIGTERM')).toBe(0);
    expect(holder.logs.find((l) => l.msg === 'stopped')).toMatchObject({ handedBack: 1 });
    await expectAnsweredOnce([note], 'its worker stopped');
    expect(jobRow(note)).toMatchObject({ status: 'done', worker: await workerNameOf(other), attempts: 1 });
    launchWorker();
  });

  /**
   * A long note (its progress edits show it is being worked on) and ten short ones; `restart` cuts
   * in as soon as the long note's progress shows. Returns when the restart is done.
   */
  async function runThrough(firstChat: number, tag: string, restart: () => Promise<void>): Promise<{ long: Note; notes: Note[]; back: number }> {
    const long: Note = { chatId: firstChat, ...h.api.sendVoice({ chatId: firstChat, userId: firstChat, bytes: speechOgg(`A long note, cut across by a ${tag}.`, LONG_NOTE_SECONDS), duration: LONG_NOTE_SECONDS }) };
    const notes = send(10, 1, firstChat + 1, tag);
    await h.api.waitFor(() => progressEditsAfter(long, 0).length > 0, 60_000, 'progress on the long note');
    await restart();
    return { long, notes, back: Date.now() };
  }

  it('Redis restarted in the middle of a run (append-only file): nothing lost, nothing doubled, progress goes on', async () => {
    const lost = () => h.bot.logs.filter((l) => /^lost the connection to Redis/.test(l.msg)).length;
    const lostBefore = lost();
    const { long, notes, back } = await runThrough(6300, 'redis-restart', () => redis.restart());
    await expectAnsweredOnce([long, ...notes], 'Redis restarted');
    expect(lost()).toBeGreaterThan(lostBefore);
    expect(progressEditsAfter(long, back).length).toBeGreaterThan(0);
  });

  it('the bot SIGKILLed and restarted in the middle of a run: nothing lost, nothing doubled, progress goes on', async () => {
    const { long, notes, back } = await runThrough(6400, 'bot-restart', async () => {
      await h.bot.stop('SIGKILL');
      await h.startBot();
    });
    await expectAnsweredOnce([long, ...notes], 'bot restarted');
    // The restarted bot found the job it had handed over: the long note was transcribed once.
    const longRow = jobRow(long)!;
    expect(h.workers.flatMap((w) => w.logs).filter((l) => started(l) && l.jobId === longRow.id)).toHaveLength(1);
    // The bot's death was not the notes' doing: no attempt is used up by it, and none failed.
    expect([long, ...notes].map((n) => jobRow(n)).filter((row) => row?.status !== 'done' || row.attempts !== 1)).toEqual([]);
    expect(progressEditsAfter(long, back).length).toBeGreaterThan(0);
  });
});

describe('a Redis the queue cannot use', () => {
  it('a wrong password: bot and worker stop at startup with a clear error naming the problem, exit 1, and the password is in no log line', async () => {
    const redis = new RedisServer({ port: await freePort(), password: 'the-right-password-4321' });
    await redis.start();
    const wrong = 'wrong-password-8765';
    const h = await Harness.create({ ROLE: 'bot', QUEUE_URL: redis.url(wrong) });
    try {
      const processes = [h.launchBot(), h.launchWorker({ QUEUE_URL: redis.url(wrong) })];
      for (const p of processes) {
        expect(await p.waitForExit(60_000)).toBe(1);
        const fatal = p.logs.find((l) => l.level === 60);
        expect(fatal?.msg).toMatch(new RegExp(`Redis at 127\\.0\\.0\\.1:${redis.port} refused the credentials in QUEUE_URL \\(WRONGPASS\\)`));
        expect(p.output()).not.toContain(wrong);
        expect(p.output()).not.toContain(encodeURIComponent(wrong));
      }
    } finally {
      await h.stop();
      await redis.destroy();
    }
  });

  it('one that may evict keys and refuses CONFIG SET: the bot stops, saying what to set', async () => {
    const redis = new RedisServer({ port: await freePort(), args: ['--maxmemory-policy', 'allkeys-lru', '--rename-command', 'CONFIG', '""'] });
    await redis.start();
    const h = await Harness.create({ ROLE: 'bot', QUEUE_URL: redis.url() });
    try {
      expect(await h.launchBot().waitForExit(60_000)).toBe(1);
      expect(h.bot.logs.find((l) => l.level === 60)?.msg).toMatch(/may evict keys \(maxmemory-policy allkeys-lru\).*set maxmemory-policy noeviction in redis\.conf/);
    } finally {
      await h.stop();
      await redis.destroy();
    }
  });
});
