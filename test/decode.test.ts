// ffmpeg decoding to 16 kHz mono 16-bit PCM, on real files.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecoderProcess } from '../src/audio/decoder-process.js';
import { decodeToPcm, findFfmpeg, judgePcmFile } from '../src/audio/ffmpeg.js';
import { PcmReader } from '../src/audio/pcm-file.js';
import { SAMPLE_RATE } from '../src/audio/pcm.js';
import { AudioError } from '../src/audio/errors.js';
import { asJobError } from '../src/jobs/errors.js';
import { silenceOgg, silentVideoMp4, toneOgg } from './support/audio.js';
import { pcmFile, samplesOf } from './support/pcm.js';
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
    const audio = await decodeToPcm(file(toneOgg(440, 5), 'tone.ogg'), { ffmpegPath, maxSeconds: 60 });
    const { seconds } = audio;
    const samples = samplesOf(audio);
    await rm(audio.pcmPath);
    expect(Math.abs(seconds - 5) / 5).toBeLessThan(0.01);
    expect(samples.length).toBe(Math.round(seconds * SAMPLE_RATE));
    expect(audio.sampleCount).toBe(samples.length);
    const middle = samples.subarray(SAMPLE_RATE, 4 * SAMPLE_RATE);
    expect(Math.abs(dominantFrequency(middle, SAMPLE_RATE) - 440) / 440).toBeLessThan(0.02);
  });

  it('refuses a 2-hour file as too long', async () => {
    const long = file(silenceOgg(7200), 'two-hours.ogg');
    await expect(decodeToPcm(long, { ffmpegPath, maxSeconds: 60 })).rejects.toMatchObject({ failure: 'too_long', maxSeconds: 60 });
  });

  it('says a video without an audio track has no audio, rather than that it is broken', async () => {
    const error = await decodeToPcm(file(silentVideoMp4(), 'silent.mp4'), { ffmpegPath, maxSeconds: 60 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ failure: 'no_audio', detail: expect.stringMatching(/silent\.mp4.*does not contain any stream/) });
  });

  it("blames this machine, not the file, when it cannot write the PCM file, and says what to do", async () => {
    const input = file(toneOgg(440, 1), 'unwritable.ogg');
    const tmpBefore = process.env.TMPDIR;
    process.env.TMPDIR = path.join(os.tmpdir(), `voicebot-no-such-dir-${process.pid}`);
    try {
      const error = await decodeToPcm(input, { ffmpegPath, maxSeconds: 60 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ failure: 'decoder_failed', detail: expect.stringMatching(/could not write .*voicebot-no-such-dir.*TMPDIR/) });
      expect(asJobError(error, 'asr_failed')).toMatchObject({ code: 'decoder_failed', retryable: true });
    } finally {
      if (tmpBefore === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmpBefore;
    }
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

describe('the PCM file ffmpeg wrote', () => {
  const pcmBytes = (bytes: Uint8Array) => file(Buffer.from(bytes), `pcm-${bytes.length}.s16`);
  const values = Int16Array.from({ length: 40_000 }, (_, i) => ((i * 7919) % 65_536) - 32_768);

  it('counts its whole 16-bit samples, a torn last byte not one of them', async () => {
    const torn = new Uint8Array(values.byteLength + 1);
    torn.set(new Uint8Array(values.buffer));
    const audio = await judgePcmFile(pcmBytes(torn), 'note.ogg', 60);
    expect(audio).toMatchObject({ sampleCount: 40_000, seconds: 40_000 / SAMPLE_RATE });
    expect(samplesOf(audio)).toEqual(values);
  });

  it('says "no audio" for no whole sample and "too long" past the limit, naming the input', async () => {
    await expect(judgePcmFile(pcmBytes(new Uint8Array(1)), 'empty.ogg', 60)).rejects.toMatchObject({ failure: 'no_audio', detail: expect.stringContaining('empty.ogg') });
    const justOver = new Uint8Array((2 * SAMPLE_RATE + 1) * 2);
    await expect(judgePcmFile(pcmBytes(justOver), 'long.ogg', 2)).rejects.toMatchObject({ failure: 'too_long', maxSeconds: 2 });
    expect((await judgePcmFile(pcmBytes(justOver.subarray(2)), 'exact.ogg', 2)).seconds).toBe(2);
  });

  it('is read a piece, a stretch or a window at a time, never past its end', () => {
    const reader = new PcmReader(pcmFile(values));
    try {
      expect(reader.read({ offset: 100, length: 5 })).toEqual(values.subarray(100, 105));
      expect(reader.read({ offset: 39_998, length: 5 })).toEqual(values.subarray(39_998));
      // Each stretch is over the same buffer: copied as it comes.
      const stretches = Array.from(reader.stretches(16_000), (s) => s.slice());
      expect(stretches.map((s) => s.length)).toEqual([16_000, 16_000, 8_000]);
      expect(Int16Array.from(stretches.flatMap((s) => [...s]))).toEqual(values);
      // A window as the model reads it: its pieces back to back, over full scale (32768).
      const window = reader.floats([{ offset: 10, length: 3 }, { offset: 50, length: 2 }]);
      expect([...window]).toEqual([...values.subarray(10, 13), ...values.subarray(50, 52)].map((s) => s / 32768));
    } finally {
      reader.close();
    }
    expect(() => reader.read({ offset: 0, length: 1 })).toThrow(/closed/);
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
    expect(samplesOf(there)).toEqual(samplesOf(here));
    // The note's file is the caller's; a decode that gives no note removes its own.
    expect(pcmLeft()).toHaveLength(2);
    await Promise.all([rm(here.pcmPath), rm(there.pcmPath)]);
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
    await rm(again.pcmPath);
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
