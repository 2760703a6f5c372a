// One benchmark configuration in a process of its own: the bot's decode and worker pool, measured.
// Started by bench/run.ts; prints one line `RESULT <json>` (a RunResult).
import { rm } from 'node:fs/promises';
import { MODEL_DTYPE } from '../src/asr/catalog.js';
import { AsrPool, type PoolResult } from '../src/asr/pool.js';
import { createHash } from 'node:crypto';
import type { EncoderSettings, ModelDtype } from '../src/asr/protocol.js';
import { DecoderProcess } from '../src/audio/decoder-process.js';
import { findFfmpeg, type DecodedAudio } from '../src/audio/ffmpeg.js';
import { percentiles } from '../src/jobs/job-stats.js';
import { inferenceRtf } from '../src/jobs/rtf.js';
import type { ClipResult, Distribution, RunResult, SoakResult } from './results.js';
import { fileRssMb, majorFaults, peakRssMb, resetPeakRss, vmstat } from './tier.js';

export interface MeasureInput {
  model: string;
  modelId: string;
  modelsDir: string;
  synthetic: boolean;
  dtype: string;
  memoryProfile: string;
  workers: number;
  threads: number;
  cpuArena: boolean;
  mapWeights: boolean;
  crossAttentionApart: boolean;
  /** Its `--encoder` name, and what that sets. */
  encoder: { name: string; settings: EncoderSettings };
  clips: { file: string; seconds: number; language: string }[];
  quick: boolean;
  fixedTokensPerSecond: number | null;
  /** Notes of the shortest clip to transcribe in a row at the end (0: no soak). */
  soak: number;
}

const MB = 2 ** 20;
const rssMb = () => process.memoryUsage.rss() / MB;

function distribution(values: number[]): Distribution {
  const { p50, p95 } = percentiles(values);
  return { p50, p95, max: Math.max(0, ...values) };
}

/** The dtype names the bench uses, as transformers.js takes them. */
function modelDtype(dtype: string): ModelDtype {
  return dtype === 'fp32-encoder' ? { encoder_model: 'fp32', decoder_model_merged: MODEL_DTYPE } : dtype;
}

function runsFor(seconds: number, quick: boolean): number {
  if (quick) return 1;
  return seconds <= 15 ? 5 : seconds <= 60 ? 2 : 1;
}

async function measure(input: MeasureInput): Promise<RunResult> {
  const importMb = rssMb();
  const swapBefore = vmstat();
  const faultsBefore = majorFaults();
  // As the bot does: ffmpeg from a process forked before the model loads (see decoder-process.ts).
  const decoder = new DecoderProcess({ ffmpegPath: findFfmpeg(process.env.FFMPEG_PATH).path });
  await decoder.start();

  const pool = new AsrPool({
    size: input.workers,
    init: { modelId: input.modelId, modelsDir: input.modelsDir, dtype: modelDtype(input.dtype), threads: input.threads, cpuArena: input.cpuArena, mapWeights: input.mapWeights, crossAttentionApart: input.crossAttentionApart, encoder: input.encoder.settings },
    maxTasksPerWorker: 0,
    recycleRssMb: 0,
  });
  let started = performance.now();
  await pool.start();
  const loadMs = performance.now() - started;
  const loadedMb = rssMb();
  // Loading can peak above any note (onnxruntime builds each session beside the weights it packs).
  const loadPeakMb = peakRssMb();

  const decoded: { clip: MeasureInput['clips'][number]; audio: DecodedAudio; decodeMs: number }[] = [];
  for (const clip of input.clips) {
    started = performance.now();
    const audio = await decoder.decode(clip.file, { maxSeconds: 3600 });
    decoded.push({ clip, audio, decodeMs: performance.now() - started });
  }
  const heaps = new Map<number, number>();
  const transcribe = async (audio: DecodedAudio): Promise<PoolResult> => {
    const result = await pool.transcribe(audio, {
      language: null,
      task: 'transcribe',
      timestamps: false,
      ...(input.fixedTokensPerSecond ? { fixedTokensPerSecond: input.fixedTokensPerSecond } : {}),
      // Random weights fail every temperature, which real models rarely do: what fallback costs is
      // measured apart (--baseline bare).
      ...(input.synthetic ? { decoding: { temperatureFallback: false } } : {}),
    });
    heaps.set(result.workerId, result.result.workerHeapMb + result.result.workerExternalMb);
    return result;
  };

  // Warm-up on the shortest clip: it is also the cold start to the first transcript.
  const shortest = decoded.reduce((a, b) => (b.audio.seconds < a.audio.seconds ? b : a));
  resetPeakRss();
  await transcribe(shortest.audio);
  const coldStartMs = performance.now();
  const firstNoteMb = rssMb();
  // The first note after the load runs each session for the first time: its peak is a phase of its own.
  const firstNotePeakMb = peakRssMb();

  const clips: ClipResult[] = [];
  for (const { clip, audio, decodeMs } of decoded) {
    const rtfs: number[] = [];
    let encoderMs = 0;
    let windows = 0;
    let decoderMs = 0;
    let tokens = 0;
    let text: string | undefined;
    const runs = runsFor(clip.seconds, input.quick);
    resetPeakRss();
    for (let i = 0; i < runs; i++) {
      const { result } = await transcribe(audio);
      rtfs.push(inferenceRtf(result.inferenceMs, audio.seconds));
      encoderMs += result.encoderMs;
      windows += result.chunks;
      decoderMs += result.decoderMs;
      tokens += result.tokens;
      text ??= result.text;
    }
    clips.push({
      seconds: clip.seconds,
      language: clip.language,
      runs,
      rtf: distribution(rtfs),
      decodeMs,
      encoderMsPerWindow: encoderMs / windows,
      decoderMsPerToken: decoderMs / Math.max(1, tokens),
      tokensPerRun: tokens / runs,
      peakMb: peakRssMb(),
      textHash: createHash('sha256').update(text ?? '').digest('hex').slice(0, 16),
    });
  }

  // Throughput: notes of about 15 s queued at once, two per worker.
  const typical = decoded.reduce((a, b) => (Math.abs(b.audio.seconds - 15) < Math.abs(a.audio.seconds - 15) ? b : a));
  const notes = Math.max(2, input.workers * 2);
  resetPeakRss();
  const submitted = performance.now();
  const waits = await Promise.all(
    Array.from({ length: notes }, async () => {
      const { result } = await transcribe(typical.audio);
      return performance.now() - submitted - result.inferenceMs;
    }),
  );
  const wallSeconds = (performance.now() - submitted) / 1000;
  const queuedPeakMb = peakRssMb();

  const steadyMb = rssMb();
  const steadyFileMb = fileRssMb();
  const soak = input.soak > 0 ? await soakRun(input.soak, shortest.audio, transcribe) : undefined;
  const swapAfter = vmstat();
  await Promise.all([pool.close(), decoder.close(), ...decoded.map(({ audio }) => rm(audio.pcmPath, { force: true }))]);
  return {
    model: input.model,
    modelId: input.modelId,
    synthetic: input.synthetic,
    dtype: input.dtype,
    memoryProfile: input.memoryProfile,
    encoder: input.encoder.name,
    workers: input.workers,
    threads: input.threads,
    loadMs,
    coldStartMs,
    memory: {
      importMb,
      loadedMb,
      loadPeakMb,
      firstNoteMb,
      firstNotePeakMb,
      queuedPeakMb,
      steadyMb,
      steadyFileMb,
      // ru_maxrss and VmHWM count slightly differently: the peak is the highest either saw. Each
      // phase's resetPeakRss() resets both, so each phase's peak is taken before the next.
      peakMb: Math.max(loadPeakMb, firstNotePeakMb, queuedPeakMb, process.resourceUsage().maxRSS / 1024, ...clips.map((c) => c.peakMb ?? 0), soak?.lastPeakMb ?? 0, soak?.firstPeakMb ?? 0),
      workerHeapMb: [...heaps.values()],
    },
    swap: { pswpin: swapAfter.pswpin - swapBefore.pswpin, pswpout: swapAfter.pswpout - swapBefore.pswpout, majorFaults: majorFaults() - faultsBefore },
    clips,
    throughput: {
      notes,
      clipSeconds: typical.audio.seconds,
      wallSeconds,
      audioSecondsPerWallSecond: (notes * typical.audio.seconds) / wallSeconds,
      queueWaitMs: distribution(waits.map((w) => Math.max(0, w))),
    },
    ...(soak ? { soak } : {}),
  };
}

async function soakRun(notes: number, audio: DecodedAudio, transcribe: (audio: DecodedAudio) => Promise<PoolResult>): Promise<SoakResult> {
  const peaks: number[] = [];
  for (let i = 0; i < notes; i++) {
    resetPeakRss();
    await transcribe(audio);
    peaks.push(peakRssMb());
    if ((i + 1) % 100 === 0) console.error(`  soak: ${i + 1}/${notes} notes, peak ${peaks.at(-1)!.toFixed(0)} MB`);
  }
  const window = Math.min(100, Math.floor(notes / 2));
  return {
    notes,
    clipSeconds: audio.seconds,
    firstPeakMb: Math.max(...peaks.slice(Math.min(10, window - 1), window)),
    lastPeakMb: Math.max(...peaks.slice(-window)),
  };
}

if (process.argv[2]) {
  const result = await measure(JSON.parse(process.argv[2]) as MeasureInput);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}
