// Decodes any audio or video file to 16 kHz mono Float32 PCM, streamed from ffmpeg's stdout.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import ffmpeg from 'fluent-ffmpeg';
import { AudioError } from './errors.js';

export const SAMPLE_RATE = 16_000;

export interface FfmpegBinary {
  path: string;
  source: 'system' | '@ffmpeg-installer/ffmpeg';
}

function works(binary: string): boolean {
  const probe = spawnSync(binary, ['-hide_banner', '-version'], { stdio: 'ignore', timeout: 10_000 });
  return probe.status === 0;
}

/** The system's ffmpeg when there is one (it gets security updates from apt), else the npm one. */
export function findFfmpeg(): FfmpegBinary {
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
  samples: Float32Array;
  seconds: number;
}

export interface DecodeOptions {
  ffmpegPath: string;
  /** Longer audio is refused; ffmpeg stops reading just past it, so a 2-hour file costs ~nothing. */
  maxSeconds: number;
}

/** The first lines of ffmpeg's stderr that say what went wrong, without the banner. */
function ffmpegReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(ffmpeg version|built with|configuration:|lib\w+\s+\d|Input #|Output #|Stream mapping|Press \[q\]|\s*Duration|\s*Stream #)/.test(l));
  return lines.slice(-3).join(' | ').slice(0, 400) || 'ffmpeg failed without a message';
}

export function decodeToPcm(inputPath: string, options: DecodeOptions): Promise<DecodedAudio> {
  const limitSamples = Math.ceil(options.maxSeconds * SAMPLE_RATE);
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let bytes = 0;
    let settled = false;
    const settle = (fn: () => void) => {
      if (!settled) {
        settled = true;
        fn();
      }
    };

    const command = ffmpeg(inputPath)
      .setFfmpegPath(options.ffmpegPath)
      // Read one second past the limit: enough to know the audio is too long.
      .inputOptions(['-hide_banner', '-nostdin', '-t', String(options.maxSeconds + 1)])
      .noVideo()
      .audioChannels(1)
      .audioFrequency(SAMPLE_RATE)
      .audioCodec('pcm_f32le')
      .format('f32le');

    command.on('error', (error: Error, _stdout: string | null, stderr: string | null) => {
      settle(() =>
        reject(
          new AudioError('broken_audio', `ffmpeg could not decode ${inputPath}: ${ffmpegReason(stderr ?? error.message)}`),
        ),
      );
    });

    const output = command.pipe();
    output.on('data', (chunk: Buffer) => {
      parts.push(chunk);
      bytes += chunk.length;
    });
    output.on('end', () => {
      settle(() => {
        const count = Math.floor(bytes / 4);
        if (count === 0) {
          reject(new AudioError('no_audio', `ffmpeg found no audio samples in ${inputPath}`));
          return;
        }
        const joined = Buffer.concat(parts, count * 4);
        // Copy into an aligned buffer: Buffer.concat may hand back a slice of Node's pool.
        const samples = new Float32Array(count);
        new Uint8Array(samples.buffer).set(joined);
        const seconds = count / SAMPLE_RATE;
        if (count > limitSamples) {
          reject(new AudioError('too_long', `decoded audio exceeds ${options.maxSeconds} s`, options.maxSeconds));
          return;
        }
        resolve({ samples, seconds });
      });
    });
  });
}
