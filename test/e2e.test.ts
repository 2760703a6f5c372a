// The real bot process against a fake Bot API and a loopback model hub, through real ffmpeg and the real pool.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pngBytes, speechOgg } from './support/audio.js';
import { BotProcess } from './support/bot-process.js';
import { FakeBotApi, TEST_TOKEN } from './support/fake-bot-api.js';
import { LoopbackModelHub } from './support/model-hub.js';
import { cachedModelsRoot, TEST_MODEL_ID } from './support/test-model.js';

const CHAT = 5001;
const USER = 42;

describe('a voice note in, its transcript out', () => {
  const api = new FakeBotApi();
  let hub: LoopbackModelHub;
  let bot: BotProcess;
  let dataDir: string;
  let modelsDir: string;

  beforeAll(async () => {
    hub = new LoopbackModelHub(await cachedModelsRoot());
    await Promise.all([api.start(), hub.start()]);
    const work = mkdtempSync(path.join(os.tmpdir(), 'voicebot-e2e-'));
    dataDir = path.join(work, 'does/not/exist/yet');
    modelsDir = path.join(work, 'models');
    bot = new BotProcess({
      BOT_TOKEN: TEST_TOKEN,
      TELEGRAM_API_ROOT: api.apiRoot,
      DATA_DIR: dataDir,
      MODELS_DIR: modelsDir,
      MODEL_HUB_URL: hub.url,
      WHISPER_MODEL: TEST_MODEL_ID,
      HTTP_PORT: '0',
      ASR_WORKERS: '1',
      ASR_THREADS: '1',
      MAX_AUDIO_SECONDS: '120',
      MAX_FILE_MB: '1',
      USER_JOBS_PER_MINUTE: '100',
      USER_MAX_ACTIVE_JOBS: '100',
    }).start();
    await bot.ready();
  });

  afterAll(async () => {
    expect(await bot?.stop()).toBe(0);
    await Promise.all([api.stop(), hub?.stop()]);
  });

  it('downloaded the model through the hub layout, then created the missing data directory', () => {
    expect(hub.requests.some((r) => r.includes(`/${TEST_MODEL_ID}/resolve/main/onnx/encoder_model_quantized.onnx`))).toBe(true);
    expect(bot.logs.some((l) => l.msg === 'model downloaded')).toBe(true);
  });

  it('replies to the voice note with its transcript and records the job', async () => {
    const clip = speechOgg('Hello, this is a test of the voice bot.', 6);
    const { messageId } = api.sendVoice({ chatId: CHAT, userId: USER, bytes: clip, duration: 6 });
    const reply = await api.waitFor(
      () => api.repliesTo(CHAT, messageId).find((m) => m.history.length > 1 && !m.text.startsWith('🎧')),
      60_000,
      'the transcript',
    );
    expect(reply.history[0]).toMatch(/queue/i);
    expect(reply.text.length).toBeGreaterThan(0);
    expect(reply.text).not.toMatch(/went wrong|could not/i);

    const line = await bot.waitForLog((l) => l.msg === 'job finished' && l.messageId === messageId);
    const db = new Database(path.join(dataDir, 'voicebot.sqlite'), { readonly: true });
    const row = db.prepare('SELECT * FROM jobs WHERE message_id = ?').get(messageId) as Record<string, number | string>;
    db.close();
    expect(row.status).toBe('done');
    expect(Number(row.audio_seconds)).toBeGreaterThan(6 * 0.98);
    expect(Number(row.audio_seconds)).toBeLessThan(6 * 1.02);
    expect(Number(row.rtf)).toBeGreaterThan(0);
    expect(Number(row.rss_peak_mb)).toBeGreaterThanOrEqual(Number(row.rss_before_mb));
    for (const key of ['userId', 'chatId', 'fileUniqueId', 'mediaKind', 'audioSeconds', 'downloadMs', 'decodeMs', 'queueWaitMs', 'inferenceMs', 'rtf', 'rtfTotal', 'model', 'language', 'workerId', 'threads', 'rssBeforeMb', 'rssAfterMb', 'heapBeforeMb', 'heapAfterMb', 'rssPeakMb', 'status']) {
      expect(line, key).toHaveProperty(key);
    }
  });

  it('in a group, replies to the voice message it transcribed', async () => {
    const group = -100777;
    const { messageId } = api.sendVoice({ chatId: group, userId: USER + 1, bytes: speechOgg('Group message here.', 3), duration: 3, chatType: 'supergroup' });
    const reply = await api.waitFor(() => api.repliesTo(group, messageId).find((m) => m.history.length > 1 && !m.text.startsWith('🎧')), 60_000, 'group transcript');
    expect(reply.chat_id).toBe(group);
  });

  const badInputs: [string, () => Parameters<FakeBotApi['sendVoice']>[0], RegExp][] = [
    ['a zero-byte file', () => ({ chatId: CHAT, userId: 100, bytes: Buffer.alloc(0) }), /damaged|not audio/],
    ['a truncated OGG', () => ({ chatId: CHAT, userId: 101, bytes: speechOgg('truncated', 4).subarray(0, 300) }), /damaged|not audio|no sound/],
    ['a PNG named voice.ogg', () => ({ chatId: CHAT, userId: 102, bytes: pngBytes(), kind: 'document', fileName: 'voice.ogg', mimeType: 'audio/ogg' }), /damaged|not audio|no sound/],
    ['a file over MAX_FILE_MB', () => ({ chatId: CHAT, userId: 103, bytes: Buffer.alloc(2 * 2 ** 20, 1) }), /larger than 1 MB/],
    ['audio over MAX_AUDIO_SECONDS', () => ({ chatId: CHAT, userId: 104, bytes: speechOgg('long', 3), duration: 500 }), /longer than 2 min/],
    ['audio over MAX_AUDIO_SECONDS that claims to be short', () => ({ chatId: CHAT, userId: 105, bytes: speechOgg('Long audio that says it is short.', 125), duration: 5 }), /longer than 2 min/],
  ];
  for (const [name, make, expected] of badInputs) {
    it(`answers ${name} with a clear reply and stays up`, async () => {
      const { messageId } = api.sendVoice(make());
      const reply = await api.waitFor(() => api.repliesTo(CHAT, messageId).find((m) => expected.test(m.text)), 60_000, `a reply matching ${expected}`);
      expect(reply.text).toMatch(expected);
      expect(bot.hasExited()).toBe(false);
    });
  }
});
