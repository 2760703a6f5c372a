// Pure: word and character error rates, summed over a corpus as ASR evaluations report them
// (total edits over total reference length, not a mean of per-file rates).

/** Levenshtein distance: the fewest substitutions, deletions and insertions turning `reference` into `hypothesis`. */
export function editDistance<T>(reference: readonly T[], hypothesis: readonly T[]): number {
  let previous = Array.from({ length: hypothesis.length + 1 }, (_, j) => j);
  for (let i = 1; i <= reference.length; i++) {
    const current = [i];
    for (let j = 1; j <= hypothesis.length; j++) {
      const substitution = previous[j - 1]! + (reference[i - 1] === hypothesis[j - 1] ? 0 : 1);
      current.push(Math.min(substitution, previous[j]! + 1, current[j - 1]! + 1));
    }
    previous = current;
  }
  return previous[hypothesis.length]!;
}

export interface ErrorCount {
  edits: number;
  /** Words (or characters) in the reference. */
  length: number;
}

/** Both texts already normalised: words split on spaces; characters of the words joined by single spaces. */
export function countErrors(reference: string, hypothesis: string): { words: ErrorCount; characters: ErrorCount } {
  const referenceWords = reference.split(' ').filter(Boolean);
  const hypothesisWords = hypothesis.split(' ').filter(Boolean);
  const referenceChars = [...referenceWords.join(' ')];
  return {
    words: { edits: editDistance(referenceWords, hypothesisWords), length: referenceWords.length },
    characters: { edits: editDistance(referenceChars, [...hypothesisWords.join(' ')]), length: referenceChars.length },
  };
}

/** Σ edits / Σ reference length; 0 for an empty corpus. */
export function errorRate(counts: readonly ErrorCount[]): number {
  const length = counts.reduce((sum, c) => sum + c.length, 0);
  const edits = counts.reduce((sum, c) => sum + c.edits, 0);
  return length === 0 ? 0 : edits / length;
}
