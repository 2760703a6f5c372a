// The real bot process against a fake Bot API and a loopback model hub, through real ffmpeg and the real pool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pngBytes, silenceOgg, silentVideoMp4, speechOgg } from './support/audio.js';
import type { VoiceUpdate } from './support/fake-bot-api.js';
import { Harness } from './support/harness.js';
import { TEST_MODEL_ID } from './support/test-model.js';

const CHAT = 5001;
const USER = 42;

describe('a voice note in, its transcript out', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await Harness.create({ MAX_AUDIO_SECONDS: '120', MAX_FILE_MB: '2', ASR_TEMPERATURE_FALLBACK: 'true' });
    await h.startBot();
  });

  afterAll(async () => {
    expect(await h.stop()).toBe(0);
  });

  it('downloaded the model through the hub layout into a data directory it created', () => {
    expect(h.hub.requests.some((r) => r.includes(`/${TEST_MODEL_ID}/resolve/main/onnx/encoder_model_quantized.onnx`))).toBe(true);
    expect(h.bot.logs.some((l) => l.msg === 'model downloaded')).toBe(true);
  });

  it('replies to the voice note with its transcript and records the job', async () => {
    const { messageId } = h.api.sendVoice({ chatId: CHAT, userId: USER, bytes: speechOgg('Hello, this is a test of the voice bot.', 6), duration: 6 });
    const reply = await h.waitForAnswer(CHAT, messageId);
    expect(reply.history[0]).toMatch(/queue/i);
    expect(reply.text).toMatch(/— language: \w+/);
    expect(reply.text).not.toMatch(/went wrong|could not/i);

    const line = await h.bot.waitForLog((l) => l.msg === 'job finished' && l.messageId === messageId);
    const [row] = h.query<Record<string, number | string>>('SELECT * FROM jobs WHERE message_id = ?', messageId);
    expect(row!.status).toBe('done');
    expect(Number(row!.audio_seconds)).toBeGreaterThan(6 * 0.98);
    expect(Number(row!.audio_seconds)).toBeLessThan(6 * 1.02);
    expect(Number(row!.rtf)).toBeGreaterThan(0);
    expect(Number(row!.rss_peak_mb)).toBeGreaterThanOrEqual(Number(row!.rss_before_mb));
    // Random weights decode nothing likely (avg log-prob far below -1): every temperature is tried.
    expect(row!.fallbacks).toBe(5);
    expect(line.windows).toEqual([expect.objectContaining({ temperature: expect.any(Number), compressionRatio: expect.any(Number), avgLogprob: expect.any(Number), noSpeechProb: expect.any(Number) })]);
    for (const key of ['userId', 'chatId', 'messageId', 'fileUniqueId', 'mediaKind', 'audioSeconds', 'downloadMs', 'decodeMs', 'queueWaitMs', 'inferenceMs', 'fallbacks', 'speechSeconds', 'vadMs', 'rtf', 'rtfTotal', 'model', 'language', 'workerId', 'threads', 'rssBeforeMb', 'rssAfterMb', 'heapBeforeMb', 'heapAfterMb', 'rssPeakMb', 'status']) {
      expect(line, key).toHaveProperty(key);
    }
  });

  it('in a group, replies to the voice message it transcribed', async () => {
    const group = -100777;
    const { messageId } = h.api.sendVoice({ chatId: group, userId: USER + 1, bytes: speechOgg('Group message here.', 3), duration: 3, chatType: 'supergroup' });
    expect((await h.waitForAnswer(group, messageId)).chat_id).toBe(group);
  });

  it('transcribes a round video (video note)', async () => {
    const { messageId } = h.api.sendVoice({ chatId: CHAT, userId: USER, bytes: speechOgg('A round video.', 3), duration: 3, kind: 'video_note' });
    expect((await h.waitForAnswer(CHAT, messageId)).text).toMatch(/language/);
  });

  it('answers "no speech detected" for silence instead of inventing a sentence', async () => {
    const { messageId } = h.api.sendVoice({ chatId: CHAT, userId: USER, bytes: silenceOgg(5), duration: 5 });
    expect((await h.waitForAnswer(CHAT, messageId)).text).toMatch(/No speech detected/);
  });

  const badInputs: [string, () => Omit<VoiceUpdate, 'chatId' | 'userId'>, RegExp][] = [
    ['a zero-byte file', () => ({ bytes: Buffer.alloc(0) }), /damaged|not audio/],
    ['a truncated OGG', () => ({ bytes: speechOgg('truncated', 4).subarray(0, 300) }), /damaged|not audio|no sound/],
    ['random bytes', () => ({ bytes: Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919 + 13) % 256)) }), /damaged|not audio|no sound/],
    ['a PNG named voice.ogg', () => ({ bytes: pngBytes(), kind: 'document', fileName: 'voice.ogg', mimeType: 'audio/ogg' }), /damaged|not audio|no sound/],
    ['a file over MAX_FILE_MB', () => ({ bytes: Buffer.alloc(3 * 2 ** 20, 1) }), /larger than 2 MB/],
    ['a file Telegram will not hand out (getFile: file is too big)', () => ({ bytes: Buffer.alloc(100), fileSize: 1000, tooBig: true }), /larger than 2 MB/],
    ['audio over MAX_AUDIO_SECONDS', () => ({ bytes: speechOgg('long', 3), duration: 500 }), /longer than 2 min/],
    ['a header that claims a huge duration', () => ({ bytes: speechOgg('huge', 3), duration: 10_000_000 }), /longer than 2 min/],
    ['a 2-hour file of silence that claims to be short', () => ({ bytes: silenceOgg(7200), duration: 5 }), /longer than 2 min/],
    ['audio over MAX_AUDIO_SECONDS that claims to be short', () => ({ bytes: speechOgg('Long audio that says it is short.', 125), duration: 5 }), /longer than 2 min/],
    ['a PNG renamed .oga, sent as a file', () => ({ bytes: pngBytes(), kind: 'document', fileName: 'voice.oga', mimeType: 'application/octet-stream' }), /damaged|not audio|no sound/],
    ['an MP4 with no audio track', () => ({ bytes: silentVideoMp4(), kind: 'document', fileName: 'clip.mp4', mimeType: 'video/mp4' }), /no sound/],
    ['a document that claims audio/ogg', () => ({ bytes: Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 131 + 7) % 256)), kind: 'document', fileName: 'recording', mimeType: 'audio/ogg' }), /damaged|not audio|no sound/],
    ['1 h of silence', () => ({ bytes: silenceOgg(3600), duration: 3600 }), /longer than 2 min/],
    ['a 100 MB file that claims to be small', () => ({ bytes: Buffer.alloc(100 * 2 ** 20, 7), fileSize: 1000 }), /larger than 2 MB/],
    ['a voice note with a unicode-heavy caption', () => ({ bytes: speechOgg('A caption full of unicode.', 2), duration: 2, caption: '𝕳𝖊𝖑𝖑𝖔 👩‍👩‍👧‍👦 مرحبا שלום z̸̧̛a̵l̶g̷o̸ \u202e\u0000 ' + '🎙️'.repeat(300) }), /language/],
    ['a voice note sent two hours ago, seen only now (after downtime)', () => ({ bytes: speechOgg('Old news.', 2), duration: 2, date: Math.floor(Date.now() / 1000) - 7200 }), /offline when you sent this/],
  ];
  const answered: string[] = [];
  badInputs.forEach(([name, make, expected], i) => {
    it(`answers ${name} with a clear reply and stays up`, async () => {
      const { messageId } = h.api.sendVoice({ chatId: CHAT, userId: 100 + i, ...make() });
      expect((await h.waitForAnswer(CHAT, messageId)).text).toMatch(expected);
      expect(h.api.repliesTo(CHAT, messageId)).toHaveLength(1);
      expect(h.bot.hasExited()).toBe(false);
      answered.push(name);
    });
  });

  it('leaves no job stuck after all that', async () => {
    await h.waitForEmptyQueue();
    expect(h.bot.hasExited()).toBe(false);
    console.log(`[figure] Garbage inputs: ${answered.length} of ${badInputs.length} kinds answered, each with its own clear reply; 0 crashes; 0 jobs stuck`);
  });

  it('waits out a 429 flood limit from Telegram and still delivers', async () => {
    h.api.failWith429('sendMessage', 2, 1);
    const started = Date.now();
    const { messageId } = h.api.sendVoice({ chatId: CHAT, userId: USER, bytes: speechOgg('Flood wait.', 3), duration: 3 });
    const reply = await h.waitForAnswer(CHAT, messageId);
    expect(reply.text).toMatch(/language/);
    const sends = h.api.calls.filter((c) => c.method === 'sendMessage' && c.at >= started);
    expect(sends.length).toBeGreaterThanOrEqual(3);
    expect(sends[2]!.at - sends[0]!.at).toBeGreaterThanOrEqual(1900);
  });

  it('answers an unsupported document in a private chat', async () => {
    const { messageId } = h.api.sendVoice({ chatId: CHAT, userId: USER, bytes: Buffer.from('%PDF-1.4'), kind: 'document', fileName: 'report.pdf', mimeType: 'application/pdf' });
    expect((await h.waitForAnswer(CHAT, messageId)).text).toMatch(/only transcribe audio/);
  });
});
