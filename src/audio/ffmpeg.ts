// Decodes any audio or video file to 16 kHz mono Float32 PCM, streamed from ffmpeg's stdout.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import ffmpeg from 'fluent-ffmpeg';
import { decodeDeadlineMs } from './decode-deadline.js';
import { AudioError } from './errors.js';
import { PcmBuffer } from './pcm-buffer.js';

export const SAMPLE_RATE = 16_000;

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
  /** A view over one buffer of its own (transferable to a worker); it may hold a little slack past the samples. */
  samples: Float32Array;
  seconds: number;
}

export interface DecodeOptions {
  ffmpegPath: string;
  /** Longer audio is refused; ffmpeg stops reading just past it, so a 2-hour file costs ~nothing. */
  maxSeconds: number;
  /** The length announced ahead (Telegram's duration): the buffer is allocated for it once. */
  expectedSeconds?: number;
  /** ffmpeg is killed past this (default: from the announced or the longest length), so a stuck input cannot hold a job forever. */
  deadlineMs?: number;
}

/** Telegram rounds durations to whole seconds; one more keeps the common case to a single allocation. */
const EXPECTED_MARGIN_SECONDS = 1;
/** Documents announce no duration: start here and grow. */
const UNKNOWN_LENGTH_SECONDS = 60;

/** The first lines of ffmpeg's stderr that say what went wrong, without the banner. */
function ffmpegReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(ffmpeg version|built with|configuration:|lib\w+\s+\d|Input #|Output #|Stream mapping|Press \[q\]|\s*Duration|\s*Stream #)/.test(l));
  return lines.slice(-3).join(' | ').slice(0, 400) || 'ffmpeg failed without a message';
}

/**
 * Gathers ffmpeg's output into one buffer allocated for the announced length (no chunk list, no
 * concatenated copy), and judges the result: no samples, or past the limit.
 */
export class PcmCollector {
  private readonly pcm: PcmBuffer;

  constructor(
    private readonly inputPath: string,
    private readonly options: Pick<DecodeOptions, 'maxSeconds' | 'expectedSeconds'>,
  ) {
    const readSeconds = readSecondsFor(options.maxSeconds);
    const expectedSeconds = Math.min(readSeconds, options.expectedSeconds !== undefined ? options.expectedSeconds + EXPECTED_MARGIN_SECONDS : UNKNOWN_LENGTH_SECONDS);
    this.pcm = new PcmBuffer(Math.ceil(expectedSeconds * SAMPLE_RATE), readSeconds * SAMPLE_RATE);
  }

  append(chunk: Uint8Array): void {
    this.pcm.append(chunk);
  }

  /** The audio, or the AudioError that says why there is none. */
  finish(): DecodedAudio {
    const count = this.pcm.samplesReceived;
    if (count === 0) throw new AudioError('no_audio', `ffmpeg found no audio samples in ${this.inputPath}`);
    if (count > Math.ceil(this.options.maxSeconds * SAMPLE_RATE)) {
      throw new AudioError('too_long', `decoded audio exceeds ${this.options.maxSeconds} s`, this.options.maxSeconds);
    }
    return { samples: this.pcm.samples(), seconds: count / SAMPLE_RATE };
  }
}

/** Read one second past the limit: enough to know the audio is too long, and a 2-hour file costs ~nothing. */
const readSecondsFor = (maxSeconds: number) => maxSeconds + 1;

/**
 * Runs ffmpeg on `inputPath` and hands its 16 kHz mono float PCM to `onChunk` as it comes; rejects
 * with an AudioError when ffmpeg fails or passes its deadline (it is killed then).
 */
export function streamPcm(inputPath: string, options: DecodeOptions, onChunk: (chunk: Buffer) => void): Promise<void> {
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
      .audioCodec('pcm_f32le')
      .format('f32le');

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

    const output = command.pipe();
    output.on('data', (chunk: Buffer) => {
      if (!settled) onChunk(chunk);
    });
    output.on('end', () => settle(resolve));
  });
}

/** ffmpeg in this process (the bot runs it from its decoder process instead: see decoder-process.ts). */
export async function decodeToPcm(inputPath: string, options: DecodeOptions): Promise<DecodedAudio> {
  const collector = new PcmCollector(inputPath, options);
  await streamPcm(inputPath, options, (chunk) => collector.append(chunk));
  return collector.finish();
}
