// Pure: spelled-out English numbers to digits, after openai-whisper's EnglishNumberNormalizer, so
// that "twenty five percent" in a transcript and "25%" in a reference count as the same words.
// Covered: cardinals with "and" and multipliers ("one hundred and five thousand"), years said in
// pairs ("nineteen ninety nine"), ordinals ("twenty first" → 21st), decimals ("three point one
// four"), signs ("minus five"), digits with a multiplier ("5 million"), "percent" and currency words
// after a number (dollars, cents, pounds, euros). Not covered: "double"/"triple", "oh" as zero.
// It runs on lower-case words with punctuation already removed.

const ONES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen'];
const ONES_ORDINAL = ['zeroth', 'first', 'second', 'third', 'fourth', 'fifth', 'sixth', 'seventh', 'eighth', 'ninth', 'tenth', 'eleventh', 'twelfth', 'thirteenth', 'fourteenth', 'fifteenth', 'sixteenth', 'seventeenth', 'eighteenth', 'nineteenth'];
const TENS = ['twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];
const TENS_ORDINAL = ['twentieth', 'thirtieth', 'fortieth', 'fiftieth', 'sixtieth', 'seventieth', 'eightieth', 'ninetieth'];
const MULTIPLIERS: Record<string, bigint> = { hundred: 100n, thousand: 1_000n, million: 1_000_000n, billion: 1_000_000_000n, trillion: 1_000_000_000_000n };
const CURRENCIES: Record<string, string> = { dollar: '$', dollars: '$', cent: '¢', cents: '¢', pound: '£', pounds: '£', euro: '€', euros: '€' };
const ORDINAL_SUFFIXES: Record<string, string> = { '1': 'st', '2': 'nd', '3': 'rd' };
const SIGNS: Record<string, string> = { minus: '-', negative: '-', plus: '+', positive: '+' };

interface NumberWord {
  kind: 'one' | 'ten' | 'multiplier';
  value: bigint;
  ordinal: boolean;
}

function numberWord(word: string): NumberWord | undefined {
  let at = ONES.indexOf(word);
  if (at >= 0) return { kind: 'one', value: BigInt(at), ordinal: false };
  at = ONES_ORDINAL.indexOf(word);
  if (at >= 0) return { kind: 'one', value: BigInt(at), ordinal: true };
  at = TENS.indexOf(word);
  if (at >= 0) return { kind: 'ten', value: BigInt((at + 2) * 10), ordinal: false };
  at = TENS_ORDINAL.indexOf(word);
  if (at >= 0) return { kind: 'ten', value: BigInt((at + 2) * 10), ordinal: true };
  const multiplier = MULTIPLIERS[word] ?? MULTIPLIERS[word.replace(/th$/, '')];
  if (multiplier !== undefined) return { kind: 'multiplier', value: multiplier, ordinal: word.endsWith('th') };
  return undefined;
}

function ordinalSuffix(value: bigint): string {
  const lastTwo = value % 100n;
  if (lastTwo >= 11n && lastTwo <= 13n) return 'th';
  return ORDINAL_SUFFIXES[String(value % 10n)] ?? 'th';
}

/**
 * Reads one number from `words[start]`: its value and how many words it took. Stops before a word
 * that cannot continue it, so "one two" is two numbers and "nineteen ninety" one year.
 */
function readNumber(words: readonly string[], start: number): { value: bigint; used: number; ordinal: boolean } | undefined {
  let total = 0n;
  let group = 0n;
  /** What the group ends with, which decides what may follow. */
  let last: 'none' | 'one' | 'teen' | 'ten' | 'hundred' | 'multiplier' = 'none';
  let used = 0;
  let ordinal = false;
  for (let i = start; i < words.length && !ordinal; i++) {
    const word = words[i]!;
    if (word === 'and' && (last === 'hundred' || last === 'multiplier') && numberWord(words[i + 1] ?? '')?.kind !== 'multiplier' && numberWord(words[i + 1] ?? '')) {
      used++;
      continue;
    }
    const parsed = numberWord(word);
    if (!parsed) break;
    if (parsed.kind === 'multiplier') {
      if (last === 'none') break;
      if (parsed.value === 100n) {
        if (last === 'hundred' || last === 'multiplier' || group >= 100n) break;
        group *= 100n;
        last = 'hundred';
      } else {
        if (last === 'multiplier') break;
        total += group * parsed.value;
        group = 0n;
        last = 'multiplier';
      }
    } else if (parsed.kind === 'ten') {
      if (last === 'none' || last === 'hundred' || last === 'multiplier') group += parsed.value;
      // "nineteen ninety": a year said in pairs.
      else if ((last === 'teen' || last === 'ten') && total === 0n && group >= 10n && group < 100n) group = group * 100n + parsed.value;
      else break;
      last = 'ten';
    } else {
      if (last === 'none' || last === 'hundred' || last === 'multiplier') group += parsed.value;
      else if (last === 'ten' && group % 10n === 0n && parsed.value > 0n && parsed.value < 10n) group += parsed.value;
      // "nineteen oh five" is not covered; "twenty twelve": a year.
      else if ((last === 'teen' || last === 'ten') && total === 0n && group >= 10n && group < 100n && parsed.value >= 10n) group = group * 100n + parsed.value;
      else break;
      last = parsed.value >= 10n ? 'teen' : 'one';
    }
    used = i - start + 1;
    ordinal = parsed.ordinal;
  }
  if (used === 0) return undefined;
  // A trailing "and" is not part of the number.
  while (words[start + used - 1] === 'and') used--;
  return { value: total + group, used, ordinal };
}

/** Spelled-out numbers in `words` become digits (see the file's comment for what is covered). */
export function normalizeNumbers(words: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < words.length; ) {
    const sign = SIGNS[words[i]!];
    const at = sign ? i + 1 : i;
    let number: string | undefined;
    let used = 0;
    const digits = /^\d+(\.\d+)?$/.test(words[at] ?? '') ? words[at]! : undefined;
    if (digits) {
      // "5 million" → 5000000; a decimal keeps its own digits.
      const multiplier = MULTIPLIERS[words[at + 1] ?? ''];
      number = multiplier && !digits.includes('.') ? String(BigInt(digits) * multiplier) : digits;
      used = multiplier && !digits.includes('.') ? 2 : 1;
    } else {
      const read = readNumber(words, at);
      if (read) {
        number = String(read.value) + (read.ordinal ? ordinalSuffix(read.value) : '');
        used = read.used;
        // "three point one four": the digits after the point, one word each.
        if (!read.ordinal && words[at + used] === 'point') {
          const decimals: string[] = [];
          for (let j = at + used + 1; j < words.length && ONES.indexOf(words[j]!) >= 0 && ONES.indexOf(words[j]!) < 10; j++) decimals.push(String(ONES.indexOf(words[j]!)));
          if (decimals.length > 0) {
            number += `.${decimals.join('')}`;
            used += 1 + decimals.length;
          }
        }
      }
    }
    if (number === undefined) {
      out.push(words[i]!);
      i++;
      continue;
    }
    let after = at + used;
    const unit = words[after];
    if (unit === 'percent') {
      number += '%';
      after++;
    } else if (unit && CURRENCIES[unit] && !/(st|nd|rd|th)$/.test(number)) {
      number = CURRENCIES[unit] + number;
      after++;
    }
    out.push((sign ?? '') + number);
    i = after;
  }
  return out;
}
