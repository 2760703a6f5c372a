// ffmpeg decoding to 16 kHz mono Float32, on real files.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeToPcm, findFfmpeg, SAMPLE_RATE } from '../src/audio/ffmpeg.js';
import { AudioError } from '../src/audio/errors.js';
import { asJobError } from '../src/jobs/errors.js';
import { silenceOgg, toneOgg } from './support/audio.js';

const ffmpegPath = findFfmpeg().path;
function file(bytes: Buffer, name: string): string {
  const target = path.join(os.tmpdir(), `voicebot-decode-${process.pid}-${name}`);
  writeFileSync(target, bytes);
  return target;
}

/** Frequency of a pure tone from its rising zero crossings. */
function dominantFrequency(samples: Float32Array, sampleRate: number): number {
  let crossings = 0;
  let first = -1;
  let last = -1;
  for (let i = 1; i < samples.length; i++) {
    if (samples[i - 1]! < 0 && samples[i]! >= 0) {
      crossings++;
      if (first < 0) first = i;
      last = i;
    }
  }
  return ((crossings - 1) * sampleRate) / (last - first);
}

describe('decodeToPcm', () => {
  it('decodes a 440 Hz OGG/Opus tone to 16 kHz mono with the right duration and pitch', async () => {
    const { samples, seconds } = await decodeToPcm(file(toneOgg(440, 5), 'tone.ogg'), { ffmpegPath, maxSeconds: 60 });
    expect(Math.abs(seconds - 5) / 5).toBeLessThan(0.01);
    expect(samples.length).toBe(Math.round(seconds * SAMPLE_RATE));
    const middle = samples.subarray(SAMPLE_RATE, 4 * SAMPLE_RATE);
    expect(Math.abs(dominantFrequency(middle, SAMPLE_RATE) - 440) / 440).toBeLessThan(0.02);
  });

  it('refuses a 2-hour file as too long', async () => {
    const long = file(silenceOgg(7200), 'two-hours.ogg');
    await expect(decodeToPcm(long, { ffmpegPath, maxSeconds: 60 })).rejects.toMatchObject({ failure: 'too_long', maxSeconds: 60 });
  });

  it.each([
    ['an empty file', Buffer.alloc(0)],
    ['random bytes', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256))],
  ])('turns %s into a broken-audio error', async (_name, bytes) => {
    const error = await decodeToPcm(file(bytes, `bad-${bytes.length}`), { ffmpegPath, maxSeconds: 60 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AudioError);
    expect(['broken_audio', 'no_audio']).toContain(asJobError(error, 'asr_failed').code);
  });
});
