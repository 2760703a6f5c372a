// Whisper's token ids back to text: the decoding half of its byte-level BPE tokenizer, read from the
// model's tokenizer.json and tokenizer_config.json. It replaces transformers.js's tokenizer in the
// ASR worker, which held ~22 MB of heap per worker (the 50 000 BPE merges and their ranks, maps
// both ways, a trie of added tokens) for the one thing decoding needs: an id → string table.
// There is deliberately no encode: nothing in the worker turns text into tokens, and without one
// nothing can get a silently wrong encoding from a table that lacks the merges.
//
// The text is what transformers.js's WhisperTokenizer.decode gives (test/token-text.test.ts checks
// it against it): ids become their vocabulary strings (an unknown id the unknown token's), special
// tokens are dropped when asked, runs of ordinary tokens are mapped back through GPT-2's byte↔char
// table and decoded as UTF-8 (invalid bytes as U+FFFD), added tokens are kept verbatim, and the
// tokenizer's clean-up of spaces before punctuation is applied when its config asks for it.

import { readFile } from 'node:fs/promises';
import path from 'node:path';

interface TokenizerJson {
  model?: { vocab?: Record<string, number>; unk_token?: string | null };
  added_tokens?: { id: number; content: string; special: boolean }[];
}

interface TokenizerConfigJson {
  clean_up_tokenization_spaces?: boolean;
  additional_special_tokens?: (string | { content: string })[];
}

/** GPT-2's byte-level table reversed: the char each byte was written as → the byte. */
function charToByte(): Map<number, number> {
  const printable = (from: string, to: string) => Array.from({ length: to.charCodeAt(0) - from.charCodeAt(0) + 1 }, (_, i) => from.charCodeAt(0) + i);
  const kept = new Set([...printable('!', '~'), ...printable('¡', '¬'), ...printable('®', 'ÿ')]);
  const table = new Map<number, number>();
  let shifted = 0;
  for (let byte = 0; byte < 256; byte++) table.set(kept.has(byte) ? byte : 256 + shifted++, byte);
  return table;
}

const CHAR_TO_BYTE = charToByte();

function cleanUpSpaces(text: string): string {
  return text
    .replace(/ \./g, '.')
    .replace(/ \?/g, '?')
    .replace(/ !/g, '!')
    .replace(/ ,/g, ',')
    .replace(/ ' /g, "'")
    .replace(/ n't/g, "n't")
    .replace(/ 'm/g, "'m")
    .replace(/ 's/g, "'s")
    .replace(/ 've/g, "'ve")
    .replace(/ 're/g, "'re");
}

const ORDINARY = 0;
const ADDED = 1;
const SPECIAL = 2;

export class TokenText {
  private readonly utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  private constructor(
    /** Each id's string: the vocabulary's, or an added token's content. */
    private readonly strings: readonly (string | undefined)[],
    /** ORDINARY, ADDED or SPECIAL (an added token that `skipSpecial` drops), per id. */
    private readonly kinds: Uint8Array,
    private readonly addedIds: ReadonlyMap<string, number>,
    private readonly unknown: string | null,
    private readonly cleanUp: boolean,
  ) {}

  /** From a model folder as the hub has it. */
  static async load(modelFolder: string): Promise<TokenText> {
    const read = (file: string) => readFile(path.join(modelFolder, file), 'utf8');
    const [tokenizer, config] = await Promise.all([read('tokenizer.json'), read('tokenizer_config.json')]);
    return TokenText.fromFiles(tokenizer, config);
  }

  /** From the texts of tokenizer.json and tokenizer_config.json; throws when they hold no vocabulary. */
  static fromFiles(tokenizerJson: string, tokenizerConfigJson: string): TokenText {
    const tokenizer = JSON.parse(tokenizerJson) as TokenizerJson;
    const config = JSON.parse(tokenizerConfigJson) as TokenizerConfigJson;
    const vocab = tokenizer.model?.vocab;
    if (!vocab || typeof vocab !== 'object') throw new Error('tokenizer.json has no model.vocab');
    const strings: (string | undefined)[] = [];
    for (const [token, id] of Object.entries(vocab)) strings[id] = token;
    const addedIds = new Map<string, number>();
    const special = new Set((config.additional_special_tokens ?? []).map((t) => (typeof t === 'string' ? t : t.content)));
    for (const token of tokenizer.added_tokens ?? []) {
      strings[token.id] = token.content;
      addedIds.set(token.content, token.id);
      if (token.special) special.add(token.content);
    }
    // As in transformers.js, what kind a token is goes by its string, not its id.
    const kinds = new Uint8Array(strings.length);
    strings.forEach((s, id) => {
      if (s !== undefined) kinds[id] = special.has(s) ? SPECIAL : addedIds.has(s) ? ADDED : ORDINARY;
    });
    const unknown = tokenizer.model?.unk_token ?? null;
    return new TokenText(Array.from(strings), kinds, addedIds, unknown, config.clean_up_tokenization_spaces ?? true);
  }

  /** The id of an added token (`<|startofprev|>`, `<|en|>`, …), or null when the model has none. */
  addedTokenId(content: string): number | null {
    return this.addedIds.get(content) ?? null;
  }

  /** Whether the token is special (`<|endoftext|>`, `<|en|>`, …): what `skipSpecial` drops. */
  isSpecial(id: number): boolean {
    return this.kinds[id] === SPECIAL;
  }

  /** The token's own string, `<|en|>` for a language token; the unknown token's for an unknown id. */
  tokenString(id: number): string | null {
    return this.strings[id] ?? this.unknown;
  }

  decode(ids: readonly number[], options: { skipSpecial: boolean }): string {
    let text = '';
    let ordinary: number[] = [];
    const flush = () => {
      if (ordinary.length === 0) return;
      text += this.utf8.decode(Uint8Array.from(ordinary));
      ordinary = [];
    };
    for (const id of ids) {
      const own = this.strings[id];
      const string = own ?? this.unknown;
      if (string === null) continue;
      const kind = own !== undefined ? this.kinds[id]! : this.kindOf(string);
      if (kind === SPECIAL && options.skipSpecial) continue;
      if (kind !== ORDINARY) {
        flush();
        text += string;
        continue;
      }
      // A char outside the byte table becomes 0, as in transformers.js.
      for (let i = 0; i < string.length; i++) ordinary.push(CHAR_TO_BYTE.get(string.charCodeAt(i)) ?? 0);
    }
    flush();
    return this.cleanUp ? cleanUpSpaces(text) : text;
  }

  private kindOf(string: string): number {
    const id = this.addedIds.get(string);
    return id === undefined ? ORDINARY : this.kinds[id]!;
  }
}
