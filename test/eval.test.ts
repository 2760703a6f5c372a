// npm run eval: error-rate arithmetic and Whisper's normaliser on fixed strings, and the command end
// to end on espeak notes with the synthetic model.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { whisperMetaRoot } from '../bench/synth/model-folder.js';
import { countErrors, editDistance, errorRate } from '../src/asr/error-rate.js';
import { EnglishTextNormalizer } from '../src/asr/text-normalizer.js';
import { speechOgg } from './support/audio.js';
import { cachedModelsRoot, REPO, TEST_MODEL_ID } from './support/test-model.js';

const spelling = JSON.parse(readFileSync(path.join(whisperMetaRoot(), 'whisper-base/normalizer.json'), 'utf8')) as Record<string, string>;
const normalizer = new EnglishTextNormalizer(spelling);

describe('error rates', () => {
  it('count substitutions, deletions and insertions', () => {
    expect(editDistance(['a', 'b', 'c'], ['a', 'b', 'c'])).toBe(0);
    expect(editDistance(['a', 'b', 'c'], ['a', 'x', 'c'])).toBe(1);
    expect(editDistance(['a', 'b', 'c'], ['a', 'c'])).toBe(1);
    expect(editDistance(['a', 'b', 'c'], ['a', 'b', 'c', 'd', 'e'])).toBe(2);
    expect(editDistance([], ['a'])).toBe(1);
    expect(editDistance(['k', 'i', 't', 't', 'e', 'n'], ['s', 'i', 't', 't', 'i', 'n', 'g'])).toBe(3);
  });

  it('WER and CER sum edits over the corpus, not a mean of per-file rates', () => {
    const first = countErrors('the cat sat on the mat', 'the cat sat on a mat'); // 1 of 6 words
    const second = countErrors('hello', 'yellow'); // 1 of 1 word; 2 of 5 characters
    expect(first.words).toEqual({ edits: 1, length: 6 });
    expect(second.characters).toEqual({ edits: 2, length: 5 });
    expect(errorRate([first.words, second.words])).toBeCloseTo(2 / 7, 10);
    // "the" → "a" is 3 character edits
    expect(errorRate([first.characters, second.characters])).toBeCloseTo((3 + 2) / (22 + 5), 10);
    expect(errorRate([])).toBe(0);
  });
});

describe("Whisper's English normaliser", () => {
  it.each([
    ["Hello, World! It's fine.", 'hello world it is fine'],
    ["I won't go; they can't and we'd been there.", 'i will not go they can not and we had been there'],
    ['Mr. Smith met Dr Jones [inaudible] (laughs) uh today', 'mister smith met doctor jones today'],
    ['The colour of the theatre', 'the color of the theater'],
    ['It costs $1,000.50 or 20%.', 'it costs $1000.50 or 20%'],
    ['Café naïve  résumé', 'cafe naive resume'],
    ['Twenty five percent of one hundred and five', '25% of 105'],
    ['It costs twenty dollars and fifty cents.', 'it costs $20 and ¢50'],
    ['In nineteen ninety nine, the twenty first of May', 'in 1999 the 21st of may'],
    ['Two thousand and five, then twenty twelve', '2005 then 2012'],
    ['Minus three point one four, and 5 million', '-3.14 and 5000000'],
    ['One two three, the eleventh and the hundredth', '1 2 3 the 11th and the hundredth'],
    ['Three hundred twenty thousand four hundred', '320400'],
  ])('normalises %j', (input, expected) => {
    expect(normalizer.normalize(input)).toBe(expected);
  });
});

describe('npm run eval', () => {
  it('prints WER, CER, RTF and fallbacks per configuration and encoder window on a flat folder of notes', async () => {
    const dataset = mkdtempSync(path.join(os.tmpdir(), 'voicebot-eval-'));
    const text = 'Please send me the report from last week.';
    writeFileSync(path.join(dataset, 'note.ogg'), speechOgg(text, 2));
    writeFileSync(path.join(dataset, 'note.txt'), text);
    mkdirSync(path.join(dataset, 'ignored'));
    writeFileSync(path.join(dataset, 'ignored', 'no-reference.ogg'), speechOgg('No reference beside me.', 2));
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(REPO, 'src/cli/eval.ts'), '--dataset', dataset, '--configs', 'greedy,fallback', '--windows', 'full,fit'], {
      cwd: REPO,
      env: { ...process.env, MODELS_DIR: await cachedModelsRoot(), WHISPER_MODEL: TEST_MODEL_ID, ASR_WORKERS: '1', ASR_THREADS: '1' },
    });
    // Random weights write nonsense: the rates are high, but they are rates, and fallback is counted.
    for (const window of ['full', 'fit']) {
      expect(stdout).toMatch(new RegExp(`^\\| greedy \\| ${window} \\| 1 \\| \\d+\\.\\d% \\| \\d+\\.\\d% \\| \\d+\\.\\d{3} \\| 0 \\|$`, 'm'));
      expect(stdout).toMatch(new RegExp(`^\\| fallback \\| ${window} \\| 1 \\| \\d+\\.\\d% \\| \\d+\\.\\d% \\| \\d+\\.\\d{3} \\| [1-9]\\d* \\|$`, 'm'));
    }
  }, 180_000);
});
