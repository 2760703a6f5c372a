// Our log-mel features against transformers.js's WhisperFeatureExtractor, on the same config files.
import { AutoFeatureExtractor, env } from '@huggingface/transformers';
import { beforeAll, describe, expect, it } from 'vitest';
import { LogMelSpectrogram } from '../src/asr/log-mel.js';
import { cachedModelsRoot, TEST_MODEL_ID } from './support/test-model.js';

/** Both compute the FFT in float64; they differ by float32 rounding of the power spectrum and sums. */
const TOLERANCE = 1e-5;

type Extractor = ((audio: Float32Array) => Promise<{ input_features: { data: Float32Array; dims: number[] } }>) & {
  window: Float64Array;
  config: { mel_filters: number[][]; hop_length: number; n_samples: number; nb_max_frames: number };
};
let extractor: Extractor;
let ours: LogMelSpectrogram;

beforeAll(async () => {
  env.localModelPath = await cachedModelsRoot();
  env.allowRemoteModels = false;
  extractor = (await AutoFeatureExtractor.from_pretrained(TEST_MODEL_ID)) as unknown as Extractor;
  const c = extractor.config;
  ours = new LogMelSpectrogram({ window: extractor.window, melFilters: c.mel_filters, hopLength: c.hop_length, samples: c.n_samples, frames: c.nb_max_frames });
}, 60_000);

let seed = 7;
const noise = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.02;
/** Voice-like: a pitch with harmonics under a slow envelope, and a little noise. */
const voice = (seconds: number) =>
  Float32Array.from({ length: Math.round(seconds * 16000) }, (_, i) => 0.3 * Math.sin(i / 5000) * (Math.sin(i / 12) + 0.4 * Math.sin(i / 6) + 0.2 * Math.sin(i / 3)) + noise());

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
