// Pure: cut the loops Whisper falls into ("thank you thank you thank you ...").

/** A phrase repeated this many times in a row is a loop, not speech. */
const MIN_LOOP_REPEATS = 4;
const MAX_PHRASE_WORDS = 12;
/** For scripts without spaces, the same idea on characters. */
const CHARACTER_LOOP = /(.{1,24}?)\1{7,}/gsu;

const normalise = (word: string) => word.toLowerCase().replace(/[\p{P}\p{S}]+/gu, '');

function phrasesEqual(words: string[], a: number, b: number, length: number): boolean {
  for (let k = 0; k < length; k++) if (normalise(words[a + k]!) !== normalise(words[b + k]!)) return false;
  return true;
}

/** Replaces every run of ≥4 consecutive repeats of a 1–12-word phrase with one occurrence. */
export function cutRepetitionLoops(text: string): { text: string; cut: boolean } {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const kept: string[] = [];
  let cut = false;
  let i = 0;
  while (i < words.length) {
    let skipped = false;
    for (let length = 1; length <= MAX_PHRASE_WORDS && i + length * MIN_LOOP_REPEATS <= words.length; length++) {
      let repeats = 1;
      while (i + (repeats + 1) * length <= words.length && phrasesEqual(words, i, i + repeats * length, length)) repeats++;
      if (repeats >= MIN_LOOP_REPEATS) {
        kept.push(...words.slice(i, i + length));
        i += repeats * length;
        cut = skipped = true;
        break;
      }
    }
    if (!skipped) kept.push(words[i++]!);
  }
  let joined = kept.join(' ');
  const collapsed = joined.replace(CHARACTER_LOOP, '$1');
  if (collapsed !== joined) {
    cut = true;
    joined = collapsed;
  }
  return { text: joined, cut };
}
