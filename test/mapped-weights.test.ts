// Weights mapped from the model files (ASR_MAP_WEIGHTS): every mapped initializer points at exactly
// its own bytes in the hub's file, onnxruntime gives the same outputs as with the file's path, the
// runner decodes the same tokens, and a file with nothing to map loads as it is.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { mapWeightsFromFile, PACKED_READERS_SUFFIX } from '../src/asr/graph-rewrite/mapped-weights.js';
import { decodeModel, encodeModel, graphsOf, type Graph } from '../src/asr/graph-rewrite/onnx-graph.js';
import { createRewritten } from './support/rewritten-session.js';
import type { TranscribeRequest } from '../src/asr/protocol.js';
import { WhisperRunner } from '../src/asr/whisper-runner.js';
import { loadConfig } from '../src/config.js';
import { DataType, GraphBuilder, encodeModel as encodeBuilt, valueInfo } from '../bench/synth/onnx-builder.js';
import { cachedModelsRoot } from './support/test-model.js';
import { pcmReader, synthPcm } from './support/pcm.js';

const MODEL_ID = 'voicebot-test/whisper-test-tiny-dtypes';
const modelsRoot = () => cachedModelsRoot(MODEL_ID, { dtypes: ['q8', 'int8', 'fp32'] });
const onnxDir = async () => path.join(await modelsRoot(), MODEL_ID, 'onnx');
const EXTERNAL = onnxProto.onnx.TensorProto.DataLocation.EXTERNAL;
const options = { intraOpNumThreads: 1, enableCpuMemArena: false };

const initializers = (graph: Graph) => graphsOf(graph).flatMap((g) => g.initializer ?? []);

async function mapped(file: string) {
  const bytes = await readFile(file);
  const original = initializers(decodeModel(Uint8Array.from(bytes)).graph!);
  const model = decodeModel(bytes);
  const summary = mapWeightsFromFile(model, bytes, path.basename(file));
  return { bytes, original, model, summary, graph: encodeModel(model) };
}

const weightsFolder = (dir: string) => ({ ...options, extra: { session: { model_external_initializers_file_folder_path: dir } } });

async function outputs(model: string | Uint8Array, sessionOptions: ort.InferenceSession.SessionOptions, feeds: Record<string, ort.Tensor>) {
  const session = await (typeof model === 'string' ? ort.InferenceSession.create(model, sessionOptions) : ort.InferenceSession.create(model, sessionOptions));
  const out = await session.run(feeds);
  await session.release();
  return Object.fromEntries(Object.entries(out).map(([name, t]) => [name, Array.from(t.data as Float32Array)]));
}

describe('weights mapped from the file', () => {
  it.each(['encoder_model_quantized.onnx', 'decoder_model_merged_quantized.onnx', 'encoder_model.onnx'])(
    '%s: each mapped initializer is its own bytes in the file, and the graph left is small',
    async (name) => {
      const { bytes, original, model, summary, graph } = await mapped(path.join(await onnxDir(), name));
      expect(summary.tensors).toBeGreaterThan(0);
      const byName = new Map(original.map((t) => [t.name, t]));
      let checked = 0;
      for (const tensor of initializers(model.graph!)) {
        if (tensor.dataLocation !== EXTERNAL) continue;
        const entry = Object.fromEntries((tensor.externalData ?? []).map((e) => [e.key, e.value]));
        expect(entry.location).toBe(name);
        const slice = bytes.subarray(Number(entry.offset), Number(entry.offset) + Number(entry.length));
        const ownName = tensor.name!.endsWith(PACKED_READERS_SUFFIX) ? tensor.name!.slice(0, -PACKED_READERS_SUFFIX.length) : tensor.name;
        const own = byName.get(ownName);
        expect(Buffer.compare(slice, Buffer.from(own!.rawData!))).toBe(0);
        checked++;
      }
      expect(checked).toBe(summary.tensors + summary.lookupTables);
      expect(graph.byteLength).toBeLessThan(bytes.byteLength - summary.bytes + 64 * 1024);
    },
  );

  it('the token embedding: its Gather keeps the mapping it looks rows up in, the kernels that pack it read their own', async () => {
    const { model, summary } = await mapped(path.join(await onnxDir(), 'decoder_model_merged_quantized.onnx'));
    expect(summary.lookupTables).toBe(1);
    const nodes = graphsOf(model.graph!).flatMap((g) => g.node ?? []);
    const table = nodes.find((n) => n.opType === 'Gather' && initializers(model.graph!).some((t) => t.name === n.input![0] && t.dataLocation === EXTERNAL))!.input![0]!;
    const readers = nodes.filter((n) => n.input!.some((i) => i.startsWith(table)));
    expect(readers.filter((n) => n.opType === 'Gather').every((n) => n.input![0] === table)).toBe(true);
    const packing = readers.filter((n) => n.opType !== 'Gather');
    expect(packing.length).toBeGreaterThan(0);
    expect(packing.every((n) => n.input!.includes(table + PACKED_READERS_SUFFIX) && !n.input!.includes(table))).toBe(true);
  });

  it('onnxruntime gives the encoder outputs of the file itself, bit for bit (q8 and fp32)', async () => {
    const dir = await onnxDir();
    const input = { input_features: new ort.Tensor('float32', Float32Array.from({ length: 80 * 3000 }, (_, i) => Math.sin(i * 0.37) * 0.8), [1, 80, 3000]) };
    for (const name of ['encoder_model_quantized.onnx', 'encoder_model.onnx']) {
      const { graph } = await mapped(path.join(dir, name));
      expect(await outputs(graph, weightsFolder(dir), input)).toEqual(await outputs(path.join(dir, name), options, input));
    }
  });

  it('a file with no weights worth mapping loads from its path, and says so', async () => {
    const g = new GraphBuilder();
    g.apply('Add', ['x', g.ints('one', [1])], {}, 'y');
    const dir = path.join(await modelsRoot(), 'tiny-graph');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'add.onnx'), encodeBuilt(g.graph('add', [valueInfo('x', DataType.INT64, [1])], [valueInfo('y', DataType.INT64)], true), 17));
    const loaded = await createRewritten({ fuseAttention: false, fitWindow: false, mapWeights: true, crossAttentionApart: false }, path.join(dir, 'add.onnx'), options);
    expect(loaded.notes).toEqual(['add.onnx: no weights could be mapped from the file, copied as usual']);
    const out = await loaded.value.run({ x: new ort.Tensor('int64', BigInt64Array.from([41n]), [1]) });
    expect(out.y!.data).toEqual(BigInt64Array.from([42n]));
    await loaded.value.release();
  });

  it('is on by default (ASR_MAP_WEIGHTS), and can be turned off', () => {
    const machine = { vcpus: 2, memoryMb: 1024 };
    const env = { BOT_TOKEN: '123:abc' };
    expect(loadConfig(env, machine).asrMapWeights).toBe(true);
    expect(loadConfig({ ...env, ASR_MAP_WEIGHTS: 'false' }, machine).asrMapWeights).toBe(false);
    expect(() => loadConfig({ ...env, ASR_MAP_WEIGHTS: 'mmap' }, machine)).toThrow('ASR_MAP_WEIGHTS');
  });
});

describe('the runner with mapped weights', () => {
  const request: TranscribeRequest = { language: 'en', task: 'transcribe', timestamps: false, fixedTokensPerSecond: 1, decoding: { temperatureFallback: false } };
  const audio = pcmReader(synthPcm(9, (i) => 0.3 * Math.sin(i / 9) * Math.sin(i / 5000)));

  it.each(['q8', 'int8', 'fp32'])('%s: decodes the same tokens as with the weights copied', async (dtype) => {
    const transcribe = async (mapWeights: boolean) => {
      const runner = await WhisperRunner.load({ workerId: 1, modelId: MODEL_ID, modelsDir: await modelsRoot(), dtype, threads: 1, cpuArena: false, mapWeights, encoder: { fusedAttention: true, window: { mode: 'full', minSeconds: 8, marginSeconds: 1.5 } } });
      return { notes: runner.loadNotes, result: await runner.transcribe(audio, request, () => {}) };
    };
    const [copied, mappedRun] = [await transcribe(false), await transcribe(true)];
    expect(mappedRun.notes).toEqual(expect.arrayContaining([expect.stringMatching(/^encoder_model.*\.onnx: \d+ weights \([\d.]+ MB\) mapped from the file$/), expect.stringMatching(/^decoder_model_merged.*\.onnx: \d+ weights/)]));
    expect(copied.notes.some((n) => n.includes('mapped') || n.includes('rows'))).toBe(false);
    // These decoders (every dtype) look their embedding up by column, as the hub's quantized ones do: it gets a file of rows.
    expect(mappedRun.notes).toEqual(expect.arrayContaining([expect.stringMatching(/^decoder_model_merged.*\.onnx: 1 table\(s\) looked up by column \([\d.]+ MB\) given a file of rows/)]));
    expect(mappedRun.result.text.length).toBeGreaterThan(0);
    expect(mappedRun.result.text).toBe(copied.result.text);
    expect(mappedRun.result.tokens).toBe(copied.result.tokens);
  });
});
