// Pure: which audio each Whisper window holds, and how the transcript's times map back to the note.
// From speech segments, windows are cut the way faster-whisper's vad_filter and WhisperX do it:
// the silence between segments is dropped, segments are packed into as few windows of at most
// 30 s as possible, and among the packings with that many windows the one whose cuts fall at the
// longest pauses wins. Only a single stretch of speech longer than 30 s with no pause in it still
// gets fixed 30-s windows with 5-s overlap (which window-merge.ts stitches).
import type { PcmAudio, PcmPiece } from '../audio/pcm-file.js';
import { planWindows } from './decoding-policy.js';
import type { Segment } from './protocol.js';
import type { SpeechSegment } from './vad-segments.js';

const MAX_WINDOW_SECONDS = 30;

/** One Whisper window: its pieces of the original audio (in samples) played back to back. */
export interface PlannedWindow {
  pieces: PcmPiece[];
  /** Samples in the window: the pieces' lengths summed. */
  length: number;
  /** Samples of overlap with the previous and next window that the merge step discards. */
  strideLeft: number;
  strideRight: number;
}

/** What the speech stage hands the pipeline. */
export interface SpeechPlan {
  /** Empty when the note holds no speech: Whisper is not run. */
  windows: PlannedWindow[];
  /** Seconds of speech found; null without a VAD (the RMS gate does not measure it). */
  speechSeconds: number | null;
  /** Time the VAD took; null without one. */
  vadMs: number | null;
  /**
   * First speech to last speech in the original audio, in seconds: what a short note's encoder
   * window is sized from. Null when there is no speech.
   */
  speechExtent: { start: number; end: number } | null;
}

/**
 * Finds the speech in a note and plans its windows on the main thread: the RMS gate with VAD=off.
 * With Silero VAD on, the ASR worker finds the speech itself (vad-stage.ts).
 */
export interface SpeechStage {
  plan(audio: PcmAudio): Promise<SpeechPlan>;
  close(): Promise<void>;
}

/** Today's plan without a VAD: the whole note in 30-s windows with 5-s overlap. */
export function fixedWindows(offset: number, length: number, sampleRate: number): PlannedWindow[] {
  return planWindows(length, sampleRate).map((w) => ({
    pieces: [{ offset: offset + w.offset, length: w.length }],
    length: w.length,
    strideLeft: w.strideLeft,
    strideRight: w.strideRight,
  }));
}

const piece = (s: SpeechSegment): PcmPiece => ({ offset: s.start, length: s.end - s.start });

function packedWindow(segments: readonly SpeechSegment[]): PlannedWindow {
  const pieces = segments.map(piece);
  return { pieces, length: pieces.reduce((sum, p) => sum + p.length, 0), strideLeft: 0, strideRight: 0 };
}

interface Packing {
  windows: number;
  /** The shortest pause cut at: the larger, the safer the cuts. */
  shortestCut: number;
  cutTotal: number;
  /** Where the last window of this packing starts (index into the run). */
  lastStart: number;
}

function better(a: Packing, b: Packing | undefined): boolean {
  if (!b) return true;
  if (a.windows !== b.windows) return a.windows < b.windows;
  if (a.shortestCut !== b.shortestCut) return a.shortestCut > b.shortestCut;
  return a.cutTotal > b.cutTotal;
}

/** Segments (each at most a window long) packed into the fewest windows, cut at the longest pauses. */
function packRun(run: readonly SpeechSegment[], maxSamples: number): PlannedWindow[] {
  // best[j]: the best packing of the first j segments.
  const best: (Packing | undefined)[] = [{ windows: 0, shortestCut: Infinity, cutTotal: 0, lastStart: 0 }];
  for (let j = 1; j <= run.length; j++) {
    let content = 0;
    for (let i = j - 1; i >= 0; i--) {
      content += run[i]!.end - run[i]!.start;
      if (content > maxSamples) break;
      const before = best[i]!;
      const cut = i > 0 ? run[i]!.start - run[i - 1]!.end : Infinity;
      const candidate: Packing = {
        windows: before.windows + 1,
        shortestCut: Math.min(before.shortestCut, cut),
        cutTotal: before.cutTotal + (Number.isFinite(cut) ? cut : 0),
        lastStart: i,
      };
      if (better(candidate, best[j])) best[j] = candidate;
    }
  }
  const windows: PlannedWindow[] = [];
  for (let j = run.length; j > 0; j = best[j]!.lastStart) windows.unshift(packedWindow(run.slice(best[j]!.lastStart, j)));
  return windows;
}

/** Windows for the note's speech segments (sorted, not overlapping), in order. */
export function planSpeechWindows(segments: readonly SpeechSegment[], sampleRate: number): PlannedWindow[] {
  const maxSamples = MAX_WINDOW_SECONDS * sampleRate;
  const windows: PlannedWindow[] = [];
  let run: SpeechSegment[] = [];
  for (const segment of segments) {
    if (segment.end - segment.start <= maxSamples) {
      run.push(segment);
      continue;
    }
    windows.push(...packRun(run, maxSamples), ...fixedWindows(segment.start, segment.end - segment.start, sampleRate));
    run = [];
  }
  windows.push(...packRun(run, maxSamples));
  return windows;
}

interface TimelineSpan {
  /** Seconds on the transcript's timeline: the windows back to back, less the overlaps merged away. */
  transcriptStart: number;
  originalStart: number;
  seconds: number;
}

/**
 * The merge step (window-merge.ts, as transformers.js's _decode_asr) puts window k's times at
 * Σ(length − strideRight) of the windows before it, less its own strideLeft: with dropped
 * silences that is not the note's timeline, so every piece says where it really came from.
 */
function timeline(windows: readonly PlannedWindow[], sampleRate: number): TimelineSpan[] {
  const spans: TimelineSpan[] = [];
  let offset = 0;
  for (const window of windows) {
    let at = offset - window.strideLeft;
    for (const p of window.pieces) {
      spans.push({ transcriptStart: at / sampleRate, originalStart: p.offset / sampleRate, seconds: p.length / sampleRate });
      at += p.length;
    }
    offset += window.length - window.strideLeft - window.strideRight;
  }
  return spans;
}

function toOriginal(spans: readonly TimelineSpan[], seconds: number): number {
  let span = spans[0];
  for (const s of spans) {
    if (s.transcriptStart > seconds) break;
    span = s;
  }
  if (!span) return seconds;
  return span.originalStart + Math.min(span.seconds, Math.max(0, seconds - span.transcriptStart));
}

/** The transcript's segments with their times on the note's own timeline (for /timestamps and .srt). */
export function onOriginalTimeline(segments: readonly Segment[], windows: readonly PlannedWindow[], sampleRate: number): Segment[] {
  const spans = timeline(windows, sampleRate);
  return segments.map((s) => ({ ...s, start: toOriginal(spans, s.start), end: toOriginal(spans, s.end) }));
}
