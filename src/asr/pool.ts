// A pool of ASR worker threads. Inference never runs on the main thread.
// A worker that dies, or passes its transcription's deadline, is replaced and its transcription retried once on the
// fresh one; a replacement that cannot load is retried with backoff.
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { PcmAudio } from '../audio/pcm-file.js';
import { SAMPLE_RATE } from '../audio/pcm.js';
import { transcribeDeadlineMs } from './transcribe-deadline.js';
import { AsrError } from './errors.js';
import type { FromWorker, ToWorker, TranscribeRequest, TranscriptionResult, WorkerInit } from './protocol.js';
import type { SpeechPlan } from './window-plan.js';

export interface PoolOptions {
  size: number;
  init: Omit<WorkerInit, 'workerId'>;
  /** Replace a worker after this many transcriptions (0: never), so slow leaks in native code cannot pile up. */
  maxTasksPerWorker: number;
  /** Replace a worker when process RSS is above this after a transcription (0: never). */
  recycleRssMb: number;
  /** Called with each new Worker: lets operators and fault tests see the threads. */
  onSpawn?: (worker: Worker, workerId: number) => void;
  /** How long a transcription on audio of this length may run before its worker counts as stuck (default: transcribeDeadlineMs). */
  transcriptionDeadlineMs?: (audioSeconds: number) => number;
  /** Wait before respawning after this many load failures in a row (default: 1 s doubling to 60 s). */
  respawnDelayMs?: (failuresInARow: number) => number;
}

/** Load failures in a row, with no worker ready, after which the pool reports itself unavailable. */
export const UNAVAILABLE_AFTER_FAILURES = 5;

function defaultRespawnDelayMs(failuresInARow: number): number {
  return Math.min(60_000, 1_000 * 2 ** Math.max(0, failuresInARow - 1));
}

export interface PoolResult {
  result: TranscriptionResult;
  /** What the worker's Silero VAD found, when it planned the windows (WorkerInit.vad). */
  speech?: SpeechPlan;
  workerId: number;
  threads: number;
}

export type WorkerExitReason = 'out_of_memory' | 'crashed' | 'recycled' | 'load_failed' | 'timed_out';

export interface PoolEvents {
  worker_ready: [{ workerId: number; loadMs: number; loadNotes: string[] }];
  worker_exit: [{ workerId: number; reason: WorkerExitReason; detail: string; jobs: number }];
  /** No worker is ready and the last UNAVAILABLE_AFTER_FAILURES spawns failed to load; respawning goes on. */
  unavailable: [{ failuresInARow: number; lastError: string }];
}

/**
 * V8 limits of an ASR worker. Its JS heap holds little (tokenizer and configs, ~35 MB); onnxruntime's
 * outputs live outside it, and are freed only when the small objects that own them are collected.
 * A 3 MB young generation (V8 lets it grow to 48) collects those owners often: 30–40 MB less peak at
 * base size, no speed difference the bench could see. The old-generation cap makes a runaway JS heap
 * end this worker (ERR_WORKER_OUT_OF_MEMORY, replaced like a crash) instead of the whole bot.
 */
const WORKER_HEAP_LIMITS = { maxYoungGenerationSizeMb: 3, maxOldGenerationSizeMb: 512 };

interface PendingTranscription {
  /** The note's PCM file, which the worker reads (and a retry on a fresh worker reads again). */
  audio: PcmAudio;
  request: TranscribeRequest;
  onProgress: (done: number, total: number) => void;
  resolve: (r: PoolResult) => void;
  reject: (e: Error) => void;
  attempts: number;
}

/** Longer than any single encoder or decoder run, even of medium on a loaded 1-vCPU VPS. */
const STOP_GRACE_MS = 30_000;

interface Slot {
  id: number;
  worker: Worker;
  ready: boolean;
  running?: PendingTranscription & { requestId: number };
  jobs: number;
  retiring: boolean;
  /** The running transcription's deadline; when it fires the worker is stopped and replaced like a crashed one. */
  deadline?: NodeJS.Timeout;
  timedOut: boolean;
}

/** Compiled JS in production; from TypeScript source, a bootstrap that registers tsx first. */
function workerEntry(): URL {
  const fromSource = import.meta.url.endsWith('.ts');
  return new URL(fromSource ? './worker-from-source.mjs' : './worker.js', import.meta.url);
}

export class AsrPool extends EventEmitter<PoolEvents> {
  private readonly slots = new Map<number, Slot>();
  private readonly waiting: PendingTranscription[] = [];
  private nextWorkerId = 1;
  private nextRequestId = 1;
  private closed = false;
  private loadFailure?: Error;
  private loadFailuresInARow = 0;
  private unavailableReported = false;
  private readonly respawns = new Set<NodeJS.Timeout>();

  constructor(private readonly options: PoolOptions) {
    super();
  }

  /** Spawns the workers and resolves once every one has loaded the model. */
  async start(): Promise<void> {
    const ready = Array.from({ length: this.options.size }, () => this.spawn());
    await Promise.all(ready);
  }

  get size(): number {
    return this.options.size;
  }

  get threads(): number {
    return this.options.init.threads;
  }

  get busyWorkers(): number {
    return [...this.slots.values()].filter((s) => s.running).length;
  }

  get readyWorkers(): number {
    return [...this.slots.values()].filter((s) => s.ready && !s.retiring).length;
  }

  /** Transcribes a decoded note; its PCM file must stay until this settles. */
  transcribe(audio: PcmAudio, request: TranscribeRequest, onProgress: (done: number, total: number) => void = () => {}): Promise<PoolResult> {
    if (this.closed) return Promise.reject(new AsrError('failed', 'the ASR pool is closed'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ audio: { pcmPath: audio.pcmPath, sampleCount: audio.sampleCount }, request, onProgress, resolve, reject, attempts: 0 });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.respawns) clearTimeout(timer);
    this.respawns.clear();
    for (const transcription of this.waiting.splice(0)) transcription.reject(new AsrError('failed', 'the ASR pool closed'));
    await Promise.all([...this.slots.values()].map((s) => this.stop(s)));
    this.slots.clear();
  }

  /**
   * Ends a worker between two onnxruntime runs (a thread torn down mid-run aborts the whole process,
   * see native-runs.ts). A run still going after STOP_GRACE_MS is stuck: the thread is terminated
   * anyway, as the last resort.
   */
  private stop(slot: Slot): Promise<void> {
    const exited = new Promise<void>((resolve) => slot.worker.once('exit', () => resolve()));
    slot.worker.postMessage({ type: 'stop' } satisfies ToWorker);
    const stuck = setTimeout(() => void slot.worker.terminate(), STOP_GRACE_MS);
    return exited.finally(() => clearTimeout(stuck));
  }

  private spawn(): Promise<void> {
    const id = this.nextWorkerId++;
    const worker = new Worker(workerEntry(), {
      workerData: { ...this.options.init, workerId: id } satisfies WorkerInit,
      resourceLimits: WORKER_HEAP_LIMITS,
    });
    const slot: Slot = { id, worker, ready: false, jobs: 0, retiring: false, timedOut: false };
    this.slots.set(id, slot);
    this.options.onSpawn?.(worker, id);

    return new Promise((resolve, reject) => {
      let lastError: Error | undefined;
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          slot.ready = true;
          this.loadFailuresInARow = 0;
          this.unavailableReported = false;
          this.emit('worker_ready', { workerId: id, loadMs: message.loadMs, loadNotes: message.loadNotes });
          resolve();
          this.dispatch();
        } else if (message.type === 'load_failed') {
          this.loadFailure = new Error(`the ASR worker could not load ${this.options.init.modelId}: ${message.message}`);
          reject(this.loadFailure);
        } else {
          this.onTaskMessage(slot, message);
        }
      });
      worker.on('error', (error) => {
        lastError = error;
      });
      worker.on('exit', (code) => {
        this.onExit(slot, code, lastError);
        if (!slot.ready) reject(this.loadFailure ?? new Error(`the ASR worker exited with code ${code} before loading: ${lastError?.message ?? 'no error reported'}`));
      });
    });
  }

  private onTaskMessage(slot: Slot, message: Exclude<FromWorker, { type: 'ready' } | { type: 'load_failed' }>): void {
    const transcription = slot.running;
    if (!transcription || transcription.requestId !== message.requestId) return;
    if (message.type === 'progress') {
      transcription.onProgress(message.chunksDone, message.chunksTotal);
      return;
    }
    slot.running = undefined;
    clearTimeout(slot.deadline);
    slot.jobs++;
    if (message.type === 'result') transcription.resolve({ result: message.result, speech: message.speech, workerId: slot.id, threads: this.options.init.threads });
    else transcription.reject(new AsrError('failed', `worker ${slot.id}: ${message.message}`));
    this.maybeRecycle(slot);
    this.dispatch();
  }

  private maybeRecycle(slot: Slot): void {
    const { maxTasksPerWorker, recycleRssMb } = this.options;
    const tooMany = maxTasksPerWorker > 0 && slot.jobs >= maxTasksPerWorker;
    const tooBig = recycleRssMb > 0 && process.memoryUsage.rss() / 2 ** 20 > recycleRssMb;
    if (!tooMany && !tooBig) return;
    slot.retiring = true;
    void this.stop(slot);
  }

  private onExit(slot: Slot, code: number, error: Error | undefined): void {
    this.slots.delete(slot.id);
    clearTimeout(slot.deadline);
    // Terminated by close(): a shutdown, not a restart.
    if (this.closed) {
      slot.running?.reject(new AsrError('failed', 'the ASR pool closed'));
      return;
    }
    const oom = (error as NodeJS.ErrnoException | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
    const reason: WorkerExitReason = slot.timedOut ? 'timed_out' : slot.retiring ? 'recycled' : !slot.ready ? 'load_failed' : oom ? 'out_of_memory' : 'crashed';
    const detail = slot.timedOut ? 'its transcription passed the deadline for its audio length' : error ? `${error.name}: ${error.message}` : `exit code ${code}`;
    this.emit('worker_exit', { workerId: slot.id, reason, detail, jobs: slot.jobs });

    const transcription = slot.running;
    if (transcription) this.retry(transcription, reason, detail);
    this.replace(slot, detail);
  }

  private retry(transcription: PendingTranscription, reason: WorkerExitReason, detail: string): void {
    transcription.attempts++;
    if (transcription.attempts >= 2) {
      transcription.reject(
        reason === 'timed_out'
          ? new AsrError('timed_out', `the ASR worker passed the deadline twice on this audio (${detail})`)
          : new AsrError('crashed', `the ASR worker died twice on this audio (last: ${reason}, ${detail})`),
      );
      return;
    }
    this.waiting.unshift(transcription);
  }

  /** A worker that loaded once is replaced at once; one that failed to load is retried with backoff. */
  private replace(slot: Slot, detail: string): void {
    const respawn = () => {
      this.spawn().catch(() => {
        // reported through worker_exit, and retried from there
      });
    };
    if (slot.ready) {
      respawn();
      return;
    }
    this.loadFailuresInARow++;
    if (this.readyWorkers === 0 && this.loadFailuresInARow >= UNAVAILABLE_AFTER_FAILURES && !this.unavailableReported) {
      this.unavailableReported = true;
      this.emit('unavailable', { failuresInARow: this.loadFailuresInARow, lastError: this.loadFailure?.message ?? detail });
    }
    const timer = setTimeout(() => {
      this.respawns.delete(timer);
      respawn();
    }, (this.options.respawnDelayMs ?? defaultRespawnDelayMs)(this.loadFailuresInARow));
    this.respawns.add(timer);
  }

  private dispatch(): void {
    for (const slot of this.slots.values()) {
      if (this.waiting.length === 0) return;
      if (!slot.ready || slot.running || slot.retiring) continue;
      const transcription = this.waiting.shift()!;
      const requestId = this.nextRequestId++;
      slot.running = { ...transcription, requestId };
      const seconds = transcription.audio.sampleCount / SAMPLE_RATE;
      slot.deadline = setTimeout(() => {
        slot.timedOut = true;
        void this.stop(slot);
      }, (this.options.transcriptionDeadlineMs ?? transcribeDeadlineMs)(seconds));
      slot.worker.postMessage({ type: 'transcribe', requestId, audio: transcription.audio, request: transcription.request } satisfies ToWorker);
    }
  }
}
