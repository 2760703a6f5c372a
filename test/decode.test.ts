// ffmpeg decoding to 16 kHz mono 16-bit PCM, on real files.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecoderProcess } from '../src/audio/decoder-process.js';
import { decodeToPcm, findFfmpeg, readPcmFile } from '../src/audio/ffmpeg.js';
import { SAMPLE_RATE } from '../src/audio/pcm.js';
import { AudioError } from '../src/audio/errors.js';
import { asJobError } from '../src/jobs/errors.js';
import { silenceOgg, toneOgg } from './support/audio.js';
import { isRunning, processesMentioning } from './support/processes.js';
import { REPO } from './support/test-model.js';

const ffmpegPath = findFfmpeg().path;
function file(bytes: Buffer, name: string): string {
  const target = path.join(os.tmpdir(), `voicebot-decode-${process.pid}-${name}`);
  writeFileSync(target, bytes);
  return target;
}

/** Frequency of a pure tone from its rising zero crossings. */
function dominantFrequency(samples: Int16Array, sampleRate: number): number {
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
    // One buffer of exactly the samples: what is transferred to the worker holds nothing else.
    expect(samples.buffer.byteLength).toBe(samples.length * 2);
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

describe('readPcmFile: what ffmpeg wrote, judged', () => {
  const pcmFile = (bytes: Uint8Array) => file(Buffer.from(bytes), `pcm-${bytes.length}.s16`);

  it('reads the whole 16-bit samples into one buffer of their size, and ignores a torn last byte', async () => {
    const values = Int16Array.from({ length: 40_000 }, (_, i) => ((i * 7919) % 65_536) - 32_768);
    const torn = new Uint8Array(values.byteLength + 1);
    torn.set(new Uint8Array(values.buffer));
    const audio = await readPcmFile(pcmFile(torn), 'note.ogg', 60);
    expect(audio.samples).toEqual(values);
    expect(audio.samples.buffer.byteLength).toBe(values.byteLength);
    expect(audio.seconds).toBe(40_000 / SAMPLE_RATE);
  });

  it('says "no audio" for no whole sample and "too long" past the limit, naming the input', async () => {
    await expect(readPcmFile(pcmFile(new Uint8Array(1)), 'empty.ogg', 60)).rejects.toMatchObject({ failure: 'no_audio', detail: expect.stringContaining('empty.ogg') });
    const justOver = new Uint8Array((2 * SAMPLE_RATE + 1) * 2);
    await expect(readPcmFile(pcmFile(justOver), 'long.ogg', 2)).rejects.toMatchObject({ failure: 'too_long', maxSeconds: 2 });
    expect((await readPcmFile(pcmFile(justOver.subarray(2)), 'exact.ogg', 2)).seconds).toBe(2);
  });
});

describe('DecoderProcess: ffmpeg from a small child process', () => {
  const exits: string[] = [];
  const decoder = new DecoderProcess({ ffmpegPath, onExit: (detail) => exits.push(detail) });
  // The PCM files go to the temporary directory: this file's own, so that none left behind goes unseen.
  const ownTmp = mkdtempSync(path.join(os.tmpdir(), 'voicebot-decoder-tmp-'));
  const tmpBefore = process.env.TMPDIR;
  const pcmLeft = () => readdirSync(ownTmp).filter((name) => name.startsWith('voicebot-pcm-'));
  beforeAll(() => {
    process.env.TMPDIR = ownTmp;
  });
  afterAll(async () => {
    await decoder.close();
    if (tmpBefore === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpBefore;
  });

  it('gives the same samples as decoding in this process, and its failures as the same typed errors', async () => {
    const tone = file(toneOgg(440, 3), 'child-tone.ogg');
    const [here, there] = await Promise.all([decodeToPcm(tone, { ffmpegPath, maxSeconds: 60 }), decoder.decode(tone, { maxSeconds: 60 })]);
    expect(there.seconds).toBe(here.seconds);
    expect(there.samples).toEqual(here.samples);
    await expect(decoder.decode(file(silenceOgg(90), 'child-long.ogg'), { maxSeconds: 60 })).rejects.toMatchObject({ failure: 'too_long', maxSeconds: 60 });
    const bad = file(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)), 'child-bad');
    const brokenHere = await decodeToPcm(bad, { ffmpegPath, maxSeconds: 60 }).catch((e: unknown) => e);
    const brokenThere = await decoder.decode(bad, { maxSeconds: 60 }).catch((e: unknown) => e);
    expect(brokenThere).toBeInstanceOf(AudioError);
    expect(brokenThere).toMatchObject({ failure: (brokenHere as AudioError).failure, detail: (brokenHere as AudioError).detail });
    expect(pcmLeft()).toEqual([]);
  });

  it('a child killed mid-decode fails that decode as retryable, is reported, and the next decode starts a new one', async () => {
    const firstPid = decoder.pid!;
    const fifo = path.join(mkdtempSync(path.join(os.tmpdir(), 'voicebot-child-')), 'stuck.fifo');
    execFileSync('mkfifo', [fifo]);
    // ffmpeg blocks opening a FIFO no one writes: the decode is in flight when the child dies.
    const inFlight = decoder.decode(fifo, { maxSeconds: 60 }).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(firstPid, 'SIGKILL');
    const error = await inFlight;
    expect(error).toMatchObject({ failure: 'decoder_failed' });
    expect(asJobError(error, 'asr_failed')).toMatchObject({ code: 'decoder_failed', retryable: true });
    expect(exits).toHaveLength(1);
    // Its ffmpeg, blocked on the FIFO, does not outlive it (SIGKILL is sent at once; on a busy
    // machine the process can take a moment to be scheduled and end).
    await expect.poll(() => processesMentioning(fifo), { timeout: 2000, interval: 20 }).toEqual([]);
    const again = await decoder.decode(file(toneOgg(440, 1), 'child-again.ogg'), { maxSeconds: 60 });
    expect(again.seconds).toBeCloseTo(1, 1);
    expect(decoder.pid).not.toBe(firstPid);
    expect(pcmLeft()).toEqual([]);
  });

  it('the bot killed mid-decode takes its decoder process and that ffmpeg with it', async () => {
    const fifo = path.join(mkdtempSync(path.join(os.tmpdir(), 'voicebot-bot-')), 'stuck.fifo');
    execFileSync('mkfifo', [fifo]);
    const decoderModule = path.join(REPO, 'src/audio/decoder-process.ts');
    // The FIFO's path reaches the script by its environment: only ffmpeg's command line names it.
    const script = `import { DecoderProcess } from ${JSON.stringify(decoderModule)};
      const decoder = new DecoderProcess({ ffmpegPath: process.env.FFMPEG_UNDER_TEST });
      await decoder.start();
      decoder.decode(process.env.FIFO_UNDER_TEST, { maxSeconds: 60 }).catch(() => {});
      setTimeout(() => console.log('child ' + decoder.pid), 500);
      setInterval(() => {}, 1000);`;
    const env = { ...process.env, FFMPEG_UNDER_TEST: ffmpegPath, FIFO_UNDER_TEST: fifo };
    const bot = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'inherit'] });
    const childPid = await new Promise<number>((resolve, reject) => {
      bot.stdout.on('data', (data: Buffer) => {
        const match = /child (\d+)/.exec(data.toString());
        if (match) resolve(Number(match[1]));
      });
      bot.once('exit', (code) => reject(new Error(`the bot script exited (${code}) before decoding`)));
    });
    // ffmpeg is blocked opening the FIFO, which nothing will ever write.
    await expect.poll(() => processesMentioning(fifo).length, { timeout: 5000, interval: 50 }).toBe(1);
    bot.kill('SIGKILL');
    await expect.poll(() => processesMentioning(fifo), { timeout: 5000, interval: 50 }).toEqual([]);
    await expect.poll(() => isRunning(childPid), { timeout: 5000, interval: 50 }).toBe(false);
  });
});
