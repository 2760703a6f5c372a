// Pure logic: no Telegram, ffmpeg or ONNX.
import { describe, expect, it } from 'vitest';
import { chooseModel, defaultPoolShape } from '../src/asr/model-choice.js';
import { SPEED_SAMPLES } from '../src/asr/speed-table.js';
import { fixedTokenBudget, maxNewTokens, planWindows } from '../src/asr/decoding-policy.js';
import { cutRepetitionLoops } from '../src/asr/transcript-cleanup.js';
import { gateStretchSamples, hasSpeech } from '../src/audio/speech-gate.js';
import { errorMessage, uiLanguageOf } from '../src/bot/i18n.js';
import { mediaOf } from '../src/bot/media.js';
import { splitMessage } from '../src/bot/text-split.js';
import { toSrt, withTimestamps } from '../src/bot/transcript-format.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { admit, type AdmissionLimits, type AdmissionRequest } from '../src/jobs/admission.js';
import { JOB_ERROR_CODES, JobError } from '../src/jobs/errors.js';
import { parsePeriod, percentiles } from '../src/jobs/job-stats.js';
import { inferenceRtf, totalRtf } from '../src/jobs/rtf.js';
import type { Message } from 'grammy/types';
import { REFERENCE, validateResults, type BenchResults, type RunResult } from '../bench/results.js';
import { formatReport, repeatedPeaks } from '../bench/report.js';
import { synthPcm } from './support/pcm.js';

describe('splitMessage', () => {
  it('keeps short text whole', () => {
    expect(splitMessage('Hello there.')).toEqual(['Hello there.']);
  });

  it('cuts long text on sentence boundaries, every part within the limit, nothing lost', () => {
    const sentences = Array.from({ length: 400 }, (_, i) => `Sentence number ${i} is here.`);
    const text = sentences.join(' ');
    const parts = splitMessage(text, 4096);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(4096);
      expect(p).toMatch(/\.$/);
    }
    expect(parts.join(' ')).toBe(text);
  });

  it('falls back to word boundaries, then to a hard cut', () => {
    const words = Array.from({ length: 3000 }, () => 'word').join(' ');
    for (const p of splitMessage(words, 100)) expect(p.length).toBeLessThanOrEqual(100);
    const blob = 'x'.repeat(250);
    expect(splitMessage(blob, 100)).toEqual(['x'.repeat(100), 'x'.repeat(100), 'x'.repeat(50)]);
  });
});

describe('cutRepetitionLoops', () => {
  it('cuts a phrase repeated in a loop to one occurrence', () => {
    const looped = `I went home. ${'thank you so much '.repeat(20)}Bye.`;
    expect(cutRepetitionLoops(looped)).toEqual({ text: 'I went home. thank you so much Bye.', cut: true });
  });

  it('cuts a single repeated token', () => {
    expect(cutRepetitionLoops(' bitterness'.repeat(50)).text).toBe('bitterness');
  });

  it('leaves ordinary speech and short repetitions alone', () => {
    const speech = 'No, no, no. I said the the meeting is at noon.';
    expect(cutRepetitionLoops(speech)).toEqual({ text: speech, cut: false });
  });

  it('cuts loops in scripts without spaces', () => {
    expect(cutRepetitionLoops('你好'.repeat(30)).text).toBe('你好');
  });
});

describe('planWindows', () => {
  it('keeps audio up to 30 s as one window', () => {
    expect(planWindows(30 * 16000, 16000)).toEqual([{ offset: 0, length: 480000, strideLeft: 0, strideRight: 0, isLast: true }]);
  });

  it('covers a 95-s note to its last sample with 5-s strides', () => {
    const windows = planWindows(95 * 16000, 16000);
    expect(windows).toHaveLength(5);
    const last = windows.at(-1)!;
    expect(last.offset + last.length).toBe(95 * 16000);
    expect(last.isLast).toBe(true);
    for (let i = 1; i < windows.length; i++) expect(windows[i]!.offset).toBe(windows[i - 1]!.offset + 20 * 16000);
  });

  it('bounds tokens per window', () => {
    expect(maxNewTokens(5)).toBe(66);
    expect(maxNewTokens(30)).toBe(316);
    expect(maxNewTokens(1000)).toBe(440);
    expect(fixedTokenBudget(9, 3)).toBe(27);
  });
});

describe('admission', () => {
  const limits: AdmissionLimits = { queueMax: 10, userJobsPerMinute: 3, userMaxActiveJobs: 2, memoryMinAvailableMb: 100, maxFileMb: 20, maxAudioSeconds: 600, maxUpdateAgeSeconds: 3600 };
  const now = 1_700_000_000_000;
  const ok: AdmissionRequest = { now, sentAt: now - 1000, fileSizeBytes: 10_000, claimedSeconds: 9, pendingJobs: 0, userActiveJobs: 0, userJobsLastMinute: 0, userOldestJobLastMinute: null, availableMemoryMb: 500 };

  it('accepts an ordinary voice note', () => {
    expect(admit(ok, limits)).toBeNull();
  });

  it.each([
    [{ sentAt: now - 2 * 3600_000 }, 'stale'],
    [{ fileSizeBytes: 21 * 2 ** 20 }, 'too_large'],
    [{ claimedSeconds: 601 }, 'too_long'],
    [{ userActiveJobs: 2 }, 'busy_user'],
    [{ userJobsLastMinute: 3, userOldestJobLastMinute: now - 45_000 }, 'rate_limited'],
    [{ pendingJobs: 10 }, 'queue_full'],
    [{ availableMemoryMb: 50 }, 'low_memory'],
  ] as const)('refuses %o as %s', (change, code) => {
    expect(admit({ ...ok, ...change }, limits)?.code).toBe(code);
  });

  it('tells a rate-limited user when the window frees up', () => {
    expect(admit({ ...ok, userJobsLastMinute: 3, userOldestJobLastMinute: now - 45_000 }, limits)?.params.retryAfterSeconds).toBe(15);
  });

  it('has a user-facing message, in English and Russian, for every error code', () => {
    for (const code of JOB_ERROR_CODES) {
      const error = new JobError(code, 'detail', { maxMb: 20, maxSeconds: 600, retryAfterSeconds: 30 });
      for (const lang of ['en', 'ru']) {
        const text = errorMessage(lang, error);
        expect(text.length, `${lang} ${code}`).toBeGreaterThan(5);
        expect(text).not.toMatch(/undefined|NaN/);
      }
    }
  });
});

describe('configuration', () => {
  const machine = { vcpus: 2, memoryMb: 1024 };
  const env = { BOT_TOKEN: '1:abc' };

  it('applies defaults and picks small on a 1 GB machine, base when AUTO_MAX_RTF asks for more speed', () => {
    const config = loadConfig(env, machine);
    expect(config).toMatchObject({ telegramApiRoot: 'https://api.telegram.org', maxFileMb: 20, asrWorkers: 1, asrThreads: 2, modelId: 'Xenova/whisper-small' });
    expect(config.modelReason).toMatch(/^auto: small, the largest within memory budget 870 MB/);
    expect(loadConfig({ ...env, AUTO_MAX_RTF: '0.2' }, machine).modelId).toBe('Xenova/whisper-base');
    expect(config.databasePath.endsWith('data/voicebot.sqlite')).toBe(true);
    expect(loadConfig({ ...env, AUTO_MAX_RTF: '0.6' }, { vcpus: 2, memoryMb: 2048 }).modelId).toBe('Xenova/whisper-small');
    expect(config.asrDecoding).toEqual({ beamSize: 1, temperatureFallback: true, bestOf: 5, conditionOnPreviousText: false });
    expect(config.asrCrossAttentionApart).toBe(true);
    expect(loadConfig({ ...env, ASR_CROSS_ATTENTION_APART: 'false' }, machine).asrCrossAttentionApart).toBe(false);
    expect(loadConfig({ ...env, ASR_BEAM_SIZE: '5', ASR_TEMPERATURE_FALLBACK: 'false', ASR_BEST_OF: '1' }, machine).asrDecoding).toMatchObject({ beamSize: 5, temperatureFallback: false, bestOf: 1 });
    expect(() => loadConfig({ ...env, ASR_BEST_OF: '0' }, machine)).toThrow(/ASR_BEST_OF/);
  });

  it('reads the memory profile glibc runs with: unset, its defaults; the image\'s settings and a top pad, as given', () => {
    expect(loadConfig(env, machine).malloc).toEqual({});
    const image = { MALLOC_ARENA_MAX: '1', MALLOC_MMAP_THRESHOLD_: '1048576', MALLOC_TRIM_THRESHOLD_: '4294967295', MALLOC_TOP_PAD_: '131072' };
    expect(loadConfig({ ...env, ...image }, machine).malloc).toEqual({ arenaMax: 1, mmapThreshold: 1048576, trimThreshold: 4294967295, topPad: 131072 });
  });

  it.each([
    [{}, 'BOT_TOKEN'],
    [{ BOT_TOKEN: 'nope' }, 'BOT_TOKEN'],
    [{ ...env, MAX_FILE_MB: 'twenty' }, 'MAX_FILE_MB'],
    [{ ...env, HTTP_PORT: '70000' }, 'HTTP_PORT'],
    [{ ...env, ADMIN_IDS: '1,x' }, 'ADMIN_IDS'],
    [{ ...env, WHISPER_MODEL: 'huge!' }, 'WHISPER_MODEL'],
    [{ ...env, TELEGRAM_API_ROOT: 'ftp://x' }, 'TELEGRAM_API_ROOT'],
    [{ ...env, ASR_WORKERS: '2', ASR_THREADS: '2' }, 'ASR_THREADS'],
    [{ ...env, LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ ...env, ASR_CPU_ARENA: 'maybe' }, 'ASR_CPU_ARENA'],
    [{ ...env, ASR_CROSS_ATTENTION_APART: 'sometimes' }, 'ASR_CROSS_ATTENTION_APART'],
    [{ ...env, ASR_BEAM_SIZE: '0' }, 'ASR_BEAM_SIZE'],
    [{ ...env, ASR_TEMPERATURE_FALLBACK: 'sometimes' }, 'ASR_TEMPERATURE_FALLBACK'],
    [{ ...env, ASR_CONDITION_ON_PREVIOUS_TEXT: '2' }, 'ASR_CONDITION_ON_PREVIOUS_TEXT'],
    [{ ...env, WEBHOOK_URL: 'https://bot.example' }, 'WEBHOOK_SECRET'],
    [{ ...env, MALLOC_MMAP_THRESHOLD_: '' }, 'MALLOC_MMAP_THRESHOLD_'],
    [{ ...env, MALLOC_MMAP_THRESHOLD_: '0' }, 'MALLOC_MMAP_THRESHOLD_'],
    [{ ...env, MALLOC_TRIM_THRESHOLD_: '' }, 'MALLOC_TRIM_THRESHOLD_'],
    [{ ...env, MALLOC_TOP_PAD_: '64M' }, 'MALLOC_TOP_PAD_'],
    [{ ...env, MALLOC_ARENA_MAX: '' }, 'MALLOC_ARENA_MAX'],
    [{ ...env, MALLOC_ARENA_MAX: '0' }, 'MALLOC_ARENA_MAX'],
  ])('stops on %o naming %s', (bad, variable) => {
    try {
      loadConfig(bad, machine);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe(variable);
      expect((error as Error).message.startsWith(`${variable}:`)).toBe(true);
    }
  });

  it('takes short model names and hub ids', () => {
    expect(loadConfig({ ...env, WHISPER_MODEL: 'tiny' }, machine).modelId).toBe('Xenova/whisper-tiny');
    expect(loadConfig({ ...env, WHISPER_MODEL: 'org/my-whisper' }, machine).modelId).toBe('org/my-whisper');
  });
});

describe('model choice and pool shape', () => {
  it('never plans more threads than vCPUs', () => {
    expect(defaultPoolShape(1)).toEqual({ workers: 1, threads: 1 });
    expect(defaultPoolShape(2)).toEqual({ workers: 1, threads: 2 });
    expect(defaultPoolShape(8)).toEqual({ workers: 4, threads: 2 });
    expect(defaultPoolShape(4, 4)).toEqual({ workers: 4, threads: 1 });
  });

  it('takes the largest model that fits, and says so when none does', () => {
    // Speed set aside (any RTF accepted): memory alone decides.
    const anySpeed = { maxRtf: 100, samples: SPEED_SAMPLES };
    expect(chooseModel({ vcpus: 2, memoryMb: 1024 }, { workers: 1, threads: 2 }, anySpeed).model.name).toBe('small');
    expect(chooseModel({ vcpus: 2, memoryMb: 1024 }, { workers: 2, threads: 1 }, anySpeed).model.name).toBe('base');
    expect(chooseModel({ vcpus: 2, memoryMb: 640 }, { workers: 2, threads: 1 }, anySpeed).model.name).toBe('tiny');
    expect(chooseModel({ vcpus: 2, memoryMb: 1800 }, { workers: 1, threads: 2 }, anySpeed).model.name).toBe('small');
    expect(chooseModel({ vcpus: 2, memoryMb: 2048 }, { workers: 1, threads: 2 }, anySpeed).model.name).toBe('medium');
    expect(chooseModel({ vcpus: 4, memoryMb: 2560 }, { workers: 2, threads: 2 }, anySpeed).model.name).toBe('small');
    expect(chooseModel({ vcpus: 2, memoryMb: 256 }, { workers: 1, threads: 2 }, anySpeed).reason).toMatch(/no model fits/);
    expect(chooseModel({ vcpus: 8, memoryMb: 8192 }, { workers: 1, threads: 8 }, anySpeed).model.name).toBe('medium');
  });
});

describe('RTF, percentiles and periods', () => {
  it('computes both real-time factors', () => {
    expect(inferenceRtf(2700, 9)).toBeCloseTo(0.3);
    expect(totalRtf({ queueWaitMs: 1000, downloadMs: 200, decodeMs: 100, inferenceMs: 2700 }, 10)).toBeCloseTo(0.4);
    expect(inferenceRtf(100, 0)).toBe(0);
  });

  it('takes nearest-rank percentiles', () => {
    expect(percentiles([5, 1, 3, 2, 4])).toEqual({ p50: 3, p95: 5, n: 5 });
    expect(percentiles([])).toEqual({ p50: 0, p95: 0, n: 0 });
  });

  it('parses /stats periods', () => {
    expect(parsePeriod('24h')).toBe(86_400_000);
    expect(parsePeriod('7d')).toBe(604_800_000);
    expect(parsePeriod('all')).toBe(Infinity);
    expect(parsePeriod('soon')).toBeUndefined();
  });
});

describe('speech gate', () => {
  it('finds no speech in silence or faint hiss, and speech in a voice-level signal', () => {
    expect(hasSpeech([new Int16Array(16000 * 5)], 16000)).toBe(false);
    expect(hasSpeech([synthPcm(5, () => (Math.random() - 0.5) * 0.002)], 16000)).toBe(false);
    expect(hasSpeech([synthPcm(5, (i) => 0.2 * Math.sin(i / 10))], 16000)).toBe(true);
    // The gate's level (-40 dBFS RMS) on either side: a sine's RMS is its amplitude over √2.
    expect(hasSpeech([synthPcm(5, (i) => 0.012 * Math.sin(i / 10))], 16000)).toBe(false);
    expect(hasSpeech([synthPcm(5, (i) => 0.016 * Math.sin(i / 10))], 16000)).toBe(true);
  });

  it('judges a note read in stretches of whole frames as it judges the whole note', () => {
    // 0.21 s of voice (just over the 0.2 s it takes) across the first stretch's end.
    const stretch = gateStretchSamples(16000);
    const note = synthPcm((2 * stretch) / 16000, (i) => (Math.abs(i - stretch) < 0.105 * 16000 ? 0.2 * Math.sin(i / 10) : 0));
    const stretches = [note.subarray(0, stretch), note.subarray(stretch)];
    expect(hasSpeech([note], 16000)).toBe(true);
    expect(hasSpeech(stretches, 16000)).toBe(true);
    const shorter = note.map((s, i) => (Math.abs(i - stretch) < 0.09 * 16000 ? s : 0));
    expect(hasSpeech([shorter], 16000)).toBe(false);
    expect(hasSpeech([shorter.subarray(0, stretch), shorter.subarray(stretch)], 16000)).toBe(false);
  });
});

describe('media and formatting', () => {
  const base = { message_id: 1, date: 0, chat: { id: 1, type: 'private', first_name: 'a' } };
  it('recognises voice notes, round videos and audio documents, not other documents', () => {
    const file = { file_id: 'f', file_unique_id: 'u', file_size: 10, duration: 3 };
    expect(mediaOf({ ...base, voice: { ...file } } as unknown as Message)?.kind).toBe('voice');
    expect(mediaOf({ ...base, video_note: { ...file, length: 240 } } as unknown as Message)?.kind).toBe('video_note');
    expect(mediaOf({ ...base, document: { file_id: 'f', file_unique_id: 'u', file_name: 'memo.m4a' } } as unknown as Message)?.kind).toBe('document');
    expect(mediaOf({ ...base, document: { file_id: 'f', file_unique_id: 'u', file_name: 'report.pdf', mime_type: 'application/pdf' } } as unknown as Message)).toBeUndefined();
  });

  it('writes [mm:ss] marks and SubRip', () => {
    const segments = [{ start: 0, end: 2.5, text: 'Hello.' }, { start: 65.2, end: 70, text: 'Later.' }];
    expect(withTimestamps(segments)).toBe('[00:00] Hello.\n[01:05] Later.');
    expect(toSrt(segments)).toBe('1\n00:00:00,000 --> 00:00:02,500\nHello.\n\n2\n00:01:05,200 --> 00:01:10,000\nLater.\n');
  });

  it('answers Russian speakers in Russian', () => {
    expect(uiLanguageOf('ru')).toBe('ru');
    expect(uiLanguageOf('en-US')).toBe('en');
    expect(uiLanguageOf(undefined)).toBe('en');
  });
});

describe('bench results file', () => {
  const run: RunResult = {
    model: 'base', modelId: 'Xenova/whisper-base', synthetic: true, dtype: 'q8', memoryProfile: 'lean', workers: 1, threads: 1,
    loadMs: 1500, coldStartMs: 5000,
    memory: { importMb: 55, loadedMb: 250, firstNoteMb: 320, steadyMb: 310, peakMb: 410, workerHeapMb: [40] },
    swap: { pswpin: 0, pswpout: 0, majorFaults: 3 },
    clips: [{ seconds: 9, language: 'en', runs: 5, rtf: { p50: 0.3, p95: 0.32, max: 0.33 }, decodeMs: 40, encoderMsPerWindow: 1300, decoderMsPerToken: 20, tokensPerRun: 27 }],
    throughput: { notes: 2, clipSeconds: 15, wallSeconds: 8, audioSecondsPerWallSecond: 3.7, queueWaitMs: { p50: 10, p95: 4000, max: 4000 } },
  };
  const file = (r: RunResult): BenchResults => ({
    schema: 'voicebot-bench/1', createdAt: '2026-11-26T00:00:00Z',
    tier: { name: '1gb-swap-1vcpu', vcpus: 1, memoryMb: 1024, swapMb: 1024, cpuModel: 'x', emulation: 'host' },
    settings: { quick: false, fixedTokensPerSecond: 3 }, runs: [r], reference: REFERENCE,
  });

  it('accepts files with or without the per-clip peaks and the soak', () => {
    expect(validateResults(file(run))).toEqual([]);
    const measured = { ...run, clips: [{ ...run.clips[0]!, peakMb: 403 }], soak: { notes: 1000, clipSeconds: 5, firstPeakMb: 407, lastPeakMb: 410 } };
    expect(validateResults(file(measured))).toEqual([]);
  });

  it('accepts the load peak and the file-backed part of the steady RSS, and the report shows them beside the RSS', () => {
    const mapped = { ...run, memory: { ...run.memory, loadPeakMb: 380, steadyFileMb: 99 } };
    expect(validateResults(file(mapped))).toEqual([]);
    expect(formatReport(file(mapped))).toContain('| 250 (380) | 320 | 310 (99) |');
    expect(formatReport(file(run))).toContain('| 250 | 320 | 310 |');
  });

  it('reports the peaks of a configuration measured more than once, run by run, and nothing for one run each', () => {
    const measuredAt = (peakMb: number, clipPeak: number): RunResult => ({ ...run, memory: { ...run.memory, peakMb }, clips: [{ ...run.clips[0]!, peakMb: clipPeak }] });
    const other = { ...measuredAt(500, 480), model: 'small' };
    const runs = [measuredAt(293, 290), other, measuredAt(305, 303), measuredAt(295, 295)];
    const repeated = repeatedPeaks(runs);
    expect(repeated.map((g) => [g.run.model, g.peaks, [...g.clipPeaks]])).toEqual([['base', [293, 305, 295], [[9, [290, 303, 295]]]]]);
    const report = formatReport({ ...file(run), runs });
    expect(report).toContain('### Peak RSS over repeated runs');
    expect(report).toContain('| base* | q8 lean | 1×1 | 3 | 293, 305, 295 (max 305) | 290, 303, 295 (max 303) |');
    expect(formatReport({ ...file(run), runs: [runs[0]!, other] })).not.toContain('repeated runs');
  });

  it('names what is wrong, in optional parts too', () => {
    const broken = { ...run, clips: [{ ...run.clips[0]!, peakMb: 'high' }], soak: { notes: 1000, clipSeconds: 5, firstPeakMb: 407 } } as unknown as RunResult;
    expect(validateResults(file(broken))).toEqual([
      '$.runs[0].clips[0].peakMb: expected number, got "high"',
      '$.runs[0].soak.lastPeakMb: expected number, got undefined',
    ]);
    expect(validateResults(file({ ...run, clips: [] }))).toEqual(['$.runs[0].clips: no clips']);
  });
});
