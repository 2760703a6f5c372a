// Pure logic of the speech stage: Silero's probabilities → segments → Whisper windows → times on the note's timeline.
import { describe, expect, it } from 'vitest';
import { DEFAULT_VAD_OPTIONS, speechSamples, speechSegments, VAD_FRAME_SAMPLES } from '../src/asr/vad-segments.js';
import { fixedWindows, onOriginalTimeline, planSpeechWindows, type PlannedWindow } from '../src/asr/window-plan.js';
import { ConfigError, loadConfig } from '../src/config.js';

const RATE = 16_000;
const FRAMES_PER_SECOND = RATE / VAD_FRAME_SAMPLES;
const frames = (seconds: number) => Math.round(seconds * FRAMES_PER_SECOND);
const at = (frame: number) => frame * VAD_FRAME_SAMPLES;

/** Probabilities from [seconds, probability] runs. */
function probabilities(...runs: [number, number][]): Float32Array {
  return Float32Array.from(runs.flatMap(([seconds, p]) => Array<number>(frames(seconds)).fill(p)));
}

describe('speechSegments (faster-whisper defaults: threshold 0.5, 250 ms, 2 s, 400 ms)', () => {
  const segment = (p: Float32Array) => speechSegments(p, p.length * VAD_FRAME_SAMPLES, RATE, DEFAULT_VAD_OPTIONS);

  it('finds speech between silences and pads it by 400 ms on both sides', () => {
    const p = probabilities([2, 0.05], [3, 0.9], [4, 0.05]);
    expect(segment(p)).toEqual([{ start: at(frames(2)) - 6400, end: at(frames(2) + frames(3)) + 6400 }]);
  });

  it('keeps pauses shorter than 2 s inside a segment, and ends speech at the start of a longer one', () => {
    const p = probabilities([1, 0.9], [1.5, 0.05], [1, 0.9], [2.5, 0.05], [1, 0.9], [3, 0.05]);
    const segments = segment(p);
    expect(segments).toHaveLength(2);
    expect(segments[0]).toEqual({ start: 0, end: at(frames(1) + frames(1.5) + frames(1)) + 6400 });
  });

  it('holds speech through frames between 0.35 and 0.5 (hysteresis), and drops bursts under 250 ms', () => {
    expect(segment(probabilities([1, 0.9], [3, 0.4], [1, 0.9], [3, 0.05]))).toHaveLength(1);
    expect(segment(probabilities([2, 0.05], [0.2, 0.95], [3, 0.05]))).toEqual([]);
    expect(segment(probabilities([10, 0.3]))).toEqual([]);
  });

  it('splits the gap between two segments when it is shorter than two pads', () => {
    const options = { ...DEFAULT_VAD_OPTIONS, minSilenceMs: 300 };
    const p = probabilities([1, 0.9], [0.5, 0.05], [1, 0.9], [1, 0.05]);
    const [first, second] = speechSegments(p, p.length * VAD_FRAME_SAMPLES, RATE, options);
    expect(first!.end).toBe(second!.start);
    expect(first!.start).toBe(0);
  });

  it('runs speech that lasts to the end of the note to its last sample', () => {
    const p = probabilities([1, 0.05], [2, 0.9]);
    const total = p.length * VAD_FRAME_SAMPLES - 100;
    expect(speechSegments(p, total, RATE, DEFAULT_VAD_OPTIONS)).toEqual([{ start: at(frames(1)) - 6400, end: total }]);
    expect(speechSamples([{ start: 10, end: 30 }, { start: 50, end: 55 }])).toBe(25);
  });
});

const s = (start: number, end: number) => ({ start: start * RATE, end: end * RATE });
const seconds = (w: PlannedWindow) => w.length / RATE;
const spans = (w: PlannedWindow) => w.pieces.map((p) => [p.offset / RATE, (p.offset + p.length) / RATE]);

describe('planSpeechWindows', () => {
  it('drops the silence between segments and keeps a short note in one window', () => {
    const windows = planSpeechWindows([s(1, 4), s(10, 13)], RATE);
    expect(windows.map(spans)).toEqual([[[1, 4], [10, 13]]]);
    expect(seconds(windows[0]!)).toBe(6);
    expect(windows[0]).toMatchObject({ strideLeft: 0, strideRight: 0 });
  });

  it('packs segments into the fewest windows of at most 30 s, cut at the longest pauses', () => {
    // 7 s of speech each, 42 s in all: two windows. Pauses: 2, 9, 3, 2, 2 s; the 9-s one is the cut
    // (cutting at the 3-s one would balance the windows, but cut closer to speech).
    const segments = [s(0, 7), s(9, 16), s(25, 32), s(35, 42), s(44, 51), s(53, 60)];
    const windows = planSpeechWindows(segments, RATE);
    expect(windows.map(spans)).toEqual([
      [[0, 7], [9, 16]],
      [[25, 32], [35, 42], [44, 51], [53, 60]],
    ]);
    for (const w of windows) expect(seconds(w)).toBeLessThanOrEqual(30);
  });

  it('gives a stretch of speech over 30 s with no pause fixed 30-s windows with 5-s overlap', () => {
    const windows = planSpeechWindows([s(0, 5), s(10, 80), s(85, 90)], RATE);
    expect(windows.map(spans)).toEqual([[[0, 5]], [[10, 40]], [[30, 60]], [[50, 80]], [[85, 90]]]);
    expect(windows.map((w) => [w.strideLeft / RATE, w.strideRight / RATE])).toEqual([[0, 0], [0, 5], [5, 5], [5, 0], [0, 0]]);
  });

  it('plans nothing for no speech, and today\'s windows with VAD=off', () => {
    expect(planSpeechWindows([], RATE)).toEqual([]);
    expect(fixedWindows(0, 65 * RATE, RATE).map(spans)).toEqual([[[0, 30]], [[20, 50]], [[40, 65]]]);
  });

});

describe('onOriginalTimeline', () => {
  const segment = (start: number, end: number) => ({ start, end, text: 'x' });

  it('puts times after a dropped pause back where they were said', () => {
    // Speech 1–4 s and 24–27 s (a 20-s pause): Whisper hears 6 s.
    const windows = planSpeechWindows([s(1, 4), s(24, 27)], RATE);
    expect(onOriginalTimeline([segment(0, 2.5), segment(3.5, 6)], windows, RATE)).toEqual([segment(1, 3.5), segment(24.5, 27)]);
  });

  it('maps across windows, overlapping ones included', () => {
    const windows = planSpeechWindows([s(0, 20), s(40, 55), s(70, 140)], RATE);
    // Back to back: [0,20] [40,55] | [70,100] [90,120] [110,140] merged → 35 s, then 70 s of stretch.
    expect(onOriginalTimeline([segment(25, 30), segment(35, 36), segment(85, 104.5)], windows, RATE)).toEqual([
      segment(45, 50),
      segment(70, 71),
      segment(120, 139.5),
    ]);
  });

  it('is the identity with fixed windows (VAD=off)', () => {
    const windows = fixedWindows(0, 95 * RATE, RATE);
    expect(onOriginalTimeline([segment(12, 44), segment(61.5, 95)], windows, RATE)).toEqual([segment(12, 44), segment(61.5, 95)]);
  });
});

describe('VAD configuration', () => {
  const machine = { vcpus: 2, memoryMb: 2048 };
  const load = (env: Record<string, string>) => loadConfig({ BOT_TOKEN: '1:a', WHISPER_MODEL: 'base', ...env }, machine);

  it('defaults to Silero with faster-whisper\'s VadOptions; VAD=off turns it off', () => {
    expect(load({}).vad).toEqual(DEFAULT_VAD_OPTIONS);
    expect(load({ VAD: 'off' }).vad).toBeNull();
    expect(load({ VAD_THRESHOLD: '0.6', VAD_MIN_SPEECH_MS: '100', VAD_MIN_SILENCE_MS: '500', VAD_SPEECH_PAD_MS: '200' }).vad).toEqual({
      threshold: 0.6,
      minSpeechMs: 100,
      minSilenceMs: 500,
      speechPadMs: 200,
    });
  });

  it.each([
    ['VAD', 'maybe'],
    ['VAD_THRESHOLD', '1.5'],
    ['VAD_THRESHOLD', '0'],
    ['VAD_THRESHOLD', 'half'],
    ['VAD_MIN_SPEECH_MS', '-1'],
    ['VAD_MIN_SILENCE_MS', '2.5'],
    ['VAD_SPEECH_PAD_MS', '99999'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    expect(() => load({ [name]: value })).toThrow(ConfigError);
    expect(() => load({ [name]: value })).toThrow(new RegExp(`^${name}:`));
  });
});
