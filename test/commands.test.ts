// What users and admins expect, through the fake Bot API and the real bot process.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobStats } from '../src/jobs/job-stats.js';
import { openDatabase } from '../src/storage/database.js';
import { speechOgg } from './support/audio.js';
import { Harness } from './support/harness.js';

const ADMIN = 1;
const USER = 2;
const GROUP = -100500;

describe('commands and settings', () => {
  let h: Harness;
  const say = (userId: number, text: string, extra: { chatId?: number; languageCode?: string; chatType?: 'group' } = {}) =>
    h.api.sendText({ chatId: extra.chatId ?? userId, userId, languageCode: extra.languageCode, chatType: extra.chatType }, text);
  const answer = async (chatId: number, after: number) => (await h.api.waitFor(() => [...h.api.messages.values()].find((m) => m.chat_id === chatId && m.message_id > after), 30_000, 'a reply')).text;
  const lastMessageId = () => Math.max(0, ...h.api.messages.keys());

  beforeAll(async () => {
    h = await Harness.create({ ADMIN_IDS: String(ADMIN) });
    await h.startBot();
  });
  afterAll(async () => {
    expect(await h.stop()).toBe(0);
  });

  it('/start and /help speak the user\'s language', async () => {
    let mark = lastMessageId();
    say(USER, '/start');
    expect(await answer(USER, mark)).toMatch(/Send me a voice note/);
    mark = lastMessageId();
    say(USER + 100, '/help', { languageCode: 'ru' });
    expect(await answer(USER + 100, mark)).toMatch(/Пришлите голосовое/);
  });

  it('/stats: anyone but an admin gets the help, an admin gets the figures', async () => {
    let mark = lastMessageId();
    say(USER, '/stats');
    const refused = await answer(USER, mark);
    expect(refused).toMatch(/Send me a voice note/);
    expect(refused).not.toMatch(/RTF|queue/);
    mark = lastMessageId();
    say(ADMIN, '/stats 7d');
    const stats = await answer(ADMIN, mark);
    expect(stats).toMatch(/^voicebot .*, up /);
    expect(stats).toMatch(/1 worker\(s\) × 1 thread\(s\)/);
    expect(stats).toMatch(/RSS \d+ MB \(peak \d+ MB\); swap in use \d+ MB/);
  });

  it('a forwarded copy of a voice note is answered from the stored transcript, without the model', async () => {
    const clip = speechOgg('Forward me.', 3);
    const first = h.api.sendVoice({ chatId: USER, userId: USER, bytes: clip, duration: 3, fileUniqueId: 'forwarded-once' });
    const original = await h.waitForAnswer(USER, first.messageId);
    await h.bot.waitForLog((l) => l.msg === 'job finished' && l.messageId === first.messageId);
    const finishedBefore = h.bot.logs.filter((l) => l.msg === 'job finished').length;
    const copy = h.api.sendVoice({ chatId: USER + 1, userId: USER + 1, bytes: clip, duration: 3, fileUniqueId: 'forwarded-once' });
    const cached = await h.waitForAnswer(USER + 1, copy.messageId);
    expect(cached.text).toContain(original.text.split('\n\n—')[0]);
    expect(cached.text).toMatch(/from an earlier transcript/);
    expect(h.bot.logs.filter((l) => l.msg === 'job finished').length).toBe(finishedBefore);
    expect(h.query('SELECT from_cache, inference_ms FROM jobs WHERE message_id = ?', copy.messageId)).toEqual([{ from_cache: 1, inference_ms: null }]);
  });

  it('/lang fixes the language, shown with the transcript; /lang auto detects again', async () => {
    let mark = lastMessageId();
    say(USER, '/lang xx');
    expect(await answer(USER, mark)).toMatch(/do not know the language "xx"/);
    mark = lastMessageId();
    say(USER, '/lang ru');
    expect(await answer(USER, mark)).toMatch(/Done: ru/);
    const { messageId } = h.api.sendVoice({ chatId: USER, userId: USER, bytes: speechOgg('Fixed language.', 3), duration: 3 });
    expect((await h.waitForAnswer(USER, messageId)).text).toMatch(/language: ru \(fixed, \/lang\)/);
    mark = lastMessageId();
    say(USER, '/lang auto');
    expect(await answer(USER, mark)).toMatch(/detected automatically/);
  });

  it('/translate runs Whisper\'s translate task', async () => {
    const mark = lastMessageId();
    say(USER + 2, '/translate on');
    expect(await answer(USER + 2, mark)).toMatch(/\/translate is now on/);
    const { messageId } = h.api.sendVoice({ chatId: USER + 2, userId: USER + 2, bytes: speechOgg('Translate me.', 3), duration: 3 });
    expect((await h.waitForAnswer(USER + 2, messageId)).text).toMatch(/translated to English/);
    expect(h.query('SELECT task FROM jobs WHERE message_id = ?', messageId)).toEqual([{ task: 'translate' }]);
  });

  it('long audio shows progress by window, and /timestamps adds [mm:ss] marks and an .srt file', async () => {
    const user = USER + 3;
    const mark = lastMessageId();
    say(user, '/timestamps on');
    expect(await answer(user, mark)).toMatch(/\/timestamps is now on/);
    const { messageId } = h.api.sendVoice({ chatId: user, userId: user, bytes: speechOgg('A long voice note with many words in it, spoken slowly.', 65), duration: 65 });
    const reply = await h.waitForAnswer(user, messageId, 90_000);
    // Progress edits go one at a time and the latest wins: on a fast machine 2/3 may be dropped for 3/3's answer.
    expect(reply.history).toEqual(expect.arrayContaining([expect.stringMatching(/Transcribing… [12]\/3/)]));
    expect(reply.text).toMatch(/^\[\d\d:\d\d\] /);
    const srt = await h.api.waitFor(() => h.api.documents.find((d) => d.chat_id === user && d.file_name.endsWith('.srt')), 10_000, 'the .srt file');
    expect(srt.content).toMatch(/^1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n/);
  });

  it('in a group set to "on request", only a reply /transcribe gets a voice note transcribed', async () => {
    let mark = lastMessageId();
    say(USER, '/mode request', { chatId: GROUP, chatType: 'group' });
    expect(await answer(GROUP, mark)).toMatch(/Group mode: on_request/);
    const voice = h.api.sendVoice({ chatId: GROUP, userId: USER + 4, bytes: speechOgg('On request only.', 3), duration: 3, chatType: 'group' });
    mark = lastMessageId();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(h.api.repliesTo(GROUP, voice.messageId)).toHaveLength(0);
    const target = { message_id: voice.messageId, date: Math.floor(Date.now() / 1000), chat: { id: GROUP, type: 'group', title: 'Group' }, from: { id: USER + 4, is_bot: false, first_name: 'U' }, voice: (voice.update.message as { voice: unknown }).voice };
    h.api.sendText({ chatId: GROUP, userId: USER, chatType: 'group' }, '/transcribe', target);
    expect((await h.waitForAnswer(GROUP, voice.messageId)).text).toMatch(/language/);
  });

  it('/privacy says what is stored; /forget deletes every row about the user and confirms', async () => {
    let mark = lastMessageId();
    say(USER, '/privacy');
    expect(await answer(USER, mark)).toMatch(/the transcript/);
    expect(h.query('SELECT id FROM jobs WHERE user_id = ?', USER).length).toBeGreaterThan(0);
    mark = lastMessageId();
    say(USER, '/forget');
    expect(await answer(USER, mark)).toMatch(/Deleted: \d+ voice note record\(s\) and your settings/);
    expect(h.query('SELECT id FROM jobs WHERE user_id = ?', USER)).toEqual([]);
    expect(h.query('SELECT user_id FROM user_settings WHERE user_id = ?', USER)).toEqual([]);
  });
});

describe('/stats on a large database', () => {
  it('answers for 100 000 jobs from a covering index', () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'voicebot-stats-')), 'voicebot.sqlite');
    const seed = openDatabase(file);
    const now = Date.now();
    const kinds = ['voice', 'audio', 'video_note'];
    const insert = seed.$client.prepare(
      `INSERT INTO jobs (chat_id, chat_type, message_id, user_id, file_id, file_unique_id, media_kind, created_at, status, error_code, audio_seconds, rtf, model)
       VALUES (?, 'private', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'Xenova/whisper-base')`,
    );
    seed.$client.transaction(() => {
      for (let i = 0; i < 100_000; i++) {
        const failed = i % 50 === 0;
        insert.run(i % 5000, i, i % 5000, `f${i}`, `u${i}`, kinds[Math.floor(i / 60) % 3], now - (i % 60) * 86_400_000 - (i % 1000), failed ? 'failed' : 'done', failed ? 'broken_audio' : null, 5 + (i % 30), failed ? null : 0.1 + (i % 10) / 20);
      }
    })();
    seed.$client.close();
    // A restart: opening the database refreshes the planner's statistics.
    const db = openDatabase(file);
    const stats = new JobStats(db);
    const plan = db.$client.prepare('EXPLAIN QUERY PLAN SELECT status, count(*) FROM jobs WHERE created_at >= ? GROUP BY status').all(now - 86_400_000) as { detail: string }[];
    expect(plan.map((p) => p.detail).join(' ')).toMatch(/SEARCH jobs USING COVERING INDEX jobs_created_status/);

    const day = stats.period(86_400_000, now);
    const week = stats.period(604_800_000, now);
    const all = stats.period(Infinity, now);

    expect(all.byStatus).toEqual({ done: 98_000, failed: 2_000 });
    expect(week.byStatus.done! + week.byStatus.failed!).toBeLessThan(all.byStatus.done! + 2_000);
    expect(day.rtf.map((r) => r.mediaKind).sort()).toEqual(['audio', 'video_note', 'voice']);
    expect(all.topUsers).toHaveLength(5);
    expect(all.errors).toEqual([{ code: 'broken_audio', n: 2_000 }]);
    db.$client.close();
  });
});
