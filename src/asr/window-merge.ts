// Pure: a note's windows of tokens → its transcript and timed segments. Windows that overlap (a
// stretch of speech longer than 30 s with no pause: window-plan.ts) repeat a few seconds of
// text; the overlap is stitched where the two token sequences agree best, as transformers.js's
// WhisperTokenizer._decode_asr does (and Hugging Face's Python pipeline before it), whose results
// this reproduces (test/token-text.test.ts checks it against it). Word timestamps, which that
// also does, are not needed here.
import type { WhisperVocabulary } from './logits-rules.js';
import type { TokenText } from './token-text.js';

export interface WindowTokens {
  /** Everything the decoder gave for the window, forced prompt included. */
  tokens: readonly number[];
  /** Seconds: the window's length and its overlap with the previous and next window. */
  length: number;
  overlapLeft: number;
  overlapRight: number;
}

export interface MergedSegment {
  /** Seconds on the windows' timeline; null when the window's timestamps did not give one. */
  start: number | null;
  end: number | null;
  text: string;
}

export interface MergeOptions {
  /** Seconds per timestamp step: a window's 30 s over the encoder's 1500 positions. */
  timePrecision: number;
  /** Whether the tokens hold timestamps and segments are wanted. */
  timestamps: boolean;
}

/** Whisper's timestamp tokens run from <|0.00|> to <|30.00|>. */
const TIMESTAMP_STEPS = 1500;

const roundToHundredths = (seconds: number) => Math.round(seconds * 100) / 100;

/**
 * Joins sequences that overlap: each next one is aligned with what came before at the offset where
 * the most tokens agree (more than one; a tiny bonus for longer overlaps breaks ties), and the cut
 * falls in the middle of that overlap. Sequences with no such overlap are simply concatenated.
 */
export function stitchOverlaps(sequences: readonly (readonly number[])[]): number[] {
  const stitched: number[] = [];
  let left = sequences[0] ?? [];
  for (const right of sequences.slice(1)) {
    let best = 0;
    let cut = { leftStart: left.length, leftStop: left.length, rightStart: 0, rightStop: 0 };
    for (let shift = 1; shift < left.length + right.length; shift++) {
      const leftStart = Math.max(0, left.length - shift);
      const leftStop = Math.min(left.length, left.length + right.length - shift);
      const rightStart = Math.max(0, shift - left.length);
      const rightStop = Math.min(right.length, shift);
      let matches = 0;
      for (let k = 0; k < leftStop - leftStart; k++) if (left[leftStart + k] === right[rightStart + k]) matches++;
      const score = matches / shift + shift / 10_000;
      if (matches > 1 && score > best) {
        best = score;
        cut = { leftStart, leftStop, rightStart, rightStop };
      }
    }
    stitched.push(...left.slice(0, Math.floor((cut.leftStop + cut.leftStart) / 2)));
    left = right.slice(Math.floor((cut.rightStop + cut.rightStart) / 2));
  }
  stitched.push(...left);
  return stitched;
}

/**
 * The transcript of a note's windows, and with `timestamps` its segments. A segment runs from one
 * timestamp to the next different one; timestamps inside a window's overlap with its neighbours
 * are dropped so that each stretch is told once. Without timestamps, a change of language token
 * between windows starts a new piece of text instead of being stitched across.
 */
export function mergeWindows(
  windows: readonly WindowTokens[],
  vocabulary: WhisperVocabulary,
  text: TokenText,
  options: MergeOptions,
): { text: string; segments: MergedSegment[] } {
  const { timestampBegin } = vocabulary;
  const timestampEnd = timestampBegin + TIMESTAMP_STEPS;
  const languageIds = new Set(vocabulary.languages.values());
  const segments: MergedSegment[] = [];
  const newSegment = (): MergedSegment => ({ start: null, end: null, text: '' });
  let segment = newSegment();
  let pending: number[][] = [];
  let lastLanguage: number | null = null;
  let offset = 0;
  let skip = false;
  const close = (tokens: number[]) => {
    pending.push(tokens);
    segment.text = text.decode(stitchOverlaps(pending), { skipSpecial: false });
    segments.push(segment);
    pending = [];
    segment = newSegment();
  };

  for (const window of windows) {
    offset -= window.overlapLeft;
    const firstTimestamp = window.overlapLeft ? window.overlapLeft / options.timePrecision + timestampBegin : timestampBegin;
    // The first timestamp (from the end) that falls before the right overlap: later ones are the next window's.
    let lastTimestamp: number | null = null;
    if (window.overlapRight) {
      const rightOverlapStart = window.length - window.overlapRight;
      for (let i = window.tokens.length - 1; i >= 0; i--) {
        const token = window.tokens[i]!;
        if (token < timestampBegin) continue;
        if (lastTimestamp !== null && (token - timestampBegin) * options.timePrecision < rightOverlapStart) break;
        lastTimestamp = token;
      }
    }
    let current: number[] = [];
    for (const token of window.tokens) {
      if (text.isSpecial(token)) {
        if (!languageIds.has(token)) continue;
        if (lastLanguage !== null && token !== lastLanguage && !options.timestamps) {
          close(current);
          current = [];
        }
        lastLanguage = token;
      } else if (token >= timestampBegin && token <= timestampEnd) {
        const time = roundToHundredths((token - timestampBegin) * options.timePrecision + offset);
        if (lastTimestamp !== null && token >= lastTimestamp) skip = true;
        else if (skip || (pending.length > 0 && token < firstTimestamp)) skip = false;
        else if (segment.start === null) segment.start = time;
        else if (time !== segment.start) {
          segment.end = time;
          close(current);
          current = [];
        }
      } else {
        current.push(token);
      }
    }
    offset += window.length - window.overlapRight;
    if (current.length > 0) pending.push(current);
    else if (pending.every((p) => p.length === 0)) {
      segment = newSegment();
      pending = [];
    }
  }
  if (pending.length > 0) {
    segment.text = text.decode(stitchOverlaps(pending), { skipSpecial: false });
    segments.push(segment);
  }
  return { text: segments.map((s) => s.text).join(''), segments: options.timestamps ? segments : [] };
}
