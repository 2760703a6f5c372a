// Pure: Whisper's English text normaliser (openai-whisper's EnglishTextNormalizer), so that word error
// rates compare words, not spelling, casing, punctuation or how numbers are written. British
// spellings map to American ones through the `normalizer.json` the models ship; spelled-out numbers
// become digits (number-normalizer.ts).
import { normalizeNumbers } from './number-normalizer.js';

const FILLERS = /\b(hmm|mm|mhm|mmm|uh|um)\b/g;

/** Contractions, titles and perfect tenses, in openai's order (the specific ones before the general). */
const REPLACERS: [RegExp, string][] = [
  [/\bwon't\b/g, 'will not'],
  [/\bcan't\b/g, 'can not'],
  [/\blet's\b/g, 'let us'],
  [/\bain't\b/g, 'aint'],
  [/\by'all\b/g, 'you all'],
  [/\bwanna\b/g, 'want to'],
  [/\bgotta\b/g, 'got to'],
  [/\bgonna\b/g, 'going to'],
  [/\bi'ma\b/g, 'i am going to'],
  [/\bimma\b/g, 'i am going to'],
  [/\bwoulda\b/g, 'would have'],
  [/\bcoulda\b/g, 'could have'],
  [/\bshoulda\b/g, 'should have'],
  [/\bma'am\b/g, 'madam'],
  [/\bmr\b/g, 'mister '],
  [/\bmrs\b/g, 'missus '],
  [/\bst\b/g, 'saint '],
  [/\bdr\b/g, 'doctor '],
  [/\bprof\b/g, 'professor '],
  [/\bcapt\b/g, 'captain '],
  [/\bgov\b/g, 'governor '],
  [/\bald\b/g, 'alderman '],
  [/\bgen\b/g, 'general '],
  [/\bsen\b/g, 'senator '],
  [/\brep\b/g, 'representative '],
  [/\bpres\b/g, 'president '],
  [/\brev\b/g, 'reverend '],
  [/\bhon\b/g, 'honorable '],
  [/\basst\b/g, 'assistant '],
  [/\bassoc\b/g, 'associate '],
  [/\blt\b/g, 'lieutenant '],
  [/\bcol\b/g, 'colonel '],
  [/\bjr\b/g, 'junior '],
  [/\bsr\b/g, 'senior '],
  [/\besq\b/g, 'esquire '],
  [/'d been\b/g, ' had been'],
  [/'s been\b/g, ' has been'],
  [/'d gone\b/g, ' had gone'],
  [/'s gone\b/g, ' has gone'],
  [/'d done\b/g, ' had done'],
  [/'s got\b/g, ' has got'],
  [/n't\b/g, ' not'],
  [/'re\b/g, ' are'],
  [/'s\b/g, ' is'],
  [/'d\b/g, ' would'],
  [/'ll\b/g, ' will'],
  [/'t\b/g, ' not'],
  [/'ve\b/g, ' have'],
  [/'m\b/g, ' am'],
];

/** openai's remove_symbols_and_diacritics: marks go, symbols and punctuation become spaces. */
function removeSymbolsAndDiacritics(text: string, keep: string): string {
  let out = '';
  for (const char of text.normalize('NFKD')) {
    if (keep.includes(char)) out += char;
    else if (/\p{Mn}/u.test(char)) continue;
    else if (/[\p{M}\p{S}\p{P}]/u.test(char)) out += ' ';
    else out += char;
  }
  return out;
}

export class EnglishTextNormalizer {
  /** @param spelling British → American spellings (the model's normalizer.json). */
  constructor(private readonly spelling: Readonly<Record<string, string>>) {}

  normalize(text: string): string {
    let s = text.toLowerCase();
    s = s.replace(/[<[][^>\]]*[>\]]/g, ''); // [inaudible], <noise>
    s = s.replace(/\(([^)]+?)\)/g, ''); // (laughs)
    s = s.replace(FILLERS, '');
    s = s.replace(/\s+'/g, "'");
    for (const [pattern, replacement] of REPLACERS) s = s.replace(pattern, replacement);
    s = s.replace(/(\d),(\d)/g, '$1$2'); // 1,000 → 1000
    s = s.replace(/\.([^0-9]|$)/g, ' $1'); // full stops, not decimal points
    s = removeSymbolsAndDiacritics(s, '.%$¢€£');
    s = normalizeNumbers(s.split(/\s+/).filter(Boolean)).join(' ');
    s = s.replace(/[.$¢€£]([^0-9])/g, ' $1');
    s = s.replace(/([^0-9])%/g, '$1 ');
    return s
      .split(/\s+/)
      .filter(Boolean)
      .map((word) => this.spelling[word] ?? word)
      .join(' ');
  }
}
