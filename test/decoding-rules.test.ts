// Whisper's logits rules and safeguards on hand-made logits: no model, no ONNX.
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  averageLogprob,
  bestOfFailed,
  compressionRatio,
  isSilence,
  mayConditionNext,
  needsFallback,
  previousTextPrompt,
  WHISPER_THRESHOLDS,
} from '../src/asr/fallback.js';
import { applyRules, chooseToken, detectLanguage, logSumExp, probabilityOf, topLogprobs, type WhisperVocabulary } from '../src/asr/logits-rules.js';

// A 40-token vocabulary laid out like Whisper's: text 0-19, <|endoftext|> 20, control 21-27, timestamps 28-39.
const vocabulary: WhisperVocabulary = {
  endOfText: 20,
  startOfTranscript: 21,
  startOfPrevious: 22,
  noTimestamps: 27,
  timestampBegin: 28,
  noSpeech: 26,
  languages: new Map([
    ['en', 23],
    ['ru', 24],
  ]),
  tasks: { transcribe: 25, translate: undefined },
  suppress: [3],
  beginSuppress: [1, 20],
  maxInitialTimestampIndex: 2,
};
const SIZE = 40;
const flat = (value = 0) => new Float32Array(SIZE).fill(value);
const allowed = (logits: Float32Array) => [...logits.keys()].filter((i) => logits[i] !== -Infinity);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('logits rules', () => {
  it('suppress suppress_tokens, every control token, and timestamps when they are off', () => {
    const logits = flat();
    applyRules(logits, [5], vocabulary, { timestamps: false, minTokens: 0 });
    expect(allowed(logits)).toEqual([...range(0, 21)].filter((t) => t !== 3));
  });

  it('suppress begin_suppress_tokens (blank, end-of-text) on the first sampled token only', () => {
    const first = flat();
    applyRules(first, [], vocabulary, { timestamps: false, minTokens: 0 });
    expect(allowed(first)).not.toContain(1);
    expect(allowed(first)).not.toContain(20);
    const second = flat();
    applyRules(second, [5], vocabulary, { timestamps: false, minTokens: 0 });
    expect(allowed(second)).toContain(1);
    expect(allowed(second)).toContain(20);
  });

  it('keep end-of-text out until the minimum token count', () => {
    const early = flat();
    applyRules(early, [5, 6], vocabulary, { timestamps: false, minTokens: 3 });
    expect(allowed(early)).not.toContain(20);
    const enough = flat();
    applyRules(enough, [5, 6, 7], vocabulary, { timestamps: false, minTokens: 3 });
    expect(allowed(enough)).toContain(20);
  });

  describe('with timestamps', () => {
    const rules = { timestamps: true, minTokens: 0 };
    it('start a window with a timestamp no later than max_initial_timestamp', () => {
      const logits = flat();
      applyRules(logits, [], vocabulary, rules);
      expect(allowed(logits)).toEqual([28, 29, 30]);
    });

    it('after the opening timestamp: text, never an empty segment', () => {
      const logits = flat();
      applyRules(logits, [30], vocabulary, rules);
      expect(allowed(logits)).toEqual(range(0, 21).filter((t) => t !== 3));
    });

    it('after a closing timestamp (a pair): not another timestamp at once', () => {
      const logits = flat();
      applyRules(logits, [28, 5, 31, 32], vocabulary, rules);
      expect(allowed(logits).filter((t) => t >= 28)).toEqual([]);
    });

    it('after text then a timestamp: a timestamp (not going back) or end-of-text', () => {
      const logits = flat();
      logits[20] = 5; // likelier than all timestamps together, or the next rule would force one
      applyRules(logits, [28, 5, 31], vocabulary, rules);
      expect(allowed(logits)).toEqual([20, ...range(31, 40)]);
    });

    it('force a timestamp when together they are likelier than any text token', () => {
      const logits = flat(-5);
      logits[5] = 1; // best text token, but 12 timestamps at 0 each outweigh it: log(12 e^0) > 1
      for (let t = 28; t < 40; t++) logits[t] = 0;
      applyRules(logits, [28, 5], vocabulary, rules);
      expect(allowed(logits).every((t) => t >= 28)).toBe(true);
      const unlikely = flat(-5);
      unlikely[5] = 5;
      for (let t = 28; t < 40; t++) unlikely[t] = 0;
      applyRules(unlikely, [28, 5], vocabulary, rules);
      expect(allowed(unlikely)).toContain(5);
    });
  });
});

describe('token choice', () => {
  it('greedy takes the argmax, with its log-softmax', () => {
    const logits = Float32Array.from([1, 3, 2]);
    const { token, logprob } = chooseToken(logits, 0, () => 0.5);
    expect(token).toBe(1);
    expect(logprob).toBeCloseTo(3 - Math.log(Math.exp(1) + Math.exp(3) + Math.exp(2)), 5);
  });

  it('log-sum-exp matches the plain formula over a wide range of logits', () => {
    const logits = Float32Array.from({ length: 51_865 }, (_, i) => Math.sin(i) * 30);
    let plain = 0;
    for (const x of logits) plain += Math.exp(x - 30);
    expect(logSumExp(logits)).toBeCloseTo(30 + Math.log(plain), 5);
    expect(logSumExp(flat(-Infinity))).toBe(-Infinity);
  });

  it('sampling follows softmax(logits / temperature)', () => {
    const logits = Float32Array.from([0, Math.log(3), -Infinity]);
    // Probabilities 1/4 and 3/4: a draw below 1/4 picks token 0, above it token 1, never the suppressed 2.
    expect(chooseToken(logits, 1, () => 0.2).token).toBe(0);
    expect(chooseToken(logits, 1, () => 0.3).token).toBe(1);
    expect(chooseToken(logits, 1, () => 0.999).token).toBe(1);
    // Hotter flattens: at temperature 100 the split is ~1/2, so 0.45 picks token 0.
    expect(chooseToken(logits, 100, () => 0.45).token).toBe(0);
  });

  it('beam candidates are the best entries, best first, as log-probabilities', () => {
    const logits = Float32Array.from([0, 5, -Infinity, 3, 4]);
    const top = topLogprobs(logits, 3);
    expect(top.map((c) => c.token)).toEqual([1, 4, 3]);
    expect(top[0]!.logprob).toBeCloseTo(5 - logSumExp(logits), 5);
  });

  it('the language is the argmax over language tokens; no-speech is a softmax over everything', () => {
    const logits = flat();
    logits[24] = 2;
    logits[5] = 9;
    expect(detectLanguage(logits, vocabulary.languages)).toBe('ru');
    logits[26] = Math.log(38); // 38 other zeros, e^2 and e^9 besides
    expect(probabilityOf(logits, 26)).toBeCloseTo(38 / (38 + 38 + Math.exp(2) + Math.exp(9) - 2), 5);
  });
});

describe('safeguards', () => {
  it('compression ratio: UTF-8 bytes over their zlib size, high for loops', () => {
    const loop = 'thank you '.repeat(30);
    expect(compressionRatio(loop)).toBeCloseTo(Buffer.byteLength(loop) / deflateSync(Buffer.from(loop)).length, 10);
    expect(compressionRatio(loop)).toBeGreaterThan(2.4);
    expect(compressionRatio('The quick brown fox jumps over the lazy dog.')).toBeLessThan(2.4);
    expect(compressionRatio('')).toBe(0);
  });

  it('average log-prob counts end-of-text as a token', () => {
    expect(averageLogprob(-6, 2)).toBe(-2);
  });

  it('fall back on a loop or on unlikely tokens, not on good text', () => {
    const t = WHISPER_THRESHOLDS;
    expect(needsFallback({ temperature: 0, compressionRatio: 3, avgLogprob: -0.2 }, 0.01, t)).toBe(true);
    expect(needsFallback({ temperature: 0, compressionRatio: 1.5, avgLogprob: -1.5 }, 0.01, t)).toBe(true);
    expect(needsFallback({ temperature: 0, compressionRatio: 1.5, avgLogprob: -0.5 }, 0.01, t)).toBe(false);
  });

  it('silence (no-speech > 0.6 and avg log-prob < -1) is skipped, not retried', () => {
    const t = WHISPER_THRESHOLDS;
    expect(isSilence(0.7, -1.5, t)).toBe(true);
    expect(isSilence(0.7, -0.5, t)).toBe(false);
    expect(isSilence(0.5, -1.5, t)).toBe(false);
    expect(needsFallback({ temperature: 0, compressionRatio: 1.5, avgLogprob: -1.5 }, 0.7, t)).toBe(false);
  });

  it('when every temperature fails, the likeliest attempt that does not loop wins', () => {
    const attempts = [
      { temperature: 0, compressionRatio: 5, avgLogprob: -0.1 },
      { temperature: 0.2, compressionRatio: 2, avgLogprob: -1.8 },
      { temperature: 0.4, compressionRatio: 2.2, avgLogprob: -1.2 },
    ];
    expect(bestOfFailed(attempts, WHISPER_THRESHOLDS).temperature).toBe(0.4);
    expect(bestOfFailed(attempts.slice(0, 1), WHISPER_THRESHOLDS).temperature).toBe(0);
  });

  it('previous text conditions the next window up to half the decoder, and not after a hot decode', () => {
    expect(previousTextPrompt(range(0, 500), 448)).toEqual(range(277, 500));
    expect(mayConditionNext(0.4)).toBe(true);
    expect(mayConditionNext(0.6)).toBe(false);
  });
});
