// Pure: cut the loops Whisper falls into ("thank you thank you thank you ..."), in every form of
// the answer: the plain text and the timed segments that /timestamps and .srt files are made of.
import type { Segment } from './protocol.js';

/** A phrase repeated this many times in a row is a loop, not speech. */
const MIN_LOOP_REPEATS = 4;
const MAX_PHRASE_UNITS = 12;
/** For scripts without spaces, the same idea on characters. */
const CHARACTER_LOOP = /(.{1,24}?)\1{7,}/gsu;

const normalise = (text: string) => text.toLowerCase().replace(/[\p{P}\p{S}]+/gu, '').replace(/\s+/g, ' ').trim();

/** Replaces every run of ≥4 consecutive repeats of a phrase of 1–12 units with its first occurrence. */
function cutRuns<T>(units: T[], keyOf: (unit: T) => string): { kept: T[]; cut: boolean } {
  const keys = units.map(keyOf);
  const same = (a: number, b: number, length: number) => {
    for (let k = 0; k < length; k++) if (keys[a + k] !== keys[b + k]) return false;
    return true;
  };
  const kept: T[] = [];
  let cut = false;
  let i = 0;
  while (i < units.length) {
    let skipped = false;
    for (let length = 1; length <= MAX_PHRASE_UNITS && i + length * MIN_LOOP_REPEATS <= units.length; length++) {
      let repeats = 1;
      while (i + (repeats + 1) * length <= units.length && same(i, i + repeats * length, length)) repeats++;
      if (repeats >= MIN_LOOP_REPEATS) {
        kept.push(...units.slice(i, i + length));
        i += repeats * length;
        cut = skipped = true;
        break;
      }
    }
    if (!skipped) kept.push(units[i++]!);
  }
  return { kept, cut };
}

/** Cuts loops of words (and, for scripts without spaces, of characters) out of a text. */
export function cutRepetitionLoops(text: string): { text: string; cut: boolean } {
  const words = cutRuns(text.trim().split(/\s+/).filter(Boolean), normalise);
  const joined = words.kept.join(' ');
  const collapsed = joined.replace(CHARACTER_LOOP, '$1');
  return { text: collapsed, cut: words.cut || collapsed !== joined };
}

export interface CleanTranscript {
  text: string;
  segments: Segment[];
  /** A loop was cut from the text or the segments. */
  cut: boolean;
}

/**
 * The same cut for the text and for the segments: loops inside a segment, then runs of segments
 * that repeat each other (Whisper's loops often come one sentence per segment).
 */
export function cleanTranscript(text: string, segments: Segment[]): CleanTranscript {
  const cleanedText = cutRepetitionLoops(text);
  let cut = cleanedText.cut;
  const inside = segments
    .map((segment) => {
      const cleaned = cutRepetitionLoops(segment.text);
      cut ||= cleaned.cut;
      return { ...segment, text: cleaned.text };
    })
    .filter((segment) => segment.text.length > 0);
  const across = cutRuns(inside, (segment) => normalise(segment.text));
  return { text: cleanedText.text, segments: across.kept, cut: cut || across.cut };
}
