// A table looked up along its columns, given a copy of its own with the columns as rows. The hub's
// quantized Whisper decoders keep the token embedding as [d_model, vocabulary] (the layout the
// logits' projection packs) and look a token up with Gather(axis=1) then Transpose: one token reads
// d_model bytes, one from each of d_model pages, so a few dozen tokens bring the whole mapped table
// into memory (26 MB for base, 40 MB for small). Written once more as [vocabulary, d_model], a
// token is one run of d_model bytes: Gather(axis=0) gives the transposed result directly, the same
// bytes, and only the pages of the tokens a note uses are read.
//
// The copy is a file beside the model's, mapped like its weights (mapped-weights.ts), so its pages
// stay clean file pages the kernel can drop. It is written at each load, under a name of its own
// per loading thread, and removed once onnxruntime has mapped it: nothing on disk outlives the
// session but what a crash leaves, which the next load in that folder sweeps away.
import { closeSync, openSync, readdirSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import onnxProto from 'onnx-proto';
import { attributeInt, attributeInts, GraphIndex, graphsOf, intAttribute, toNumber, type Model, type Node } from './onnx-graph.js';

const { onnx } = onnxProto;
const ELEMENT_BYTES: Partial<Record<number, number>> = {
  [onnx.TensorProto.DataType.UINT8]: 1,
  [onnx.TensorProto.DataType.INT8]: 1,
  [onnx.TensorProto.DataType.FLOAT16]: 2,
  [onnx.TensorProto.DataType.FLOAT]: 4,
};
/** Tables smaller than this are not worth a file. */
const MIN_TABLE_BYTES = 1 << 20;
const ROWS_FILE = /^\..+\.rows-[\w.-]+-\d+-\d+$/;
/** A load takes seconds; a rows file this old was left by a process that died while loading. */
const ABANDONED_MS = 60 * 60 * 1000;
const CHUNK_BYTES = 1 << 19;

const safeName = (name: string) => name.replace(/[^\w.-]/g, '_');
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
/**
 * Who writes a rows file: host, process and thread. The host keeps processes apart that share a
 * models folder from several containers (each may well be pid 7); a restarted container keeps its
 * host name and pid, so a file of its own name can only be its dead predecessor's.
 */
export const LOADER = `${safeName(os.hostname())}-${process.pid}-${threadId}`;

/** `reason` is null when the graph has no table looked up by column. */
export type LookupRows = { applied: true; tables: number; bytes: number; files: string[] } | { applied: false; reason: string | null };

type Initializer = onnxProto.onnx.ITensorProto;

interface Lookup {
  graph: onnxProto.onnx.IGraphProto;
  gather: Node;
  transpose: Node;
}

/**
 * Every Gather(table, ids, axis=1) read only by Transpose(perm=[1, …, n-1, 0]), the token's column
 * as a row (none: the table is not looked up), or why one lookup of it is not that.
 */
function columnLookups(indexes: GraphIndex[], table: string): Lookup[] | string {
  const lookups: Lookup[] = [];
  for (const index of indexes) {
    const graph = index.graph;
    for (const gather of graph.node ?? []) {
      if (gather.opType !== 'Gather' || gather.input?.[0] !== table) continue;
      const axis = attributeInt(gather, 'axis') ?? 0;
      if (axis !== 1 && axis !== -1) return `${table} is looked up along axis ${axis}, not its columns`;
      const transpose = index.soleConsumer(gather.output![0]!);
      const perm = transpose?.opType === 'Transpose' ? attributeInts(transpose, 'perm') : undefined;
      const columnLast = perm !== undefined && perm.length >= 2 && perm.every((p, i) => p === (i + 1) % perm.length);
      if (!transpose || !columnLast) return `${table}'s lookup in ${graph.name} is not read by a Transpose that puts the column last`;
      lookups.push({ graph, gather, transpose });
    }
  }
  return lookups;
}

/** Writes [rows, columns] of `elementBytes`-byte elements as [columns, rows], a chunk at a time. */
function writeTransposed(fd: number, table: Uint8Array, rows: number, columns: number, elementBytes: number): void {
  const rowBytes = rows * elementBytes;
  const columnsPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / rowBytes));
  const chunk = new Uint8Array(columnsPerChunk * rowBytes);
  for (let first = 0; first < columns; first += columnsPerChunk) {
    const count = Math.min(columnsPerChunk, columns - first);
    for (let r = 0; r < rows; r++) {
      const from = (r * columns + first) * elementBytes;
      for (let c = 0; c < count; c++) {
        for (let b = 0; b < elementBytes; b++) chunk[c * rowBytes + r * elementBytes + b] = table[from + c * elementBytes + b]!;
      }
    }
    writeSync(fd, chunk, 0, count * rowBytes);
  }
}

/** The error's message, or null once the file holds the transpose; a file left half-written is removed. */
function writeRowsFile(file: string, table: Uint8Array, rows: number, columns: number, elementBytes: number): string | null {
  let fd: number;
  try {
    // A file of this name is a dead process's (see LOADER).
    rmSync(file, { force: true });
    fd = openSync(file, 'wx', 0o600);
  } catch (error) {
    return messageOf(error);
  }
  try {
    writeTransposed(fd, table, rows, columns, elementBytes);
    return null;
  } catch (error) {
    rmSync(file, { force: true });
    return messageOf(error);
  } finally {
    closeSync(fd);
  }
}

/** Removes rows files older than a load could take: a process died between writing and removing one. */
function sweepAbandoned(folder: string): void {
  for (const name of readdirSync(folder)) {
    if (!ROWS_FILE.test(name)) continue;
    const file = path.join(folder, name);
    try {
      if (Date.now() - statSync(file).mtimeMs > ABANDONED_MS) unlinkSync(file);
    } catch (error) {
      // Another process removed it first; anything else means this folder is not ours to write in.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/**
 * Gives every 2-D table that is only ever looked up by column (`Gather(axis=1)` then a Transpose
 * putting the column last) a rows file in `folder` and a `.rows` initializer mapped from it, and
 * rewrites each lookup into `Gather(axis=0)` on it. Tables are read from their raw bytes, so this
 * runs before their mapping is declared. The caller removes `files` once onnxruntime has mapped them.
 */
export function lookUpRowsFromFile(model: Model, folder: string, fileName: string): LookupRows {
  const reasons: string[] = [];
  const indexes = graphsOf(model.graph!).map((graph) => new GraphIndex(graph));
  const tables: { table: Initializer; dims: [number, number]; elementBytes: number; raw: Uint8Array; lookups: Lookup[] }[] = [];
  for (const table of model.graph!.initializer ?? []) {
    const dims = (table.dims ?? []).map(toNumber);
    const elementBytes = ELEMENT_BYTES[table.dataType ?? 0];
    const raw = table.rawData;
    if (dims.length !== 2 || !elementBytes || !raw || raw.byteLength < MIN_TABLE_BYTES || raw.byteLength !== dims[0]! * dims[1]! * elementBytes) continue;
    const lookups = columnLookups(indexes, table.name ?? '');
    if (typeof lookups === 'string') reasons.push(lookups);
    else if (lookups.length > 0) tables.push({ table, dims: [dims[0]!, dims[1]!], elementBytes, raw, lookups });
  }
  if (tables.length > 0) {
    try {
      sweepAbandoned(folder);
    } catch (error) {
      return { applied: false, reason: `abandoned rows files in ${folder} cannot be swept: ${messageOf(error)}` };
    }
  }
  const files: string[] = [];
  let bytes = 0;
  for (const { table, dims, elementBytes, raw, lookups } of tables) {
    const name = table.name ?? '';
    const rowsName = `.${fileName}.${safeName(name)}.rows-${LOADER}`;
    const file = path.join(folder, rowsName);
    const failure = writeRowsFile(file, raw, dims[0], dims[1], elementBytes);
    if (failure) {
      reasons.push(`${name}'s rows could not be written to ${folder}: ${failure}`);
      continue;
    }
    files.push(file);
    bytes += raw.byteLength;
    readRows(model, table, dims, lookups, rowsName, raw.byteLength);
  }
  if (files.length === 0) return { applied: false, reason: reasons.length > 0 ? reasons.join('; ') : null };
  return { applied: true, tables: files.length, bytes, files };
}

/** Declares the rows file's initializer, points every lookup at it, and drops the table if nothing else reads it. */
function readRows(model: Model, table: Initializer, dims: [number, number], lookups: Lookup[], rowsFile: string, length: number): void {
  const name = table.name ?? '';
  const rows = `${name}.rows`;
  model.graph!.initializer!.push({
    name: rows,
    dataType: table.dataType,
    dims: [dims[1], dims[0]],
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: rowsFile },
      { key: 'offset', value: '0' },
      { key: 'length', value: String(length) },
    ],
  });
  for (const { graph, gather, transpose } of lookups) {
    const columnOutput = gather.output![0]!;
    gather.input = [rows, gather.input![1]!];
    gather.attribute = [intAttribute('axis', 0)];
    gather.output = [transpose.output![0]!];
    graph.node = (graph.node ?? []).filter((node) => node !== transpose);
    graph.valueInfo = (graph.valueInfo ?? []).filter((info) => info.name !== columnOutput);
  }
  const readStill = graphsOf(model.graph!).some((graph) => (graph.node ?? []).some((node) => node.input?.includes(name)));
  if (!readStill) model.graph!.initializer = model.graph!.initializer!.filter((t) => t !== table);
}
