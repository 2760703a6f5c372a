// `npm run bench -- --baseline bare`: the project (ffmpeg + worker pool + our decode loop) and a bare
// onnxruntime loop on the same ONNX files, interleaved note by note in one process, so that the ratio
// holds on a machine whose load changes. Also what beam search and the temperature fallback cost.
// Started by bench/run.ts; prints one line `BASELINE <json>` (a BaselineResult).
import { Worker } from 'node:worker_threads';
import { AsrPool } from '../src/asr/pool.js';
import { WINDOW_DEFAULTS } from '../src/asr/encoder-window.js';
import type { DecodingOptions, EncoderSettings, TranscriptionResult } from '../src/asr/protocol.js';
import { DecoderProcess } from '../src/audio/decoder-process.js';
import { findFfmpeg } from '../src/audio/ffmpeg.js';
import { BareLoop, type BareInput, type BareNote } from './bare-loop.js';

export interface BaselineInput extends BareInput {
  model: string;
  clips: { file: string; seconds: number }[];
  runs: number;
  fixedTokensPerSecond: number | null;
}

export interface ProjectNote {
  /** ffmpeg decode + inference (features, encoder, decoder, text). */
  totalMs: number;
  /** ffmpeg alone. */
  decodeMs: number;
  /** The worker's own measure: features, encoder, decoder, text (total less ffmpeg and the hand-over). */
  inferenceMs: number;
  encoderMs: number;
  decoderMsPerToken: number;
  tokens: number;
  decoderRuns: number;
  fallbacks: number;
}

export interface BaselineClip {
  seconds: number;
  /** Medians over the runs. The hub's graph unchanged and the 30-s window: the same graph the bare loop runs. */
  project: ProjectNote;
  /** As the bot runs by default: attention fused at load, 30-s window. */
  fused: ProjectNote;
  /** Fused, and the encoder's window fitted to the note (ASR_WINDOW=fit). */
  fusedFit: ProjectNote;
  bare: BareNote;
  /** The bare loop on a worker thread with the pool's V8 heap limits: what the thread itself costs. */
  bareInWorker: BareNote;
  beam: ProjectNote;
  fallback: ProjectNote;
}

export interface BaselineResult {
  model: string;
  threads: number;
  clips: BaselineClip[];
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
function medianOf<T extends object>(notes: T[]): T {
  return Object.fromEntries(Object.keys(notes[0]!).map((k) => [k, median(notes.map((n) => n[k as keyof T] as number))])) as T;
}

/** The pool's heap limits (src/asr/pool.ts), so that the bare worker runs under the same V8 settings. */
const POOL_HEAP_LIMITS = { maxYoungGenerationSizeMb: 3, maxOldGenerationSizeMb: 512 };

async function bareWorker(input: BareInput): Promise<{ note(tokens: number): Promise<BareNote>; close(): Promise<number> }> {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(fromSource ? './bare-loop-from-source.mjs' : './bare-loop.js', import.meta.url);
  const worker = new Worker(entry, { workerData: { ...input, bareLoop: true }, resourceLimits: POOL_HEAP_LIMITS });
  await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    note: (tokens) =>
      new Promise((resolve) => {
        worker.once('message', resolve);
        worker.postMessage({ tokens });
      }),
    close: () => worker.terminate(),
  };
}

/** The three encoders compared: the hub's graph as the bare loop runs it, and the bot's two modes. */
const ENCODERS: Record<'unfused' | 'fused' | 'fusedFit', EncoderSettings> = {
  unfused: { fusedAttention: false, window: { mode: 'full', ...WINDOW_DEFAULTS } },
  fused: { fusedAttention: true, window: { mode: 'full', ...WINDOW_DEFAULTS } },
  fusedFit: { fusedAttention: true, window: { mode: 'fit', ...WINDOW_DEFAULTS } },
};

async function measure(input: BaselineInput): Promise<BaselineResult> {
  // As the bot does: ffmpeg from a process forked before the model loads (see decoder-process.ts).
  const decoder = new DecoderProcess({ ffmpegPath: findFfmpeg(process.env.FFMPEG_PATH).path });
  await decoder.start();
  const pools = Object.fromEntries(
    Object.entries(ENCODERS).map(([name, encoder]) => [
      name,
      new AsrPool({
        size: 1,
        init: { modelId: input.modelId, modelsDir: input.modelsDir, dtype: input.dtype, threads: input.threads, cpuArena: input.cpuArena, encoder },
        maxTasksPerWorker: 0,
        recycleRssMb: 0,
      }),
    ]),
  ) as Record<keyof typeof ENCODERS, AsrPool>;
  // One at a time: loading is not what is measured, and two loads at once would only compete.
  for (const pool of Object.values(pools)) await pool.start();
  const bare = await BareLoop.load(input);
  const worker = await bareWorker(input);

  const project = async (file: string, decoding: Partial<DecodingOptions>, pool = pools.unfused): Promise<ProjectNote> => {
    const started = performance.now();
    const audio = await decoder.decode(file, { maxSeconds: 3600 });
    const decodeMs = performance.now() - started;
    const { result } = await pool.transcribe(audio.samples, {
      language: 'en',
      task: 'transcribe',
      timestamps: false,
      decoding,
      ...(input.fixedTokensPerSecond ? { fixedTokensPerSecond: input.fixedTokensPerSecond } : {}),
    });
    return summarise(result, performance.now() - started, decodeMs);
  };
  const greedy = { beamSize: 1, temperatureFallback: false };

  // Warm-up: the first note of each pays for compiling and first allocations.
  for (const pool of Object.values(pools)) await project(input.clips[0]!.file, greedy, pool);
  await bare.note(8);
  await worker.note(8);

  const clips: BaselineClip[] = [];
  for (const clip of input.clips) {
    const greedyRuns: Pick<BaselineClip, 'project' | 'bare' | 'bareInWorker' | 'fused' | 'fusedFit'>[] = [];
    for (let i = 0; i < input.runs; i++) {
      const ours = await project(clip.file, greedy);
      greedyRuns.push({
        project: ours,
        bare: await bare.note(ours.tokens),
        bareInWorker: await worker.note(ours.tokens),
        fused: await project(clip.file, greedy, pools.fused),
        fusedFit: await project(clip.file, greedy, pools.fusedFit),
      });
    }
    // After the greedy runs: the figures the targets are about are taken back to back, note by note.
    const costlyRuns: Pick<BaselineClip, 'beam' | 'fallback'>[] = [];
    for (let i = 0; i < input.runs; i++) {
      costlyRuns.push({
        beam: await project(clip.file, { beamSize: 5, temperatureFallback: false }),
        fallback: await project(clip.file, { beamSize: 1, temperatureFallback: true }),
      });
    }
    clips.push({
      seconds: clip.seconds,
      project: medianOf(greedyRuns.map((r) => r.project)),
      bare: medianOf(greedyRuns.map((r) => r.bare)),
      bareInWorker: medianOf(greedyRuns.map((r) => r.bareInWorker)),
      fused: medianOf(greedyRuns.map((r) => r.fused)),
      fusedFit: medianOf(greedyRuns.map((r) => r.fusedFit)),
      beam: medianOf(costlyRuns.map((r) => r.beam)),
      fallback: medianOf(costlyRuns.map((r) => r.fallback)),
    });
  }
  await Promise.all([...Object.values(pools).map((pool) => pool.close()), worker.close(), decoder.close()]);
  return { model: input.model, threads: input.threads, clips };
}

function summarise(result: TranscriptionResult, totalMs: number, decodeMs: number): ProjectNote {
  return {
    totalMs,
    decodeMs,
    inferenceMs: result.inferenceMs,
    encoderMs: result.encoderMs,
    decoderMsPerToken: result.decoderMs / Math.max(1, result.tokens),
    tokens: result.tokens,
    decoderRuns: result.decoderRuns,
    fallbacks: result.fallbacks,
  };
}

if (process.argv[2]) {
  const result = await measure(JSON.parse(process.argv[2]) as BaselineInput);
  process.stdout.write(`BASELINE ${JSON.stringify(result)}\n`);
}
