// Fault injection, all on loopback: restarts, duplicates, floods, and a worker killed mid-job.
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AsrPool } from '../src/asr/pool.js';
import { RmsSpeechGate } from '../src/audio/speech-gate.js';
import { createTelegramClients } from '../src/bot/bot.js';
import { TelegramChannel } from '../src/bot/telegram-channel.js';
import { Dispatcher } from '../src/jobs/dispatcher.js';
import { JobStore } from '../src/jobs/job-store.js';
import { JobPipeline } from '../src/jobs/pipeline.js';
import { Metrics } from '../src/metrics/metrics.js';
import { openDatabase } from '../src/storage/database.js';
import { directDecoder, speechOgg } from './support/audio.js';
import { FakeBotApi, TEST_TOKEN } from './support/fake-bot-api.js';
import { harnessPerTest } from './support/harness.js';
import { cachedModelsRoot, TEST_MODEL_ID } from './support/test-model.js';
import { killMidJob } from './support/worker-death.js';

const harness = harnessPerTest();

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) / 1024;
}

describe('restarts', () => {
  it('SIGTERM with 5 jobs queued, then a new start: all 5 answered exactly once', async () => {
    const h = await harness();
    await h.startBot();
    const clip = speechOgg('Five notes are waiting in the queue when the bot is told to stop.', 20);
    const sent = Array.from({ length: 5 }, (_, i) => h.api.sendVoice({ chatId: 700 + i, userId: 700 + i, bytes: clip, duration: 20, fileUniqueId: `restart-${i}` }));
    await h.bot.waitForLog(() => h.bot.logs.filter((l) => l.msg === 'voice note accepted').length === 5);

    expect(await h.bot.stop('SIGTERM')).toBe(0);
    const stopped = h.bot.logs.find((l) => l.msg === 'stopped')!;
    expect(Number(stopped.pending)).toBeGreaterThan(0);

    await h.startBot();
    await h.bot.waitForLog((l) => l.msg === 'resuming jobs cut off by the previous run' || l.msg === 'long polling');
    for (const [i, { messageId }] of sent.entries()) {
      const answer = await h.waitForAnswer(700 + i, messageId, 90_000);
      expect(answer.text).toMatch(/language/);
      expect(h.api.repliesTo(700 + i, messageId)).toHaveLength(1);
    }
    await h.waitForEmptyQueue();
    expect(h.query('SELECT id FROM jobs WHERE status != \'done\'')).toEqual([]);
  });

  it('the same update delivered twice, before and after a restart: one reply', async () => {
    const h = await harness();
    await h.startBot();
    const { messageId, update } = h.api.sendVoice({ chatId: 800, userId: 800, bytes: speechOgg('Only once.', 3), duration: 3 });
    await h.waitForAnswer(800, messageId);
    h.api.redeliver(update);
    await h.bot.stop();
    h.api.redeliver(update);
    await h.startBot();
    const { messageId: probe } = h.api.sendVoice({ chatId: 800, userId: 800, bytes: speechOgg('A later note.', 2), duration: 2 });
    await h.waitForAnswer(800, probe);
    expect(h.api.repliesTo(800, messageId)).toHaveLength(1);
    expect(h.query('SELECT id FROM jobs WHERE message_id = ?', messageId)).toHaveLength(1);
  });
});

describe('a flood', () => {
  it('200 voice notes from 20 users at once: bounded memory, polite refusals, every accepted one answered', async () => {
    const h = await harness({ USER_JOBS_PER_MINUTE: '4', USER_MAX_ACTIVE_JOBS: '2', QUEUE_MAX: '30' });
    await h.startBot();
    const clip = speechOgg('Flood.', 2);
    const baseline = rssMb(h.bot.pid);
    const sent = Array.from({ length: 200 }, (_, i) => ({ chatId: 900 + (i % 20), ...h.api.sendVoice({ chatId: 900 + (i % 20), userId: 900 + (i % 20), bytes: clip, duration: 2, fileUniqueId: `flood-${i}` }) }));

    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(h.bot.pid))), 100);
    try {
      for (const s of sent) await h.waitForAnswer(s.chatId, s.messageId, 180_000);
    } finally {
      clearInterval(sampler);
    }
    const answers = sent.map((s) => h.answerTo(s.chatId, s.messageId)!.text);
    const refused = answers.filter((t) => /send (it|this one) again in \d+ s/.test(t));
    const transcribed = answers.filter((t) => /language/.test(t));
    expect(refused.length + transcribed.length).toBe(200);
    expect(refused.length).toBeGreaterThan(100);
    expect(transcribed.length).toBeGreaterThanOrEqual(20);
    for (const s of sent) expect(h.api.repliesTo(s.chatId, s.messageId)).toHaveLength(1);
    await h.waitForEmptyQueue();
    expect(h.query('SELECT id FROM jobs WHERE status != \'done\'')).toEqual([]);
    expect(h.bot.hasExited()).toBe(false);
    expect(peak - baseline).toBeLessThan(300);
  });
});

describe('a worker killed mid-job, in the real wiring', () => {
  it('the job completes on a fresh worker and the user gets exactly one reply', async () => {
    const api = new FakeBotApi();
    await api.start();
    const db = openDatabase(path.join(mkdtempSync(path.join(os.tmpdir(), 'voicebot-crash-')), 'voicebot.sqlite'));
    const store = new JobStore(db);
    const workers: Worker[] = [];
    const pool = new AsrPool({
      size: 1,
      init: { modelId: TEST_MODEL_ID, modelsDir: await cachedModelsRoot(), dtype: 'q8', threads: 1, cpuArena: false },
      maxTasksPerWorker: 0,
      recycleRssMb: 0,
      onSpawn: (w) => workers.push(w),
    });
    await pool.start();
    const exits: string[] = [];
    pool.on('worker_exit', (e) => exits.push(e.reason));
    const log = pino({ level: 'silent' });
    const attachmentErrors: Error[] = [];
    const channel = new TelegramChannel({ api: createTelegramClients(TEST_TOKEN, api.apiRoot).jobApi, store, token: TEST_TOKEN, apiRoot: api.apiRoot, scrub: (text) => text, onRetry: () => {}, onAttachmentError: (_job, e) => attachmentErrors.push(e) });
    const pipeline = new JobPipeline({ store, channel, pool, speech: new RmsSpeechGate(16_000), metrics: new Metrics(), log, decoder: directDecoder, modelId: TEST_MODEL_ID, maxAudioSeconds: 600, maxFileMb: 20, storeTranscripts: true });
    const dispatcher = new Dispatcher({ store, concurrency: 1, leaseMs: 30_000, run: (job) => pipeline.run(job), workersReady: () => pool.readyWorkers > 0, memoryAllowsMore: () => true, onQueueDepth: () => {}, log });

    const file = api.addFile(speechOgg('A worker dies while this note is transcribed.', 25));
    const job = store.insert({ chatId: 1, chatType: 'private', messageId: 77, userId: 1, fileId: file.file_id, fileUniqueId: file.file_unique_id, mediaKind: 'voice', createdAt: Date.now() - 10_000 })!;
    try {
      dispatcher.start();
      await api.waitFor(() => pool.busyWorkers === 1, 30_000, 'the worker to start the job');
      await killMidJob(workers[0]!);
      await api.waitFor(() => store.get(job.id)?.status === 'done', 60_000, 'the job to finish');
      expect(exits).toEqual(['crashed']);
      expect(store.get(job.id)!.workerId).toBe(2);
      const replies = api.repliesTo(1, 77);
      expect(replies).toHaveLength(1);
      expect(replies[0]!.text).toMatch(/language/);
      expect(attachmentErrors).toEqual([]);
    } finally {
      await dispatcher.drain(1_000);
      await pool.close();
      await api.stop();
      db.$client.close();
    }
  });
});
