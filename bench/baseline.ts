// `npm run bench -- --baseline bare`: the project (ffmpeg + worker pool + our decode loop) and a bare
// onnxruntime loop on the same ONNX files, interleaved note by note in one run, so that the ratio
// holds on a machine whose load changes. Each side runs in a process of its own: five copies of a
// model in one process slowed one another by up to 1.6×, differently from run to run (README,
// "small's decoder ratio"). Also what beam search and the temperature fallback cost.
// Started by bench/run.ts; prints one line `BASELINE <json>` (a BaselineResult).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AsrPool } from '../src/asr/pool.js';
import { WINDOW_DEFAULTS } from '../src/asr/encoder-window.js';
import type { DecodingOptions, EncoderSettings, TranscriptionResult } from '../src/asr/protocol.js';
import { DecoderProcess, withDecodedAudio } from '../src/audio/decoder-process.js';
import { findFfmpeg } from '../src/audio/ffmpeg.js';
import { BareLoop, type BareInput, type BareNote } from './bare-loop.js';

export interface BaselineInput extends BareInput {
  model: string;
  clips: { file: string; seconds: number }[];
  runs: number;
  fixedTokensPerSecond: number | null;
  /** The project's side maps weights from the files as the bot does (ASR_MAP_WEIGHTS); the bare side loads them as onnxruntime does. */
  mapWeights: boolean;
  crossAttentionApart: boolean;
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

type Side = { kind: 'pool'; encoder: keyof typeof ENCODERS } | { kind: 'bare' } | { kind: 'bareInWorker' };
interface NoteRequest {
  file: string;
  decoding: Partial<DecodingOptions>;
  /** For the bare loop: the tokens the project decoded on the same note. */
  tokens: number;
}
interface SideRunner {
  note(request: NoteRequest): Promise<ProjectNote | BareNote>;
  close(): Promise<unknown>;
}

/** In the side's own process: what it runs, loaded. */
async function openSide(input: BaselineInput, side: Side): Promise<SideRunner> {
  if (side.kind === 'bare') {
    const bare = await BareLoop.load(input);
    return { note: ({ tokens }) => bare.note(tokens), close: async () => undefined };
  }
  if (side.kind === 'bareInWorker') {
    const worker = await bareWorker(input);
    return { note: ({ tokens }) => worker.note(tokens), close: () => worker.close() };
  }
  // As the bot does: ffmpeg from a process forked before the model loads (see decoder-process.ts).
  const decoder = new DecoderProcess({ ffmpegPath: findFfmpeg(process.env.FFMPEG_PATH).path });
  await decoder.start();
  const pool = new AsrPool({
    size: 1,
    init: { modelId: input.modelId, modelsDir: input.modelsDir, dtype: input.dtype, threads: input.threads, cpuArena: input.cpuArena, mapWeights: input.mapWeights, crossAttentionApart: input.crossAttentionApart, encoder: ENCODERS[side.encoder] },
    maxTasksPerWorker: 0,
    recycleRssMb: 0,
  });
  await pool.start();
  return {
    note: async ({ file, decoding }) => {
      const started = performance.now();
      return withDecodedAudio(decoder, file, { maxSeconds: 3600 }, async (audio) => {
        const decodeMs = performance.now() - started;
        const { result } = await pool.transcribe(audio, {
          language: 'en',
          task: 'transcribe',
          timestamps: false,
          decoding,
          ...(input.fixedTokensPerSecond ? { fixedTokensPerSecond: input.fixedTokensPerSecond } : {}),
        });
        return summarise(result, performance.now() - started, decodeMs);
      });
    },
    close: () => Promise.all([pool.close(), decoder.close()]),
  };
}

/** A side in a child process of its own (this file, run with `side`), answering one note at a time. */
async function sideProcess(input: BaselineInput, side: Side): Promise<SideRunner> {
  const child = fork(fileURLToPath(import.meta.url), ['side', JSON.stringify({ input, side })], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const [ready] = (await once(child, 'message')) as [string];
  if (ready !== 'ready') throw new Error(`baseline side ${JSON.stringify(side)}: ${ready}`);
  let pending: { resolve: (note: ProjectNote | BareNote) => void; reject: (error: Error) => void } | undefined;
  child.on('message', (note: ProjectNote | BareNote) => pending?.resolve(note));
  child.on('exit', (code) => pending?.reject(new Error(`baseline side ${JSON.stringify(side)} exited with ${code}`)));
  return {
    note: (request) =>
      new Promise((resolve, reject) => {
        pending = { resolve, reject };
        child.send(request);
      }),
    close: () => {
      const exited = once(child, 'exit');
      child.send('close');
      return exited;
    },
  };
}

async function measure(input: BaselineInput): Promise<BaselineResult> {
  // One at a time: loading is not what is measured, and two loads at once would only compete.
  const pools = {
    unfused: await sideProcess(input, { kind: 'pool', encoder: 'unfused' }),
    fused: await sideProcess(input, { kind: 'pool', encoder: 'fused' }),
    fusedFit: await sideProcess(input, { kind: 'pool', encoder: 'fusedFit' }),
  };
  const bare = await sideProcess(input, { kind: 'bare' });
  const worker = await sideProcess(input, { kind: 'bareInWorker' });
  const project = (file: string, decoding: Partial<DecodingOptions>, pool = pools.unfused) => pool.note({ file, decoding, tokens: 0 }) as Promise<ProjectNote>;
  const bareNote = (side: SideRunner, tokens: number) => side.note({ file: '', decoding: {}, tokens }) as Promise<BareNote>;
  const greedy = { beamSize: 1, temperatureFallback: false };

  // Warm-up: the first note of each pays for compiling and first allocations.
  for (const pool of Object.values(pools)) await project(input.clips[0]!.file, greedy, pool);
  await bareNote(bare, 8);
  await bareNote(worker, 8);

  const clips: BaselineClip[] = [];
  for (const clip of input.clips) {
    const greedyRuns: Pick<BaselineClip, 'project' | 'bare' | 'bareInWorker' | 'fused' | 'fusedFit'>[] = [];
    for (let i = 0; i < input.runs; i++) {
      const ours = await project(clip.file, greedy);
      greedyRuns.push({
        project: ours,
        bare: await bareNote(bare, ours.tokens),
        bareInWorker: await bareNote(worker, ours.tokens),
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
  await Promise.all([...Object.values(pools), bare, worker].map((side) => side.close()));
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

if (process.argv[2] === 'side') {
  const { input, side } = JSON.parse(process.argv[3]!) as { input: BaselineInput; side: Side };
  const runner = await openSide(input, side).catch((error: unknown) => {
    process.send!(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
  process.send!('ready');
  process.on('message', async (message: NoteRequest | 'close') => {
    if (message === 'close') {
      await runner.close();
      process.exit(0);
    }
    process.send!(await runner.note(message));
  });
} else if (process.argv[2]) {
  const result = await measure(JSON.parse(process.argv[2]) as BaselineInput);
  process.stdout.write(`BASELINE ${JSON.stringify(result)}\n`);
}
