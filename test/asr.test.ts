// The ASR pool on real worker threads: language detection, fixed languages, long audio, dying workers.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { AsrPool } from '../src/asr/pool.js';
import type { TranscribeRequest } from '../src/asr/protocol.js';
import { asJobError } from '../src/jobs/errors.js';
import { whisperMetaRoot } from '../bench/synth/model-folder.js';
import { cachedModelsRoot, TEST_MODEL_ID } from './support/test-model.js';
import { killMidJob } from './support/worker-death.js';
import { pcmFile, synthPcm } from './support/pcm.js';

const meta = JSON.parse(readFileSync(path.join(whisperMetaRoot(), 'whisper-tiny/generation_config.json'), 'utf8')) as { lang_to_id: Record<string, number> };
const audio = (seconds: number) => pcmFile(synthPcm(seconds, (i) => 0.3 * Math.sin(i / 9) * Math.sin(i / 5000)));
const request = (r: Partial<TranscribeRequest> = {}): TranscribeRequest => ({ language: null, task: 'transcribe', timestamps: false, ...r });

const pools: AsrPool[] = [];
async function startPool(modelId: string, modelsDir: string, onSpawn?: (w: Worker, id: number) => void, maxTasksPerWorker = 0): Promise<AsrPool> {
  // Random weights fail every temperature: fallback would decode each window six times for nothing here.
  const init = { modelId, modelsDir, dtype: 'q8', threads: 1, cpuArena: false, decoding: { temperatureFallback: false } };
  const pool = new AsrPool({ size: 1, init, maxTasksPerWorker, recycleRssMb: 0, onSpawn });
  pools.push(pool);
  await pool.start();
  return pool;
}
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

describe('language', () => {
  it('is detected the way Whisper does it: one decoder step, argmax over the language tokens', async () => {
    // A model whose logits favour <|ru|>: detection must pick it, and the forced prompt must carry it.
    const modelId = 'voicebot-test/whisper-prefers-ru';
    const root = await cachedModelsRoot(modelId, { decoder: { logitBias: { [meta.lang_to_id['<|ru|>']!]: 1000 } } });
    const pool = await startPool(modelId, root);
    const { result } = await pool.transcribe(audio(4), request());
    expect(result.language).toBe('ru');
  });

  it('is the fixed one when the user chose it, overriding detection', async () => {
    const modelId = 'voicebot-test/whisper-prefers-ru';
    const pool = await startPool(modelId, await cachedModelsRoot(modelId, { decoder: { logitBias: { [meta.lang_to_id['<|ru|>']!]: 1000 } } }));
    const { result } = await pool.transcribe(audio(4), request({ language: 'de' }));
    expect(result.language).toBe('de');
  });
});

describe('long audio', () => {
  it('is cut into 30-s windows with stride, and text comes from every window up to the last', async () => {
    const pool = await startPool(TEST_MODEL_ID, await cachedModelsRoot());
    const progress: string[] = [];
    const budget = { fixedTokensPerSecond: 2, language: 'en' };
    const long = await pool.transcribe(audio(95), request(budget), (done, total) => progress.push(`${done}/${total}`));
    const first = await pool.transcribe(audio(30), request(budget));
    expect(progress).toEqual(['1/5', '2/5', '3/5', '4/5', '5/5']);
    expect(long.result.chunks).toBe(5);
    // 2 tokens/s over 95 s (less the overlaps) against 60 tokens for the first 30 s alone.
    expect(long.result.tokens).toBeGreaterThan(2.5 * first.result.tokens);
    expect(long.result.text.split(/\s+/).length).toBeGreaterThan(2 * first.result.text.split(/\s+/).length);
  });
});

describe('the worker', () => {
  it('loads transformers.js without the image library it never uses (libvips is not mapped), and transcribes', async () => {
    const pool = await startPool(TEST_MODEL_ID, await cachedModelsRoot());
    const { result } = await pool.transcribe(audio(2), request({ language: 'en' }));
    expect(result.language).toBe('en');
    const maps = readFileSync('/proc/self/maps', 'utf8');
    expect(maps).toContain('onnxruntime');
    expect(maps).not.toMatch(/libvips|sharp-linux/);
  });
});

describe('worker recycling', () => {
  it('replaces a worker after its job quota, without losing the next job', async () => {
    const pool = await startPool(TEST_MODEL_ID, await cachedModelsRoot(), undefined, 2);
    const exits: string[] = [];
    pool.on('worker_exit', (e) => exits.push(e.reason));
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push((await pool.transcribe(audio(2), request({ language: 'en' }))).workerId);
    expect(ids).toEqual([1, 1, 2]);
    expect(exits).toEqual(['recycled']);
  });
});

/** Kills a worker mid-job, right after it reports its first window. */
function killAfterFirstWindow(worker: Worker): Promise<number> {
  return new Promise((resolve) => {
    worker.on('message', (message: { type: string }) => {
      if (message.type === 'progress') resolve(killMidJob(worker));
    });
  });
}

describe('a worker that dies', () => {
  it('is replaced, and its job completes on the fresh worker', async () => {
    const workers: Worker[] = [];
    const pool = await startPool(TEST_MODEL_ID, await cachedModelsRoot(), (w) => workers.push(w));
    const exits: string[] = [];
    pool.on('worker_exit', (e) => exits.push(e.reason));
    const job = pool.transcribe(audio(35), request({ language: 'en' }));
    await killAfterFirstWindow(workers[0]!);
    const { result, workerId } = await job;
    expect(exits).toEqual(['crashed']);
    expect(workerId).toBe(2);
    expect(result.text.length).toBeGreaterThan(0);
    expect(workers).toHaveLength(2);
  });

  it('a note that kills the fresh worker too is failed for good, not retried again', async () => {
    const workers: Worker[] = [];
    const pool = await startPool(TEST_MODEL_ID, await cachedModelsRoot(), (w) => workers.push(w));
    const job = pool.transcribe(audio(35), request({ language: 'en' }));
    const outcome = job.catch((e: unknown) => e);
    await killAfterFirstWindow(workers[0]!);
    for (let waited = 0; !(workers.length === 2 && pool.busyWorkers === 1); waited += 20) {
      if (waited > 30_000) throw new Error('the fresh worker never took the job');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await killAfterFirstWindow(workers[1]!);
    const failure = await outcome;
    expect(failure).toMatchObject({ failure: 'crashed' });
    expect(asJobError(failure, 'asr_failed')).toMatchObject({ code: 'asr_crashed', retryable: false });
  });
});
