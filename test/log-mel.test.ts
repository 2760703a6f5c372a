// Our log-mel features against transformers.js's WhisperFeatureExtractor, on the same config files.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AutoFeatureExtractor, env, WhisperFeatureExtractor } from '@huggingface/transformers';
import { beforeAll, describe, expect, it } from 'vitest';
import { whisperMetaRoot } from '../bench/synth/model-folder.js';
import { hannWindow, LogMelSpectrogram, whisperMelFilters } from '../src/asr/log-mel.js';
import { cachedModelsRoot, TEST_MODEL_ID } from './support/test-model.js';

/** Both compute the FFT in float64; they differ by float32 rounding of the power spectrum and sums. */
const TOLERANCE = 1e-5;

type Extractor = ((audio: Float32Array) => Promise<{ input_features: { data: Float32Array; dims: number[] } }>) & {
  window: Float64Array;
  config: { mel_filters: number[][]; hop_length: number; n_fft: number; n_samples: number; nb_max_frames: number; feature_size: number; sampling_rate: number };
};
let extractor: Extractor;
let ours: LogMelSpectrogram;

beforeAll(async () => {
  env.localModelPath = await cachedModelsRoot();
  env.allowRemoteModels = false;
  extractor = (await AutoFeatureExtractor.from_pretrained(TEST_MODEL_ID)) as unknown as Extractor;
  const c = extractor.config;
  // The window and filters the worker computes itself (the hub's preprocessor_config.json has neither).
  ours = new LogMelSpectrogram({
    window: hannWindow(c.n_fft),
    melFilters: whisperMelFilters(c.n_fft, c.feature_size, c.sampling_rate),
    hopLength: c.hop_length,
    samples: c.n_samples,
    frames: c.nb_max_frames,
  });
}, 60_000);

let seed = 7;
const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.02;
/** Voice-like: a pitch with harmonics under a slow envelope, and a little noise. */
const voice = (seconds: number) =>
  Float32Array.from({ length: Math.round(seconds * 16000) }, (_, i) => 0.3 * Math.sin(i / 5000) * (Math.sin(i / 12) + 0.4 * Math.sin(i / 6) + 0.2 * Math.sin(i / 3)) + noise());

describe("Whisper's analysis window and mel filters", () => {
  const hubConfig = (model: string) => JSON.parse(readFileSync(path.join(whisperMetaRoot(), model, 'preprocessor_config.json'), 'utf8')) as Extractor['config'];
  it.each([
    ['whisper-base', hubConfig('whisper-base')],
    ['whisper-small', hubConfig('whisper-small')],
    ['whisper-tiny.en', hubConfig('whisper-tiny.en')],
    // large-v3's 128 mel bins, on the same 400-point FFT.
    ['128 mel bins', { ...hubConfig('whisper-base'), feature_size: 128 }],
  ])("equal transformers.js's, bit for bit: %s", (_name, config) => {
    expect(config.mel_filters).toBeUndefined();
    const reference = new WhisperFeatureExtractor({ ...config }) as unknown as Extractor;
    expect(hannWindow(config.n_fft)).toEqual(reference.window);
    const filters = whisperMelFilters(config.n_fft, config.feature_size, config.sampling_rate);
    expect(filters).toHaveLength(config.feature_size);
    expect(filters).toEqual(reference.config.mel_filters);
  });
});

describe('log-mel features', () => {
  it.each([
    ['a 9-s note (frames of zero padding skipped)', voice(9)],
    ['a full 30-s window', voice(30)],
    ['audio reaching into the right reflection', voice(29.995)],
    ['a 0.2-s blip', voice(0.2)],
    ['digital silence', new Float32Array(16000 * 4)],
  ])('equal transformers.js on %s', async (_name, audio) => {
    const reference = (await extractor(audio)).input_features;
    const features = ours.compute(audio);
    expect(reference.dims).toEqual([1, 80, 3000]);
    expect(features.length).toBe(reference.data.length);
    let worst = 0;
    for (let i = 0; i < features.length; i++) worst = Math.max(worst, Math.abs(features[i]! - reference.data[i]!));
    expect(worst).toBeLessThanOrEqual(TOLERANCE);
  });
});
