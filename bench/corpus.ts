// The benchmark corpus: Telegram-like voice notes (OGG/Opus, mono, 48 kHz, 32 kbit/s) made
// reproducibly with espeak-ng and ffmpeg. The recipe is committed; the audio is generated.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

const TEXTS = {
  en:
    'Hi, it is me again. I am running a little late because the bus did not come, so please start the meeting without me. ' +
    'I will join in about fifteen minutes. Also, could you send me the report from last week? Thanks a lot, talk soon.',
  ru:
    'Привет, это снова я. Я немного опаздываю, потому что автобус так и не пришёл, начинайте встречу без меня. ' +
    'Я подключусь минут через пятнадцать. И пришли, пожалуйста, отчёт за прошлую неделю. Спасибо, до связи.',
} as const;
export type CorpusLanguage = keyof typeof TEXTS;

export interface ClipSpec {
  seconds: number;
  language: CorpusLanguage;
  /** Left out of the runs that take every clip: it is run only when --clips names it. */
  onRequest?: true;
}

/** 5–15 s is what people send most; 9 s matches the seed baseline (8.91 s). */
export const CORPUS: readonly ClipSpec[] = [
  { seconds: 5, language: 'en' },
  { seconds: 9, language: 'en' },
  { seconds: 15, language: 'ru' },
  { seconds: 30, language: 'en' },
  { seconds: 60, language: 'ru' },
  { seconds: 180, language: 'en' },
  // The default MAX_AUDIO_SECONDS: does the longest note the bot accepts peak where a short one does?
  { seconds: 600, language: 'ru', onRequest: true },
];

export const OPUS_VOICE_NOTE = ['-ac', '1', '-ar', '48000', '-c:a', 'libopus', '-b:a', '32k', '-f', 'ogg'];

/** ffmpeg quietly, overwriting its output; throws with ffmpeg's stderr on failure. */
export function runFfmpeg(args: string[]): void {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Speech from espeak-ng, the text looped until it lasts exactly `seconds`, as a voice note. */
export function speechVoiceNote(text: string, seconds: number, voice: string, target: string): void {
  const wav = `${target}.wav`;
  execFileSync('espeak-ng', ['-v', voice, '-s', '150', '-w', wav, text]);
  runFfmpeg(['-stream_loop', '-1', '-i', wav, '-t', String(seconds), ...OPUS_VOICE_NOTE, target]);
  rmSync(wav, { force: true });
}

/** The corpus as files under `dir`, generated once per recipe (the folder name is its hash). */
export function corpusFiles(dir: string, clips: readonly ClipSpec[] = CORPUS): { spec: ClipSpec; file: string }[] {
  const recipe = createHash('sha256').update(JSON.stringify({ TEXTS, OPUS_VOICE_NOTE })).digest('hex').slice(0, 12);
  const folder = path.join(dir, recipe);
  mkdirSync(folder, { recursive: true });
  return clips.map((spec) => {
    const file = path.join(folder, `${spec.language}-${spec.seconds}s.ogg`);
    if (!existsSync(file)) {
      const partial = `${file}.${process.pid}.part`;
      speechVoiceNote(TEXTS[spec.language], spec.seconds, spec.language, partial);
      renameSync(partial, file);
    }
    return { spec, file };
  });
}

