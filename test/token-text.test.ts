// The worker's decode-only token text against transformers.js's WhisperTokenizer, which it replaces
// (the hub's real tokenizer files, multilingual and English-only): the same text for every id
// sequence, the same merged transcript and segments for overlapping windows with and without
// timestamps, and the same special and added tokens.
import path from 'node:path';
import { AutoTokenizer, env } from '@huggingface/transformers';
import { beforeAll, describe, expect, it } from 'vitest';
import { whisperMetaRoot } from '../bench/synth/model-folder.js';
import type { WhisperVocabulary } from '../src/asr/logits-rules.js';
import { TokenText } from '../src/asr/token-text.js';
import { mergeWindows, stitchOverlaps, type WindowTokens } from '../src/asr/window-merge.js';
import { seeded } from './support/seeded.js';

interface Oracle {
  decode(ids: number[], options: { skip_special_tokens: boolean }): string;
  convert_tokens_to_ids(token: string): number | null;
  all_special_ids: number[];
  _decode_asr(
    sequences: { tokens: bigint[]; stride: number[] }[],
    options: { time_precision: number; return_timestamps: boolean; force_full_sequences: boolean },
  ): [string, { chunks?: { timestamp: [number | null, number | null]; text: string }[] }];
  encode(text: string, options: { add_special_tokens: boolean }): number[];
}

const MODELS = ['whisper-base', 'whisper-tiny.en'] as const;
const loaded = new Map<string, { ours: TokenText; oracle: Oracle; vocabulary: WhisperVocabulary }>();

beforeAll(async () => {
  env.localModelPath = whisperMetaRoot();
  env.allowRemoteModels = false;
  for (const model of MODELS) {
    const ours = await TokenText.load(path.join(whisperMetaRoot(), model));
    const oracle = (await AutoTokenizer.from_pretrained(model)) as unknown as Oracle;
    const id = (token: string) => oracle.convert_tokens_to_ids(token) as number;
    const noTimestamps = id('<|notimestamps|>');
    const languages = new Map<string, number>();
    if (model === 'whisper-base') for (const code of ['en', 'de', 'fr', 'ru', 'ja']) languages.set(code, id(`<|${code}|>`));
    loaded.set(model, {
      ours,
      oracle,
      vocabulary: {
        endOfText: id('<|endoftext|>'),
        startOfTranscript: id('<|startoftranscript|>'),
        startOfPrevious: id('<|startofprev|>'),
        noTimestamps,
        timestampBegin: noTimestamps + 1,
        noSpeech: null,
        languages,
        tasks: { transcribe: id('<|transcribe|>'), translate: id('<|translate|>') },
        suppress: [],
        beginSuppress: [],
        maxInitialTimestampIndex: null,
      },
    });
  }
}, 60_000);

const of = (model: string) => loaded.get(model)!;

describe.each(MODELS)('token text (%s)', (model) => {
  it('decodes random id sequences exactly as transformers.js does, bytes split across tokens included', () => {
    const { ours, oracle, vocabulary } = of(model);
    const random = seeded(7);
    const pick = (below: number) => Math.floor(random() * below);
    for (let n = 0; n < 3000; n++) {
      const length = 1 + pick(30);
      // Mostly text tokens; some specials and timestamps in between.
      const ids = Array.from({ length }, () => (random() < 0.85 ? pick(vocabulary.endOfText) : vocabulary.endOfText + pick(1600)));
      for (const skip of [true, false]) {
        expect(ours.decode(ids, { skipSpecial: skip }), `ids ${ids.join(',')} skip ${skip}`).toBe(oracle.decode(ids, { skip_special_tokens: skip }));
      }
    }
  });

  it('round-trips text through the oracle\'s encoding, with its clean-up of spaces before punctuation', () => {
    const { ours, oracle } = of(model);
    const texts = [
      ' Hello , world . I \'m fine , aren\'t you ? It \'s great !',
      ' Привет, мир! Как дела?',
      ' 日本語のテキストです。',
      ' emoji 🎉 and ümlauts, the café\'s crème brûlée.',
      ' we \'ve been there , they \'re here \' quoted \' and don n\'t',
    ];
    for (const text of texts) {
      const ids = oracle.encode(text, { add_special_tokens: false });
      expect(ours.decode(ids, { skipSpecial: true })).toBe(oracle.decode(ids, { skip_special_tokens: true }));
    }
  });

  it('knows the same added and special tokens', () => {
    const { ours, oracle } = of(model);
    for (const token of ['<|startofprev|>', '<|nocaptions|>', '<|notimestamps|>', '<|0.00|>', '<|30.00|>', '<|transcribe|>']) {
      expect(ours.addedTokenId(token)).toBe(oracle.convert_tokens_to_ids(token) ?? null);
    }
    expect(ours.addedTokenId('<|no such token|>')).toBeNull();
    const special = new Set(oracle.all_special_ids);
    for (let id = 0; id < 51_865; id++) expect(ours.isSpecial(id), `id ${id}`).toBe(special.has(id));
  });
});

describe('stitching overlapping windows', () => {
  it('cuts in the middle of the best overlap, and concatenates when nothing overlaps', () => {
    expect(stitchOverlaps([[1, 2, 3, 4, 5], [4, 5, 6, 7]])).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(stitchOverlaps([[1, 2, 3], [7, 8, 9]])).toEqual([1, 2, 3, 7, 8, 9]);
    // One token in common is not an overlap.
    expect(stitchOverlaps([[1, 2, 3], [3, 8, 9]])).toEqual([1, 2, 3, 3, 8, 9]);
    expect(stitchOverlaps([[1, 2, 3, 4], [3, 4, 5], [4, 5, 6, 7]])).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(stitchOverlaps([])).toEqual([]);
  });
});

/**
 * Windows cut from one run of text, as window-plan.ts cuts long speech: 30 s, 5 s of overlap with
 * each neighbour, each window's tokens with its forced prompt, the overlap's text repeated in
 * both, and timestamp pairs around segments when asked.
 */
function overlappingWindows(vocabulary: WhisperVocabulary, random: () => number, options: { timestamps: boolean; languages: number[] }): WindowTokens[] {
  const count = 1 + Math.floor(random() * 4);
  const words = Array.from({ length: 40 * count }, () => 300 + Math.floor(random() * 40_000));
  const perWindow = Math.ceil(words.length / count);
  return Array.from({ length: count }, (_, w) => {
    const overlapLeft = w > 0 ? 5 : 0;
    const overlapRight = w < count - 1 ? 5 : 0;
    const start = Math.max(0, w * perWindow - (overlapLeft ? 6 : 0));
    const text = words.slice(start, Math.min(words.length, (w + 1) * perWindow + (overlapRight ? 6 : 0)));
    const language = options.languages[w % options.languages.length]!;
    const prompt = [vocabulary.startOfTranscript, ...(language ? [language] : []), vocabulary.tasks.transcribe!];
    if (!options.timestamps) return { tokens: [...prompt, vocabulary.noTimestamps, ...text, vocabulary.endOfText], length: 30, overlapLeft, overlapRight };
    const tokens = [...prompt];
    let time = 0;
    for (let i = 0; i < text.length; ) {
      const take = 1 + Math.floor(random() * 8);
      const end = Math.min(1500, time + 20 + Math.floor(random() * 150));
      tokens.push(vocabulary.timestampBegin + time, ...text.slice(i, i + take), vocabulary.timestampBegin + end);
      time = end;
      i += take;
    }
    tokens.push(vocabulary.endOfText);
    return { tokens, length: 30, overlapLeft, overlapRight };
  });
}

describe.each(MODELS)('merging windows (%s)', (model) => {
  const cases = [
    { name: 'without timestamps', timestamps: false, languages: ['en'] },
    { name: 'with timestamps', timestamps: true, languages: ['en'] },
    { name: 'with the language changing between windows', timestamps: false, languages: ['en', 'de'] },
    { name: 'with the language changing, timestamps on', timestamps: true, languages: ['en', 'fr'] },
  ];
  it.each(cases)('gives what transformers.js\'s _decode_asr gives, $name', ({ timestamps, languages }) => {
    const { ours, oracle, vocabulary } = of(model);
    const random = seeded(timestamps ? 11 : 5);
    const languageIds = languages.map((code) => vocabulary.languages.get(code) ?? 0);
    for (let n = 0; n < 200; n++) {
      const windows = overlappingWindows(vocabulary, random, { timestamps, languages: languageIds });
      const merged = mergeWindows(windows, vocabulary, ours, { timePrecision: 0.02, timestamps });
      const [text, extra] = oracle._decode_asr(
        windows.map((w) => ({ tokens: w.tokens.map(BigInt), stride: [w.length, w.overlapLeft, w.overlapRight] })),
        { time_precision: 0.02, return_timestamps: timestamps, force_full_sequences: false },
      );
      expect(merged.text).toBe(text);
      expect(merged.segments).toEqual((extra.chunks ?? []).map((c) => ({ start: c.timestamp[0], end: c.timestamp[1], text: c.text })));
    }
  });

  it('gives no text and no segments for windows of special tokens only', () => {
    const { ours, vocabulary } = of(model);
    const windows = [{ tokens: [vocabulary.startOfTranscript, vocabulary.endOfText], length: 30, overlapLeft: 0, overlapRight: 0 }];
    expect(mergeWindows(windows, vocabulary, ours, { timePrecision: 0.02, timestamps: true })).toEqual({ text: '', segments: [] });
  });
});
