// Synthetic Whisper models: loadable by the stock pipeline, deterministic, real-sized, cache working.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { env, pipeline } from '@huggingface/transformers';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizeModel } from '../bench/synth/model-folder.js';
import { ensureModel } from '../src/asr/model-store.js';
import { LoopbackModelHub } from './support/model-hub.js';
import { cachedModelsRoot, TEST_MODEL_ID } from './support/test-model.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'voicebot-synth-'));
const clip = (seconds: number) => Float32Array.from({ length: seconds * 16000 }, (_, i) => 0.3 * Math.sin(i / 7) * Math.sin(i / 3000));

async function transcribeWithPipeline(modelsRoot: string, id: string): Promise<string> {
  env.localModelPath = modelsRoot;
  env.allowRemoteModels = false;
  const asr = await pipeline('automatic-speech-recognition', id, { dtype: 'q8', session_options: { intraOpNumThreads: 1 } });
  const out = (await asr(clip(5), { max_new_tokens: 12, language: 'en' })) as { text: string };
  await asr.dispose();
  return out.text;
}

function parameterCount(files: string[]): number {
  let total = 0;
  for (const file of files) {
    const model = onnxProto.onnx.ModelProto.decode(readFileSync(file));
    for (const t of model.graph!.initializer!) total += (t.dims ?? []).reduce<number>((a, d) => a * Number(d), 1);
  }
  return total;
}

describe('synthetic Whisper models', () => {
  let root: string;
  beforeAll(async () => {
    root = await cachedModelsRoot();
  });

  it('test-tiny transcribes a 5-s clip through the stock pipeline from a local folder', async () => {
    const text = await transcribeWithPipeline(root, TEST_MODEL_ID);
    expect(text.trim().length).toBeGreaterThan(0);
  });

  describe('through the loopback hub', () => {
    let served: LoopbackModelHub;
    beforeAll(async () => {
      served = new LoopbackModelHub(root);
      await served.start();
    });
    afterAll(async () => {
      await served.stop();
    });

    it('downloads with the bot\'s model store, then loads offline', async () => {
      const modelsDir = tmp();
      const fetched = await ensureModel({ modelId: TEST_MODEL_ID, modelsDir, hubUrl: served.url, dtype: 'q8' });
      expect(fetched).toContain('onnx/decoder_model_merged_quantized.onnx');
      expect(await ensureModel({ modelId: TEST_MODEL_ID, modelsDir, hubUrl: 'http://127.0.0.1:9', dtype: 'q8' })).toEqual([]);
      expect((await transcribeWithPipeline(modelsDir, TEST_MODEL_ID)).trim().length).toBeGreaterThan(0);
    });

    it('loads through transformers.js itself with env.remoteHost pointed at it', async () => {
      env.allowRemoteModels = true;
      env.remoteHost = `${served.url}/`;
      env.localModelPath = tmp();
      env.cacheDir = tmp();
      const asr = await pipeline('automatic-speech-recognition', TEST_MODEL_ID, { dtype: 'q8' });
      const out = (await asr(clip(5), { max_new_tokens: 8, language: 'en' })) as { text: string };
      await asr.dispose();
      expect(out.text.trim().length).toBeGreaterThan(0);
      expect(served.requests.some((r) => r.endsWith('encoder_model_quantized.onnx'))).toBe(true);
    });
  });

  it('same seed and preset give byte-identical ONNX files; another seed does not', async () => {
    const [a, b, c] = [tmp(), tmp(), tmp()];
    await synthesizeModel({ preset: 'test-tiny', out: a, seed: 7, dtypes: ['q8', 'int8', 'fp32'] });
    await synthesizeModel({ preset: 'test-tiny', out: b, seed: 7, dtypes: ['q8', 'int8', 'fp32'] });
    await synthesizeModel({ preset: 'test-tiny', out: c, seed: 8, dtypes: ['q8'] });
    const sha = (dir: string, file: string) => createHash('sha256').update(readFileSync(path.join(dir, 'onnx', file))).digest('hex');
    const files = readdirSync(path.join(a, 'onnx'));
    expect(files).toHaveLength(6);
    for (const file of files) expect(sha(a, file), file).toBe(sha(b, file));
    expect(sha(c, 'encoder_model_quantized.onnx')).not.toBe(sha(a, 'encoder_model_quantized.onnx'));
  });

  // Published sizes: tiny 39 M, base 74 M, small 244 M. The Hugging Face checkpoints hold 37.8 M,
  // 72.6 M and 241.7 M (positional tables included, output projection tied), which is what we build.
  for (const [preset, published, tolerance] of [
    ['base', 74e6, 0.02],
    ['small', 244e6, 0.02],
    ['tiny', 39e6, 0.04],
  ] as const) {
    it(`${preset} has the published parameter count (±${tolerance * 100}%)`, async () => {
      const out = tmp();
      await synthesizeModel({ preset, out });
      const count = parameterCount([path.join(out, 'onnx/encoder_model_quantized.onnx'), path.join(out, 'onnx/decoder_model_merged_quantized.onnx')]);
      expect(Math.abs(count - published) / published).toBeLessThan(tolerance);
    });
  }

  describe('the merged decoder cache', () => {
    type Feeds = Record<string, ort.Tensor>;

    async function decoderSession(preset: 'test-tiny' | 'base', dtype: 'q8' | 'fp32') {
      const out = tmp();
      await synthesizeModel({ preset, out, dtypes: [dtype] });
      const config = JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')) as { d_model: number; decoder_layers: number; decoder_attention_heads: number };
      const file = dtype === 'q8' ? 'decoder_model_merged_quantized.onnx' : 'decoder_model_merged.onnx';
      const session = await ort.InferenceSession.create(path.join(out, 'onnx', file), { intraOpNumThreads: 1 });
      const heads = config.decoder_attention_heads;
      const headDim = config.d_model / heads;
      const encoder = new ort.Tensor('float32', Float32Array.from({ length: 1500 * config.d_model }, (_, i) => Math.sin(i * 0.37)), [1, 1500, config.d_model]);
      const empty = () => new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, headDim]);
      const ids = (tokens: number[]) => new ort.Tensor('int64', BigInt64Array.from(tokens.map(BigInt)), [1, tokens.length]);

      /** Runs `tokens` one by one after a 4-token prompt, keeping step 1's encoder pasts as transformers.js does. */
      async function stepwise(prompt: number[], tokens: number[], onStep?: (i: number, out: Feeds) => void) {
        const feeds: Feeds = { input_ids: ids(prompt), encoder_hidden_states: encoder, use_cache_branch: new ort.Tensor('bool', [false], [1]) };
        for (let l = 0; l < config.decoder_layers; l++) for (const p of ['decoder', 'encoder']) for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${p}.${kv}`] = empty();
        let out = await session.run(feeds);
        const encoderPasts: Feeds = {};
        for (let l = 0; l < config.decoder_layers; l++) for (const kv of ['key', 'value']) encoderPasts[`past_key_values.${l}.encoder.${kv}`] = out[`present.${l}.encoder.${kv}`]!;
        for (const [i, token] of tokens.entries()) {
          const next: Feeds = { input_ids: ids([token]), encoder_hidden_states: encoder, use_cache_branch: new ort.Tensor('bool', [true], [1]), ...encoderPasts };
          for (let l = 0; l < config.decoder_layers; l++) for (const kv of ['key', 'value']) next[`past_key_values.${l}.decoder.${kv}`] = out[`present.${l}.decoder.${kv}`]!;
          out = await session.run(next);
          onStep?.(i, out);
        }
        return out.logits!;
      }

      async function recomputed(tokens: number[]) {
        const feeds: Feeds = { input_ids: ids(tokens), encoder_hidden_states: encoder, use_cache_branch: new ort.Tensor('bool', [false], [1]) };
        for (let l = 0; l < config.decoder_layers; l++) for (const p of ['decoder', 'encoder']) for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${p}.${kv}`] = empty();
        return (await session.run(feeds)).logits!;
      }
      return { stepwise, recomputed };
    }

    const PROMPT = [50258, 50259, 50359, 50363];

    it('cached decoding gives the logits of recomputing the whole sequence (fp32 variant)', async () => {
      const { stepwise, recomputed } = await decoderSession('test-tiny', 'fp32');
      const tokens = [440, 1029, 2068, 318, 257, 1332];
      const cached = (await stepwise(PROMPT, tokens)).data as Float32Array;
      const full = await recomputed([...PROMPT, ...tokens]);
      const vocab = full.dims[2]!;
      const last = (full.data as Float32Array).subarray((full.dims[1]! - 1) * vocab);
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < vocab; i++) {
        worst = Math.max(worst, Math.abs(last[i]! - cached[i]!));
        scale = Math.max(scale, Math.abs(last[i]!));
      }
      expect(worst / scale).toBeLessThan(1e-3);
    });

    it('each cached step feeds one token and grows the self-attention cache by one (base, q8, 128 forced tokens)', async () => {
      // Structure, not timing (the cached logits equal recomputed ones, above): a step that ran on the
      // whole sequence would show it in these shapes.
      const { stepwise } = await decoderSession('base', 'q8');
      const shapes: { logits: readonly number[]; selfKey: readonly number[] }[] = [];
      await stepwise(PROMPT, Array.from({ length: 128 }, (_, i) => 1000 + i), (_, out) =>
        shapes.push({ logits: out.logits!.dims, selfKey: out['present.0.decoder.key']!.dims }),
      );
      expect(shapes).toHaveLength(128);
      for (const [i, shape] of shapes.entries()) {
        expect(shape.logits).toEqual([1, 1, 51865]);
        expect(shape.selfKey[2]).toBe(PROMPT.length + i + 1);
      }
    });
  });
});
