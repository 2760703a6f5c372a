// Whisper encoder and merged decoder graphs with seeded random weights, in the layout and
// operator mix that the hub's exported ONNX files use, so that their cost per second of audio
// is the real models' cost. See shared/notes/synthetic-whisper.md for the contract.
import { DataType, GraphBuilder, encodeModel, valueInfo, tensor } from './onnx-builder.js';
import type { onnx } from 'onnx-proto';

export interface WhisperDims {
  dModel: number;
  encoderLayers: number;
  decoderLayers: number;
  heads: number;
  ffn: number;
  vocab: number;
  melBins: number;
  sourcePositions: number;
  targetPositions: number;
}

/** How a module's weights are stored: `uint8`/`int8` dynamic quantization, or plain float. */
export type WeightFormat = 'uint8' | 'int8' | 'fp32';

const OPSET = 17;
const LN_EPSILON = 1e-5;

/** Deterministic stream of numbers in [0, 1) per tensor name: the files do not depend on build order. */
function randomStream(seed: number, name: string): () => number {
  let h = 2166136261 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  let state = h >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uniformFloats(seed: number, name: string, count: number, amplitude: number): Float32Array {
  const next = randomStream(seed, name);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (next() * 2 - 1) * amplitude;
  return out;
}

/** Quantized weights drawn directly as integers (the full range, as min/max calibration yields). */
function uniformIntegers(seed: number, name: string, count: number, format: 'uint8' | 'int8'): Int8Array | Uint8Array {
  const next = randomStream(seed, name);
  const out = format === 'uint8' ? new Uint8Array(count) : new Int8Array(count);
  const [lo, span] = format === 'uint8' ? [0, 256] : [-127, 255];
  for (let i = 0; i < count; i++) out[i] = lo + Math.floor(next() * span);
  return out;
}

/**
 * Emits layers into one graph. Keeps one DynamicQuantizeLinear per activation tensor, as
 * onnxruntime's quantizer does, so all projections that read the same tensor share it.
 */
class LayerWriter {
  private readonly quantized = new Map<string, [string, string, string]>();

  constructor(
    readonly g: GraphBuilder,
    private readonly format: WeightFormat,
    private readonly seed: number,
  ) {}

  private quantize(x: string): [string, string, string] {
    let q = this.quantized.get(x);
    if (!q) {
      q = this.g.op('DynamicQuantizeLinear', [x], {}, 3) as [string, string, string];
      this.quantized.set(x, q);
    }
    return q;
  }

  /** Float amplitude of a weight whose fan-in is `fanIn`; keeps activations in a sane range. */
  private amplitude(fanIn: number): number {
    return 1 / Math.sqrt(fanIn);
  }

  /** Stores a weight in this module's format; returns [weight, zero point, scale] names. */
  weight(name: string, dims: number[], fanIn: number): { w: string; zp: string; scale: string } {
    const count = dims.reduce((a, b) => a * b, 1);
    const amp = this.amplitude(fanIn);
    if (this.format === 'fp32') {
      const w = this.g.initializer(`${name}.weight`, DataType.FLOAT, dims, () => uniformFloats(this.seed, name, count, amp));
      return { w, zp: '', scale: '' };
    }
    const fmt = this.format;
    const type = fmt === 'uint8' ? DataType.UINT8 : DataType.INT8;
    const w = this.g.initializer(`${name}.weight_quantized`, type, dims, () => uniformIntegers(this.seed, name, count, fmt));
    const zp = this.g.initializer(`${name}.weight_zero_point`, type, [], () =>
      fmt === 'uint8' ? new Uint8Array([128]) : new Int8Array([0]),
    );
    const scale = this.g.scalarFloat(`${name}.weight_scale`, (2 * amp) / 255);
    return { w, zp, scale };
  }

  bias(name: string, size: number): string {
    return this.g.initializer(`${name}.bias`, DataType.FLOAT, [size], () => uniformFloats(this.seed, `${name}.bias`, size, 0.02));
  }

  /** x[..., inDim] · W[inDim, outDim] (+ b), the way dynamic quantization rewrites a Linear. */
  linear(x: string, name: string, inDim: number, outDim: number, withBias = true): string {
    const { w, zp, scale } = this.weight(name, [inDim, outDim], inDim);
    let y: string;
    if (this.format === 'fp32') {
      y = this.g.apply('MatMul', [x, w]);
    } else {
      const [xq, xScale, xZp] = this.quantize(x);
      const acc = this.g.apply('MatMulInteger', [xq, w, xZp, zp]);
      const combinedScale = this.g.apply('Mul', [xScale, scale]);
      y = this.g.apply('Mul', [this.g.apply('Cast', [acc], { to: DataType.FLOAT }), combinedScale]);
    }
    return withBias ? this.g.apply('Add', [y, this.bias(name, outDim)]) : y;
  }

  /** Conv1d over [B, C, T] with kernel 3 and padding 1; ConvInteger when quantized. */
  conv(x: string, name: string, inCh: number, outCh: number, stride: number): string {
    const attrs = { kernel_shape: [3], pads: [1, 1], strides: [stride] };
    const { w, zp, scale } = this.weight(name, [outCh, inCh, 3], inCh * 3);
    const b = this.g.apply('Reshape', [this.bias(name, outCh), this.g.ints('shape.conv_bias', [1, -1, 1])]);
    if (this.format === 'fp32') return this.g.apply('Add', [this.g.apply('Conv', [x, w], attrs), b]);
    const [xq, xScale, xZp] = this.quantize(x);
    const acc = this.g.apply('ConvInteger', [xq, w, xZp, zp], attrs);
    const y = this.g.apply('Mul', [this.g.apply('Cast', [acc], { to: DataType.FLOAT }), this.g.apply('Mul', [xScale, scale])]);
    return this.g.apply('Add', [y, b]);
  }

  layerNorm(x: string, name: string, d: number): string {
    const gamma = this.g.initializer(`${name}.ln.weight`, DataType.FLOAT, [d], () => new Float32Array(d).fill(1));
    const beta = this.g.initializer(`${name}.ln.bias`, DataType.FLOAT, [d], () => new Float32Array(d));
    return this.g.apply('LayerNormalization', [x, gamma, beta], { axis: -1, epsilon: LN_EPSILON });
  }

  gelu(x: string): string {
    const g = this.g;
    const erf = g.apply('Erf', [g.apply('Div', [x, g.scalarFloat('const.sqrt2', Math.SQRT2)])]);
    const onePlus = g.apply('Add', [erf, g.scalarFloat('const.one', 1)]);
    return g.apply('Mul', [g.apply('Mul', [x, onePlus]), g.scalarFloat('const.half', 0.5)]);
  }

  /** [B, T, d] → [B, H, T, hd] */
  splitHeads(x: string, heads: number, headDim: number): string {
    const r = this.g.apply('Reshape', [x, this.g.ints('shape.heads', [0, 0, heads, headDim])]);
    return this.g.apply('Transpose', [r], { perm: [0, 2, 1, 3] });
  }

  /** [B, H, T, hd] → [B, T, d] */
  mergeHeads(x: string, d: number): string {
    const t = this.g.apply('Transpose', [x], { perm: [0, 2, 1, 3] });
    return this.g.apply('Reshape', [t, this.g.ints('shape.model', [0, 0, d])]);
  }

  /** softmax(q·kᵀ (+ mask)) · v, all [B, H, *, hd]; q already scaled. */
  attend(q: string, k: string, v: string, mask?: string): string {
    const kT = this.g.apply('Transpose', [k], { perm: [0, 1, 3, 2] });
    let scores = this.g.apply('MatMul', [q, kT]);
    if (mask) scores = this.g.apply('Add', [scores, mask]);
    return this.g.apply('MatMul', [this.g.apply('Softmax', [scores], { axis: -1 }), v]);
  }

  scaledQuery(x: string, name: string, d: number, heads: number): string {
    const headDim = d / heads;
    const q = this.g.apply('Mul', [this.linear(x, name, d, d), this.g.scalarFloat('const.q_scale', headDim ** -0.5)]);
    return this.splitHeads(q, heads, headDim);
  }

  feedForward(x: string, name: string, d: number, ffn: number): string {
    const h = this.gelu(this.linear(this.layerNorm(x, `${name}.final`, d), `${name}.fc1`, d, ffn));
    return this.g.apply('Add', [x, this.linear(h, `${name}.fc2`, ffn, d)]);
  }
}

export function buildEncoder(dims: WhisperDims, format: WeightFormat, seed: number): Uint8Array {
  const g = new GraphBuilder();
  const L = new LayerWriter(g, format, seed);
  const { dModel: d, heads } = dims;
  const headDim = d / heads;

  let x = L.gelu(L.conv('input_features', 'encoder.conv1', dims.melBins, d, 1));
  x = L.gelu(L.conv(x, 'encoder.conv2', d, d, 2));
  x = g.apply('Transpose', [x], { perm: [0, 2, 1] });
  const positions = g.initializer('encoder.embed_positions.weight', DataType.FLOAT, [dims.sourcePositions, d], () =>
    uniformFloats(seed, 'encoder.embed_positions', dims.sourcePositions * d, 0.1),
  );
  x = g.apply('Add', [x, positions]);

  for (let i = 0; i < dims.encoderLayers; i++) {
    const p = `encoder.layers.${i}`;
    const a = L.layerNorm(x, `${p}.self_attn`, d);
    const q = L.scaledQuery(a, `${p}.self_attn.q_proj`, d, heads);
    const k = L.splitHeads(L.linear(a, `${p}.self_attn.k_proj`, d, d, false), heads, headDim);
    const v = L.splitHeads(L.linear(a, `${p}.self_attn.v_proj`, d, d), heads, headDim);
    const ctx = L.mergeHeads(L.attend(q, k, v), d);
    x = g.apply('Add', [x, L.linear(ctx, `${p}.self_attn.out_proj`, d, d)]);
    x = L.feedForward(x, p, d, dims.ffn);
  }
  L.layerNorm(x, 'encoder.layer_norm', d);
  // The last LayerNormalization writes the graph output under its public name.
  const last = g.nodes[g.nodes.length - 1]!;
  last.output = ['last_hidden_state'];

  const graph = g.graph(
    'whisper_encoder',
    [valueInfo('input_features', DataType.FLOAT, ['batch_size', dims.melBins, 'encoder_sequence_length'])],
    [valueInfo('last_hidden_state', DataType.FLOAT, ['batch_size', 'encoder_sequence_length_out', d])],
    true,
  );
  return encodeModel(graph, OPSET);
}

export interface DecoderOptions {
  /** Added to the logits of the given token ids; lets a test steer what the model says. */
  logitBias?: Record<number, number>;
}

const pastName = (i: number, part: 'decoder' | 'encoder', kv: 'key' | 'value') => `past_key_values.${i}.${part}.${kv}`;
const presentName = (i: number, part: 'decoder' | 'encoder', kv: 'key' | 'value') => `present.${i}.${part}.${kv}`;

/**
 * One branch of the merged decoder. `cached` reads cross-attention keys/values from the past
 * inputs (computed once at step 1); otherwise they are projected from the encoder states.
 */
function decoderBranch(parent: GraphBuilder, dims: WhisperDims, format: WeightFormat, seed: number, cached: boolean, options: DecoderOptions): onnx.IGraphProto {
  const g = new GraphBuilder(parent);
  const L = new LayerWriter(g, format, seed);
  const { dModel: d, heads, vocab } = dims;
  const headDim = d / heads;
  const tag = cached ? 'cached' : 'first';

  // Positions and the causal mask come from the past length: transformers.js sends neither.
  const pastLength = g.apply('Gather', [g.apply('Shape', [pastName(0, 'decoder', 'key')]), g.scalarInt('const.i2', 2)]);
  const newLength = g.apply('Gather', [g.apply('Shape', ['input_ids']), g.scalarInt('const.i1', 1)]);
  const totalLength = g.apply('Add', [pastLength, newLength]);
  const one = g.scalarInt('const.i1', 1);
  const positions = g.apply('Range', [pastLength, totalLength, one]);
  const columns = g.apply('Range', [g.scalarInt('const.i0', 0), totalLength, one]);
  const rows = g.apply('Unsqueeze', [positions, g.ints('axes.1', [1])]);
  const mask = g.apply('Where', [g.apply('Greater', [columns, rows]), g.scalarFloat('const.neg_inf', -1e9), g.scalarFloat('const.zero', 0)]);

  // Token embedding stored as [d, vocab] so the tied output projection needs no transpose per step.
  const { w: embed, zp: embedZp, scale: embedScale } = L.weight('decoder.embed_tokens', [d, vocab], d);
  let tokens = g.apply('Transpose', [g.apply('Gather', [embed, 'input_ids'], { axis: 1 })], { perm: [1, 2, 0] });
  if (format !== 'fp32') tokens = g.apply('Mul', [g.apply('Cast', [tokens], { to: DataType.FLOAT }), embedScale]);
  const positionTable = g.initializer('decoder.embed_positions.weight', DataType.FLOAT, [dims.targetPositions, d], () =>
    uniformFloats(seed, 'decoder.embed_positions', dims.targetPositions * d, 0.1),
  );
  let x = g.apply('Add', [tokens, g.apply('Gather', [positionTable, positions])]);

  const outputs: string[] = [];
  for (let i = 0; i < dims.decoderLayers; i++) {
    const p = `decoder.layers.${i}`;
    const a = L.layerNorm(x, `${p}.self_attn`, d);
    const q = L.scaledQuery(a, `${p}.self_attn.q_proj`, d, heads);
    const kNew = L.splitHeads(L.linear(a, `${p}.self_attn.k_proj`, d, d, false), heads, headDim);
    const vNew = L.splitHeads(L.linear(a, `${p}.self_attn.v_proj`, d, d), heads, headDim);
    const k = g.apply('Concat', [pastName(i, 'decoder', 'key'), kNew], { axis: 2 }, `${tag}.${presentName(i, 'decoder', 'key')}`);
    const v = g.apply('Concat', [pastName(i, 'decoder', 'value'), vNew], { axis: 2 }, `${tag}.${presentName(i, 'decoder', 'value')}`);
    x = g.apply('Add', [x, L.linear(L.mergeHeads(L.attend(q, k, v, mask), d), `${p}.self_attn.out_proj`, d, d)]);

    const c = L.layerNorm(x, `${p}.encoder_attn`, d);
    const cq = L.scaledQuery(c, `${p}.encoder_attn.q_proj`, d, heads);
    let ck: string;
    let cv: string;
    let presentK: string;
    let presentV: string;
    if (cached) {
      ck = pastName(i, 'encoder', 'key');
      cv = pastName(i, 'encoder', 'value');
      const empty = { tensor: tensor('empty', DataType.FLOAT, [1, heads, 0, headDim], new Uint8Array()) };
      presentK = g.apply('Constant', [], { value: empty }, `${tag}.${presentName(i, 'encoder', 'key')}`);
      presentV = g.apply('Constant', [], { value: empty }, `${tag}.${presentName(i, 'encoder', 'value')}`);
    } else {
      ck = L.splitHeads(L.linear('encoder_hidden_states', `${p}.encoder_attn.k_proj`, d, d, false), heads, headDim);
      cv = L.splitHeads(L.linear('encoder_hidden_states', `${p}.encoder_attn.v_proj`, d, d), heads, headDim);
      presentK = g.apply('Identity', [ck], {}, `${tag}.${presentName(i, 'encoder', 'key')}`);
      presentV = g.apply('Identity', [cv], {}, `${tag}.${presentName(i, 'encoder', 'value')}`);
    }
    x = g.apply('Add', [x, L.linear(L.mergeHeads(L.attend(cq, ck, cv), d), `${p}.encoder_attn.out_proj`, d, d)]);
    x = L.feedForward(x, p, d, dims.ffn);
    outputs.push(k, v, presentK, presentV);
  }

  const h = L.layerNorm(x, 'decoder.layer_norm', d);
  let logits: string;
  if (format === 'fp32') {
    logits = g.apply('MatMul', [h, embed]);
  } else {
    const [hq, hScale, hZp] = g.op('DynamicQuantizeLinear', [h], {}, 3) as [string, string, string];
    const acc = g.apply('Cast', [g.apply('MatMulInteger', [hq, embed, hZp, embedZp])], { to: DataType.FLOAT });
    logits = g.apply('Mul', [acc, g.apply('Mul', [hScale, embedScale])]);
  }
  if (options.logitBias && Object.keys(options.logitBias).length > 0) {
    const bias = new Float32Array(vocab);
    for (const [token, value] of Object.entries(options.logitBias)) bias[Number(token)] = value;
    logits = g.apply('Add', [logits, g.initializer('decoder.logit_bias', DataType.FLOAT, [vocab], () => bias)]);
  }
  logits = g.apply('Identity', [logits], {}, `${tag}.logits`);

  const outInfos = [valueInfo(logits, DataType.FLOAT), ...outputs.map((o) => valueInfo(o, DataType.FLOAT))];
  return g.graph(`decoder_${tag}`, [], outInfos, false);
}

export function buildMergedDecoder(dims: WhisperDims, format: WeightFormat, seed: number, options: DecoderOptions = {}): Uint8Array {
  const g = new GraphBuilder();
  const { heads, decoderLayers } = dims;
  const headDim = dims.dModel / heads;

  const cachedBranch = decoderBranch(g, dims, format, seed, true, options);
  const firstBranch = decoderBranch(g, dims, format, seed, false, options);

  const outputNames = ['logits'];
  const inputs = [
    valueInfo('input_ids', DataType.INT64, ['batch_size', 'decoder_sequence_length']),
    valueInfo('encoder_hidden_states', DataType.FLOAT, ['batch_size', 'encoder_sequence_length_out', dims.dModel]),
  ];
  const outputs = [valueInfo('logits', DataType.FLOAT, ['batch_size', 'decoder_sequence_length', dims.vocab])];
  for (let i = 0; i < decoderLayers; i++) {
    for (const part of ['decoder', 'encoder'] as const) {
      const seq = part === 'decoder' ? 'past_decoder_sequence_length' : 'encoder_sequence_length_out';
      const presentSeq = part === 'decoder' ? 'past_decoder_sequence_length + 1' : 'encoder_sequence_length_out';
      for (const kv of ['key', 'value'] as const) {
        inputs.push(valueInfo(pastName(i, part, kv), DataType.FLOAT, ['batch_size', heads, seq, headDim]));
        outputs.push(valueInfo(presentName(i, part, kv), DataType.FLOAT, ['batch_size', heads, presentSeq, headDim]));
      }
    }
    outputNames.push(presentName(i, 'decoder', 'key'), presentName(i, 'decoder', 'value'), presentName(i, 'encoder', 'key'), presentName(i, 'encoder', 'value'));
  }
  inputs.push(valueInfo('use_cache_branch', DataType.BOOL, [1]));

  g.op('If', ['use_cache_branch'], { then_branch: { graph: cachedBranch }, else_branch: { graph: firstBranch } }, outputNames.length, outputNames);
  // Graph outputs in the hub's order: logits, then per layer decoder key/value, encoder key/value.
  return encodeModel(g.graph('whisper_decoder_merged', inputs, outputs, true), OPSET);
}
