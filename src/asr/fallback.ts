// Pure: Whisper's safeguards against loops and hallucinations, as openai-whisper's transcribe() and
// faster-whisper apply them: temperature fallback, the silence skip, conditioning on previous text.
import { deflateSync } from 'node:zlib';

/** openai's defaults: (0.0, 0.2, ..., 1.0). */
export const FALLBACK_TEMPERATURES: readonly number[] = [0, 0.2, 0.4, 0.6, 0.8, 1];

export interface SafeguardThresholds {
  /** Above it a window's text is too repetitive: decode again, hotter. */
  compressionRatio: number;
  /** Below it the model was unsure of what it wrote: decode again, hotter. */
  avgLogprob: number;
  /** Above it (with a low avg log-prob too) the window is silence, whatever was decoded. */
  noSpeech: number;
}

export const WHISPER_THRESHOLDS: SafeguardThresholds = { compressionRatio: 2.4, avgLogprob: -1, noSpeech: 0.6 };

/** One decode of a window at one temperature. */
export interface WindowAttempt {
  temperature: number;
  compressionRatio: number;
  avgLogprob: number;
}

/** What openai compares against 2.4: bytes of UTF-8 text over bytes of its zlib compression. */
export function compressionRatio(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return 0;
  return bytes.length / deflateSync(bytes).length;
}

/** openai's avg_logprob: the sampled tokens' log-probabilities over their count, end-of-text included. */
export function averageLogprob(sumLogprob: number, textTokens: number): number {
  return sumLogprob / (textTokens + 1);
}

export function isSilence(noSpeechProb: number, avgLogprob: number, thresholds: SafeguardThresholds): boolean {
  return noSpeechProb > thresholds.noSpeech && avgLogprob < thresholds.avgLogprob;
}

/** Whether to decode the window again at the next temperature. Silence is not retried: it is skipped. */
export function needsFallback(attempt: WindowAttempt, noSpeechProb: number, thresholds: SafeguardThresholds): boolean {
  if (isSilence(noSpeechProb, attempt.avgLogprob, thresholds)) return false;
  return attempt.compressionRatio > thresholds.compressionRatio || attempt.avgLogprob < thresholds.avgLogprob;
}

/**
 * When every temperature failed: faster-whisper's choice, the best average log-probability among the
 * attempts that are not too repetitive (among all when none is).
 */
export function bestOfFailed<T extends WindowAttempt>(attempts: readonly T[], thresholds: SafeguardThresholds): T {
  const notLooping = attempts.filter((a) => a.compressionRatio <= thresholds.compressionRatio);
  const pool = notLooping.length > 0 ? notLooping : attempts;
  return pool.reduce((best, a) => (a.avgLogprob > best.avgLogprob ? a : best));
}

/** openai drops the previous text as a prompt after a window decoded this hot: it was likely garbage. */
export function mayConditionNext(temperature: number): boolean {
  return temperature <= 0.5;
}

/** Whisper's decoder holds 448 positions: the previous text may take at most half, less <|startofprev|>. */
export function previousTextPrompt(previousTokens: readonly number[], maxPositions: number): number[] {
  return previousTokens.slice(-(Math.floor(maxPositions / 2) - 1));
}
