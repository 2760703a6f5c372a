// Messages between the pool (main thread) and an ASR worker thread.
import type { PcmAudio } from '../audio/pcm-file.js';
import type { WindowSettings } from './encoder-window.js';
import type { VadOptions } from './vad-segments.js';
import type { PlannedWindow, SpeechPlan } from './window-plan.js';

/** The hub's weight formats: one for both modules, or per module (e.g. fp32 encoder, q8 decoder). */
export type ModelDtype = string | { encoder_model: string; decoder_model_merged: string };

export interface WorkerInit {
  workerId: number;
  modelId: string;
  modelsDir: string;
  dtype: ModelDtype;
  threads: number;
  cpuArena: boolean;
  /** Map initializers from the model files instead of copying them (ASR_MAP_WEIGHTS); absent: copied. */
  mapWeights?: boolean;
  /** Cross-attention keys and values by sessions of their own, a layer at a time (ASR_CROSS_ATTENTION_APART); absent: in the decoder. */
  crossAttentionApart?: boolean;
  /** How the encoder is loaded and fed; without it, the hub's graph as it is, on 30-s windows. */
  encoder?: EncoderSettings;
  /** The operator's decoding defaults; a request may override them. */
  decoding?: Partial<DecodingOptions>;
  /** Silero VAD's settings: a request without planned windows is then planned from the speech it finds. */
  vad?: VadOptions;
}

export interface EncoderSettings {
  /** Rewrite the encoder's self-attention into com.microsoft.MultiHeadAttention at load. */
  fusedAttention: boolean;
  window: WindowSettings;
}

export interface DecodingOptions {
  /** 1: greedy; more: beam search with this many beams (patience 1), at temperature 0. */
  beamSize: number;
  /** Decode a window again at 0.2, 0.4 ... 1.0 when its text loops or its tokens are unlikely. */
  temperatureFallback: boolean;
  /** Samples per fallback temperature; the best log-prob per token wins (openai-whisper's best_of). */
  bestOf: number;
  /** Prompt each window with the previous window's text (not after a window decoded above 0.5). */
  conditionOnPreviousText: boolean;
}

export type Task = 'transcribe' | 'translate';

export interface TranscribeRequest {
  /** Fixed language code, or null to detect it from the first 30 s. */
  language: string | null;
  task: Task;
  timestamps: boolean;
  /**
   * Decode exactly this many tokens per second of audio (end-of-text suppressed until then).
   * For benchmarks, whose cost must not depend on what a model happens to say.
   */
  fixedTokensPerSecond?: number;
  /**
   * The windows to decode, planned from speech (window-plan.ts); without them, the worker plans them
   * with Silero VAD when it has one (WorkerInit.vad), or uses fixed 30-s windows over the whole
   * audio. Result times are on the windows' back-to-back timeline: the pipeline maps them to the
   * note's own (onOriginalTimeline).
   */
  windows?: PlannedWindow[];
  decoding?: Partial<DecodingOptions>;
}

/** How one window was decoded: Whisper's safeguards' figures. */
export interface WindowRecord {
  temperature: number;
  compressionRatio: number;
  avgLogprob: number;
  noSpeechProb: number;
  /** Skipped as silence (its text dropped). */
  silence: boolean;
}

export interface Segment {
  start: number;
  end: number;
  text: string;
}

export interface TranscriptionResult {
  text: string;
  language: string | null;
  segments: Segment[];
  chunks: number;
  /** Tokens the decoder produced (forced prompts not counted). */
  tokens: number;
  inferenceMs: number;
  encoderMs: number;
  decoderMs: number;
  /** Decoder session runs, the uncached first step of each window included. */
  decoderRuns: number;
  windows: WindowRecord[];
  /** Re-decodes at a higher temperature, over all windows. */
  fallbacks: number;
  /** Memory of the worker's own V8 heap; onnxruntime's native memory shows only in process RSS. */
  workerHeapMb: number;
  workerExternalMb: number;
}

export type ToWorker =
  | { type: 'transcribe'; requestId: number; audio: PcmAudio; request: TranscribeRequest }
  /** End the thread between two onnxruntime runs (see native-runs.ts). */
  | { type: 'stop' };

export type FromWorker =
  | { type: 'ready'; loadMs: number; loadNotes: string[] }
  | { type: 'load_failed'; message: string }
  | { type: 'progress'; requestId: number; chunksDone: number; chunksTotal: number }
  /** `speech`: what the worker's VAD found; with no windows in it, Whisper did not run (result is empty). */
  | { type: 'result'; requestId: number; result: TranscriptionResult; speech?: SpeechPlan }
  | { type: 'failed'; requestId: number; message: string };
