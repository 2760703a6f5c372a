// Issue 10 on the real bot process, with faults injected through the fake Bot API: Telegram
// unreachable at startup, secrets in logs, failing deliveries, late progress edits, the cache key.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { speechOgg } from './support/audio.js';
import { TEST_TOKEN } from './support/fake-bot-api.js';
import { Harness } from './support/harness.js';
import { TEST_MODEL_ID } from './support/test-model.js';

const TOKEN_SECRET = TEST_TOKEN.split(':')[1]!;

async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function get(port: number, route: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${route}`);
  return { status: response.status, body: await response.text() };
}

/** Writes a finished job with a stored transcript beside the running bot, as an earlier run would have. */
function seedTranscript(h: Harness, row: { fileUniqueId: string; model: string; requestedLanguage: string | null; task: string; timestamps: boolean; text: string; messageId: number }): void {
  const db = new Database(path.join(h.dataDir, 'voicebot.sqlite'));
  try {
    db.pragma('busy_timeout = 5000');
    const result = JSON.stringify({ text: row.text, language: row.requestedLanguage ?? 'en', segments: [], audioSeconds: 3, loopCut: false });
    db.prepare(
      `INSERT INTO jobs (chat_id, chat_type, message_id, user_id, file_id, file_unique_id, media_kind, requested_language, task, timestamps, status, created_at, finished_at, model, language, transcript, result)
       VALUES (1, 'private', ?, 1, 'seeded', ?, 'voice', ?, ?, ?, 'done', ?, ?, ?, ?, ?, ?)`,
    ).run(row.messageId, row.fileUniqueId, row.requestedLanguage, row.task, row.timestamps ? 1 : 0, Date.now(), Date.now(), row.model, row.requestedLanguage ?? 'en', row.text, result);
  } finally {
    db.close();
  }
}

const SECRETS = [TEST_TOKEN, TOKEN_SECRET, 'webhook-secret-0123456789abc'];

// One harness, one data directory: the bot that never reaches Telegram, then the one that does.
let h: Harness;
const outputs: string[] = [];
beforeAll(async () => {
  h = await Harness.create({ WEBHOOK_SECRET: SECRETS[2]! });
});
afterAll(async () => {
  await h.stop();
});

describe('Telegram unreachable, refusing or failing at startup: logged, counted, reported', () => {

  it('a closed port: every attempt logged with host, kind and next retry; counted; /readyz says Telegram is not reached', async () => {
    const port = await closedPort();
    const bot = h.launchBot({ TELEGRAM_API_ROOT: `http://127.0.0.1:${port}` });
    let exitCode: number | null;
    try {
      const httpPort = await bot.httpPort();
      await bot.waitForLog((l) => l.msg === 'ASR worker ready');
      await bot.waitForLog(() => bot.logs.filter((l) => /cannot reach the Bot API/.test(l.msg)).length >= 2, 30_000);
      const failures = bot.logs.filter((l) => /cannot reach the Bot API/.test(l.msg));
      expect(failures.slice(0, 2).map((l) => [l.host, l.kind, l.retryInMs])).toEqual([
        [`127.0.0.1:${port}`, 'refused', 1000],
        [`127.0.0.1:${port}`, 'refused', 2000],
      ]);
      expect(failures[0]!.msg).toMatch(/connection refused \(ECONNREFUSED\); retrying in 1 s/);
      const ready = await get(httpPort, '/readyz');
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.body)).toEqual({ ready: false, model: true, database: true, telegram: false });
      expect((await get(httpPort, '/metrics')).body).toMatch(/^voicebot_telegram_connect_failures_total\{kind="refused"\} [2-9]/m);
    } finally {
      exitCode = await bot.stop();
      outputs.push(bot.output());
    }
    expect(exitCode).toBe(0);
  });

  it('a reset connection, a 500 and a proxy\'s HTML 502, then the Bot API answers: each failure named, then connected', async () => {
    h.api.inject('getMe', { count: 1, reset: true });
    h.api.inject('getMe', { count: 1, statuses: [500] });
    h.api.inject('getMe', { count: 1, statuses: [502], html: true });
    const bot = await h.startBot();
    const failures = bot.logs.filter((l) => /cannot reach the Bot API/.test(l.msg)).map((l) => [l.kind, l.status]);
    expect(failures).toEqual([['reset', undefined], ['http', 500], ['http', 502]]);
    expect(bot.logs.find((l) => l.msg === 'connected to Telegram')).toMatchObject({ attempts: 4, username: 'voice_test_bot' });
    const ready = await get(await bot.httpPort(), '/readyz');
    expect(JSON.parse(ready.body)).toMatchObject({ ready: true, telegram: true });
  });

  it('a failing file download and a connection reset while delivering: the user is answered, the error logged without the token', async () => {
    h.api.inject('file', { count: 3, statuses: [500], html: true });
    const failed = h.api.sendVoice({ chatId: 71, userId: 71, bytes: speechOgg('Download fails.', 2), duration: 2 });
    expect((await h.waitForAnswer(71, failed.messageId)).text).toMatch(/could not download/);

    h.api.inject('editMessageText', { count: 1, reset: true, when: (p) => /language/.test(String(p.text)) });
    const reset = h.api.sendVoice({ chatId: 72, userId: 72, bytes: speechOgg('Delivery is cut off once.', 2), duration: 2 });
    expect((await h.waitForAnswer(72, reset.messageId)).text).toMatch(/language/);
    const retried = h.bot.logs.find((l) => l.msg === 'a Telegram call failed: trying again')!;
    expect(JSON.stringify(retried)).toMatch(/<redacted>/);
  });
});

describe('deliveries under Telegram faults', () => {
  const transcribed = (jobId: unknown) => h.bot.logs.filter((l) => l.msg === 'transcribed' && l.jobId === jobId).length;
  beforeAll(async () => {
    // Normally the bot the startup tests connected; on its own (vitest -t), a fresh one.
    if (!h.bot || h.bot.hasExited()) await h.startBot();
  });

  it('a forwarded copy is answered from the cache only when model, fixed language, task and timestamps all match', async () => {
    const id = 'forwarded-note';
    const variants = [
      { model: 'other-org/other-model', requestedLanguage: null, task: 'transcribe', timestamps: false },
      { model: TEST_MODEL_ID, requestedLanguage: 'de', task: 'transcribe', timestamps: false },
      { model: TEST_MODEL_ID, requestedLanguage: null, task: 'translate', timestamps: false },
      { model: TEST_MODEL_ID, requestedLanguage: null, task: 'transcribe', timestamps: true },
    ];
    variants.forEach((v, i) => seedTranscript(h, { ...v, fileUniqueId: id, text: `WRONG-ANSWER-${i}`, messageId: 9000 + i }));
    const clip = speechOgg('The same note, forwarded.', 2);
    const first = h.api.sendVoice({ chatId: 81, userId: 81, bytes: clip, duration: 2, fileUniqueId: id });
    const fresh = await h.waitForAnswer(81, first.messageId);
    expect(fresh.text).not.toMatch(/WRONG-ANSWER|earlier transcript/);
    expect(fresh.text).toMatch(/language/);

    await h.waitForEmptyQueue();
    const again = h.api.sendVoice({ chatId: 82, userId: 82, bytes: clip, duration: 2, fileUniqueId: id });
    const cached = await h.waitForAnswer(82, again.messageId);
    expect(cached.text).toMatch(/from an earlier transcript of this file/);
    expect(cached.text.split('\n\n')[0]).toBe(fresh.text.split('\n\n')[0]);
  });

  it('progress edits held back by Telegram (a 429 flood wait, a slow edit) never land after the transcript', async () => {
    const progressEdit = (p: Record<string, unknown>) => /Transcribing… \d/.test(String(p.text));
    const faultsBefore = h.api.injected.get('editMessageText') ?? 0;
    h.api.inject('editMessageText', { count: 1, statuses: [429], retryAfter: 6, when: progressEdit });
    h.api.inject('editMessageText', { delayMs: 3_000, when: progressEdit });
    try {
      const { messageId } = h.api.sendVoice({ chatId: 83, userId: 83, bytes: speechOgg('A note in three windows whose progress edits are slow to land.', 65), duration: 65 });
      const answer = await h.waitForAnswer(83, messageId, 120_000);
      await h.waitForEmptyQueue();
      // Long enough for an edit still waiting out the flood limit to land.
      await new Promise((resolve) => setTimeout(resolve, 7_000));
      // The flood wait was really hit by a progress edit (on a fast machine none may land at all).
      expect(h.api.injected.get('editMessageText')).toBeGreaterThan(faultsBefore);
      expect(answer.history.at(-1)).toBe(answer.text);
      expect(answer.text).toMatch(/language/);
    } finally {
      h.api.heal('editMessageText');
    }
  });

  it('a delivery that fails past its retries keeps the transcript: the next attempt delivers it without running Whisper again', async () => {
    h.api.inject('editMessageText', { count: 5, statuses: [500], when: (p) => /language/.test(String(p.text)) });
    const { messageId } = h.api.sendVoice({ chatId: 84, userId: 84, bytes: speechOgg('Telegram fails five times in a row.', 2), duration: 2 });
    const answer = await h.waitForAnswer(84, messageId, 90_000);
    expect(answer.text).toMatch(/language/);
    await h.waitForEmptyQueue();
    const [job] = h.query<{ id: number; status: string; attempts: number; delivered_pieces: number }>('SELECT id, status, attempts, delivered_pieces FROM jobs WHERE message_id = ? AND chat_id = 84', messageId);
    expect(job).toMatchObject({ status: 'done', attempts: 2, delivered_pieces: 1 });
    expect(transcribed(job!.id)).toBe(1);
    expect(h.bot.logs.some((l) => l.msg === 'delivering a stored transcript' && l.jobId === job!.id)).toBe(true);
    expect(await h.bot.waitForLog((l) => l.msg === 'job finished' && l.messageId === messageId && l.chatId === 84)).toMatchObject({ attempts: 2, rtf: expect.any(Number), audioSeconds: expect.any(Number) });
    expect(h.api.repliesTo(84, messageId)).toHaveLength(1);
  });

  it('Bot API failing 30% of sendMessage/editMessageText calls with 429/500: every transcript delivered once, Whisper run once per note', async () => {
    const longText = Array.from({ length: 240 }, (_, i) => `Sentence number ${i} of a long stored transcript.`).join(' ');
    seedTranscript(h, { fileUniqueId: 'long-cached', model: TEST_MODEL_ID, requestedLanguage: null, task: 'transcribe', timestamps: false, text: longText, messageId: 9100 });
    for (const method of ['sendMessage', 'editMessageText']) h.api.inject(method, { rate: 0.3, statuses: [429, 500], retryAfter: 1 });
    const started = Date.now();
    const NOTES = 6;
    try {
      const clip = speechOgg('Delivered once, whatever Telegram does.', 2);
      const notes = Array.from({ length: NOTES }, (_, i) => ({ chatId: 300 + (i % 3), ...h.api.sendVoice({ chatId: 300 + (i % 3), userId: 300 + (i % 3), bytes: clip, duration: 2, fileUniqueId: `faulty-${i}` }) }));
      const long = h.api.sendVoice({ chatId: 310, userId: 310, bytes: clip, duration: 2, fileUniqueId: 'long-cached' });

      for (const note of notes) expect((await h.waitForAnswer(note.chatId, note.messageId, 120_000)).text).toMatch(/language/);
      await h.waitForEmptyQueue(60_000);
      for (const note of notes) expect(h.api.repliesTo(note.chatId, note.messageId)).toHaveLength(1);
      const jobs = h.query<{ id: number; status: string; attempts: number }>("SELECT id, status, attempts FROM jobs WHERE file_unique_id LIKE 'faulty-%'");
      expect(jobs.map((j) => j.status)).toEqual(Array(NOTES).fill('done'));
      const whisperRuns = jobs.map((j) => transcribed(j.id));
      expect(whisperRuns).toEqual(Array(NOTES).fill(1));

      const parts = await h.api.waitFor(() => {
        const replies = h.api.repliesTo(310, long.messageId);
        return replies.length === 3 && h.api.documents.some((d) => d.chat_id === 310) && replies;
      }, 60_000, 'the long transcript in three parts and its .txt file');
      const sentences = parts.flatMap((p) => p.text.match(/Sentence number \d+ /g) ?? []);
      expect(sentences).toHaveLength(240);
      expect(new Set(sentences).size).toBe(240);
      expect(h.api.documents.filter((d) => d.chat_id === 310)).toHaveLength(1);

      const faults = (h.api.injected.get('sendMessage') ?? 0) + (h.api.injected.get('editMessageText') ?? 0);
      const retries = h.bot.logs.filter((l) => l.msg === 'a Telegram call failed: trying again').length;
      expect(faults).toBeGreaterThan(0);
      console.log(
        `[figure] Bot API failing 30% of sendMessage/editMessageText with 429/500: ${faults} faults injected, ${retries} pieces retried; ` +
          `${NOTES} notes + 1 cached 3-part transcript delivered once each (0 lost, 0 doubled); Whisper runs ${whisperRuns.reduce((a, b) => a + b, 0)} for ${NOTES} notes; ${((Date.now() - started) / 1000).toFixed(0)} s`,
      );
    } finally {
      h.api.heal('sendMessage');
      h.api.heal('editMessageText');
    }
  });
});

describe('secrets', () => {
  it('the bot token and the webhook secret are in no log line and no lifecycle row, after all of the above', async () => {
    expect(await h.bot.stop()).toBe(0);
    outputs.push(h.bot.output());
    const rows = h.query<{ detail: string }>('SELECT detail FROM lifecycle_events').map((r) => r.detail);
    expect(rows.length).toBeGreaterThanOrEqual(4);
    for (const secret of SECRETS) expect([...outputs, ...rows].join('\n')).not.toContain(secret);
  });
});
