// The decode loop on a real onnxruntime session (synthetic test-tiny weights): the cache it feeds back
// gives the tokens a full recompute gives, the first step runs once per window, and a looping window
// falls back to higher temperatures and says so.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { emptyPasts, logprobPerToken, WindowDecoder, type DecoderSession, type OrtTensor, type WindowRequest } from '../src/asr/decode-loop.js';
import { FALLBACK_TEMPERATURES, WHISPER_THRESHOLDS } from '../src/asr/fallback.js';
import { applyRules, argmax, type WhisperVocabulary } from '../src/asr/logits-rules.js';
import { TokenText } from '../src/asr/token-text.js';
import { loadWhisperModel, makeTensor } from '../src/asr/whisper-model.js';
import { readVocabulary } from '../src/asr/whisper-runner.js';
import { cachedModelsRoot } from './support/test-model.js';

const FLOAT_MODEL = 'voicebot-test/whisper-test-tiny-fp32';
let session: DecoderSession;
let encoded: OrtTensor;
let vocabulary: WhisperVocabulary;
let textOf: (tokens: number[]) => string;

beforeAll(async () => {
  // The float variant: int8 dynamic quantization makes cached and recomputed logits differ by design.
  const folder = path.join(await cachedModelsRoot(FLOAT_MODEL, { dtypes: ['fp32'] }), FLOAT_MODEL);
  const [tokenText, model] = await Promise.all([
    TokenText.load(folder),
    loadWhisperModel(folder, 'fp32', { intraOpNumThreads: 1, interOpNumThreads: 1, enableCpuMemArena: true, enableMemPattern: true }),
  ]);
  vocabulary = readVocabulary(model.generation, tokenText);
  session = model.decoder;
  textOf = (tokens) => tokenText.decode(tokens, { skipSpecial: true });
  const features = makeTensor('float32', Float32Array.from({ length: 80 * 3000 }, (_, i) => Math.sin(i / 7)), [1, 80, 3000]);
  encoded = (await model.encoder.run({ input_features: features })).last_hidden_state!;
}, 120_000);

/** Counts the decoder's runs and whether each was the uncached (cross K/V computing) branch. */
function counting(inner: DecoderSession): DecoderSession & { firstSteps: number; runs: number; cachedTokens: number[] } {
  const counter = {
    inputNames: inner.inputNames,
    inputMetadata: inner.inputMetadata,
    firstSteps: 0,
    runs: 0,
    /** How many new tokens each cached step was given. */
    cachedTokens: [] as number[],
    run(feeds: Record<string, OrtTensor>, fetches: readonly string[]) {
      counter.runs++;
      if ((feeds.use_cache_branch!.data as Uint8Array)[0] === 0) counter.firstSteps++;
      else counter.cachedTokens.push(feeds.input_ids!.dims[1]!);
      return inner.run(feeds, fetches);
    },
  };
  return counter;
}

const request = (r: Partial<WindowRequest> = {}): WindowRequest => ({
  language: 'en',
  task: 'transcribe',
  timestamps: false,
  maxTokens: 24,
  minTokens: 24,
  previousTokens: [],
  beamSize: 1,
  bestOf: 1,
  patience: 1,
  temperatures: [0],
  thresholds: WHISPER_THRESHOLDS,
  ...r,
});

/** Greedy decoding the slow way: every step recomputes the whole sequence with no cache. */
async function recomputeGreedy(prompt: number[], count: number): Promise<number[]> {
  const sampled: number[] = [];
  while (sampled.length < count) {
    const sequence = [...prompt, ...sampled];
    const feeds: Record<string, OrtTensor> = {
      input_ids: makeTensor('int64', BigInt64Array.from(sequence, BigInt), [1, sequence.length]),
      encoder_hidden_states: encoded,
      use_cache_branch: makeTensor('bool', Uint8Array.of(0), [1]),
      ...emptyPasts(session, makeTensor),
    };
    const logits = (await session.run(feeds, ['logits'])).logits!;
    const vocab = logits.dims.at(-1)!;
    const row = (logits.data as Float32Array).slice((sequence.length - 1) * vocab);
    applyRules(row, sampled, vocabulary, { timestamps: false, minTokens: count });
    sampled.push(argmax(row));
  }
  return sampled;
}

describe('best_of ranking', () => {
  it('ranks samples by log-prob per token, end-of-text not counted', () => {
    const eot = 50257;
    expect(logprobPerToken({ sampled: [1, 2, 3, eot], sumLogprob: -3 }, eot)).toBe(-1);
    // A short confident sample beats a long one with more total log-prob but less per token.
    expect(logprobPerToken({ sampled: [1, eot], sumLogprob: -0.5 }, eot)).toBeGreaterThan(logprobPerToken({ sampled: [1, 2, 3, 4, eot], sumLogprob: -4 }, eot));
    expect(logprobPerToken({ sampled: [eot], sumLogprob: -2 }, eot)).toBe(-2);
  });
});

describe('decode loop', () => {
  it('feeds the cache back so that greedy tokens equal a full recompute, with one uncached step', async () => {
    const counted = counting(session);
    const decoded = await new WindowDecoder(counted, vocabulary, makeTensor, textOf).decodeWindow(encoded, request());
    const prompt = [vocabulary.startOfTranscript, vocabulary.languages.get('en')!, vocabulary.tasks.transcribe!, vocabulary.noTimestamps];
    expect(decoded.tokens.slice(0, 4)).toEqual(prompt);
    expect(decoded.tokens.slice(4)).toEqual(await recomputeGreedy(prompt, 24));
    expect(counted.firstSteps).toBe(1);
    // The prompt in one uncached step, then one step per token but the last.
    expect(counted.runs).toBe(24);
  });

  it('detects the language from the first step and continues the forced prompt from its cache, one token per step', async () => {
    const counted = counting(session);
    const decoded = await new WindowDecoder(counted, vocabulary, makeTensor, textOf).decodeWindow(encoded, request({ language: null }));
    expect(decoded.language).not.toBeNull();
    const prompt = [vocabulary.startOfTranscript, vocabulary.languages.get(decoded.language!)!, vocabulary.tasks.transcribe!, vocabulary.noTimestamps];
    expect(decoded.tokens.slice(0, 4)).toEqual(prompt);
    expect(decoded.tokens.slice(4)).toEqual(await recomputeGreedy(prompt, 24));
    expect(counted.firstSteps).toBe(1);
    // The first step, one cached step for each of language, task and <|notimestamps|>, then 23 for 24 tokens.
    expect(counted.runs).toBe(1 + 3 + 23);
    expect(counted.cachedTokens.every((n) => n === 1)).toBe(true);
    expect(decoded.noSpeechProb).toBeGreaterThan(0);
    expect(decoded.noSpeechProb).toBeLessThan(1);
  });

  it('conditions on previous text without letting it into the window tokens', async () => {
    const previousTokens = [400, 401, 402];
    const decoded = await new WindowDecoder(session, vocabulary, makeTensor, textOf).decodeWindow(encoded, request({ previousTokens }));
    expect(decoded.tokens[0]).toBe(vocabulary.startOfTranscript);
    expect(decoded.tokens).not.toContain(vocabulary.startOfPrevious);
    expect(decoded.tokens.length).toBe(4 + 24);
  });

  it('falls back to higher temperatures on a looping window and records it', async () => {
    // Random weights repeat a token: a compression ratio far above 2.4 at temperature 0.
    const greedy = await new WindowDecoder(session, vocabulary, makeTensor, textOf).decodeWindow(encoded, request({ maxTokens: 60, minTokens: 60 }));
    expect(greedy.compressionRatio).toBeGreaterThan(WHISPER_THRESHOLDS.compressionRatio);
    const counted = counting(session);
    let seed = 1;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const decoded = await new WindowDecoder(counted, vocabulary, makeTensor, textOf, { random }).decodeWindow(
      encoded,
      request({ maxTokens: 60, minTokens: 60, temperatures: FALLBACK_TEMPERATURES, bestOf: 2 }),
    );
    expect(decoded.fallbacks).toBeGreaterThan(0);
    expect(decoded.temperature).toBeGreaterThan(0);
    expect(FALLBACK_TEMPERATURES).toContain(decoded.temperature);
    // The first step and the prompt are shared by all temperatures: still one uncached step.
    expect(counted.firstSteps).toBe(1);
    // Greedy once at 0, then best_of 2 samples at each fallback temperature.
    expect(counted.runs).toBe(1 + 59 + decoded.fallbacks * 2 * 59);
  });

  it('beam search returns a window the rules allow, from batch-1 steps sharing one cross-attention cache', async () => {
    const counted = counting(session);
    const decoded = await new WindowDecoder(counted, vocabulary, makeTensor, textOf).decodeWindow(encoded, request({ beamSize: 3, maxTokens: 12, minTokens: 12 }));
    expect(decoded.tokens.length).toBe(4 + 12);
    expect(decoded.tokens.slice(4).every((t) => t < vocabulary.endOfText)).toBe(true);
    expect(counted.firstSteps).toBe(1);
    expect(counted.runs).toBe(1 + 3 * 11);
  });
});
