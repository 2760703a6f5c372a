// Pure: the decoded audio's form. 16-kHz mono 16-bit samples, as ffmpeg writes them and as
// Whisper's reference implementation reads them (its load_audio asks ffmpeg for s16le and divides
// by 32768): half the bytes of 32-bit floats on disk (pcm-file.ts), and only the stretch being
// worked on is ever turned into floats for a model.

export const SAMPLE_RATE = 16_000;
export const BYTES_PER_SAMPLE = 2;
/** A 16-bit sample divided by this is the float in [-1, 1) that the model's features are computed from. */
export const FULL_SCALE = 32_768;

/** Writes `samples` as floats into `target` from index `at`. */
export function writeFloats(samples: Int16Array, target: Float32Array, at = 0): void {
  for (let i = 0; i < samples.length; i++) target[at + i] = samples[i]! / FULL_SCALE;
}
