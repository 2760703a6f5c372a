// Telegram-like voice notes made on the spot: espeak-ng speech or ffmpeg tones, as OGG/Opus.
import { mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OPUS_VOICE_NOTE as OPUS, runFfmpeg as ffmpeg, speechVoiceNote } from '../../bench/corpus.js';
import type { AudioDecoder } from '../../src/audio/decoder-process.js';
import { decodeToPcm } from '../../src/audio/ffmpeg.js';

const dir = path.join(os.tmpdir(), `voicebot-test-audio-${process.pid}`);
mkdirSync(dir, { recursive: true });
let counter = 0;


/** Speech from espeak-ng, the text repeated until it lasts `seconds`: the bench corpus's recipe. */
export function speechOgg(text: string, seconds: number, voice = 'en'): Buffer {
  const out = path.join(dir, `speech-${counter++}.ogg`);
  speechVoiceNote(text, seconds, voice, out);
  return readFileSync(out);
}

export function toneOgg(frequency: number, seconds: number, volume = 0.5): Buffer {
  const out = path.join(dir, `tone-${counter++}.ogg`);
  ffmpeg(['-f', 'lavfi', '-i', `sine=frequency=${frequency}:duration=${seconds}:sample_rate=48000`, '-af', `volume=${volume}`, ...OPUS, out]);
  return readFileSync(out);
}

/** Silence of any length, cheaply: 10 s encoded once, then looped with stream copy. */
export function silenceOgg(seconds: number): Buffer {
  const piece = path.join(dir, `silence-piece-${counter++}.ogg`);
  const out = path.join(dir, `silence-${counter++}.ogg`);
  const pieceSeconds = Math.min(10, seconds);
  // 60-ms frames: a third of the packets, so two hours take ~1.3 MB.
  ffmpeg(['-f', 'lavfi', '-i', 'anullsrc=r=48000:cl=mono', '-t', String(pieceSeconds), ...OPUS, '-frame_duration', '60', piece]);
  ffmpeg(['-stream_loop', String(Math.ceil(seconds / pieceSeconds) - 1), '-i', piece, '-c', 'copy', '-f', 'ogg', out]);
  return readFileSync(out);
}

/** A tiny valid PNG: an image that a careless bot might feed to ffmpeg as audio. */
export function pngBytes(): Buffer {
  const out = path.join(dir, `image-${counter++}.png`);
  ffmpeg(['-f', 'lavfi', '-i', 'color=c=red:s=16x16', '-frames:v', '1', out]);
  return readFileSync(out);
}

/** An MP4 with a video track and no audio track. */
export function silentVideoMp4(): Buffer {
  const out = path.join(dir, `video-${counter++}.mp4`);
  ffmpeg(['-f', 'lavfi', '-i', 'color=c=blue:s=64x64:d=1', '-c:v', 'mpeg4', '-an', out]);
  return readFileSync(out);
}

/** ffmpeg from the test's own process, for tests of other stages (the bot runs it from its DecoderProcess). */
export const directDecoder: AudioDecoder = { decode: (file, request) => decodeToPcm(file, { ...request, ffmpegPath: 'ffmpeg' }) };
