// Where onnxruntime sessions are created from rewritten graphs. transformers.js 4 in Node hands
// onnxruntime-node the model's file path (InferenceSession.create(path, options), through its own
// require of onnxruntime-node); while a model loads, that static method is wrapped so that each
// session is created from graph bytes prepared here instead: the encoder's rewrites, and weights
// mapped from the file rather than copied (mapped-weights.ts). The files on disk stay the hub's,
// and every call outside `withRewrittenModels` reaches onnxruntime untouched.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { settlePendingReads } from '../pending-reads.js';
import { isEncoderFile, rewriteEncoder, type EncoderRewrites } from './encoder-rewrite.js';
import { mapWeightsFromFile } from './mapped-weights.js';
import { decodeModel, encodeModel } from './onnx-graph.js';

type Create = (...args: unknown[]) => Promise<unknown>;
interface SessionClass {
  create: Create;
}
interface SessionOptions {
  externalData?: unknown;
  extra?: { session?: Record<string, unknown> } & Record<string, unknown>;
}

// The same module instance transformers.js loads (Node caches CommonJS modules by real path).
const ort = createRequire(import.meta.url)('onnxruntime-node') as { InferenceSession: SessionClass };

export interface ModelRewrites extends EncoderRewrites {
  /** Initializers mapped from the model files instead of copied into onnxruntime's memory. */
  mapWeights: boolean;
}

export interface ModelLoad {
  /** Whether the encoder session accepts windows shorter than 30 s. */
  fitsWindow: boolean;
  /** What was done, and why anything asked for was not: for the operator's log. */
  notes: string[];
}

interface PreparedGraph {
  bytes: Uint8Array;
  /** The folder onnxruntime reads mapped initializers from, when any are. */
  weightsFolder: string | null;
  fitsWindow: boolean;
}

const MB = 2 ** 20;

/** How long loading waits for transformers.js's reads of the model files: slow disks are let off. */
export const MODEL_READS_LIMIT_MS = 15_000;

function prepareGraph(file: Buffer, filePath: string, wanted: ModelRewrites, notes: string[]): PreparedGraph | null {
  const fileName = path.basename(filePath);
  const model = decodeModel(file);
  const encoder = isEncoderFile(fileName) ? rewriteEncoder(model, wanted) : { changed: false, fitsWindow: false, notes: [] };
  notes.push(...encoder.notes);
  const mapped = wanted.mapWeights ? mapWeightsFromFile(model, file, fileName) : { tensors: 0, bytes: 0 };
  if (mapped.tensors > 0) notes.push(`${fileName}: ${mapped.tensors} weights (${(mapped.bytes / MB).toFixed(1)} MB) mapped from the file`);
  else if (wanted.mapWeights) notes.push(`${fileName}: no weights could be mapped from the file, copied as usual`);
  if (!encoder.changed && mapped.tensors === 0) return null;
  return { bytes: encodeModel(model), weightsFolder: mapped.tensors > 0 ? path.dirname(filePath) : null, fitsWindow: encoder.fitsWindow };
}

function withWeightsFolder(options: SessionOptions | undefined, folder: string | null): SessionOptions | undefined {
  if (!folder) return options;
  return { ...options, extra: { ...options?.extra, session: { ...options?.extra?.session, model_external_initializers_file_folder_path: folder } } };
}

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Runs `load` (which creates sessions through transformers.js) with each model file prepared as
 * asked. Preparing a file that fails in any way falls back to the file as it is, with the reason
 * in `notes`: a model from the hub never fails to load because of this. Files are prepared one at
 * a time, and `collect` (a full garbage collection) runs twice before each session is created, so
 * that the file's bytes are freed before onnxruntime builds the session.
 */
export async function withRewrittenModels<T>(wanted: ModelRewrites, load: () => Promise<T>, collect: () => void): Promise<{ value: T } & ModelLoad> {
  const result: ModelLoad = { fitsWindow: false, notes: [] };
  if (!wanted.fuseAttention && !wanted.fitWindow && !wanted.mapWeights) return { value: await load(), ...result };
  const sessions = ort.InferenceSession;
  const original = sessions.create;
  let previous: Promise<unknown> = Promise.resolve();
  const oneAtATime = (create: () => Promise<unknown>) => {
    const next = previous.then(create, create);
    previous = next.catch(() => undefined);
    return next;
  };
  const createPrepared = async (args: unknown[]) => {
    const [file, options] = args as [unknown, SessionOptions | undefined];
    // A model whose weights transformers.js hands over itself (externalData) is left to it.
    if (typeof file !== 'string' || options?.externalData) return original.apply(sessions, args);
    const name = path.basename(file);
    if (!wanted.mapWeights && !isEncoderFile(name)) return original.apply(sessions, args);
    let prepared: PreparedGraph | null;
    try {
      // Read synchronously: with an awaited read, small's load still peaked at 879 MB (716 read
      // synchronously, measured), as if collections did not free the bytes before the build.
      prepared = prepareGraph(readFileSync(file), file, wanted, result.notes);
    } catch (error) {
      result.notes.push(`${name} not rewritten, loaded as it is: ${reason(error)}`);
      return original.apply(sessions, args);
    }
    if (!prepared) return original.apply(sessions, args);
    // The file's bytes are garbage now, and so are transformers.js's reads of the model files
    // once they end (pending-reads.ts). The first collection finds them unreachable, the second
    // frees them (V8 releases array buffers behind its collections), so that onnxruntime does
    // not build the session beside them: small's load peak 862 -> 722 MB.
    await settlePendingReads(MODEL_READS_LIMIT_MS);
    collect();
    collect();
    try {
      const session = await original.call(sessions, prepared.bytes, withWeightsFolder(options, prepared.weightsFolder));
      result.fitsWindow ||= prepared.fitsWindow;
      return session;
    } catch (error) {
      result.notes.push(`onnxruntime refused the prepared ${name}, loaded as it is: ${reason(error)}`);
      return original.apply(sessions, args);
    }
  };
  sessions.create = (...args: unknown[]) => oneAtATime(() => createPrepared(args));
  try {
    return { value: await load(), ...result };
  } finally {
    sessions.create = original;
  }
}
