// The worker's own loading of a hub model folder (whisper-model.ts) against transformers.js's
// from_pretrained on the same files: the same sessions (same outputs, bit for bit) and the same
// configs, in every dtype the synthetic presets have; and a folder that is wrong fails by name.
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AutoModelForSpeechSeq2Seq, env } from '@huggingface/transformers';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { emptyPasts, type OrtTensor } from '../src/asr/decode-loop.js';
import { loadWhisperModel, makeTensor, type WhisperModel } from '../src/asr/whisper-model.js';
import { cachedModelsRoot } from './support/test-model.js';

const MODEL_ID = 'voicebot-test/whisper-test-tiny-dtypes';
const SETTINGS = { intraOpNumThreads: 1, interOpNumThreads: 1, enableCpuMemArena: false, enableMemPattern: false };
let root: string;

interface Reference {
  sessions: { model: ort.InferenceSession; decoder_model_merged: ort.InferenceSession };
  generation_config: Record<string, unknown>;
  config: { max_source_positions: number; max_target_positions: number };
}

beforeAll(async () => {
  root = await cachedModelsRoot(MODEL_ID, { dtypes: ['q8', 'int8', 'fp32'] });
}, 180_000);

const features = () => makeTensor('float32', Float32Array.from({ length: 80 * 3000 }, (_, i) => Math.sin(i / 11) * Math.cos(i / 5000)), [1, 80, 3000]);

/** The decoder's uncached first step on a 4-token prompt: its logits. */
async function firstStep(decoder: WhisperModel['decoder'], encoded: OrtTensor): Promise<Float32Array> {
  const out = await decoder.run(
    {
      input_ids: makeTensor('int64', BigInt64Array.from([50258n, 50259n, 50359n, 50363n]), [1, 4]),
      encoder_hidden_states: encoded,
      use_cache_branch: makeTensor('bool', Uint8Array.of(0), [1]),
      ...emptyPasts(decoder, makeTensor),
    },
    ['logits'],
  );
  return out.logits!.data as Float32Array;
}

describe('a hub model folder loaded without transformers.js', () => {
  for (const dtype of ['q8', 'int8', 'fp32'] as const) {
    it(`${dtype}: the sessions transformers.js creates from the same files, the same outputs bit for bit`, async () => {
      const ours = await loadWhisperModel(path.join(root, MODEL_ID), dtype, SETTINGS);
      env.localModelPath = root;
      env.allowRemoteModels = false;
      const theirs = (await AutoModelForSpeechSeq2Seq.from_pretrained(MODEL_ID, {
        dtype,
        device: 'cpu',
        session_options: SETTINGS,
      })) as unknown as Reference;
      expect(ours.decoder.inputNames).toEqual(theirs.sessions.decoder_model_merged.inputNames);

      const input = features();
      const encodedOurs = (await ours.encoder.run({ input_features: input })).last_hidden_state!;
      const encodedTheirs = (await theirs.sessions.model.run({ input_features: input as ort.Tensor })).last_hidden_state!;
      expect(encodedOurs.dims).toEqual(encodedTheirs.dims);
      expect(Buffer.from((encodedOurs.data as Float32Array).buffer).equals(Buffer.from((encodedTheirs.data as Float32Array).buffer))).toBe(true);

      const logitsOurs = await firstStep(ours.decoder, encodedOurs);
      const logitsTheirs = await firstStep(theirs.sessions.decoder_model_merged as unknown as WhisperModel['decoder'], encodedOurs);
      expect(logitsOurs.length).toBeGreaterThan(0);
      expect(Buffer.from(logitsOurs.buffer).equals(Buffer.from(logitsTheirs.buffer))).toBe(true);

      for (const [field, value] of Object.entries(ours.generation)) expect(value, field).toEqual(theirs.generation_config[field]);
      expect(ours.positions).toEqual({ source: theirs.config.max_source_positions, target: theirs.config.max_target_positions });
    });
  }
});

describe('a model folder that is not what the worker needs', () => {
  async function folderWith(change: (folder: string) => Promise<void>): Promise<string> {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'voicebot-model-folder-'));
    await cp(path.join(root, MODEL_ID), folder, { recursive: true });
    await change(folder);
    return folder;
  }

  it('names the config file and the field it lacks', async () => {
    const folder = await folderWith(async (dir) => {
      const file = path.join(dir, 'generation_config.json');
      const { eos_token_id: _dropped, ...rest } = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
      await writeFile(file, JSON.stringify(rest));
    });
    await expect(loadWhisperModel(folder, 'q8', SETTINGS)).rejects.toThrow('generation_config.json has no number for eos_token_id');
  });

  it('names a config file that is not JSON', async () => {
    const folder = await folderWith((dir) => writeFile(path.join(dir, 'preprocessor_config.json'), '{"sampling_rate": 16000,'));
    await expect(loadWhisperModel(folder, 'q8', SETTINGS)).rejects.toThrow(/preprocessor_config\.json is not valid JSON/);
  });

  it("names the ONNX file of a dtype the folder does not have", async () => {
    await expect(loadWhisperModel(path.join(root, MODEL_ID), 'fp16', SETTINGS)).rejects.toThrow(/encoder_model_fp16\.onnx/);
  });
});
