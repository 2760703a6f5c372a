// Decodes any audio or video file to 16 kHz mono 16-bit PCM (see pcm.ts), through a file.
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import ffmpeg from 'fluent-ffmpeg';
import { decodeDeadlineMs } from './decode-deadline.js';
import { AudioError } from './errors.js';
import type { PcmAudio } from './pcm-file.js';
import { BYTES_PER_SAMPLE, SAMPLE_RATE } from './pcm.js';

export interface FfmpegBinary {
  path: string;
  source: 'FFMPEG_PATH' | 'system' | '@ffmpeg-installer/ffmpeg';
}

function works(binary: string): boolean {
  const probe = spawnSync(binary, ['-hide_banner', '-version'], { stdio: 'ignore', timeout: 10_000 });
  return probe.status === 0;
}

/**
 * `configured` (FFMPEG_PATH) when given; else the system's ffmpeg when there is one (it gets
 * security updates from apt), else the npm one.
 */
export function findFfmpeg(configured?: string): FfmpegBinary {
  if (configured) {
    if (works(configured)) return { path: configured, source: 'FFMPEG_PATH' };
    throw new Error(`FFMPEG_PATH=${configured} does not run ("${configured} -version" failed): point it at an ffmpeg binary, or unset it`);
  }
  if (works('ffmpeg')) return { path: 'ffmpeg', source: 'system' };
  const require = createRequire(import.meta.url);
  try {
    const bundled = (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
    if (works(bundled)) return { path: bundled, source: '@ffmpeg-installer/ffmpeg' };
  } catch {
    // no binary for this platform in the npm package: reported below
  }
  throw new Error('no working ffmpeg: install it (apt-get install ffmpeg) or reinstall @ffmpeg-installer/ffmpeg');
}

/** A decoded note: its PCM file (see pcm-file.ts), which whoever asked for the decode removes. */
export interface DecodedAudio extends PcmAudio {
  seconds: number;
}

export interface DecodeOptions {
  ffmpegPath: string;
  /** Longer audio is refused; ffmpeg stops reading just past it, so a 2-hour file costs ~nothing. */
  maxSeconds: number;
  /** The length announced ahead (Telegram's duration): it sets the deadline when none is given. */
  expectedSeconds?: number;
  /** ffmpeg is killed past this (default: from the announced or the longest length), so a stuck input cannot hold a job forever. */
  deadlineMs?: number;
}

/** The first lines of ffmpeg's stderr that say what went wrong, without the banner. */
function ffmpegReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(ffmpeg version|built with|configuration:|lib\w+\s+\d|Input #|Output #|Stream mapping|Press \[q\]|\s*Duration|\s*Stream #)/.test(l));
  return lines.slice(-3).join(' | ').slice(0, 400) || 'ffmpeg failed without a message';
}

/** What ffmpeg says when the input has streams but none of them is audio. */
const NO_AUDIO_STREAM = /does not contain any stream/;

/** Read one second past the limit: enough to know the audio is too long, and a 2-hour file costs ~nothing. */
const readSecondsFor = (maxSeconds: number) => maxSeconds + 1;

/**
 * Runs ffmpeg on `inputPath`, writing its 16 kHz mono 16-bit PCM to `pcmPath`; rejects with an
 * AudioError when ffmpeg fails or passes its deadline (it is killed then). A file, not a pipe: the
 * stages read it a stretch at a time (pcm-file.ts), where a pipe's chunks, and the IPC messages
 * that carried them from the decoder process, left the bot's heap ~60 MB of garbage for a
 * 10-minute note, beside the whole note held in memory.
 */
export function decodeToFile(inputPath: string, pcmPath: string, options: DecodeOptions): Promise<void> {
  const deadlineMs = options.deadlineMs ?? decodeDeadlineMs(options.expectedSeconds ?? options.maxSeconds);
  return new Promise((resolve, reject) => {
    let settled = false;
    let timedOut = false;
    const settle = (fn: () => void) => {
      if (!settled) {
        settled = true;
        clearTimeout(deadline);
        fn();
      }
    };

    const command = ffmpeg(inputPath)
      .setFfmpegPath(options.ffmpegPath)
      .inputOptions(['-hide_banner', '-nostdin', '-t', String(readSecondsFor(options.maxSeconds))])
      .noVideo()
      .audioChannels(1)
      .audioFrequency(SAMPLE_RATE)
      .audioCodec('pcm_s16le')
      .format('s16le')
      .outputOptions('-y')
      .output(pcmPath);

    const deadline = setTimeout(() => {
      timedOut = true;
      command.kill('SIGKILL');
      settle(() => reject(new AudioError('timed_out', `ffmpeg still decoding ${inputPath} after ${deadlineMs} ms: killed`)));
    }, deadlineMs);
    // The deadline may pass before fluent-ffmpeg has spawned the process: kill it as it starts.
    command.on('start', () => {
      if (timedOut) command.kill('SIGKILL');
    });
    command.on('error', (error: Error, _stdout: string | null, stderr: string | null) => {
      const reason = ffmpegReason(stderr ?? error.message);
      // Writing the PCM file failed (a full disk, a temporary directory gone): this machine's fault,
      // not the file's, and another attempt may work.
      if (reason.includes(pcmPath)) settle(() => reject(new AudioError('decoder_failed', `ffmpeg could not write ${pcmPath} (set TMPDIR to a writable directory with room): ${reason}`)));
      // A file ffmpeg reads fine but with no audio stream (a video without sound) has no samples, and is not broken.
      else settle(() => reject(new AudioError(NO_AUDIO_STREAM.test(reason) ? 'no_audio' : 'broken_audio', `ffmpeg could not decode ${inputPath}: ${reason}`)));
    });
    command.on('end', () => settle(resolve));
    command.run();
  });
}

/**
 * What ffmpeg wrote to `pcmPath` for `inputPath`, judged by its size: the note, or the AudioError
 * that says why there is none (no samples, or past the limit).
 */
export async function judgePcmFile(pcmPath: string, inputPath: string, maxSeconds: number): Promise<DecodedAudio> {
  const sampleCount = Math.floor((await stat(pcmPath)).size / BYTES_PER_SAMPLE);
  if (sampleCount === 0) throw new AudioError('no_audio', `ffmpeg found no audio samples in ${inputPath}`);
  if (sampleCount > Math.ceil(maxSeconds * SAMPLE_RATE)) throw new AudioError('too_long', `decoded audio exceeds ${maxSeconds} s`, maxSeconds);
  return { pcmPath, sampleCount, seconds: sampleCount / SAMPLE_RATE };
}

/** How the PCM files are named in the temporary directory. */
export const PCM_FILE_PREFIX = 'voicebot-pcm-';

/** A path of its own for one decode's PCM, in the temporary directory. */
const pcmPathFor = () => path.join(os.tmpdir(), `${PCM_FILE_PREFIX}${randomUUID()}.s16`);

/**
 * Has `write` put a note's PCM in a file of its own, and judges what it wrote: the note, whose file
 * the caller removes, or the AudioError that says why there is none, its file removed here (a
 * killed ffmpeg may have left part of it).
 */
export async function decodeIntoFile(inputPath: string, maxSeconds: number, write: (pcmPath: string) => Promise<void>): Promise<DecodedAudio> {
  const pcmPath = pcmPathFor();
  try {
    await write(pcmPath);
    return await judgePcmFile(pcmPath, inputPath, maxSeconds);
  } catch (error) {
    await rm(pcmPath, { force: true });
    throw error;
  }
}

/** ffmpeg in this process (the bot runs it from its decoder process instead: see decoder-process.ts). */
export const decodeToPcm = (inputPath: string, options: DecodeOptions): Promise<DecodedAudio> =>
  decodeIntoFile(inputPath, options.maxSeconds, (pcmPath) => decodeToFile(inputPath, pcmPath, options));
