// npm run eval -- --dataset <dir> [--configs greedy,fallback,beam] [--windows full,fit] [--language en] [--limit N]
// Accuracy of the configured model on a folder of recordings with reference transcripts: WER and
// CER after Whisper's English normaliser, with the RTF each decoding configuration and encoder
// window costs.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { WindowMode } from '../asr/encoder-window.js';
import { countErrors, errorRate, type ErrorCount } from '../asr/error-rate.js';
import type { DecodingOptions } from '../asr/protocol.js';
import { EnglishTextNormalizer } from '../asr/text-normalizer.js';
import { cutRepetitionLoops } from '../asr/transcript-cleanup.js';
import { ConfigError } from '../config.js';
import { inferenceRtf } from '../jobs/rtf.js';
import { withDecodedAudio } from '../audio/decoder-process.js';
import { startLocalPool } from './local-pool.js';

const CONFIGURATIONS: Record<string, DecodingOptions> = {
  greedy: { beamSize: 1, temperatureFallback: false, bestOf: 5, conditionOnPreviousText: false },
  fallback: { beamSize: 1, temperatureFallback: true, bestOf: 5, conditionOnPreviousText: false },
  beam: { beamSize: 5, temperatureFallback: true, bestOf: 5, conditionOnPreviousText: false },
  conditioned: { beamSize: 1, temperatureFallback: true, bestOf: 5, conditionOnPreviousText: true },
};
const AUDIO = /\.(ogg|oga|opus|mp3|m4a|wav|flac|webm)$/i;

const WINDOWS: readonly WindowMode[] = ['full', 'fit'];

const usage = `Usage: npm run eval -- --dataset <dir> [--configs ${Object.keys(CONFIGURATIONS).join(',')}] [--windows ${WINDOWS.join(',')}] [--language en] [--limit N]
A dataset is a flat folder of name.<audio> + name.txt, or LibriSpeech's layout (<speaker>/<chapter>/*.trans.txt
beside the .flac files). --windows runs every configuration with each encoder window (default: ASR_WINDOW's).
Uses WHISPER_MODEL, MODELS_DIR, ASR_WORKERS, ASR_THREADS like the bot.`;

interface Item {
  audio: string;
  reference: string;
}

/** LibriSpeech when it has *.trans.txt files ("ID text" lines, ID.flac beside them); else name.ext + name.txt. */
export function readDataset(dir: string): Item[] {
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => path.join(dir, f)).sort();
  const transcripts = files.filter((f) => f.endsWith('.trans.txt'));
  if (transcripts.length > 0) {
    return transcripts.flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => line.trim())
        .map((line) => {
          const [id, ...words] = line.trim().split(' ');
          return { audio: path.join(path.dirname(file), `${id}.flac`), reference: words.join(' ') };
        }),
    );
  }
  return files
    .filter((f) => AUDIO.test(f))
    .map((audio) => ({ audio, text: audio.replace(AUDIO, '.txt') }))
    .filter(({ text }) => existsSync(text))
    .map(({ audio, text }) => ({ audio, reference: readFileSync(text, 'utf8').trim() }));
}

const { values } = parseArgs({
  options: {
    dataset: { type: 'string' },
    configs: { type: 'string', default: 'greedy,fallback,beam' },
    windows: { type: 'string' },
    language: { type: 'string', default: 'en' },
    limit: { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (values.help || !values.dataset) {
  console.error(usage);
  process.exit(values.help ? 0 : 2);
}
const configs = values.configs.split(',');
for (const name of configs) {
  if (!CONFIGURATIONS[name]) {
    console.error(`--configs: unknown "${name}"\n\n${usage}`);
    process.exit(2);
  }
}
const windows = values.windows?.split(',') ?? [undefined];
for (const window of windows) {
  if (window !== undefined && !(WINDOWS as readonly string[]).includes(window)) {
    console.error(`--windows: unknown "${window}"\n\n${usage}`);
    process.exit(2);
  }
}

let closeOnFailure: (() => Promise<void>) | undefined;
try {
  const items = readDataset(values.dataset).slice(0, values.limit ? Number(values.limit) : undefined);
  if (items.length === 0) throw new Error(`${values.dataset}: no audio file with a reference transcript`);
  const rows: string[] = [];
  // One pool per window: the encoder is rewritten for it when the model loads.
  for (const window of windows as (WindowMode | undefined)[]) {
    const { config, decoder, pool: local, close } = await startLocalPool((created) => (closeOnFailure = created), window);
    const spellingFile = path.join(config.modelsDir, config.modelId, 'normalizer.json');
    if (!existsSync(spellingFile)) throw new Error(`${spellingFile} is missing: the model ships Whisper's English spelling map there`);
    const normalizer = new EnglishTextNormalizer(JSON.parse(readFileSync(spellingFile, 'utf8')) as Record<string, string>);
    const windowMode = window ?? config.asrEncoder.window.mode;
    console.error(`${config.modelId}: ${items.length} file(s), ${config.asrWorkers} worker(s) × ${config.asrThreads} thread(s), ${windowMode} window`);

    for (const name of configs) {
      const words: ErrorCount[] = [];
      const characters: ErrorCount[] = [];
      let audioSeconds = 0;
      let inferenceMs = 0;
      let fallbacks = 0;
      await Promise.all(
        items.map(async (item) => {
          const { audio, result } = await withDecodedAudio(decoder, item.audio, { maxSeconds: config.maxAudioSeconds }, async (audio) => ({
            audio,
            ...(await local.transcribe(audio, { language: values.language, task: 'transcribe', timestamps: false, decoding: CONFIGURATIONS[name] })),
          }));
          const errors = countErrors(normalizer.normalize(item.reference), normalizer.normalize(cutRepetitionLoops(result.text).text));
          words.push(errors.words);
          characters.push(errors.characters);
          audioSeconds += audio.seconds;
          inferenceMs += result.inferenceMs;
          fallbacks += result.fallbacks;
        }),
      );
      const percent = (rate: number) => `${(rate * 100).toFixed(1)}%`;
      const rtf = inferenceRtf(inferenceMs, audioSeconds).toFixed(3);
      rows.push(`| ${name} | ${windowMode} | ${items.length} | ${percent(errorRate(words))} | ${percent(errorRate(characters))} | ${rtf} | ${fallbacks} |`);
      console.error(`${name}, ${windowMode} window: done`);
    }
    await close();
    closeOnFailure = undefined;
  }
  console.log(['| configuration | window | files | WER | CER | RTF | fallbacks |', '|---|---|---|---|---|---|---|', ...rows].join('\n'));
} catch (error) {
  await closeOnFailure?.();
  console.error(error instanceof ConfigError ? `invalid configuration: ${error.message}` : (error as Error).message);
  process.exit(1);
}
