// Pure: how long audio is cut into Whisper windows, and how many tokens a window may produce.

const CHUNK_SECONDS = 30;
/** Overlap on each side of a window, as transformers.js's pipeline uses (chunk / 6). */
const STRIDE_SECONDS = 5;
/** Whisper's decoder holds 448 positions; 4 go to the prompt. */
const MAX_TOKENS_PER_WINDOW = 440;
/**
 * Fast speech runs ~4 tokens/s in English and ~8 in Russian (Cyrillic takes more BPE pieces);
 * past this a window is looping, not transcribing.
 */
const TOKENS_PER_SECOND_CEILING = 10;

export interface AudioWindow {
  offset: number;
  length: number;
  /** Samples of overlap on the left and right that the merge step discards. */
  strideLeft: number;
  strideRight: number;
  isLast: boolean;
}

export function planWindows(totalSamples: number, sampleRate: number): AudioWindow[] {
  const window = CHUNK_SECONDS * sampleRate;
  if (totalSamples <= window) {
    return [{ offset: 0, length: totalSamples, strideLeft: 0, strideRight: 0, isLast: true }];
  }
  const stride = STRIDE_SECONDS * sampleRate;
  const jump = window - 2 * stride;
  const windows: AudioWindow[] = [];
  for (let offset = 0; ; offset += jump) {
    const end = Math.min(totalSamples, offset + window);
    const isLast = offset + window >= totalSamples;
    windows.push({ offset, length: end - offset, strideLeft: offset === 0 ? 0 : stride, strideRight: isLast ? 0 : stride, isLast });
    if (isLast) return windows;
  }
}

export function maxNewTokens(seconds: number): number {
  return Math.min(MAX_TOKENS_PER_WINDOW, Math.ceil(seconds * TOKENS_PER_SECOND_CEILING) + 16);
}

export function fixedTokenBudget(seconds: number, tokensPerSecond: number): number {
  return Math.max(1, Math.min(MAX_TOKENS_PER_WINDOW, Math.round(seconds * tokensPerSecond)));
}
