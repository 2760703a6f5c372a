// Decodes one window's encoder states into tokens on the hub's merged decoder session (whisper-model.ts):
// Whisper's prompt, rules, greedy or beam search, and the temperature fallback.
// The window loop (what audio each window covers, what carries over between them) is the caller's.
import {
  averageLogprob,
  bestOfFailed,
  compressionRatio,
  isSilence,
  needsFallback,
  type SafeguardThresholds,
  type WindowAttempt,
} from './fallback.js';
import { applyRules, chooseToken, detectLanguage, probabilityOf, topLogprobs, type StepRules, type WhisperVocabulary } from './logits-rules.js';
import { AsrError } from './errors.js';
import type { Task } from './protocol.js';

/** The parts of an onnxruntime tensor this module reads. */
export interface OrtTensor {
  readonly type: string;
  readonly data: unknown;
  readonly dims: readonly number[];
}

export interface DecoderSession {
  readonly inputNames: readonly string[];
  readonly inputMetadata: readonly { name: string; isTensor: boolean; shape?: readonly (number | string)[] }[];
  run(feeds: Record<string, OrtTensor>, fetches: readonly string[]): Promise<Record<string, OrtTensor>>;
}

/** A window's cross-attention keys and values, in the decoder's input order: [key 0, value 0, key 1, ...]. */
export type CrossAttention = (encoded: OrtTensor) => Promise<OrtTensor[]>;

export type TensorFactory = (type: 'int64' | 'bool' | 'float32', data: BigInt64Array | Uint8Array | Float32Array, dims: number[]) => OrtTensor;

export interface WindowRequest {
  /** null: detect it from this window's first step. */
  language: string | null;
  task: Task;
  timestamps: boolean;
  maxTokens: number;
  /** End-of-text is suppressed until this many tokens (benchmarks' fixed budgets). */
  minTokens: number;
  /** Text tokens of the previous window to condition on; empty for none. */
  previousTokens: readonly number[];
  /** 1: greedy. Beam search runs at temperature 0 only, as in openai-whisper. */
  beamSize: number;
  /** Samples drawn at each temperature above 0; the best log-prob per token is kept. */
  bestOf: number;
  patience: number;
  /** [0] disables the fallback. */
  temperatures: readonly number[];
  thresholds: SafeguardThresholds;
}

export interface WindowDecode {
  /** The forced prompt and the sampled tokens (without the previous text): what the tokenizer merges. */
  tokens: number[];
  /** Sampled text tokens only (below end-of-text): the next window's conditioning. */
  textTokens: number[];
  /** Tokens sampled, end-of-text included: one decoder step each but the last. */
  sampledCount: number;
  language: string | null;
  temperature: number;
  compressionRatio: number;
  avgLogprob: number;
  noSpeechProb: number;
  /** Decodes beyond the first (temperature fallback). */
  fallbacks: number;
  /** Skipped as silence: no_speech_prob and avg log-prob both say nothing was said. */
  silence: boolean;
  /** Decoder session runs for this window, the uncached first step included. */
  decoderRuns: number;
}

interface Cache {
  /** present.{i}.decoder.key|value of the last step, fed back as the next step's past. */
  self: OrtTensor[];
  /** present.{i}.encoder.key|value: the window's cross-attention keys/values, computed once. */
  cross: OrtTensor[];
}

interface StepOutput {
  logits: Float32Array;
  vocab: number;
  cache: Cache;
}

interface Hypothesis {
  sampled: number[];
  sumLogprob: number;
}

/** openai-whisper's ranking without a length penalty: log-prob per token, end-of-text not counted. */
export function logprobPerToken(h: Hypothesis, endOfText: number): number {
  return h.sumLogprob / (h.sampled.filter((t) => t !== endOfText).length || 1);
}

/**
 * The first step's pasts: zero-length, of the declared shapes (batch 1, the sequence symbol 0,
 * numbers as declared), as transformers.js builds them.
 */
export function emptyPasts(session: DecoderSession, tensor: TensorFactory): Record<string, OrtTensor> {
  const pasts = session.inputMetadata.filter((m) => m.name.startsWith('past_key_values.'));
  return Object.fromEntries(
    pasts.map(({ name, shape }) => {
      if (!shape) throw new AsrError('failed', `the decoder declares no shape for ${name}`);
      return [name, tensor('float32', new Float32Array(0), shape.map((d) => (typeof d === 'number' ? d : d === 'batch_size' ? 1 : 0)))];
    }),
  );
}

/** Only so that tests can make sampling reproducible. */
export type RandomSource = () => number;

export interface WindowDecoderOptions {
  /** For a decoder whose uncached branch reads them from its past inputs (cross-attention.ts). */
  crossAttention?: CrossAttention | null;
  random?: RandomSource;
}

export class WindowDecoder {
  private readonly layers: number;
  private readonly selfPastNames: string[];
  private readonly crossPastNames: string[];
  private readonly selfPresentNames: string[];
  private readonly firstFetches: string[];
  private readonly cachedFetches: string[];
  private readonly emptyPasts: Record<string, OrtTensor>;
  private readonly crossAttention: CrossAttention | null;
  private readonly random: RandomSource;
  private readonly hasCacheSwitch: boolean;
  private readonly useCache: OrtTensor;
  private readonly noCache: OrtTensor;

  constructor(
    private readonly session: DecoderSession,
    private readonly vocabulary: WhisperVocabulary,
    private readonly tensor: TensorFactory,
    private readonly textOf: (tokens: number[]) => string,
    options: WindowDecoderOptions = {},
  ) {
    this.crossAttention = options.crossAttention ?? null;
    this.random = options.random ?? Math.random;
    this.layers = session.inputNames.filter((n) => /^past_key_values\.\d+\.decoder\.key$/.test(n)).length;
    if (this.layers === 0) throw new AsrError('failed', `the decoder has no past_key_values inputs (${session.inputNames.join(', ')}): a merged decoder is needed`);
    const names = (kind: string, side: string) =>
      Array.from({ length: this.layers }, (_, i) => [`${kind}.${i}.${side}.key`, `${kind}.${i}.${side}.value`]).flat();
    this.selfPastNames = names('past_key_values', 'decoder');
    this.crossPastNames = names('past_key_values', 'encoder');
    this.selfPresentNames = names('present', 'decoder');
    this.firstFetches = ['logits', ...this.selfPresentNames, ...names('present', 'encoder')];
    this.cachedFetches = ['logits', ...this.selfPresentNames];
    this.hasCacheSwitch = session.inputNames.includes('use_cache_branch');
    this.useCache = tensor('bool', Uint8Array.of(1), [1]);
    this.noCache = tensor('bool', Uint8Array.of(0), [1]);
    this.emptyPasts = emptyPasts(session, tensor);
  }

  /**
   * One decoder run. `past` null: the uncached step, which computes the cross-attention keys and
   * values itself unless they are given as `cross`.
   */
  private async step(tokens: readonly number[], encoded: OrtTensor, past: Cache | null, cross: OrtTensor[] | null = null): Promise<StepOutput> {
    const feeds: Record<string, OrtTensor> = {
      input_ids: this.tensor('int64', BigInt64Array.from(tokens, BigInt), [1, tokens.length]),
      encoder_hidden_states: encoded,
    };
    if (this.hasCacheSwitch) feeds.use_cache_branch = past ? this.useCache : this.noCache;
    if (past) {
      // The previous step's outputs go back in as they are: the binding reads their buffers in place.
      this.selfPastNames.forEach((name, i) => (feeds[name] = past.self[i]!));
      this.crossPastNames.forEach((name, i) => (feeds[name] = past.cross[i]!));
    } else {
      Object.assign(feeds, this.emptyPasts);
      if (cross) this.crossPastNames.forEach((name, i) => (feeds[name] = cross[i]!));
    }
    const known = past?.cross ?? cross;
    const out = await this.session.run(feeds, known ? this.cachedFetches : this.firstFetches);
    const logits = out.logits!;
    const self = this.selfPresentNames.map((name) => out[name]!);
    const computed = known ?? this.crossPastNames.map((name) => out[name.replace('past_key_values', 'present')]!);
    return { logits: logits.data as Float32Array, vocab: logits.dims.at(-1)!, cache: { self, cross: computed } };
  }

  private forcedPrompt(language: string | null, task: Task, timestamps: boolean): number[] {
    const v = this.vocabulary;
    const prompt = [v.startOfTranscript];
    if (v.languages.size > 0) {
      if (language !== null) {
        const token = v.languages.get(language);
        if (token === undefined) throw new AsrError('failed', `the model knows no language "${language}"`);
        prompt.push(token);
      }
      const taskToken = v.tasks[task];
      if (taskToken !== undefined) prompt.push(taskToken);
    }
    if (!timestamps) prompt.push(v.noTimestamps);
    return prompt;
  }

  async decodeWindow(encoded: OrtTensor, request: WindowRequest): Promise<WindowDecode> {
    const v = this.vocabulary;
    const previous = request.previousTokens.length > 0 && v.startOfPrevious !== null ? [v.startOfPrevious, ...request.previousTokens] : [];
    const detect = request.language === null && v.languages.size > 0;
    let runs = 0;

    // One uncached step, with the cross-attention keys/values computed apart or computing them; its
    // row at <|startoftranscript|> gives the no-speech probability and, when needed, the language.
    // The rest of the forced prompt follows one token per cached step: the cached branch is only
    // ever given one new token at a time.
    const head = detect ? [...previous, v.startOfTranscript] : [...previous, ...this.forcedPrompt(request.language, request.task, request.timestamps)];
    let out = await this.step(head, encoded, null, this.crossAttention ? await this.crossAttention(encoded) : null);
    runs++;
    const sotRow = out.logits.subarray(previous.length * out.vocab, (previous.length + 1) * out.vocab);
    const noSpeechProb = v.noSpeech === null ? 0 : probabilityOf(sotRow, v.noSpeech);
    const language = detect ? detectLanguage(sotRow, v.languages) : request.language;
    const prompt = this.forcedPrompt(language, request.task, request.timestamps);
    for (const token of prompt.slice(head.length - previous.length)) {
      out = await this.step([token], encoded, out.cache);
      runs++;
    }
    const lastRow = out.logits.length / out.vocab - 1;
    const start: StepOutput = { ...out, logits: out.logits.subarray(lastRow * out.vocab) };

    const rules: StepRules = { timestamps: request.timestamps, minTokens: request.minTokens };
    const attempts: (WindowAttempt & Hypothesis)[] = [];
    for (const temperature of request.temperatures) {
      const decoded =
        temperature === 0 && request.beamSize > 1
          ? await this.beamSearch(start, encoded, rules, request)
          : await this.bestOfSamples(start, encoded, rules, request.maxTokens, temperature, temperature > 0 ? request.bestOf : 1);
      runs += decoded.runs;
      const text = decoded.sampled.filter((t) => t < v.endOfText);
      const attempt = {
        ...decoded,
        temperature,
        compressionRatio: compressionRatio(this.textOf(text)),
        avgLogprob: averageLogprob(decoded.sumLogprob, text.length),
      };
      attempts.push(attempt);
      if (!needsFallback(attempt, noSpeechProb, request.thresholds)) break;
    }
    const last = attempts.at(-1)!;
    const chosen = needsFallback(last, noSpeechProb, request.thresholds) ? bestOfFailed(attempts, request.thresholds) : last;
    const silence = isSilence(noSpeechProb, chosen.avgLogprob, request.thresholds);
    const sampled = silence ? [] : chosen.sampled;
    return {
      tokens: [...prompt, ...sampled],
      textTokens: sampled.filter((t) => t < v.endOfText),
      sampledCount: sampled.length,
      language,
      temperature: chosen.temperature,
      compressionRatio: chosen.compressionRatio,
      avgLogprob: chosen.avgLogprob,
      noSpeechProb,
      fallbacks: attempts.length - 1,
      silence,
      decoderRuns: runs,
    };
  }

  /** Greedy (temperature 0) or sampling: one token per step, the cache fed straight back. */
  private async sample(start: StepOutput, encoded: OrtTensor, rules: StepRules, maxTokens: number, temperature: number): Promise<Hypothesis & { runs: number }> {
    const sampled: number[] = [];
    let sumLogprob = 0;
    let runs = 0;
    // The start row is shared by every temperature's attempt: the rules must not write into it.
    let logits: Float32Array = Float32Array.from(start.logits);
    let cache = start.cache;
    for (;;) {
      applyRules(logits, sampled, this.vocabulary, rules);
      const { token, logprob } = chooseToken(logits, temperature, this.random);
      sumLogprob += logprob;
      sampled.push(token);
      if (token === this.vocabulary.endOfText || sampled.length >= maxTokens) break;
      const out = await this.step([token], encoded, cache);
      runs++;
      logits = out.logits;
      cache = out.cache;
    }
    return { sampled, sumLogprob, runs };
  }

  /** `count` samples at `temperature` from the same start (each feeds its own cache), the best per token kept. */
  private async bestOfSamples(start: StepOutput, encoded: OrtTensor, rules: StepRules, maxTokens: number, temperature: number, count: number): Promise<Hypothesis & { runs: number }> {
    let best: Hypothesis | undefined;
    let runs = 0;
    for (let i = 0; i < count; i++) {
      const sample = await this.sample(start, encoded, rules, maxTokens, temperature);
      runs += sample.runs;
      if (!best || logprobPerToken(sample, this.vocabulary.endOfText) > logprobPerToken(best, this.vocabulary.endOfText)) best = sample;
    }
    return { ...best!, runs };
  }

  /**
   * openai-whisper's beam search: the best `beamSize` continuations of all beams go on, finished ones
   * are collected until beamSize × patience of them, and the winner has the best log-prob per token.
   * Beams run one after another on batch-1 steps: they share the window's cross-attention keys/values
   * (tens of MB) instead of holding one copy per beam.
   */
  private async beamSearch(start: StepOutput, encoded: OrtTensor, rules: StepRules, request: WindowRequest): Promise<Hypothesis & { runs: number }> {
    const eot = this.vocabulary.endOfText;
    const maxFinished = Math.round(request.beamSize * request.patience);
    let beams: (Hypothesis & { logits: Float32Array; cache: Cache })[] = [
      { sampled: [], sumLogprob: 0, logits: Float32Array.from(start.logits), cache: start.cache },
    ];
    const finished: Hypothesis[] = [];
    let runs = 0;
    while (beams.length > 0) {
      const candidates: { parent: number; token: number; sumLogprob: number }[] = [];
      beams.forEach((beam, parent) => {
        applyRules(beam.logits, beam.sampled, this.vocabulary, rules);
        for (const { token, logprob } of topLogprobs(beam.logits, request.beamSize + 1)) {
          candidates.push({ parent, token, sumLogprob: beam.sumLogprob + logprob });
        }
      });
      candidates.sort((a, b) => b.sumLogprob - a.sumLogprob);
      const kept: typeof candidates = [];
      for (const candidate of candidates) {
        const sampled = [...beams[candidate.parent]!.sampled, candidate.token];
        if (candidate.token === eot) {
          if (finished.length < maxFinished) finished.push({ sampled, sumLogprob: candidate.sumLogprob });
        } else {
          kept.push(candidate);
          if (kept.length === request.beamSize) break;
        }
      }
      const length = beams[0]!.sampled.length + 1;
      if (finished.length >= maxFinished || length >= request.maxTokens) {
        for (const c of kept) {
          if (finished.length >= request.beamSize) break;
          finished.push({ sampled: [...beams[c.parent]!.sampled, c.token], sumLogprob: c.sumLogprob });
        }
        break;
      }
      const next: typeof beams = [];
      for (const c of kept) {
        const parent = beams[c.parent]!;
        const out = await this.step([c.token], encoded, parent.cache);
        runs++;
        next.push({ sampled: [...parent.sampled, c.token], sumLogprob: c.sumLogprob, logits: out.logits, cache: out.cache });
      }
      beams = next;
    }
    const best = finished.reduce((a, b) => (logprobPerToken(b, eot) > logprobPerToken(a, eot) ? b : a));
    return { ...best, runs };
  }
}
