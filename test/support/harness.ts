// A fake Bot API, a loopback hub with the test model, and the real bot process on a data dir that survives restarts.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach } from 'vitest';
import { BotProcess } from './bot-process.js';
import { FakeBotApi, TEST_TOKEN, type SentMessage } from './fake-bot-api.js';
import { LoopbackModelHub } from './model-hub.js';
import { cachedModelsRoot, TEST_MODEL_ID } from './test-model.js';

/** Status texts the bot shows before the transcript: queued, working, progress. */
const STATUS = /^(⏳|🎧)/;

export class Harness {
  readonly api = new FakeBotApi();
  readonly dataDir: string;
  readonly modelsDir: string;
  bot!: BotProcess;
  /** Transcription workers (ROLE=worker) started with launchWorker. */
  readonly workers: BotProcess[] = [];
  private constructor(
    readonly hub: LoopbackModelHub,
    private readonly env: Record<string, string>,
  ) {
    const work = mkdtempSync(path.join(os.tmpdir(), 'voicebot-harness-'));
    this.dataDir = path.join(work, 'does/not/exist/yet');
    this.modelsDir = path.join(work, 'models');
  }

  static async create(env: Record<string, string> = {}): Promise<Harness> {
    const harness = new Harness(new LoopbackModelHub(await cachedModelsRoot()), env);
    await Promise.all([harness.api.start(), harness.hub.start()]);
    return harness;
  }

  /** Starts (or restarts) the bot on the same data and models, and waits until it polls. */
  async startBot(env: Record<string, string> = {}): Promise<BotProcess> {
    await this.launchBot(env).ready();
    return this.bot;
  }

  /** Starts the bot without waiting for it to reach Telegram. */
  launchBot(env: Record<string, string> = {}): BotProcess {
    this.bot = new BotProcess({ ...this.processEnv(), DATA_DIR: this.dataDir, MODELS_DIR: this.modelsDir, ...this.env, ...env }).start();
    return this.bot;
  }

  /**
   * Starts a transcription worker (ROLE=worker) against the same fake Bot API, with `env` (its
   * QUEUE_URL and such); the harness's own env is the bot's, not the workers'. Workers read the
   * model where the hub serves it from: it is there, so none downloads it.
   */
  launchWorker(env: Record<string, string>): BotProcess {
    const worker = new BotProcess({ ...this.processEnv(), DATA_DIR: path.join(this.dataDir, '..', `worker-${this.workers.length}`), MODELS_DIR: this.hub.root, ROLE: 'worker', ...env }).start();
    this.workers.push(worker);
    return worker;
  }

  /** What every process of the harness gets: the fake Bot API, the hub and the test model, small and quick. */
  private processEnv(): Record<string, string> {
    return {
      BOT_TOKEN: TEST_TOKEN,
      TELEGRAM_API_ROOT: this.api.apiRoot,
      MODEL_HUB_URL: this.hub.url,
      WHISPER_MODEL: TEST_MODEL_ID,
      HTTP_PORT: '0',
      ASR_WORKERS: '1',
      ASR_THREADS: '1',
      USER_JOBS_PER_MINUTE: '100',
      USER_MAX_ACTIVE_JOBS: '100',
      // Random weights fail every temperature: six decodes per window would only slow the suite.
      // The end-to-end test turns it back on and checks that fallback is recorded.
      ASR_TEMPERATURE_FALLBACK: 'false',
    };
  }

  /** The reply to a voice note once it holds the final answer (transcript or error), not a status. */
  answerTo(chatId: number, messageId: number): SentMessage | undefined {
    return this.api.repliesTo(chatId, messageId).find((m) => !STATUS.test(m.text));
  }

  /** Every final text (not a status) the user was shown for a note, in each send or edit that carried one: exactly one when answered once. */
  answersShown(chatId: number, messageId: number): string[] {
    return this.api.repliesTo(chatId, messageId).flatMap((m) => m.history.filter((text) => !STATUS.test(text)));
  }

  waitForAnswer(chatId: number, messageId: number, timeoutMs = 60_000): Promise<SentMessage> {
    return this.api.waitFor(() => this.answerTo(chatId, messageId), timeoutMs, `an answer to message ${messageId} in chat ${chatId}`);
  }

  /** The transcript reaches Telegram a moment before its job row is marked done; tests that read rows wait for this. */
  waitForEmptyQueue(timeoutMs = 30_000): Promise<true> {
    return this.api.waitFor(() => this.query("SELECT id FROM jobs WHERE status IN ('queued', 'processing')").length === 0, timeoutMs, 'an empty queue');
  }

  /** Reads the bot's database (read-only, beside the running bot). */
  query<T>(sql: string, ...params: unknown[]): T[] {
    const db = new Database(path.join(this.dataDir, 'voicebot.sqlite'), { readonly: true });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  }

  async stop(): Promise<number | null> {
    await Promise.all(this.workers.map((w) => w.stop('SIGKILL')));
    const code = await this.bot?.stop();
    await Promise.all([this.api.stop(), this.hub.stop()]);
    return code;
  }
}

/** A factory for harnesses that are all stopped after each test of the file that calls it. */
export function harnessPerTest(): (env?: Record<string, string>) => Promise<Harness> {
  const created: Harness[] = [];
  afterEach(async () => {
    await Promise.all(created.splice(0).map((h) => h.stop()));
  });
  return async (env = {}) => {
    const h = await Harness.create(env);
    created.push(h);
    return h;
  };
}
