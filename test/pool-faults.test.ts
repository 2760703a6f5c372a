// Faults below the bot: a stuck ffmpeg, a stuck or killed worker, a model that stops loading.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import pino from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { AsrPool, type WorkerExitReason } from '../src/asr/pool.js';
import type { ToWorker } from '../src/asr/protocol.js';
import { decodeToPcm, findFfmpeg } from '../src/audio/ffmpeg.js';
import { RmsSpeechGate } from '../src/audio/speech-gate.js';
import { Dispatcher } from '../src/jobs/dispatcher.js';
import { AsrError } from '../src/asr/errors.js';
import { AudioError } from '../src/audio/errors.js';
import { JobStore } from '../src/jobs/job-store.js';
import { openDatabase } from '../src/storage/database.js';
import { speechOgg, toneOgg } from './support/audio.js';
import { samplesOf } from './support/pcm.js';
import { FakeBotApi } from './support/fake-bot-api.js';
import { localPipeline } from './support/local-pipeline.js';
import { processesMentioning } from './support/processes.js';
import { cachedModelsRoot, TEST_MODEL_ID } from './support/test-model.js';
import { killMidJob } from './support/worker-death.js';

const ffmpegPath = findFfmpeg().path;
const work = mkdtempSync(path.join(os.tmpdir(), 'voicebot-pool-faults-'));
// The notes' PCM files, and whatever else this file's decodes and bots leave in TMPDIR, go in `work` and are removed with it.
process.env.TMPDIR = work;
const request = { language: 'en', task: 'transcribe', timestamps: false } as const;
const pools: AsrPool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  rmSync(work, { recursive: true, force: true });
});

function writeFile(bytes: Buffer, name: string): string {
  const target = path.join(work, name);
  writeFileSync(target, bytes);
  return target;
}

async function startPool(options: Partial<ConstructorParameters<typeof AsrPool>[0]> = {}, modelsDir?: string): Promise<AsrPool> {
  const pool = new AsrPool({
    size: 1,
    init: { modelId: TEST_MODEL_ID, modelsDir: modelsDir ?? (await cachedModelsRoot()), dtype: 'q8', threads: 1, cpuArena: false },
    maxTasksPerWorker: 0,
    recycleRssMb: 0,
    ...options,
  });
  pools.push(pool);
  await pool.start();
  return pool;
}

describe('ffmpeg', () => {
  it('a stuck ffmpeg (reading a FIFO nobody writes) is killed at its deadline', async () => {
    const fifo = path.join(work, 'never-ends.oga');
    execFileSync('mkfifo', [fifo]);
    const started = performance.now();
    const outcome = await Promise.race([
      decodeToPcm(fifo, { ffmpegPath, maxSeconds: 60, deadlineMs: 1_500 }).catch((e: unknown) => e),
      new Promise((resolve) => setTimeout(() => resolve('still waiting after 30 s'), 30_000)),
    ]);
    expect(outcome).toBeInstanceOf(AudioError);
    expect((outcome as AudioError).failure).toBe('timed_out');
    console.log(`stuck ffmpeg: stopped after ${Math.round(performance.now() - started)} ms (deadline 1500 ms)`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(processesMentioning(fifo)).toEqual([]);
  });

  it('decodes to the same samples whatever length was announced (it only sets the deadline)', async () => {
    const file = writeFile(toneOgg(440, 5), 'tone.ogg');
    const announced = await decodeToPcm(file, { ffmpegPath, maxSeconds: 60, expectedSeconds: 5 });
    const understated = await decodeToPcm(file, { ffmpegPath, maxSeconds: 60, expectedSeconds: 1 });
    expect(announced.seconds).toBeCloseTo(5, 1);
    expect(samplesOf(understated)).toEqual(samplesOf(announced));
  });
});

describe('the ASR pool', () => {
  it("sends the worker the note's file, not its samples, and a retry on a fresh worker reads it again", async () => {
    const workers: Worker[] = [];
    const pool = await startPool({ onSpawn: (w) => workers.push(w) });
    const audio = await decodeToPcm(writeFile(speechOgg('The worker reads the note from its file.', 8), 'handover.ogg'), { ffmpegPath, maxSeconds: 60 });
    const posted = vi.spyOn(workers[0]!, 'postMessage');
    const job = pool.transcribe(audio, request);
    expect(posted.mock.calls).toEqual([[expect.objectContaining({ type: 'transcribe', audio: { pcmPath: audio.pcmPath, sampleCount: audio.sampleCount } })]]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await killMidJob(workers[0]!);
    const { result, workerId } = await job;
    expect(result.text.length).toBeGreaterThan(0);
    expect(workerId).toBe(2);
  }, 300_000);

  it('replaces a worker that passes its task deadline, like a crashed one, and fails the task after a second time', async () => {
    const exits: WorkerExitReason[] = [];
    let deadlineMs = 1;
    const pool = await startPool({ transcriptionDeadlineMs: () => deadlineMs });
    pool.on('worker_exit', (e) => exits.push(e.reason));
    const note = await decodeToPcm(writeFile(speechOgg('A stuck worker.', 3), 'stuck.ogg'), { ffmpegPath, maxSeconds: 60 });
    const error = await pool.transcribe(note, request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AsrError);
    expect((error as AsrError).failure).toBe('timed_out');
    expect(exits).toEqual(['timed_out', 'timed_out']);
    deadlineMs = 120_000;
    await new Promise<void>((resolve) => pool.once('worker_ready', () => resolve()));
    expect((await pool.transcribe(note, request)).result.text.length).toBeGreaterThan(0);
  }, 300_000);

  it('respawns a worker that cannot load, with backoff; says so when none can; recovers when the model is back', async () => {
    const modelsDir = path.join(work, 'models');
    cpSync(await cachedModelsRoot(), modelsDir, { recursive: true });
    const modelDir = path.join(modelsDir, ...TEST_MODEL_ID.split('/'));
    const delays: number[] = [];
    const pool = await startPool({ maxTasksPerWorker: 1, respawnDelayMs: (n) => (delays.push(n), 100) }, modelsDir);
    const note = await decodeToPcm(writeFile(speechOgg('The model goes away.', 3), 'away.ogg'), { ffmpegPath, maxSeconds: 60 });
    const unavailable = new Promise<{ failuresInARow: number; lastError: string }>((resolve) => pool.once('unavailable', resolve));

    renameSync(modelDir, `${modelDir}.gone`);
    await pool.transcribe(note, request); // the worker is recycled after this one; its replacement cannot load
    const waiting = pool.transcribe(note, request);
    const report = await unavailable;
    expect(report.failuresInARow).toBe(5);
    expect(report.lastError).toMatch(/could not load/);
    expect(pool.readyWorkers).toBe(0);
    expect(delays.slice(0, 5)).toEqual([1, 2, 3, 4, 5]);

    renameSync(`${modelDir}.gone`, modelDir);
    expect((await waiting).result.text.length).toBeGreaterThan(0);
  }, 300_000);
});

describe('a worker killed mid-job, over and over, in the real wiring', () => {
  it('20 notes, each with its worker terminated while transcribing: 20 answered, each once', async () => {
    const api = new FakeBotApi();
    await api.start();
    const db = openDatabase(path.join(work, 'killed-workers.sqlite'));
    const store = new JobStore(db);
    // Which worker each task went to, in order: the test kills the one holding the note. Only tasks
    // count: the kill itself is a message to the worker too.
    const dispatched: { worker: Worker; workerId: number }[] = [];
    const onSpawn = (worker: Worker, workerId: number) => {
      const post = worker.postMessage.bind(worker);
      worker.postMessage = (...args: Parameters<Worker['postMessage']>) => {
        if ((args[0] as ToWorker).type === 'transcribe') dispatched.push({ worker, workerId });
        post(...args);
      };
    };
    // Two workers, one job at a time: the retry runs on the idle one while the dead one is replaced.
    const pool = await startPool({ size: 2, onSpawn });
    const exits: WorkerExitReason[] = [];
    pool.on('worker_exit', (e) => exits.push(e.reason));
    const log = pino({ level: 'silent' });
    const pipeline = localPipeline({ api, store, pool, speech: new RmsSpeechGate(16_000), log });
    const dispatcher = new Dispatcher({ store, concurrency: 1, leaseMs: 30_000, run: (job, stopping) => pipeline.run(job, stopping), workersReady: () => pool.readyWorkers > 0, memoryAllowsMore: () => true, onQueueDepth: () => {}, log });
    const clip = speechOgg('A worker dies.', 1);
    const notes = Array.from({ length: 20 }, (_, i) => {
      const file = api.addFile(clip);
      return store.insert({ chatId: 1, chatType: 'private', messageId: 100 + i, userId: 1, fileId: file.file_id, fileUniqueId: file.file_unique_id, mediaKind: 'voice', claimedSeconds: 1, createdAt: Date.now() - 10_000 })!;
    });
    const killed: number[] = [];
    const started = performance.now();
    try {
      dispatcher.start();
      for (const [i, note] of notes.entries()) {
        // Note i's first task is the (2i+1)-th dispatch: its retry is the (2i+2)-th.
        await api.waitFor(() => dispatched.length === 2 * i + 1, 60_000, `note ${i} to reach a worker`);
        const { worker, workerId } = dispatched[2 * i]!;
        killed.push(workerId);
        await killMidJob(worker);
        await api.waitFor(() => store.get(note.id)?.status === 'done', 60_000, `note ${i} to finish`);
      }
      const answered = notes.filter((n) => api.repliesTo(1, n.messageId).length === 1 && /language/.test(api.repliesTo(1, n.messageId)[0]!.text));
      console.log(`worker killed mid-job ${exits.filter((e) => e === 'crashed').length} times: ${answered.length} of 20 notes answered, each once (${Math.round((performance.now() - started) / 1000)} s)`);
      expect(exits.filter((e) => e === 'crashed')).toHaveLength(20);
      expect(answered).toHaveLength(20);
      for (const [i, n] of notes.entries()) expect(store.get(n.id)!.workerId).not.toBe(killed[i]);
    } finally {
      await dispatcher.drain(1_000);
      await pool.close();
      await api.stop();
      db.$client.close();
    }
  }, 600_000);
});
