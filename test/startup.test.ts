// Startup failures stop the bot with a message that names what is wrong.
import { mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ensureModel } from '../src/asr/model-store.js';
import { openDatabase, StorageError } from '../src/storage/database.js';
import { BotProcess } from './support/bot-process.js';
import { TEST_TOKEN } from './support/fake-bot-api.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'voicebot-startup-'));

describe('the database', () => {
  it('creates a data directory that does not exist yet, in WAL mode', () => {
    const file = path.join(tmp(), 'a/b/c/voicebot.sqlite');
    const db = openDatabase(file);
    expect(db.$client.pragma('journal_mode', { simple: true })).toBe('wal');
    db.$client.close();
  });

  it('fails naming the path when the directory cannot be created', () => {
    const blocker = path.join(tmp(), 'a-file');
    writeFileSync(blocker, 'not a directory');
    const file = path.join(blocker, 'data/voicebot.sqlite');
    expect(() => openDatabase(file)).toThrow(StorageError);
    expect(() => openDatabase(file)).toThrow(path.join(blocker, 'data'));
  });

  it('fails naming the path when the database file is corrupt', () => {
    const file = path.join(tmp(), 'voicebot.sqlite');
    writeFileSync(file, Buffer.alloc(8192, 0x41));
    expect(() => openDatabase(file)).toThrow(new RegExp(`${file}.*(corrupt|not a database)`));
  });
});

describe('model download errors', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('says DNS failed, for which host, and how to fix it', async () => {
    vi.stubGlobal('fetch', () => Promise.reject(Object.assign(new TypeError('fetch failed'), { cause: { code: 'EAI_AGAIN', hostname: 'huggingface.co' } })));
    await expect(ensureModel({ modelId: 'Xenova/whisper-base', modelsDir: tmp(), hubUrl: 'https://huggingface.co', dtype: 'q8' })).rejects.toMatchObject({
      stage: 'dns',
      host: 'huggingface.co',
      message: expect.stringMatching(/DNS resolution of huggingface\.co failed \(EAI_AGAIN\).*dns:.*MODEL_HUB_URL.*models:pull/s),
    });
  });

  it('says the hub answered 404 when the model has no such file', async () => {
    vi.stubGlobal('fetch', () => Promise.resolve(new Response('Entry not found', { status: 404, statusText: 'Not Found' })));
    await expect(ensureModel({ modelId: 'org/none', modelsDir: tmp(), hubUrl: 'https://hub.example', dtype: 'q8' })).rejects.toMatchObject({ stage: 'http', message: expect.stringMatching(/HTTP 404.*WHISPER_MODEL/s) });
  });
});

describe('the bot process', () => {
  const baseEnv = () => ({ BOT_TOKEN: TEST_TOKEN, TELEGRAM_API_ROOT: 'http://127.0.0.1:9', DATA_DIR: tmp(), MODELS_DIR: tmp(), HTTP_PORT: '0', WHISPER_MODEL: 'tiny', ASR_WORKERS: '1', ASR_THREADS: '1' });

  it('stops with the host and the cause when the hub is unreachable and no model is present', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const bot = new BotProcess({ ...baseEnv(), MODEL_HUB_URL: `http://127.0.0.1:${port}` }).start();
    expect(await bot.waitForExit()).toBe(1);
    const fatal = bot.logs.find((l) => l.level === 60)!;
    expect(fatal.msg).toContain(`the connection to 127.0.0.1:${port} failed (ECONNREFUSED)`);
    expect(fatal).toMatchObject({ host: `127.0.0.1:${port}`, stage: 'connect' });
  });

  it("removes the scratch files a killed process left, once no job can be using them, and says so", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const scratch = tmp();
    const old = (Date.now() - 24 * 3_600_000) / 1000;
    writeFileSync(path.join(scratch, 'voicebot-pcm-left.s16'), Buffer.alloc(2 ** 20));
    utimesSync(path.join(scratch, 'voicebot-pcm-left.s16'), old, old);
    writeFileSync(path.join(scratch, 'voicebot-job-9-in-use'), Buffer.alloc(10));
    // The model hub is unreachable: the bot sweeps, then stops at the download.
    const bot = new BotProcess({ ...baseEnv(), TMPDIR: scratch, MODEL_HUB_URL: `http://127.0.0.1:${port}` }).start();
    expect(await bot.waitForExit()).toBe(1);
    expect(bot.logs.find((l) => l.level === 40 && /scratch files/.test(String(l.msg)))).toMatchObject({ files: 1, mb: 1, dir: scratch });
    expect(readdirSync(scratch).filter((name) => name.startsWith('voicebot-'))).toEqual(['voicebot-job-9-in-use']);
  });

  it('stops naming the variable when the configuration is invalid', async () => {
    const bot = new BotProcess({ ...baseEnv(), MAX_AUDIO_SECONDS: '-5' }).start();
    expect(await bot.waitForExit()).toBe(1);
    expect(bot.output()).toMatch(/invalid configuration: MAX_AUDIO_SECONDS/);
  });

  it('stops naming the path when the data directory cannot be written', async () => {
    const blocker = path.join(tmp(), 'file');
    writeFileSync(blocker, '');
    const bot = new BotProcess({ ...baseEnv(), DATA_DIR: path.join(blocker, 'data') }).start();
    expect(await bot.waitForExit()).toBe(1);
    expect(bot.logs.find((l) => l.level === 60)).toMatchObject({ path: path.join(blocker, 'data') });
  });

  it('stops naming the path when the database is corrupt', async () => {
    const dataDir = tmp();
    writeFileSync(path.join(dataDir, 'voicebot.sqlite'), Buffer.alloc(8192, 0x41));
    const bot = new BotProcess({ ...baseEnv(), DATA_DIR: dataDir }).start();
    expect(await bot.waitForExit()).toBe(1);
    expect(bot.logs.find((l) => l.level === 60)?.msg).toMatch(/voicebot\.sqlite cannot be opened/);
  });
});
