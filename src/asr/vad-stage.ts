// The speech stage with Silero VAD: between decoding and Whisper, off the main thread. One worker
// thread of its own scores each note's frames (~0.3 ms per 32-ms frame on one core); segments and
// windows are planned here from the probabilities, by the pure modules.
import { Worker } from 'node:worker_threads';
import { AsrError } from './errors.js';
import { speechSamples, speechSegments, VAD_FRAME_SAMPLES, type VadOptions } from './vad-segments.js';
import { planSpeechWindows, type SpeechPlan, type SpeechStage } from './window-plan.js';

export type ToVadWorker = { type: 'score'; requestId: number; chunk: Float32Array; length: number; firstChunk: boolean } | { type: 'stop' };

export type FromVadWorker =
  | { type: 'ready' }
  | { type: 'load_failed'; message: string }
  /** The chunk's buffer comes back with the probabilities, to carry the next chunk. */
  | { type: 'scored'; requestId: number; probabilities: Float32Array; chunk: Float32Array }
  | { type: 'failed'; requestId: number; message: string };

/**
 * 20 s of audio per message: a note is never copied whole to the worker. One buffer goes back and
 * forth (transferred, not copied), so scoring leaves no dead buffers for either thread's GC.
 */
const CHUNK_SAMPLES = 625 * VAD_FRAME_SAMPLES;

/** The worker's JS holds a few kB per note; onnxruntime's memory is native. */
const VAD_WORKER_HEAP_LIMITS = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 64 };

function workerEntry(): URL {
  const fromSource = import.meta.url.endsWith('.ts');
  return new URL(fromSource ? './vad-worker-from-source.mjs' : './vad-worker.js', import.meta.url);
}

interface Scored {
  probabilities: Float32Array;
  chunk: Float32Array;
}

interface Pending {
  requestId: number;
  resolve: (scored: Scored) => void;
  reject: (error: Error) => void;
}

export class SileroVadStage implements SpeechStage {
  private worker?: Promise<Worker>;
  private pending?: Pending;
  private nextRequestId = 1;
  /** Notes are scored one at a time: the model's state belongs to one note. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private chunk: Float32Array = new Float32Array(CHUNK_SAMPLES);

  constructor(
    private readonly options: VadOptions,
    private readonly sampleRate: number,
    /** Called with each new worker thread: lets fault tests see it. */
    private readonly onSpawn?: (worker: Worker) => void,
  ) {}

  /** Loads the model; a model that cannot load stops startup. */
  async start(): Promise<void> {
    await this.spawned();
  }

  plan(samples: Float32Array): Promise<SpeechPlan> {
    const planned = this.queue.then(() => this.analyse(samples));
    this.queue = planned.catch(() => undefined);
    return planned;
  }

  /** Ends the worker between two frames (never terminate() it mid-run: that aborts the process). */
  async close(): Promise<void> {
    this.closed = true;
    const worker = await this.worker?.catch(() => undefined);
    if (!worker) return;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.postMessage({ type: 'stop' } satisfies ToVadWorker);
    await exited;
  }

  private async analyse(samples: Float32Array): Promise<SpeechPlan> {
    if (this.closed) throw new AsrError('failed', 'the VAD stage is closed');
    const started = performance.now();
    const probabilities = new Float32Array(Math.ceil(samples.length / VAD_FRAME_SAMPLES));
    for (let offset = 0; offset < samples.length; offset += CHUNK_SAMPLES) {
      const piece = samples.subarray(offset, offset + CHUNK_SAMPLES);
      // Detached when a worker died holding it.
      if (this.chunk.length === 0) this.chunk = new Float32Array(CHUNK_SAMPLES);
      this.chunk.set(piece);
      const scored = await this.score(this.chunk, piece.length, offset === 0);
      this.chunk = scored.chunk;
      probabilities.set(scored.probabilities, offset / VAD_FRAME_SAMPLES);
    }
    const segments = speechSegments(probabilities, samples.length, this.sampleRate, this.options);
    const first = segments[0];
    const last = segments.at(-1);
    return {
      windows: planSpeechWindows(segments, this.sampleRate),
      speechSeconds: speechSamples(segments) / this.sampleRate,
      vadMs: performance.now() - started,
      speechExtent: first && last ? { start: first.start / this.sampleRate, end: last.end / this.sampleRate } : null,
    };
  }

  private async score(chunk: Float32Array, length: number, firstChunk: boolean): Promise<Scored> {
    const worker = await this.spawned();
    return new Promise((resolve, reject) => {
      const requestId = this.nextRequestId++;
      this.pending = { requestId, resolve, reject };
      worker.postMessage({ type: 'score', requestId, chunk, length, firstChunk } satisfies ToVadWorker, [chunk.buffer as ArrayBuffer]);
    });
  }

  /** The worker, spawned again after it died: its death fails only the note it was scoring. */
  private spawned(): Promise<Worker> {
    this.worker ??= new Promise((resolve, reject) => {
      const worker = new Worker(workerEntry(), { workerData: { sampleRate: this.sampleRate }, resourceLimits: VAD_WORKER_HEAP_LIMITS });
      this.onSpawn?.(worker);
      let lastError: Error | undefined;
      let ready = false;
      worker.on('message', (message: FromVadWorker) => {
        if (message.type === 'ready') {
          ready = true;
          resolve(worker);
        } else if (message.type === 'load_failed') {
          reject(new Error(`the VAD worker could not load Silero VAD: ${message.message}`));
        } else if (this.pending?.requestId === message.requestId) {
          const { resolve: done, reject: fail } = this.pending;
          this.pending = undefined;
          if (message.type === 'scored') done(message);
          else fail(new AsrError('failed', `VAD worker: ${message.message}`));
        }
      });
      worker.on('error', (error) => {
        lastError = error;
      });
      worker.on('exit', (code) => {
        this.worker = undefined;
        const detail = lastError ? `${lastError.name}: ${lastError.message}` : `exit code ${code}`;
        if (!ready) reject(new Error(`the VAD worker exited before loading: ${detail}`));
        this.pending?.reject(new AsrError('failed', `the VAD worker died: ${detail}`));
        this.pending = undefined;
      });
    });
    return this.worker;
  }
}
