// The encoder's rewrites at load (fused attention, a window sized to the note): the symbolic head
// layouts, the matcher on the synthetic graphs and on an Optimum-style export, numerical
// equivalence in onnxruntime, and the runner decoding the same tokens with and without them.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { cropFrames, encoderFrames, type WindowSettings } from '../src/asr/encoder-window.js';
import { rewriteEncoder } from '../src/asr/graph-rewrite/encoder-rewrite.js';
import { fuseSelfAttention } from '../src/asr/graph-rewrite/fused-attention.js';
import { reshapeLayout, transposeLayout, type Atom, type Layout } from '../src/asr/graph-rewrite/head-layout.js';
import { decodeModel, encodeModel } from '../src/asr/graph-rewrite/onnx-graph.js';
import type { TranscribeRequest } from '../src/asr/protocol.js';
import { WhisperRunner } from '../src/asr/whisper-runner.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { DataType, GraphBuilder, encodeModel as encodeBuilt, valueInfo } from '../bench/synth/onnx-builder.js';
import { cachedModelsRoot } from './support/test-model.js';
import { pcmReader, synthPcm } from './support/pcm.js';

const B: Atom = { id: 'B', size: null };
const T: Atom = { id: 'T', size: null };
const D: Atom = { id: 'D', size: 64 };
const ids = (layout: Layout | undefined) => layout?.map((dim) => dim.map((a) => a.id).join('*')).join(' | ');
const size = (n: number) => ({ kind: 'size' as const, atoms: [], factor: n });

describe('head layouts (pure)', () => {
  const root: Layout = [[B], [T], [D]];

  it('follows a 4-D head split written with 0s and constants, and its merge back', () => {
    const split = reshapeLayout(root, [{ kind: 'copy' }, { kind: 'copy' }, size(4), size(16)]);
    expect(ids(split)).toBe('B | T | D.0 | D.1');
    const heads = transposeLayout(split!, [0, 2, 1, 3]);
    expect(ids(heads)).toBe('B | D.0 | T | D.1');
    const merged = reshapeLayout(transposeLayout(heads!, [0, 2, 1, 3])!, [{ kind: 'copy' }, { kind: 'copy' }, size(64)]);
    expect(ids(merged)).toBe('B | T | D.0*D.1');
  });

  it('follows the 3-D [B·H, T, E] form with -1 and a runtime batch times the head count', () => {
    const split = reshapeLayout(root, [{ kind: 'size', atoms: [B], factor: 1 }, { kind: 'infer' }, size(4), size(16)]);
    expect(ids(split)).toBe('B | T | D.0 | D.1');
    const flat = reshapeLayout(transposeLayout(split!, [0, 2, 1, 3])!, [{ kind: 'size', atoms: [B], factor: 4 }, { kind: 'infer' }, size(16)]);
    expect(ids(flat)).toBe('B*D.0 | T | D.1');
  });

  it('refuses reshapes it cannot follow exactly', () => {
    // 48 does not divide the 64-wide model dim; two -1; a 0 after the sizes moved.
    expect(reshapeLayout(root, [{ kind: 'copy' }, { kind: 'copy' }, size(48), { kind: 'infer' }])).toBeUndefined();
    expect(reshapeLayout(root, [{ kind: 'infer' }, { kind: 'infer' }, size(64)])).toBeUndefined();
    expect(reshapeLayout(root, [size(4), { kind: 'copy' }, { kind: 'infer' }])).toBeUndefined();
    // A runtime dim cannot be split by a constant.
    expect(reshapeLayout(root, [size(2), { kind: 'infer' }, size(64)])).toBeUndefined();
  });
});

describe('encoder window (pure)', () => {
  const geometry = { hopLength: 160, sampleRate: 16_000, fullFrames: 3000 };
  const fit: WindowSettings = { mode: 'fit', minSeconds: 8, marginSeconds: 1.5 };

  it('is the full 3000 frames with `full`, and with `fit` for a 30-s window', () => {
    expect(encoderFrames(3 * 16_000, { ...fit, mode: 'full' }, geometry)).toBe(3000);
    expect(encoderFrames(30 * 16_000, fit, geometry)).toBe(3000);
    expect(encoderFrames(29.5 * 16_000, fit, geometry)).toBe(3000);
  });

  it('is the audio plus the margin, never under the minimum, and even', () => {
    expect(encoderFrames(9 * 16_000, fit, geometry)).toBe(1050);
    expect(encoderFrames(2 * 16_000, fit, geometry)).toBe(800);
    expect(encoderFrames(9 * 16_000 + 1, { ...fit, marginSeconds: 0 }, geometry)).toBe(902);
  });

  it('crops every mel bin to its first frames', () => {
    const features = Float32Array.from({ length: 2 * 5 }, (_, i) => i);
    expect([...cropFrames(features, 2, 5, 3)]).toEqual([0, 1, 2, 5, 6, 7]);
    expect(cropFrames(features, 2, 5, 5)).toBe(features);
  });
});

describe('encoder settings (pure)', () => {
  const machine = { vcpus: 2, memoryMb: 1024 };
  const env = { BOT_TOKEN: '123:abc' };

  it('default to fused attention on full windows', () => {
    expect(loadConfig(env, machine).asrEncoder).toEqual({ fusedAttention: true, window: { mode: 'full', minSeconds: 8, marginSeconds: 1.5 } });
    expect(loadConfig({ ...env, ASR_WINDOW: 'fit', ASR_WINDOW_MIN_SECONDS: '5', ASR_WINDOW_MARGIN_SECONDS: '0.5', ASR_FUSED_ATTENTION: 'false' }, machine).asrEncoder)
      .toEqual({ fusedAttention: false, window: { mode: 'fit', minSeconds: 5, marginSeconds: 0.5 } });
  });

  it.each([
    ['ASR_WINDOW', 'short'],
    ['ASR_WINDOW_MIN_SECONDS', '0'],
    ['ASR_WINDOW_MIN_SECONDS', '31'],
    ['ASR_WINDOW_MARGIN_SECONDS', '-1'],
    ['ASR_WINDOW_MARGIN_SECONDS', 'two'],
    ['ASR_FUSED_ATTENTION', 'maybe'],
  ])('refuse %s=%s, naming the variable', (variable, value) => {
    expect(() => loadConfig({ ...env, [variable]: value }, machine)).toThrow(ConfigError);
    expect(() => loadConfig({ ...env, [variable]: value }, machine)).toThrow(variable);
  });
});

/**
 * One encoder layer's attention as Optimum's eager Whisper export writes it: 3-D [B·H, T, E]
 * batched matmuls, reshape targets computed at runtime from Shape/Gather/Concat, q scaled
 * after its bias. `mask` adds a [T, T] bias to the scores, which must not be fused.
 */
function optimumStyleAttention(d: number, heads: number, mask = false): Uint8Array {
  const g = new GraphBuilder();
  const e = d / heads;
  const w = (name: string, dims: number[]) =>
    g.initializer(name, DataType.FLOAT, dims, () => Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 0.7 + name.length) / Math.sqrt(d)));
  const dim = (tensor: string, i: number) => g.apply('Unsqueeze', [g.apply('Gather', [g.apply('Shape', [tensor]), g.scalarInt(`i${i}`, i)]), g.ints('axes0', [0])]);
  const bsz = dim('x', 0);
  const tgt = dim('x', 1);
  const headsShape = (len: string) => g.apply('Concat', [bsz, len, g.ints('h', [heads]), g.ints('e', [e])], { axis: 0 });
  const flatHeads = g.apply('Concat', [g.apply('Mul', [bsz, g.ints('h', [heads])]), g.ints('minus1', [-1]), g.ints('e', [e])], { axis: 0 });
  const split = (t: string, len: string) => g.apply('Transpose', [g.apply('Reshape', [t, headsShape(len)])], { perm: [0, 2, 1, 3] });
  const q = g.apply('Mul', [g.apply('Add', [g.apply('MatMul', ['x', w('wq', [d, d])]), w('bq', [d])]), g.scalarFloat('scale', e ** -0.5)]);
  const k = g.apply('MatMul', ['x', w('wk', [d, d])]);
  const v = g.apply('Add', [g.apply('MatMul', ['x', w('wv', [d, d])]), w('bv', [d])]);
  const q3 = g.apply('Reshape', [split(q, tgt), flatHeads]);
  const k3 = g.apply('Reshape', [split(k, g.ints('minus1', [-1])), flatHeads]);
  const v3 = g.apply('Reshape', [split(v, g.ints('minus1', [-1])), flatHeads]);
  let scores = g.apply('MatMul', [q3, g.apply('Transpose', [k3], { perm: [0, 2, 1] })]);
  if (mask) scores = g.apply('Add', [scores, g.apply('Slice', [w('mask', [64, 64]), g.ints('zero', [0]), g.apply('Shape', [scores], { start: 1, end: 2 }), g.ints('zero', [0])])]);
  const context = g.apply('MatMul', [g.apply('Softmax', [scores], { axis: -1 }), v3]);
  const perHead = g.apply('Reshape', [context, g.apply('Concat', [bsz, g.ints('h', [heads]), tgt, g.ints('e', [e])], { axis: 0 })]);
  const merged = g.apply('Reshape', [g.apply('Transpose', [perHead], { perm: [0, 2, 1, 3] }), g.apply('Concat', [bsz, tgt, g.ints('d', [d])], { axis: 0 })]);
  g.apply('Add', [g.apply('MatMul', [merged, w('wo', [d, d])]), w('bo', [d])], {}, 'y');
  return encodeBuilt(g.graph('attention', [valueInfo('x', DataType.FLOAT, ['batch', 'time', d])], [valueInfo('y', DataType.FLOAT)], true), 17);
}

const options = { intraOpNumThreads: 1, enableCpuMemArena: false };

async function run(model: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, options);
  const out = await session.run(feeds);
  await session.release();
  return Object.values(out)[0]!.data as Float32Array;
}

/** Largest absolute difference, and the RMS of the difference relative to the RMS of `a`. */
function difference(a: Float32Array, b: Float32Array): { max: number; relativeRms: number } {
  let max = 0;
  let squared = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    max = Math.max(max, Math.abs(d));
    squared += d * d;
    norm += a[i]! * a[i]!;
  }
  return { max, relativeRms: Math.sqrt(squared / norm) };
}

function fused(bytes: Uint8Array): { bytes: Uint8Array; outcome: ReturnType<typeof fuseSelfAttention>; ops: string[] } {
  const model = decodeModel(bytes);
  const outcome = fuseSelfAttention(model);
  return { bytes: encodeModel(model), outcome, ops: (model.graph?.node ?? []).map((n) => n.opType ?? '') };
}

describe('fused attention on an Optimum-style export', () => {
  const d = 32;
  const x = new ort.Tensor('float32', Float32Array.from({ length: 2 * 7 * d }, (_, i) => Math.cos(i * 0.31)), [2, 7, d]);

  it('becomes one MultiHeadAttention per layer, with the same outputs (batch of 2)', async () => {
    const original = optimumStyleAttention(d, 4);
    const rewritten = fused(original);
    expect(rewritten.outcome).toEqual({ applied: true, note: '1 self-attention blocks fused into MultiHeadAttention' });
    expect(rewritten.ops.filter((op) => ['Softmax', 'Reshape', 'Transpose', 'Shape', 'Concat'].includes(op))).toEqual([]);
    expect(rewritten.ops.filter((op) => op === 'MultiHeadAttention')).toHaveLength(1);
    const diff = difference(await run(original, { x }), await run(rewritten.bytes, { x }));
    expect(diff.max).toBeLessThan(1e-5);
  });

  it('leaves attention with a mask on the scores alone, and says why', () => {
    const rewritten = fused(optimumStyleAttention(d, 4, true));
    expect(rewritten.outcome.applied).toBe(false);
    expect(rewritten.outcome).toMatchObject({ reason: expect.stringContaining('mask') });
    expect(rewritten.ops).toContain('Softmax');
  });
});

const DTYPES = [
  { dtype: 'q8', file: 'encoder_model_quantized.onnx' },
  { dtype: 'int8', file: 'encoder_model_int8.onnx' },
  { dtype: 'fp32', file: 'encoder_model.onnx' },
] as const;
const MODEL_ID = 'voicebot-test/whisper-test-tiny-dtypes';
const modelsRoot = () => cachedModelsRoot(MODEL_ID, { dtypes: ['q8', 'int8', 'fp32'] });
const features = (frames: number) => new ort.Tensor('float32', Float32Array.from({ length: 80 * frames }, (_, i) => Math.sin(i * 0.37) * 0.8), [1, 80, frames]);

describe('encoder rewrites on the synthetic presets', () => {
  // Tolerances: float32 graphs agree to rounding. In quantized graphs the attention output is
  // re-quantized dynamically (DynamicQuantizeLinear before the output projection), so a last-bit
  // difference can move a value by one quantization step: up to ~1% of the activations' range.
  it.each(DTYPES)('$dtype: fused attention gives the encoder output of the original graph', async ({ dtype, file }) => {
    const original = await readFile(path.join(await modelsRoot(), MODEL_ID, 'onnx', file));
    const rewritten = fused(original);
    expect(rewritten.outcome.applied).toBe(true);
    expect(rewritten.ops).not.toContain('Softmax');
    const input = { input_features: features(3000) };
    const diff = difference(await run(original, input), await run(rewritten.bytes, input));
    if (dtype === 'fp32') expect(diff.max).toBeLessThan(1e-4);
    else expect(diff.relativeRms).toBeLessThan(0.01);
  });

  it('fit: with 3000 frames the sliced positions give bit-identical outputs; shorter inputs run', async () => {
    const original = await readFile(path.join(await modelsRoot(), MODEL_ID, 'onnx', 'encoder_model_quantized.onnx'));
    const model = decodeModel(original);
    expect(rewriteEncoder(model, { fuseAttention: false, fitWindow: true }).fitsWindow).toBe(true);
    const sliced = encodeModel(model);
    const full = { input_features: features(3000) };
    expect(await run(sliced, full)).toEqual(await run(original, full));
    const session = await ort.InferenceSession.create(sliced, options);
    const short = await session.run({ input_features: features(800) });
    expect(short.last_hidden_state!.dims).toEqual([1, 400, 64]);
    await session.release();
  });
});

describe('the runner with rewritten encoders', () => {
  // Greedy only: a fallback samples at temperatures above 0, and random weights fall back every time.
  const request: TranscribeRequest = { language: 'en', task: 'transcribe', timestamps: false, fixedTokensPerSecond: 1, decoding: { temperatureFallback: false } };
  const audio = (seconds: number) => pcmReader(synthPcm(seconds, (i) => 0.3 * Math.sin(i / 9) * Math.sin(i / 5000)));
  const full: WindowSettings = { mode: 'full', minSeconds: 8, marginSeconds: 1.5 };

  async function transcribe(dtype: string, fusedAttention: boolean, window: WindowSettings, seconds: number[]) {
    const runner = await WhisperRunner.load({ workerId: 1, modelId: MODEL_ID, modelsDir: await modelsRoot(), dtype, threads: 1, cpuArena: false, encoder: { fusedAttention, window } });
    const results = [];
    for (const s of seconds) results.push(await runner.transcribe(audio(s), request, () => {}));
    return { notes: runner.loadNotes, results };
  }

  it.each(DTYPES)('$dtype: decodes the same tokens with the fused encoder as with the original', async ({ dtype }) => {
    const [plain, fusedRun] = [await transcribe(dtype, false, full, [9]), await transcribe(dtype, true, full, [9])];
    expect(plain.notes).toEqual([]);
    expect(fusedRun.notes).toEqual(['encoder: 1 self-attention blocks fused into MultiHeadAttention']);
    for (const [i, result] of fusedRun.results.entries()) {
      expect(result.text.length).toBeGreaterThan(0);
      expect(result.text).toBe(plain.results[i]!.text);
      expect(result.tokens).toBe(plain.results[i]!.tokens);
    }
  });

  it('fit: a 30-s note decodes exactly as with full windows; a 4-s note decodes on a shorter window', async () => {
    const [plain, fit] = [await transcribe('q8', true, full, [30]), await transcribe('q8', true, { ...full, mode: 'fit' }, [30, 4])];
    expect(fit.notes).toContain('encoder: positional table sliced to the window');
    expect(fit.results[0]!.text).toBe(plain.results[0]!.text);
    expect(fit.results[1]!.text.length).toBeGreaterThan(0);
  });
});
