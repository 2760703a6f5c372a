// Decodes any audio or video file to 16 kHz mono 16-bit PCM (see pcm.ts), through a file.
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { open, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import ffmpeg from 'fluent-ffmpeg';
import { decodeDeadlineMs } from './decode-deadline.js';
import { AudioError } from './errors.js';
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

export interface DecodedAudio {
  /** Over one buffer of its own, exactly the samples' size (transferable to a worker). */
  samples: Int16Array;
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

/** Read one second past the limit: enough to know the audio is too long, and a 2-hour file costs ~nothing. */
const readSecondsFor = (maxSeconds: number) => maxSeconds + 1;

/**
 * Runs ffmpeg on `inputPath`, writing its 16 kHz mono 16-bit PCM to `pcmPath`; rejects with an
 * AudioError when ffmpeg fails or passes its deadline (it is killed then). A file, not a pipe:
 * the samples are then read into one buffer of their exact size, where a pipe's chunks, and the
 * IPC messages that carried them from the decoder process, left the bot's heap ~60 MB of garbage
 * for a 10-minute note.
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
      settle(() => reject(new AudioError('broken_audio', `ffmpeg could not decode ${inputPath}: ${ffmpegReason(stderr ?? error.message)}`)));
    });
    command.on('end', () => settle(resolve));
    command.run();
  });
}

/**
 * The samples ffmpeg wrote to `pcmPath` for `inputPath`, read into one buffer of their size, or
 * the AudioError that says why there are none: no samples, or past the limit.
 */
export async function readPcmFile(pcmPath: string, inputPath: string, maxSeconds: number): Promise<DecodedAudio> {
  const file = await open(pcmPath, 'r');
  try {
    const { size } = await file.stat();
    const count = Math.floor(size / BYTES_PER_SAMPLE);
    if (count === 0) throw new AudioError('no_audio', `ffmpeg found no audio samples in ${inputPath}`);
    if (count > Math.ceil(maxSeconds * SAMPLE_RATE)) throw new AudioError('too_long', `decoded audio exceeds ${maxSeconds} s`, maxSeconds);
    const samples = new Int16Array(count);
    const bytes = new Uint8Array(samples.buffer);
    for (let at = 0; at < bytes.length; ) {
      const { bytesRead } = await file.read(bytes, at, bytes.length - at, at);
      if (bytesRead === 0) throw new AudioError('decoder_failed', `${pcmPath} ended at ${at} of ${bytes.length} bytes while being read`);
      at += bytesRead;
    }
    return { samples, seconds: count / SAMPLE_RATE };
  } finally {
    await file.close();
  }
}

/** A path of its own for one decode's PCM, in the temporary directory (the caller removes it). */
export const pcmPathFor = () => path.join(os.tmpdir(), `voicebot-pcm-${randomUUID()}.s16`);

/** ffmpeg in this process (the bot runs it from its decoder process instead: see decoder-process.ts). */
export async function decodeToPcm(inputPath: string, options: DecodeOptions): Promise<DecodedAudio> {
  const pcmPath = pcmPathFor();
  try {
    await decodeToFile(inputPath, pcmPath, options);
    return await readPcmFile(pcmPath, inputPath, options.maxSeconds);
  } finally {
    await rm(pcmPath, { force: true });
  }
}
