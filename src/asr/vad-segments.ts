// Pure: Silero's per-frame speech probabilities → speech segments, the way Silero's own
// get_speech_timestamps and faster-whisper's VAD filter do it (hysteresis, minimum silence to end
// a segment, minimum speech to keep one, padding on both sides).

/** Silero VAD v5 at 16 kHz scores frames of exactly this many samples. */
export const VAD_FRAME_SAMPLES = 512;

export interface VadOptions {
  /** A frame at or above this probability is speech. */
  threshold: number;
  /** Shorter segments are dropped (clicks, breaths). */
  minSpeechMs: number;
  /** Speech ends only after this much silence; shorter pauses stay inside a segment. */
  minSilenceMs: number;
  /** Added on both sides of a segment, so that soft onsets and endings are not cut. */
  speechPadMs: number;
}

/** faster-whisper's VadOptions. */
export const DEFAULT_VAD_OPTIONS: VadOptions = { threshold: 0.5, minSpeechMs: 250, minSilenceMs: 2000, speechPadMs: 400 };

/** Samples of the original audio, end exclusive. */
export interface SpeechSegment {
  start: number;
  end: number;
}

/** Below the threshold but not below this, a frame continues speech already started (hysteresis). */
function silenceThreshold(threshold: number): number {
  return Math.max(threshold - 0.15, 0.01);
}

export function speechSegments(probabilities: ArrayLike<number>, totalSamples: number, sampleRate: number, options: VadOptions): SpeechSegment[] {
  const perMs = sampleRate / 1000;
  const minSpeech = options.minSpeechMs * perMs;
  const minSilence = options.minSilenceMs * perMs;
  const pad = Math.round(options.speechPadMs * perMs);
  const quiet = silenceThreshold(options.threshold);

  const segments: SpeechSegment[] = [];
  let start: number | null = null;
  let silenceFrom: number | null = null;
  for (let frame = 0; frame < probabilities.length; frame++) {
    const p = probabilities[frame]!;
    const at = frame * VAD_FRAME_SAMPLES;
    if (p >= options.threshold) {
      silenceFrom = null;
      start ??= at;
    } else if (p < quiet && start !== null) {
      silenceFrom ??= at;
      if (at - silenceFrom >= minSilence) {
        if (silenceFrom - start >= minSpeech) segments.push({ start, end: silenceFrom });
        start = null;
        silenceFrom = null;
      }
    }
  }
  if (start !== null && totalSamples - start >= minSpeech) segments.push({ start, end: totalSamples });

  // Padding never makes neighbours overlap: a gap shorter than two pads is split between them.
  return segments.map((segment, i) => {
    const previous = segments[i - 1];
    const next = segments[i + 1];
    const before = previous ? Math.min(pad, Math.floor((segment.start - previous.end) / 2)) : pad;
    const after = next ? Math.min(pad, Math.floor((next.start - segment.end) / 2)) : pad;
    return { start: Math.max(0, segment.start - before), end: Math.min(totalSamples, segment.end + after) };
  });
}

export function speechSamples(segments: readonly SpeechSegment[]): number {
  return segments.reduce((sum, s) => sum + (s.end - s.start), 0);
}
