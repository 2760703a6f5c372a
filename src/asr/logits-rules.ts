// Pure: Whisper's rules on one step's logits, applied in place on the typed array onnxruntime returns,
// and the choice of the next token. openai-whisper's decoding.py is the reference for every rule.

/** Token ids of a Whisper vocabulary that the rules need; read from the model's own config files. */
export interface WhisperVocabulary {
  endOfText: number;
  startOfTranscript: number;
  /** <|startofprev|>: opens the previous window's text when decoding is conditioned on it. */
  startOfPrevious: number | null;
  noTimestamps: number;
  /** <|0.00|>; every later id is a timestamp, 0.02 s apart. */
  timestampBegin: number;
  /** <|nospeech|> (<|nocaptions|> in the hub's tokenizers): its probability after <|startoftranscript|>. */
  noSpeech: number | null;
  languages: ReadonlyMap<string, number>;
  tasks: Readonly<Record<'transcribe' | 'translate', number | undefined>>;
  /** The generation config's suppress_tokens: never sampled. */
  suppress: readonly number[];
  /** The generation config's begin_suppress_tokens: never the first sampled token (blank, end-of-text). */
  beginSuppress: readonly number[];
  /** The first timestamp may be at most this many steps of 0.02 s (openai: 1 s). */
  maxInitialTimestampIndex: number | null;
}

export interface StepRules {
  timestamps: boolean;
  /** End-of-text is suppressed until this many tokens were sampled (benchmarks' fixed budgets). */
  minTokens: number;
}

/**
 * Applies Whisper's rules to `logits` (one row, the vocabulary) in place, given the tokens sampled so
 * far in this window (not the forced prompt). Suppressed entries become -Infinity.
 */
export function applyRules(logits: Float32Array, sampled: readonly number[], vocabulary: WhisperVocabulary, rules: StepRules): void {
  for (const token of vocabulary.suppress) logits[token] = -Infinity;
  // Control tokens (languages, tasks, <|notimestamps|>, ...) are never text; openai suppresses the
  // ones a model actually emits, this suppresses all of them.
  logits.fill(-Infinity, vocabulary.endOfText + 1, vocabulary.timestampBegin);
  if (sampled.length === 0) for (const token of vocabulary.beginSuppress) logits[token] = -Infinity;
  if (sampled.length < rules.minTokens) logits[vocabulary.endOfText] = -Infinity;
  if (rules.timestamps) applyTimestampRules(logits, sampled, vocabulary);
  else logits.fill(-Infinity, vocabulary.timestampBegin);
}

function applyTimestampRules(logits: Float32Array, sampled: readonly number[], vocabulary: WhisperVocabulary): void {
  const begin = vocabulary.timestampBegin;
  const n = sampled.length;
  const lastWasTimestamp = n >= 1 && sampled[n - 1]! >= begin;
  const penultimateWasTimestamp = n < 2 || sampled[n - 2]! >= begin;
  // Timestamps come in pairs (start, end), except right before end-of-text.
  if (lastWasTimestamp) {
    if (penultimateWasTimestamp) logits.fill(-Infinity, begin);
    else logits.fill(-Infinity, 0, vocabulary.endOfText);
  }
  // Timestamps never go back; a closing one may repeat the last, an opening one must move on.
  let lastTimestamp = -1;
  for (let i = n - 1; i >= 0; i--) {
    if (sampled[i]! >= begin) {
      lastTimestamp = sampled[i]!;
      break;
    }
  }
  if (lastTimestamp >= 0) {
    const floor = lastWasTimestamp && !penultimateWasTimestamp ? lastTimestamp : lastTimestamp + 1;
    logits.fill(-Infinity, begin, floor);
  }
  if (n === 0) {
    // A window starts with a timestamp, and not later than max_initial_timestamp.
    logits.fill(-Infinity, 0, begin);
    if (vocabulary.maxInitialTimestampIndex !== null) logits.fill(-Infinity, begin + vocabulary.maxInitialTimestampIndex + 1);
  }
  // When the timestamps together are likelier than any single text token, it is time for one.
  const timestampMass = logSumExp(logits, begin, logits.length);
  let bestText = -Infinity;
  for (let i = 0; i < begin; i++) if (logits[i]! > bestText) bestText = logits[i]!;
  if (timestampMass > bestText) logits.fill(-Infinity, 0, begin);
}

/**
 * Terms more than this far below the maximum are left out of a log-sum-exp: even all 51 865 of them
 * together move the result by less than 1e-8.
 */
const NEGLIGIBLE = -40;
const LOG2E = Math.LOG2E;
/** 2^-k for k = 0..58 (the exponents NEGLIGIBLE·log2(e) can reach). */
const POWERS_OF_HALF = Float64Array.from({ length: 60 }, (_, k) => 2 ** -k);

/**
 * exp(t) for NEGLIGIBLE <= t <= 0, to ~2e-7 relative: 2^(t·log2 e) split into an integer power from a
 * table and a degree-5 least-squares polynomial on [0, 1). Math.exp over a whole vocabulary was most of a step's
 * JavaScript time (~1 ms of ~10 at base size).
 */
function expNonPositive(t: number): number {
  const y = t * LOG2E;
  const whole = Math.floor(y);
  const f = y - whole;
  const p = 1 + f * (0.693152752 + f * (0.2401531209 + f * (0.05582842235 + f * (0.008988636282 + f * 0.001876789324))));
  return p * POWERS_OF_HALF[-whole]!;
}

function maxOf(logits: Float32Array, from: number, to: number): number {
  let max = -Infinity;
  for (let i = from; i < to; i++) if (logits[i]! > max) max = logits[i]!;
  return max;
}

/** log Σ exp(logits[from..to)); -Infinity when every entry is. */
export function logSumExp(logits: Float32Array, from = 0, to = logits.length, max = maxOf(logits, from, to)): number {
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let i = from; i < to; i++) {
    const t = logits[i]! - max;
    if (t > NEGLIGIBLE) sum += expNonPositive(t);
  }
  return max + Math.log(sum);
}

export function argmax(logits: Float32Array): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i]! > bestValue) {
      bestValue = logits[i]!;
      best = i;
    }
  }
  return best;
}

export interface Choice {
  token: number;
  /** log-softmax of the (rule-filtered) logits at the chosen token, as openai sums them. */
  logprob: number;
}

/** Greedy at temperature 0; otherwise a sample from softmax(logits / temperature). */
export function chooseToken(logits: Float32Array, temperature: number, random: () => number): Choice {
  if (temperature === 0) {
    const token = argmax(logits);
    return { token, logprob: logits[token]! - logSumExp(logits, 0, logits.length, logits[token]!) };
  }
  const normaliser = logSumExp(logits);
  const max = maxOf(logits, 0, logits.length);
  let total = 0;
  for (let i = 0; i < logits.length; i++) total += Math.exp((logits[i]! - max) / temperature);
  let target = random() * total;
  let token = -1;
  for (let i = 0; i < logits.length; i++) {
    const weight = Math.exp((logits[i]! - max) / temperature);
    if (weight === 0) continue;
    token = i;
    target -= weight;
    if (target <= 0) break;
  }
  return { token, logprob: logits[token]! - normaliser };
}

/** The `count` best entries, best first, as log-softmax values (beam search's candidates). */
export function topLogprobs(logits: Float32Array, count: number): Choice[] {
  const normaliser = logSumExp(logits);
  const best: Choice[] = [];
  for (let i = 0; i < logits.length; i++) {
    const value = logits[i]!;
    if (value === -Infinity) continue;
    if (best.length === count && value <= best[count - 1]!.logprob) continue;
    let at = best.length;
    while (at > 0 && best[at - 1]!.logprob < value) at--;
    best.splice(at, 0, { token: i, logprob: value });
    if (best.length > count) best.pop();
  }
  return best.map((c) => ({ token: c.token, logprob: c.logprob - normaliser }));
}

/** The language Whisper detects: argmax over the language tokens of the step after <|startoftranscript|>. */
export function detectLanguage(logits: Float32Array, languages: ReadonlyMap<string, number>): string | null {
  let best: string | null = null;
  let bestValue = -Infinity;
  for (const [code, token] of languages) {
    if (logits[token]! > bestValue) {
      bestValue = logits[token]!;
      best = code;
    }
  }
  return best;
}

/** softmax(logits)[token] over the whole vocabulary, unfiltered, as openai computes no_speech_prob. */
export function probabilityOf(logits: Float32Array, token: number): number {
  return Math.exp(logits[token]! - logSumExp(logits));
}
