// Cross-attention keys and values computed apart (ASR_CROSS_ATTENTION_APART): each layer's slice
// of the merged decoder gives that layer's keys and values bit for bit, the rewritten decoder fed
// them gives the original's first step bit for bit, a graph that is not a merged decoder is left
// alone with the reason, and the runner decodes the same tokens either way.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { crossAttentionApart } from '../src/asr/graph-rewrite/cross-attention.js';
import { decodeModel, encodeModel } from '../src/asr/graph-rewrite/onnx-graph.js';
import type { TranscribeRequest } from '../src/asr/protocol.js';
import { WhisperRunner } from '../src/asr/whisper-runner.js';
import { DataType, GraphBuilder, encodeModel as encodeBuilt, valueInfo } from '../bench/synth/onnx-builder.js';
import { cachedModelsRoot } from './support/test-model.js';
import { pcmReader, synthPcm } from './support/pcm.js';

const MODEL_ID = 'voicebot-test/whisper-test-tiny-dtypes';
const modelsRoot = () => cachedModelsRoot(MODEL_ID, { dtypes: ['q8', 'int8', 'fp32'] });
const DECODER_FILES = { q8: 'decoder_model_merged_quantized.onnx', int8: 'decoder_model_merged_int8.onnx', fp32: 'decoder_model_merged.onnx' };
const options = { intraOpNumThreads: 1, enableCpuMemArena: false };

/** The merged decoder's uncached first step on `encoded`, its cross-attention pasts given or empty. */
async function decoderPresents(session: ort.InferenceSession, encoded: ort.Tensor, pasts: Record<string, ort.Tensor> = {}): Promise<Record<string, ort.Tensor>> {
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.of(1n), [1, 1]),
    encoder_hidden_states: encoded,
    use_cache_branch: new ort.Tensor('bool', Uint8Array.of(0), [1]),
  };
  for (const meta of session.inputMetadata) {
    if (!meta.name.startsWith('past_key_values.') || !meta.isTensor) continue;
    feeds[meta.name] = pasts[meta.name] ?? new ort.Tensor('float32', new Float32Array(0), meta.shape.map((d) => (typeof d === 'number' ? d : d === 'batch_size' ? 1 : 0)));
  }
  return session.run(feeds);
}

describe('cross-attention sliced from the merged decoder', () => {
  it.each(Object.entries(DECODER_FILES))('%s: each layer session gives the decoder first step keys and values, bit for bit', async (_dtype, name) => {
    const file = path.join(await modelsRoot(), MODEL_ID, 'onnx', name);
    const slices = crossAttentionApart(decodeModel(await readFile(file)));
    if (!slices.applied) throw new Error(slices.reason);
    const decoder = await ort.InferenceSession.create(file, options);
    const layers = decoder.inputNames.filter((n) => /^past_key_values\.\d+\.encoder\.key$/.test(n)).length;
    expect(slices.layers).toHaveLength(layers);
    const config = JSON.parse(await readFile(path.join(await modelsRoot(), MODEL_ID, 'config.json'), 'utf8')) as { d_model: number };
    const frames = 37;
    const encoded = new ort.Tensor('float32', Float32Array.from({ length: frames * config.d_model }, (_, i) => Math.sin(i * 0.61) * 1.3), [1, frames, config.d_model]);
    const expected = await decoderPresents(decoder, encoded);
    for (const [layer, graph] of slices.layers.entries()) {
      const session = await ort.InferenceSession.create(encodeModel(graph), options);
      const out = await session.run({ encoder_hidden_states: encoded });
      for (const kind of ['key', 'value']) {
        const outputName = `present.${layer}.encoder.${kind}`;
        expect(out[outputName]!.dims).toEqual(expected[outputName]!.dims);
        expect(Array.from(out[outputName]!.data as Float32Array)).toEqual(Array.from(expected[outputName]!.data as Float32Array));
      }
      await session.release();
    }
    await decoder.release();
  });

  it.each(Object.entries(DECODER_FILES))('%s: the rewritten decoder, given those keys and values, gives the same first step (int8: bit for bit)', async (dtype, name) => {
    const file = path.join(await modelsRoot(), MODEL_ID, 'onnx', name);
    const model = decodeModel(await readFile(file));
    const weightsBefore = model.graph!.initializer!.length;
    const apart = crossAttentionApart(model);
    if (!apart.applied) throw new Error(apart.reason);
    // The projections' weights left the decoder with the projections.
    expect(model.graph!.initializer!.length).toBeLessThan(weightsBefore);
    const [original, rewritten] = [await ort.InferenceSession.create(file, options), await ort.InferenceSession.create(encodeModel(model), options)];
    const config = JSON.parse(await readFile(path.join(await modelsRoot(), MODEL_ID, 'config.json'), 'utf8')) as { d_model: number };
    const encoded = new ort.Tensor('float32', Float32Array.from({ length: 41 * config.d_model }, (_, i) => Math.cos(i * 0.37)), [1, 41, config.d_model]);
    const expected = await decoderPresents(original, encoded);
    const cross: Record<string, ort.Tensor> = {};
    for (const [layer, graph] of apart.layers.entries()) {
      const session = await ort.InferenceSession.create(encodeModel(graph), options);
      for (const [outputName, tensor] of Object.entries(await session.run({ encoder_hidden_states: encoded }))) cross[outputName.replace('present.', 'past_key_values.')] = tensor;
      await session.release();
    }
    expect(Object.keys(cross)).toHaveLength(apart.layers.length * 2);
    const actual = await decoderPresents(rewritten, encoded, cross);
    for (const [outputName, tensor] of Object.entries(expected)) {
      if (outputName.includes('.encoder.')) {
        expect(actual[outputName]!.dims[2]).toBe(0);
        continue;
      }
      const [a, b] = [actual[outputName]!.data as Float32Array, tensor.data as Float32Array];
      expect(a.length).toBe(b.length);
      const largest = a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
      // int8: bit for bit. fp32: onnxruntime fuses the float graph a little differently once the
      // keys and values are inputs, and rounding moves the last bit.
      expect(largest).toBeLessThanOrEqual(dtype === 'fp32' ? 1e-5 : 0);
    }
    await Promise.all([original.release(), rewritten.release()]);
  });

  it('leaves a decoder that is not one If around two branches alone, and says why', () => {
    const g = new GraphBuilder();
    g.apply('Identity', ['encoder_hidden_states'], {}, 'present.0.encoder.key');
    g.apply('Identity', ['encoder_hidden_states'], {}, 'present.0.encoder.value');
    const graph = g.graph(
      'plain',
      [valueInfo('encoder_hidden_states', DataType.FLOAT, [1, 'frames', 4])],
      [valueInfo('present.0.encoder.key', DataType.FLOAT), valueInfo('present.0.encoder.value', DataType.FLOAT)],
      true,
    );
    const outcome = crossAttentionApart(decodeModel(encodeBuilt(graph, 17)));
    expect(outcome).toEqual({ applied: false, reason: 'the decoder is not one If around two branches (not a merged decoder)' });
  });

  it('leaves a graph without cross-attention outputs alone', () => {
    const g = new GraphBuilder();
    g.apply('Identity', ['x'], {}, 'y');
    const outcome = crossAttentionApart(decodeModel(encodeBuilt(g.graph('other', [valueInfo('x', DataType.FLOAT, [1])], [valueInfo('y', DataType.FLOAT)], true), 17)));
    expect(outcome).toEqual({ applied: false, reason: 'the decoder has no present.N.encoder outputs' });
  });
});

describe('the runner with cross-attention apart', () => {
  const audio = pcmReader(synthPcm(40, (i) => 0.3 * Math.sin(i / 9) * Math.sin(i / 5000)));
  const load = async (dtype: string, crossAttentionApart: boolean) =>
    WhisperRunner.load({ workerId: 1, modelId: MODEL_ID, modelsDir: await modelsRoot(), dtype, threads: 1, cpuArena: false, mapWeights: true, crossAttentionApart, encoder: { fusedAttention: true, window: { mode: 'full', minSeconds: 8, marginSeconds: 1.5 } } });

  it.each(['q8', 'int8', 'fp32'])('%s: decodes the same tokens as the decoder computing them, language detected and given', async (dtype) => {
    const [inDecoder, apart] = [await load(dtype, false), await load(dtype, true)];
    expect(apart.loadNotes).toEqual(expect.arrayContaining([expect.stringMatching(/^decoder_model_merged.*\.onnx: cross-attention keys and values of \d+ layers computed apart, a layer at a time; its uncached branch reads them from its past inputs$/)]));
    expect(inDecoder.loadNotes.some((n) => n.includes('cross-attention'))).toBe(false);
    for (const language of [null, 'en']) {
      const request: TranscribeRequest = { language, task: 'transcribe', timestamps: false, fixedTokensPerSecond: 1, decoding: { temperatureFallback: false } };
      const [expected, actual] = [await inDecoder.transcribe(audio, request, () => {}), await apart.transcribe(audio, request, () => {})];
      expect(actual.tokens).toBeGreaterThan(0);
      expect(actual.chunks).toBe(2);
      expect(actual.text).toBe(expected.text);
      expect(actual.tokens).toBe(expected.tokens);
      expect(actual.language).toBe(expected.language);
      // Bit for bit in int8; fp32 within the last bits of a float32 (see above: 2^-23 relative is one).
      for (const [i, w] of actual.windows.entries()) {
        if (dtype === 'fp32') expect(Math.abs(w.noSpeechProb - expected.windows[i]!.noSpeechProb)).toBeLessThanOrEqual(4 * 2 ** -23 * expected.windows[i]!.noSpeechProb);
        else expect(w.noSpeechProb).toBe(expected.windows[i]!.noSpeechProb);
      }
    }
  });
});
