// npm run transcribe -- [--language xx] [--translate] [--timestamps] <file>...
// The bot's own decode and worker pool, without Telegram: prints text, audio seconds and RTF.
import { parseArgs } from 'node:util';
import { ConfigError } from '../config.js';
import { inferenceRtf } from '../jobs/rtf.js';
import { cleanTranscript } from '../asr/transcript-cleanup.js';
import { withTimestamps } from '../bot/transcript-format.js';
import { withDecodedAudio } from '../audio/decoder-process.js';
import { startLocalPool } from './local-pool.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { language: { type: 'string' }, translate: { type: 'boolean' }, timestamps: { type: 'boolean' }, help: { type: 'boolean' } },
});
if (values.help || positionals.length === 0) {
  console.error('Usage: npm run transcribe -- [--language xx] [--translate] [--timestamps] <file>...\nUses WHISPER_MODEL, MODELS_DIR, ASR_WORKERS, ASR_THREADS like the bot.');
  process.exit(values.help ? 0 : 2);
}

let closeOnFailure: (() => Promise<void>) | undefined;
try {
  const { config, decoder, pool: local, close } = await startLocalPool((created) => (closeOnFailure = created));
  console.error(`${config.modelId}: ${config.asrWorkers} worker(s) × ${config.asrThreads} thread(s)`);
  let failed = 0;
  for (const file of positionals) {
    try {
      const { audio, result } = await withDecodedAudio(decoder, file, { maxSeconds: config.maxAudioSeconds }, async (audio) => ({
        audio,
        ...(await local.transcribe(audio, {
          language: values.language ?? null,
          task: values.translate ? 'translate' : 'transcribe',
          timestamps: values.timestamps ?? false,
        })),
      }));
      const cleaned = cleanTranscript(result.text, result.segments);
      const text = values.timestamps && cleaned.segments.length ? withTimestamps(cleaned.segments) : cleaned.text;
      console.log(`== ${file}: ${audio.seconds.toFixed(2)} s audio, language ${result.language ?? 'n/a'}, RTF ${inferenceRtf(result.inferenceMs, audio.seconds).toFixed(3)}\n${text}`);
    } catch (error) {
      failed++;
      console.error(`== ${file}: ${(error as Error).message}`);
    }
  }
  await close();
  process.exit(failed ? 1 : 0);
} catch (error) {
  await closeOnFailure?.();
  console.error(error instanceof ConfigError ? `invalid configuration: ${error.message}` : (error as Error).message);
  process.exit(1);
}
