// Where onnxruntime sessions are created from rewritten graphs. transformers.js 4 in Node hands
// onnxruntime-node the model's file path (InferenceSession.create(path, options), through its own
// require of onnxruntime-node); while a model loads, that static method is wrapped so that each
// session is created from graph bytes prepared here instead: the encoder's rewrites, and weights
// mapped from the file rather than copied (mapped-weights.ts). The files on disk stay the hub's,
// and every call outside `withRewrittenModels` reaches onnxruntime untouched.
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { settlePendingReads } from '../pending-reads.js';
import { crossAttentionApart, isMergedDecoderFile } from './cross-attention.js';
import { isEncoderFile, rewriteEncoder, type EncoderRewrites } from './encoder-rewrite.js';
import { lookUpRowsFromFile } from './lookup-rows.js';
import { mapWeightsFromFile } from './mapped-weights.js';
import { decodeModel, encodeModel, type Model } from './onnx-graph.js';

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
  /** The merged decoder's cross-attention keys and values computed by sessions of their own, a layer each. */
  crossAttentionApart: boolean;
}

export interface ModelLoad {
  /** Whether the encoder session accepts windows shorter than 30 s. */
  fitsWindow: boolean;
  /**
   * One onnxruntime session per decoder layer, from encoder_hidden_states to that layer's
   * present.{i}.encoder.key and .value (cross-attention.ts); null when not asked for or not possible.
   */
  crossAttention: unknown[] | null;
  /** What was done, and why anything asked for was not: for the operator's log. */
  notes: string[];
}

interface PreparedGraph {
  /** null: the file's graph is used as it is. */
  bytes: Uint8Array | null;
  /** The folder onnxruntime reads mapped initializers from, when any are. */
  weightsFolder: string | null;
  fitsWindow: boolean;
  crossAttention: { bytes: Uint8Array; weightsFolder: string | null }[];
  /** Files written for this session (lookup-rows.ts), removed once it is created or refused. */
  rowsFiles: string[];
}

const MB = 2 ** 20;

function mapWeights(model: Model, file: Buffer, filePath: string, wanted: ModelRewrites, notes: string[] | null): string | null {
  if (!wanted.mapWeights) return null;
  const fileName = path.basename(filePath);
  const mapped = mapWeightsFromFile(model, file, fileName);
  if (notes) {
    const lookups = mapped.lookupTables > 0 ? `, ${mapped.lookupTables} looked-up table(s) mapped apart for the kernels that pack them` : '';
    notes.push(
      mapped.tensors > 0
        ? `${fileName}: ${mapped.tensors} weights (${(mapped.bytes / MB).toFixed(1)} MB) mapped from the file${lookups}`
        : `${fileName}: no weights could be mapped from the file, copied as usual`,
    );
  }
  return mapped.tensors > 0 ? path.dirname(filePath) : null;
}

function prepareGraph(file: Buffer, filePath: string, wanted: ModelRewrites, notes: string[]): PreparedGraph {
  const fileName = path.basename(filePath);
  const model = decodeModel(file);
  const encoder = isEncoderFile(fileName) ? rewriteEncoder(model, wanted) : { changed: false, fitsWindow: false, notes: [] };
  notes.push(...encoder.notes);
  // Sliced before the decoder's weights are mapped: the slices share its initializers' bytes.
  const slices = wanted.crossAttentionApart && isMergedDecoderFile(fileName) ? crossAttentionApart(model) : null;
  if (slices) notes.push(slices.applied ? `${fileName}: ${slices.note}` : `${fileName}: cross-attention left in the decoder: ${slices.reason}`);
  const crossAttention = slices?.applied
    ? slices.layers.map((layer) => ({ weightsFolder: mapWeights(layer, file, filePath, wanted, null), bytes: encodeModel(layer) }))
    : [];
  const rows = wanted.mapWeights ? lookUpRows(model, filePath, notes) : [];
  try {
    const weightsFolder = mapWeights(model, file, filePath, wanted, notes) ?? (rows.length > 0 ? path.dirname(filePath) : null);
    const changed = encoder.changed || weightsFolder !== null || crossAttention.length > 0;
    return { bytes: changed ? encodeModel(model) : null, weightsFolder, fitsWindow: encoder.fitsWindow, crossAttention, rowsFiles: rows };
  } catch (error) {
    removeFiles(rows);
    throw error;
  }
}

/** Tables looked up by column get a rows file to look up in (done before the weights' mapping is declared: it reads their bytes). */
function lookUpRows(model: Model, filePath: string, notes: string[]): string[] {
  const fileName = path.basename(filePath);
  const rows = lookUpRowsFromFile(model, path.dirname(filePath), fileName);
  if (rows.applied) notes.push(`${fileName}: ${rows.tables} table(s) looked up by column (${(rows.bytes / MB).toFixed(1)} MB) given a file of rows to look up in`);
  else if (rows.reason) notes.push(`${fileName}: tables looked up by column as they are: ${rows.reason}`);
  return rows.applied ? rows.files : [];
}

function removeFiles(files: string[]): void {
  for (const file of files) rmSync(file, { force: true });
}

function withWeightsFolder(options: SessionOptions | undefined, folder: string | null): SessionOptions | undefined {
  if (!folder) return options;
  return { ...options, extra: { ...options?.extra, session: { ...options?.extra?.session, model_external_initializers_file_folder_path: folder } } };
}

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Every cross-attention session, or none (the decoder then computes them, as it always could).
 * Each gets one thread and no pool of its own: given two threads each, small's twelve layers took
 * ~270 ms a window, a dozen pools' threads contending for two cores; one thread each, ~110 ms,
 * about what the decoder's first step spent on them.
 */
async function createEach(create: Create, name: string, graphs: PreparedGraph['crossAttention'], options: SessionOptions | undefined, notes: string[]) {
  const created: unknown[] = [];
  const oneThread = { ...options, intraOpNumThreads: 1 };
  try {
    for (const graph of graphs) created.push(await create.call(ort.InferenceSession, graph.bytes, withWeightsFolder(oneThread, graph.weightsFolder)));
    return created;
  } catch (error) {
    notes.push(`onnxruntime refused the cross-attention sessions sliced from ${name}, ${name} loaded as it is: ${reason(error)}`);
    await Promise.all(created.map((session) => (session as { release(): Promise<void> }).release()));
    return null;
  }
}

/**
 * Runs `load` (which creates sessions through transformers.js) with each model file prepared as
 * asked. Preparing a file that fails in any way falls back to the file as it is, with the reason
 * in `notes`: a model from the hub never fails to load because of this. Files are prepared one at
 * a time, and `collect` (a full garbage collection) runs twice before each session is created, so
 * that the file's bytes are freed before onnxruntime builds the session.
 */
export async function withRewrittenModels<T>(wanted: ModelRewrites, load: () => Promise<T>, collect: () => void): Promise<{ value: T } & ModelLoad> {
  const result: ModelLoad = { fitsWindow: false, crossAttention: null, notes: [] };
  if (!wanted.fuseAttention && !wanted.fitWindow && !wanted.mapWeights && !wanted.crossAttentionApart) return { value: await load(), ...result };
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
    if (!wanted.mapWeights && !isEncoderFile(name) && !(wanted.crossAttentionApart && isMergedDecoderFile(name))) return original.apply(sessions, args);
    let prepared: PreparedGraph;
    try {
      // Read synchronously: with an awaited read, small's load still peaked at 879 MB (716 read
      // synchronously, measured), as if collections did not free the bytes before the build.
      prepared = prepareGraph(readFileSync(file), file, wanted, result.notes);
    } catch (error) {
      result.notes.push(`${name} not rewritten, loaded as it is: ${reason(error)}`);
      return original.apply(sessions, args);
    }
    if (!prepared.bytes) return original.apply(sessions, args);
    try {
      return await createFromPrepared(prepared, name, options, args);
    } finally {
      removeFiles(prepared.rowsFiles);
    }
  };
  const createFromPrepared = async (prepared: PreparedGraph, name: string, options: SessionOptions | undefined, args: unknown[]) => {
    // The file's bytes are garbage now, and so are transformers.js's reads of the model files
    // once they end (pending-reads.ts). The first collection finds them unreachable, the second
    // frees them (V8 releases array buffers behind its collections), so that onnxruntime does
    // not build the session beside them: small's load peak 862 -> 722 MB.
    await settlePendingReads();
    collect();
    collect();
    let session: unknown;
    try {
      session = await original.call(sessions, prepared.bytes, withWeightsFolder(options, prepared.weightsFolder));
      result.fitsWindow ||= prepared.fitsWindow;
    } catch (error) {
      result.notes.push(`onnxruntime refused the prepared ${name}, loaded as it is: ${reason(error)}`);
      return original.apply(sessions, args);
    }
    if (prepared.crossAttention.length === 0) return session;
    result.crossAttention = await createEach(original, name, prepared.crossAttention, options, result.notes);
    if (result.crossAttention) return session;
    // The prepared decoder reads what those sessions would have computed: the file as it is, then.
    await (session as { release(): Promise<void> }).release();
    return original.apply(sessions, args);
  };

  sessions.create = (...args: unknown[]) => oneAtATime(() => createPrepared(args));
  try {
    return { value: await load(), ...result };
  } finally {
    sessions.create = original;
  }
}
