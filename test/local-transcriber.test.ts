// LocalTranscriber's own part of a job, with the download, ffmpeg and the pool stood in for: every
// scratch file it is handed is removed however the job ends, and ffmpeg past its deadline is counted.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { AudioError } from '../src/audio/errors.js';
import type { AudioDecoder } from '../src/audio/decoder-process.js';
import type { AsrPool, PoolResult } from '../src/asr/pool.js';
import { fixedWindows } from '../src/asr/window-plan.js';
import { LocalTranscriber } from '../src/jobs/local-transcriber.js';
import type { TranscriptionContext, TranscriptionMeasures, TranscriptionRequest } from '../src/jobs/transcriber.js';
import { Metrics } from '../src/metrics/metrics.js';

const SECONDS = 2;
const request: TranscriptionRequest = { jobId: 7, createdAt: 0, fileId: 'voice-1', claimedSeconds: SECONDS, language: 'en', task: 'transcribe', timestamps: false };

function poolResult(text: string): PoolResult {
  return {
    result: {
      text,
      language: 'en',
      segments: [{ start: 0, end: SECONDS, text }],
      chunks: 1,
      tokens: 3,
      inferenceMs: 120,
      encoderMs: 80,
      decoderMs: 40,
      decoderRuns: 4,
      windows: [{ temperature: 0, compressionRatio: 1, avgLogprob: -0.2, noSpeechProb: 0.01, silence: false }],
      fallbacks: 0,
      workerHeapMb: 20,
      workerExternalMb: 1,
    },
    speech: { windows: fixedWindows(0, SECONDS * 16_000, 16_000), speechSeconds: SECONDS, vadMs: 1, speechExtent: { start: 0, end: SECONDS } },
    workerId: 1,
    threads: 2,
  };
}

const scratchDirs: string[] = [];
afterAll(() => scratchDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function setUp(decoderIn: (dir: string) => AudioDecoder['decode'], transcribe: (files: string[]) => Promise<PoolResult>) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'voicebot-local-'));
  scratchDirs.push(dir);
  const decode = decoderIn(dir);
  const files: string[] = [];
  const metrics = new Metrics();
  const transcriber = new LocalTranscriber({
    download: async (fileId, jobId) => {
      const file = path.join(dir, `download-${jobId}-${fileId}`);
      writeFileSync(file, 'ogg bytes');
      files.push(file);
      return file;
    },
    pool: { transcribe: () => transcribe(files) } as unknown as AsrPool,
    speech: null,
    metrics,
    decoder: {
      decode: async (inputPath, decodeRequest) => {
        const audio = await decode(inputPath, decodeRequest);
        files.push(audio.pcmPath);
        return audio;
      },
    },
    modelId: 'test/whisper',
    maxAudioSeconds: 600,
    maxFileMb: 20,
  });
  const measured = {} as TranscriptionMeasures;
  const context: TranscriptionContext = { log: pino({ level: 'silent' }), started: () => {}, progress: () => {}, measured, stopping: new AbortController().signal };
  const decodeDeadlines = async () => (await metrics.deadlinesExceeded.get()).values.find((v) => v.labels.stage === 'decode')?.value ?? 0;
  return { files, transcriber, context, measured, decodeDeadlines };
}

/** A decoder that writes the note's PCM file, as ffmpeg would. */
const decodesTo = (dir: string): AudioDecoder['decode'] => async () => {
  const pcmPath = path.join(dir, 'note.pcm');
  writeFileSync(pcmPath, Buffer.alloc(SECONDS * 16_000 * 2));
  return { pcmPath, sampleCount: SECONDS * 16_000, seconds: SECONDS };
};

describe('LocalTranscriber', () => {
  it('gives the transcript and removes the download and the note\'s PCM file', async () => {
    const { files, transcriber, context, measured, decodeDeadlines } = setUp(decodesTo, async (handed) => {
      expect(handed.every((f) => existsSync(f))).toBe(true);
      return poolResult('hello there');
    });
    const done = await transcriber.transcribe(request, context);
    expect(done.transcript.text).toBe('hello there');
    expect(done.transcript.audioSeconds).toBe(SECONDS);
    expect(measured.audioSeconds).toBe(SECONDS);
    expect(measured.decodeMs).toBeGreaterThanOrEqual(0);
    expect(files).toHaveLength(2);
    expect(files.filter((f) => existsSync(f))).toEqual([]);
    expect(await decodeDeadlines()).toBe(0);
  });

  it('removes both files when the pool fails, and the failure is the pool\'s', async () => {
    const { files, transcriber, context } = setUp(decodesTo, async () => {
      throw new Error('worker crashed');
    });
    await expect(transcriber.transcribe(request, context)).rejects.toThrow('worker crashed');
    expect(files).toHaveLength(2);
    expect(files.filter((f) => existsSync(f))).toEqual([]);
  });

  it('counts ffmpeg past its deadline as a decode deadline, and only that', async () => {
    for (const [failure, counted] of [['timed_out', 1], ['broken_audio', 0]] as const) {
      const { files, transcriber, context, decodeDeadlines } = setUp(
        () => async () => {
          throw new AudioError(failure, `ffmpeg: ${failure}`);
        },
        async () => poolResult('never'),
      );
      await expect(transcriber.transcribe(request, context)).rejects.toMatchObject({ failure });
      expect(await decodeDeadlines(), failure).toBe(counted);
      expect(files.filter((f) => existsSync(f))).toEqual([]);
    }
  });
});
