// How many log-mel frames the encoder sees for a window of audio (ASR_WINDOW). Whisper was
// trained on 30-s windows (3000 frames, the rest zero-padded); `fit` encodes only the audio's
// frames plus a margin, never fewer than a minimum, which costs the encoder in proportion.

export type WindowMode = 'full' | 'fit';

export interface WindowSettings {
  mode: WindowMode;
  /** Shortest window `fit` encodes, in seconds. */
  minSeconds: number;
  /** Seconds of the zero padding kept after the audio. */
  marginSeconds: number;
}

/** whisper.cpp's reduced audio context keeps ~1.3 s after a 9-s note; CTranslate2 saw losses on 2–7-s inputs. */
export const WINDOW_DEFAULTS = { minSeconds: 8, marginSeconds: 1.5 } as const;

export interface FrameGeometry {
  /** Samples per log-mel frame (Whisper: 160 at 16 kHz, 100 frames per second). */
  hopLength: number;
  sampleRate: number;
  /** Frames of a full window (Whisper: 3000). */
  fullFrames: number;
}

/** Input frames for `samples` of audio: even, because the encoder's second convolution halves them. */
export function encoderFrames(samples: number, settings: WindowSettings, geometry: FrameGeometry): number {
  if (settings.mode === 'full') return geometry.fullFrames;
  const perSecond = geometry.sampleRate / geometry.hopLength;
  const wanted = Math.max(Math.ceil(samples / geometry.hopLength) + settings.marginSeconds * perSecond, settings.minSeconds * perSecond);
  const even = 2 * Math.ceil(wanted / 2);
  return Math.min(even, geometry.fullFrames);
}

/** The first `keep` frames of each mel bin of a [bins, total] row-major spectrogram. */
export function cropFrames(features: Float32Array, bins: number, total: number, keep: number): Float32Array {
  if (keep === total) return features;
  const out = new Float32Array(bins * keep);
  for (let bin = 0; bin < bins; bin++) out.set(features.subarray(bin * total, bin * total + keep), bin * keep);
  return out;
}
