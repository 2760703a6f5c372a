// Voice notes whose speech is known to the millisecond: espeak-ng sentences (their own leading and
// trailing silence trimmed) joined by sox silences, and sox noise and sweeps at known levels.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OPUS_VOICE_NOTE, runFfmpeg } from './corpus.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'voicebot-speech-audio-'));
const RATE = 48_000;
let counter = 0;

const file = (name: string) => path.join(dir, `${counter++}-${name}.wav`);
const sox = (args: string[]) => execFileSync('sox', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const samplesOf = (wav: string) => Number(execFileSync('soxi', ['-s', wav], { encoding: 'utf8' }).trim());

export type NotePart = { say: string } | { pause: number };

export interface KnownNote {
  /** OGG/Opus, as Telegram delivers voice notes. */
  ogg: Buffer;
  seconds: number;
  /** Where each sentence really is, in seconds. */
  speech: { start: number; end: number }[];
}

/** A sentence as 48-kHz mono WAV, cut to its first and last sound above −45 dBFS. */
function sentence(text: string, voice: string): string {
  const raw = file('espeak');
  execFileSync('espeak-ng', ['-v', voice, '-s', '150', '-w', raw, text]);
  const trimmed = file('sentence');
  sox([raw, '-r', String(RATE), '-c', '1', '-b', '16', trimmed, 'silence', '1', '0.01', '-45d', 'reverse', 'silence', '1', '0.01', '-45d', 'reverse']);
  return trimmed;
}

function silence(seconds: number): string {
  const out = file('silence');
  sox(['-n', '-r', String(RATE), '-c', '1', '-b', '16', out, 'trim', '0', String(seconds)]);
  return out;
}

function toOgg(wav: string): Buffer {
  const ogg = wav.replace(/\.wav$/, '.ogg');
  runFfmpeg(['-i', wav, ...OPUS_VOICE_NOTE, ogg]);
  return readFileSync(ogg);
}

/** Sentences and pauses back to back; the note knows where its speech is. */
export function knownNote(parts: NotePart[], voice = 'en'): KnownNote {
  const wavs: string[] = [];
  const speech: KnownNote['speech'] = [];
  let at = 0;
  for (const part of parts) {
    const wav = 'say' in part ? sentence(part.say, voice) : silence(part.pause);
    const seconds = samplesOf(wav) / RATE;
    if ('say' in part) speech.push({ start: at, end: at + seconds });
    wavs.push(wav);
    at += seconds;
  }
  const joined = file('note');
  sox([...wavs, joined]);
  return { ogg: toOgg(joined), seconds: at, speech };
}

/** sox's RMS level of a file, in dBFS. */
function rmsDb(wav: string): number {
  // sox writes its stats to stderr.
  const { stderr } = spawnSync('sox', [wav, '-n', 'stats'], { encoding: 'utf8' });
  return Number(/RMS lev dB\s+(-?[\d.]+)/.exec(stderr)![1]);
}

/** A sox `synth` signal (whitenoise, pinknoise, `sine 100-8000`, ...) at an RMS level in dBFS. */
export function synthNote(signal: string[], seconds: number, rmsDbfs: number): Buffer {
  const raw = file('synth');
  sox(['-n', '-r', String(RATE), '-c', '1', '-b', '16', raw, 'synth', String(seconds), ...signal]);
  const levelled = file('levelled');
  sox([raw, levelled, 'gain', String(rmsDbfs - rmsDb(raw))]);
  return toOgg(levelled);
}

/** Digital silence. */
export function silentNote(seconds: number): Buffer {
  return toOgg(silence(seconds));
}
