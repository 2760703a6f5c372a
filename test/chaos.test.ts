// The real bot process killed for real: SIGKILL mid-job, SIGTERM in a job's last attempt, and a
// chaos run of 200 notes while the process is killed ten times at seeded-random moments.
import { renameSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_ATTEMPTS } from '../src/jobs/pipeline.js';
import { speechOgg } from './support/audio.js';
import type { SentMessage } from './support/fake-bot-api.js';
import { harnessPerTest, type Harness } from './support/harness.js';
import { TEST_MODEL_ID } from './support/test-model.js';
import { seeded } from './support/seeded.js';

/** Status texts the bot shows before the answer: queued, working, progress. */
const STATUS = /^(⏳|🎧)/;
/** A reply is handled within this of Telegram accepting it, the bot's record included (loopback, a loaded CI machine). */
const RESEND_WINDOW_MS = 2_000;

const harness = harnessPerTest();

interface JobRow {
  status: string;
  attempts: number;
}

/** Waits until the note's job is being worked on in its `attempt`-th attempt. */
async function waitForAttempt(h: Harness, messageId: number, attempt: number): Promise<void> {
  await h.api.waitFor(
    () => h.query<JobRow>('SELECT status, attempts FROM jobs WHERE message_id = ?', messageId).some((r) => r.status === 'processing' && r.attempts === attempt),
    120_000,
    `attempt ${attempt} of message ${messageId} to run`,
  );
}

/** Final texts (not statuses) the user was shown for a note: every send or edit that carried one. */
function answersShown(replies: SentMessage[]): string[] {
  return replies.flatMap((m) => m.history.filter((text) => !STATUS.test(text)));
}

describe('a note that takes the process down with it', () => {
  it('kill, kill, SIGTERM in its last attempt (user told nothing), kill: then the user gets the error, and the next note is transcribed', async () => {
    const h = await harness({ SHUTDOWN_GRACE_SECONDS: '1' });
    const user = { chatId: 4100, userId: 4100 };
    await h.startBot();
    // Long enough that every kill lands while it is being worked on.
    const { messageId } = h.api.sendVoice({ ...user, bytes: speechOgg('Every time this note is transcribed the process is killed.', 120), duration: 120 });

    await waitForAttempt(h, messageId, 1);
    await h.bot.stop('SIGKILL');
    await h.startBot();
    await waitForAttempt(h, messageId, 2);
    await h.bot.stop('SIGKILL');

    await h.startBot();
    await waitForAttempt(h, messageId, 3);
    expect(await h.bot.stop('SIGTERM')).toBe(0);
    expect(answersShown(h.api.repliesTo(user.chatId, messageId))).toEqual([]);
    expect(h.query<JobRow>('SELECT status, attempts FROM jobs WHERE message_id = ?', messageId)).toEqual([{ status: 'queued', attempts: 2 }]);

    await h.startBot();
    await waitForAttempt(h, messageId, 3); // the attempt the shutdown cut off was given back
    await h.bot.stop('SIGKILL');

    await h.startBot();
    const answer = await h.waitForAnswer(user.chatId, messageId, 60_000);
    expect(answer.text).toMatch(/stopped the bot every time/);
    expect(answersShown(h.api.repliesTo(user.chatId, messageId))).toHaveLength(1);
    // The reply goes out before the row is finished: wait for the row, not only for the reply.
    await h.api.waitFor(() => h.query<JobRow>('SELECT status FROM jobs WHERE message_id = ?', messageId)[0]?.status !== 'processing', 10_000, 'the job row to be finished');
    expect(h.query<JobRow & { error_code: string }>('SELECT status, attempts, error_code FROM jobs WHERE message_id = ?', messageId)).toEqual([
      { status: 'failed', attempts: 4, error_code: 'too_many_attempts' },
    ]);

    const next = h.api.sendVoice({ ...user, bytes: speechOgg('The next note is fine.', 3), duration: 3 });
    expect((await h.waitForAnswer(user.chatId, next.messageId, 60_000)).text).toMatch(/language/);
  }, 600_000);
});

describe('six notes forwarded at once', () => {
  it('all six are transcribed, and another user\'s note sent after them does not wait for all six', async () => {
    // The defaults, not the harness's generous limits.
    const h = await harness({ USER_MAX_ACTIVE_JOBS: '', USER_JOBS_PER_MINUTE: '' });
    await h.startBot();
    const clip = speechOgg('One of six forwarded notes.', 2);
    const batch = Array.from({ length: 6 }, (_, i) => h.api.sendVoice({ chatId: 4200, userId: 4200, bytes: clip, duration: 2, fileUniqueId: `batch-${i}` }));
    const other = h.api.sendVoice({ chatId: 4201, userId: 4201, bytes: clip, duration: 2, fileUniqueId: 'other' });
    for (const { messageId } of batch) expect((await h.waitForAnswer(4200, messageId, 120_000)).text).toMatch(/language/);
    await h.waitForAnswer(4201, other.messageId, 30_000);
    await h.waitForEmptyQueue();
    const finished = h.query<{ message_id: number }>('SELECT message_id FROM jobs ORDER BY finished_at').map((r) => r.message_id);
    console.log(`six forwarded notes + one from another user, finishing order: ${finished.map((m) => (m === other.messageId ? 'other' : 'batch')).join(' ')}`);
    expect(finished.indexOf(other.messageId)).toBeLessThan(5);
  }, 300_000);
});

describe('no worker can load the model', () => {
  it('/readyz goes red, the waiting note stays queued, the reason is logged and counted, the bot exits 1; with the model back the note is answered', async () => {
    // Every worker is replaced after one job, so the replacement finds the model gone.
    const h = await harness({ WORKER_MAX_JOBS: '1', SHUTDOWN_GRACE_SECONDS: '1' });
    await h.startBot();
    const port = await h.bot.httpPort();
    const readyz = async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
    expect(await readyz()).toBe(200);
    const user = { chatId: 4400, userId: 4400 };
    const clip = speechOgg('The model disappears.', 2);
    const modelDir = path.join(h.modelsDir, ...TEST_MODEL_ID.split('/'));
    renameSync(modelDir, `${modelDir}.gone`); // a lost volume, a bad disk
    const first = h.api.sendVoice({ ...user, bytes: clip, duration: 2, fileUniqueId: 'before' });
    await h.waitForAnswer(user.chatId, first.messageId);
    const second = h.api.sendVoice({ ...user, bytes: clip, duration: 2, fileUniqueId: 'after' });

    let red = 0;
    for (let i = 0; i < 200 && !red; i++) {
      if ((await readyz()) === 503) red = Date.now();
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(red).toBeGreaterThan(0);
    const loadFailures = async () => Number(/voicebot_worker_restarts_total\{reason="load_failed"\} (\d+)/.exec(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())?.[1] ?? 0);
    let counted = 0;
    for (let i = 0; i < 600 && !counted && !h.bot.hasExited(); i++) {
      counted = await loadFailures();
      if (!counted) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(counted).toBeGreaterThan(0);
    expect(await readyz()).toBe(503);
    expect(await h.bot.waitForExit(180_000)).toBe(1);
    const fatal = h.bot.logs.find((l) => l.msg.startsWith('no ASR worker can load the model'))!;
    expect(String(fatal.lastError)).toMatch(/could not load/);
    expect(h.query<{ status: string }>('SELECT status FROM jobs WHERE message_id = ?', second.messageId)).toEqual([{ status: 'queued' }]);
    console.log(`no worker can load: /readyz red, bot exited 1 after ${fatal.failuresInARow} failed loads (${Math.round((Date.now() - red) / 1000)} s after /readyz went red), the waiting note still queued`);

    renameSync(`${modelDir}.gone`, modelDir);
    await h.startBot();
    expect((await h.waitForAnswer(user.chatId, second.messageId, 60_000)).text).toMatch(/language/);
  }, 600_000);
});

describe('chaos', () => {
  it('200 notes from 20 users while the bot is SIGKILLed 10 times at random moments: every note answered exactly once', async () => {
    const h = await harness({ QUEUE_MAX: '1000', ASR_WORKERS: '2', ASR_THREADS: '1' });
    const random = seeded(20261126);
    const clip = speechOgg('Chaos.', 1);
    const notes: { chatId: number; messageId: number }[] = [];
    const started = performance.now();
    await h.startBot();

    // Notes keep arriving (20 at a time, one from each user) while the process is being killed, so
    // kills land in intake, in the queue, in transcription and in delivery.
    const sending = (async () => {
      for (let wave = 0; wave < 10; wave++) {
        for (let user = 0; user < 20; user++) {
          const chatId = 4300 + user;
          notes.push({ chatId, ...h.api.sendVoice({ chatId, userId: chatId, bytes: clip, duration: 1, fileUniqueId: `chaos-${wave}-${user}` }) });
        }
        await new Promise((resolve) => setTimeout(resolve, 1_500));
      }
    })();
    const kills: number[] = [];
    const killedAt: number[] = [];
    for (let kill = 0; kill < 10; kill++) {
      const after = Math.round(500 + random() * 4_500);
      await new Promise((resolve) => setTimeout(resolve, after));
      kills.push(after);
      killedAt.push(Date.now());
      await h.bot.stop('SIGKILL');
      await h.startBot();
    }
    await sending;

    // Figures are printed even when this times out: a lost note is a finding, not a hang.
    await h.api
      .waitFor(() => notes.every((n) => h.answerTo(n.chatId, n.messageId)) && h.query("SELECT id FROM jobs WHERE status IN ('queued', 'processing')").length === 0, 1_200_000, 'every note answered and an empty queue')
      .catch((error: Error) => console.log(error.message));
    // A doubled answer would show up after the queue is empty too: give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 2_000));

    const shown = notes.map((n) => answersShown(h.api.repliesTo(n.chatId, n.messageId)));
    const lost = shown.filter((a) => a.length === 0).length;
    const doubled = shown.filter((a) => a.length > 1);
    // The one way to a second copy: a kill after Telegram accepted a piece and before the bot
    // recorded it (the Bot API has no idempotent send). Such a copy repeats the first one, and the
    // first was accepted just before a kill; a copy with no kill behind it is a bug.
    const resent = notes.flatMap((n) => {
      const texts = h.api.repliesTo(n.chatId, n.messageId).flatMap((m) => m.history.map((text, i) => ({ text, at: m.acceptedAt[i]! }))).filter((x) => !STATUS.test(x.text));
      if (texts.length < 2) return [];
      const first = Math.min(...texts.map((x) => x.at));
      return [{ identical: texts.every((x) => x.text === texts[0]!.text), killedWithinMs: Math.min(...killedAt.filter((k) => k >= first).map((k) => k - first)) }];
    });
    const once = shown.filter((a) => a.length === 1).length;
    const errors = shown.filter((a) => a.length > 0 && !/language/.test(a[0]!)).length;
    const leftoverStatuses = notes.flatMap((n) => h.api.repliesTo(n.chatId, n.messageId)).filter((m) => STATUS.test(m.text)).length;
    const jobs = h.query<{ n: number }>('SELECT COUNT(*) AS n FROM jobs')[0]!.n;
    console.log(
      `chaos run: ${notes.length} notes from 20 users, bot SIGKILLed 10 times (after ${kills.join(', ')} ms of uptime): ` +
        `${once} answered exactly once, ${lost} lost, ${doubled.length} doubled, ${errors} answered with an error, ` +
        `${leftoverStatuses} stale status messages left, ${jobs} job rows (${Math.round((performance.now() - started) / 1000)} s)`,
    );
    if (doubled.length) console.log(`doubled answers, as shown to the user: ${JSON.stringify(doubled.slice(0, 3))}; the first copies were accepted ${resent.map((r) => r.killedWithinMs).join(', ')} ms before a kill`);
    const failed = h.query<{ id: number; attempts: number; error_code: string }>("SELECT id, attempts, error_code FROM jobs WHERE status = 'failed'");
    if (failed.length) console.log(`failed jobs: ${JSON.stringify(failed)}`);
    expect(jobs).toBe(200);
    expect(lost).toBe(0);
    for (const copy of resent) {
      expect(copy.identical).toBe(true);
      expect(copy.killedWithinMs).toBeLessThanOrEqual(RESEND_WINDOW_MS);
    }
    expect(once + doubled.length).toBe(200);
    // A note in flight at three kills is what a note that crashes the process looks like, and is
    // failed as one, with its own reply (the designed cost of stopping a crash loop): 0-2 of 200
    // in a run. Any other error is a finding.
    expect(failed.every((f) => f.error_code === 'too_many_attempts' && f.attempts > MAX_ATTEMPTS)).toBe(true);
    expect(errors).toBe(failed.length);
  }, 1_800_000);
});
