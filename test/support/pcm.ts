// Audio made in code, handed on as decoded audio is: 16-bit samples (see src/audio/pcm.ts).
import { FULL_SCALE } from '../../src/audio/pcm.js';

/** The nearest 16-bit sample for each float in [-1, 1), clipped to full scale. */
export function pcmFromFloats(floats: ArrayLike<number>): Int16Array {
  const samples = new Int16Array(floats.length);
  for (let i = 0; i < floats.length; i++) samples[i] = Math.max(-FULL_SCALE, Math.min(FULL_SCALE - 1, Math.round(floats[i]! * FULL_SCALE)));
  return samples;
}

/** `seconds` of a synthetic signal at 16 kHz: `at(i)` is sample i as a float. */
export const synthPcm = (seconds: number, at: (i: number) => number): Int16Array => pcmFromFloats(Float32Array.from({ length: Math.round(seconds * 16000) }, (_, i) => at(i)));
