// Where onnxruntime sessions are created from rewritten graphs: the encoder's rewrites, and weights
// mapped from the file rather than copied (mapped-weights.ts). The worker creates its sessions from
// the model files' paths through `RewrittenSessions.create`; the files on disk stay the hub's.
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { crossAttentionApart, isMergedDecoderFile } from './cross-attention.js';
import { isEncoderFile, rewriteEncoder, type EncoderRewrites } from './encoder-rewrite.js';
import { lookUpRowsFromFile } from './lookup-rows.js';
import { mapWeightsFromFile } from './mapped-weights.js';
import { decodeModel, encodeModel, type Model } from './onnx-graph.js';

type SessionOptions = ort.InferenceSession.SessionOptions;

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
  crossAttention: ort.InferenceSession[] | null;
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

function withWeightsFolder(options: SessionOptions, folder: string | null): SessionOptions {
  if (!folder) return options;
  const extra = (options.extra ?? {}) as { session?: Record<string, unknown> };
  return { ...options, extra: { ...extra, session: { ...extra.session, model_external_initializers_file_folder_path: folder } } };
}

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Every cross-attention session, or none (the decoder then computes them, as it always could).
 * Each gets one thread and no pool of its own: given two threads each, small's twelve layers took
 * ~270 ms a window, a dozen pools' threads contending for two cores; one thread each, ~110 ms,
 * about what the decoder's first step spent on them.
 */
async function createEach(name: string, graphs: PreparedGraph['crossAttention'], options: SessionOptions, notes: string[]) {
  const created: ort.InferenceSession[] = [];
  const oneThread = { ...options, intraOpNumThreads: 1 };
  try {
    for (const graph of graphs) created.push(await ort.InferenceSession.create(graph.bytes, withWeightsFolder(oneThread, graph.weightsFolder)));
    return created;
  } catch (error) {
    notes.push(`onnxruntime refused the cross-attention sessions sliced from ${name}, ${name} loaded as it is: ${reason(error)}`);
    await Promise.all(created.map((session) => session.release()));
    return null;
  }
}

/**
 * Creates a model's sessions from its files, each file prepared as asked. Preparing a file that
 * fails in any way falls back to the file as it is, with the reason in `load.notes`: a model from
 * the hub never fails to load because of this. Files are prepared one at a time, and `collect` (a
 * full garbage collection) runs twice before each session is created, so that the file's bytes are
 * freed before onnxruntime builds the session.
 */
export class RewrittenSessions {
  readonly load: ModelLoad = { fitsWindow: false, crossAttention: null, notes: [] };
  private previous: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly wanted: ModelRewrites,
    private readonly collect: () => void,
  ) {}

  create(file: string, options: SessionOptions): Promise<ort.InferenceSession> {
    const next = this.previous.then(() => this.createPrepared(file, options));
    this.previous = next.catch(() => undefined);
    return next;
  }

  private async createPrepared(file: string, options: SessionOptions): Promise<ort.InferenceSession> {
    const { wanted, load } = this;
    const name = path.basename(file);
    const asItIs = () => ort.InferenceSession.create(file, options);
    const rewrites = wanted.fuseAttention || wanted.fitWindow || wanted.mapWeights || wanted.crossAttentionApart;
    if (!rewrites || (!wanted.mapWeights && !isEncoderFile(name) && !(wanted.crossAttentionApart && isMergedDecoderFile(name)))) return asItIs();
    let prepared: PreparedGraph;
    try {
      // Read synchronously: with an awaited read, small's load still peaked at 879 MB (716 read
      // synchronously, measured), as if collections did not free the bytes before the build.
      prepared = prepareGraph(readFileSync(file), file, wanted, load.notes);
    } catch (error) {
      load.notes.push(`${name} not rewritten, loaded as it is: ${reason(error)}`);
      return asItIs();
    }
    if (!prepared.bytes) return asItIs();
    try {
      return await this.createFromPrepared(prepared, name, options, asItIs);
    } finally {
      removeFiles(prepared.rowsFiles);
    }
  }

  private async createFromPrepared(prepared: PreparedGraph, name: string, options: SessionOptions, asItIs: () => Promise<ort.InferenceSession>) {
    const { load } = this;
    // The file's bytes are garbage now. The first collection finds them unreachable, the second
    // frees them (V8 releases array buffers behind its collections), so that onnxruntime does not
    // build the session beside them: small's load peak 862 -> 722 MB.
    this.collect();
    this.collect();
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(prepared.bytes!, withWeightsFolder(options, prepared.weightsFolder));
      load.fitsWindow ||= prepared.fitsWindow;
    } catch (error) {
      load.notes.push(`onnxruntime refused the prepared ${name}, loaded as it is: ${reason(error)}`);
      return asItIs();
    }
    if (prepared.crossAttention.length === 0) return session;
    load.crossAttention = await createEach(name, prepared.crossAttention, options, load.notes);
    if (load.crossAttention) return session;
    // The prepared decoder reads what those sessions would have computed: the file as it is, then.
    await session.release();
    return asItIs();
  }
}
