// Pure: split a transcript into Telegram messages (4096 characters at most) on sentence boundaries.

export const TELEGRAM_MESSAGE_LIMIT = 4096;

/** Where a cut reads best, best first: after a sentence, after a clause, between words. */
const BOUNDARIES = [/[.!?…。！？]["»”')\]]*\s+/g, /[,;:]\s+/g, /\s+/g];

function cutPoint(text: string, limit: number): number {
  const window = text.slice(0, limit + 1);
  for (const boundary of BOUNDARIES) {
    let best = -1;
    for (const match of window.matchAll(boundary)) {
      const end = match.index + match[0].length;
      // A cut in the first third would leave a tiny message; look for a coarser boundary instead.
      if (end <= limit && end > limit / 3) best = end;
    }
    if (best > 0) return best;
  }
  return limit;
}

export function splitMessage(text: string, limit = TELEGRAM_MESSAGE_LIMIT): string[] {
  const parts: string[] = [];
  let rest = text.trim();
  while (rest.length > limit) {
    const at = cutPoint(rest, limit);
    parts.push(rest.slice(0, at).trimEnd());
    rest = rest.slice(at).trimStart();
  }
  if (rest) parts.push(rest);
  return parts;
}
