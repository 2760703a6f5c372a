// A Whisper model folder in the hub's layout, loaded for the ASR worker: its three configs and its
// two ONNX sessions, read as transformers.js 4 reads them (the same files, the same dtype suffixes,
// the same session options) without importing transformers.js into the worker. Importing its bundle
// took ~15 MB of a fresh worker's RSS (1.3 MB of source, its module graph, what parsing it left in
// glibc's heap), ~10 MB of a loaded one's, and by now the worker used it only to find the files and
// create the sessions: the token text, the features and the decoding are this folder's own.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { onnxFile, type ModelSession } from './catalog.js';
import type { DecoderSession, OrtTensor, TensorFactory } from './decode-loop.js';
import type { ModelDtype } from './protocol.js';

/** The fields of generation_config.json the decoding rules read. */
export interface GenerationConfig {
  decoder_start_token_id: number;
  /** <|endoftext|>: the first special token; every text token has a smaller id. */
  eos_token_id: number;
  no_timestamps_token_id: number;
  is_multilingual?: boolean;
  lang_to_id?: Record<string, number>;
  task_to_id?: Record<string, number>;
  suppress_tokens?: number[];
  begin_suppress_tokens?: number[];
  max_initial_timestamp_index?: number | null;
}

/** The fields of preprocessor_config.json the log-mel features need. */
export interface FeatureConfig {
  sampling_rate: number;
  chunk_length: number;
  hop_length: number;
  n_fft: number;
  n_samples: number;
  nb_max_frames: number;
  feature_size: number;
  /** [mel][frequency bin]; computed from the other fields when the file leaves it out, as the hub's do. */
  mel_filters?: number[][];
}

/** An onnxruntime session run with all its outputs fetched. */
export interface WholeRunSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
}

export interface WhisperModel {
  encoder: WholeRunSession;
  /** Runs for the outputs asked for (the decode loop) or for all of them. */
  decoder: DecoderSession & WholeRunSession;
  generation: GenerationConfig;
  features: FeatureConfig;
  /** Encoder frames after its convolutions (1500) and the decoder's positions (448), from config.json. */
  positions: { source: number; target: number };
}

export interface SessionSettings {
  intraOpNumThreads: number;
  interOpNumThreads: number;
  enableCpuMemArena: boolean;
  enableMemPattern: boolean;
}

/** A tensor for these sessions' feeds. */
export const makeTensor: TensorFactory = (type, data, dims) => new ort.Tensor(type, data, dims);

/** Creates a session from a model file: onnxruntime's own, or one that rewrites the graph first (rewritten-sessions.ts). */
export type CreateSession = (file: string, options: ort.InferenceSession.SessionOptions) => Promise<ort.InferenceSession>;

/** onnxruntime's "error": transformers.js's default, so that a model's warnings stay out of the log as before. */
const ERRORS_ONLY = 3;

async function readJson(folder: string, file: string): Promise<Record<string, unknown>> {
  const text = await readFile(path.join(folder, file), 'utf8');
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`${path.join(folder, file)} is not valid JSON: ${(error as Error).message}`);
  }
}

function requireNumbers<T>(json: Record<string, unknown>, fields: readonly string[], file: string): T {
  const missing = fields.filter((field) => typeof json[field] !== 'number');
  if (missing.length > 0) throw new Error(`${file} has no number for ${missing.join(', ')}`);
  return json as unknown as T;
}

function dtypeOf(dtype: ModelDtype, session: ModelSession): string {
  return typeof dtype === 'string' ? dtype : dtype[session];
}

/** Reads the folder's configs and creates its encoder and merged-decoder sessions from their files. */
export async function loadWhisperModel(
  folder: string,
  dtype: ModelDtype,
  settings: SessionSettings,
  createSession: CreateSession = (file, options) => ort.InferenceSession.create(file, options),
): Promise<WhisperModel> {
  const [config, generation, features] = await Promise.all([
    readJson(folder, 'config.json'),
    readJson(folder, 'generation_config.json'),
    readJson(folder, 'preprocessor_config.json'),
  ]);
  const positions = requireNumbers<{ max_source_positions: number; max_target_positions: number }>(config, ['max_source_positions', 'max_target_positions'], 'config.json');
  const generationConfig = requireNumbers<GenerationConfig>(generation, ['decoder_start_token_id', 'eos_token_id', 'no_timestamps_token_id'], 'generation_config.json');
  const featureConfig = requireNumbers<FeatureConfig>(features, ['sampling_rate', 'chunk_length', 'hop_length', 'n_fft', 'n_samples', 'nb_max_frames', 'feature_size'], 'preprocessor_config.json');
  const options = { logSeverityLevel: ERRORS_ONLY, executionProviders: ['cpu'], ...settings } as const;
  const create = (session: ModelSession) => createSession(path.join(folder, onnxFile(session, dtypeOf(dtype, session))), options);
  const [encoder, decoder] = await Promise.all([create('encoder_model'), create('decoder_model_merged')]);
  return {
    encoder: encoder as unknown as WholeRunSession,
    decoder: decoder as unknown as DecoderSession & WholeRunSession,
    generation: generationConfig,
    features: featureConfig,
    positions: { source: positions.max_source_positions, target: positions.max_target_positions },
  };
}
