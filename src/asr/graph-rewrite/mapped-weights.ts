// Weights left in the model file. Given a path, onnxruntime parses the whole file and copies every
// initializer into memory of its own; the parsed copy is freed after loading, but glibc keeps that
// much (~the decoder file's size) for reuse, and the copies of weights no kernel prepacks (the
// token embedding's plain rows, which the decoder's lookup reads: 26 MB for base) stay anonymous
// memory for good. An initializer declared as external data is mapped from the file instead
// (read-only file pages, shared with the page cache and with every other worker): those a kernel
// prepacks are unmapped once packed, the rest stay pages the kernel can drop and read back.
//
// A table that a Gather looks rows up in and a kernel also prepacks (Whisper's token embedding,
// tied to the logits' projection: 26 MB for base, 40 MB for small, when lookup-rows.ts could not
// give its lookups a file of their own) would stay mapped whole, every page touched by the
// packing. Its other readers get a mapping of their own of the same bytes, released once packed,
// and the lookup's mapping holds only the pages that are looked up.
import onnxProto from 'onnx-proto';
import { graphsOf, type Graph, type Model } from './onnx-graph.js';

const { onnx } = onnxProto;

/** Smaller tensors (shapes, scalars, norms) stay in the graph, where the optimizer reads them. */
const MIN_MAPPED_BYTES = 1024;

export interface MappedWeights {
  tensors: number;
  bytes: number;
  /** Lookup tables whose packing readers were given a mapping of their own. */
  lookupTables: number;
}

/** The suffix of the second name a lookup table's packing readers read it by. */
export const PACKED_READERS_SUFFIX = '.packed_readers';

/** Initializers that a Gather reads as its table and some other node reads too, in any graph. */
function lookupTablesReadByOthers(graphs: Graph[]): Set<string> {
  const gathered = new Set<string>();
  const readOtherwise = new Set<string>();
  for (const graph of graphs) {
    for (const node of graph.node ?? []) {
      (node.input ?? []).forEach((input, index) => (node.opType === 'Gather' && index === 0 ? gathered : readOtherwise).add(input));
    }
  }
  return new Set([...gathered].filter((name) => readOtherwise.has(name)));
}

function renameNonGatherReads(graphs: Graph[], name: string, renamed: string): void {
  for (const graph of graphs) {
    for (const node of graph.node ?? []) {
      node.input = (node.input ?? []).map((input, index) => (input === name && !(node.opType === 'Gather' && index === 0) ? renamed : input));
    }
  }
}

/**
 * Declares every initializer whose bytes are a view into `file` (the model was decoded from that
 * buffer: protobufjs hands bytes fields of a Node Buffer out as views) as external data at its
 * offset in the file named `fileName`. The session must then be created with that file's folder as
 * `session.model_external_initializers_file_folder_path`.
 */
export function mapWeightsFromFile(model: Model, file: Uint8Array, fileName: string): MappedWeights {
  const mapped: MappedWeights = { tensors: 0, bytes: 0, lookupTables: 0 };
  const graphs = model.graph ? graphsOf(model.graph) : [];
  const lookupTables = lookupTablesReadByOthers(graphs);
  for (const graph of graphs) {
    const second: onnxProto.onnx.ITensorProto[] = [];
    for (const tensor of graph.initializer ?? []) {
      const raw = tensor.rawData;
      if (!raw || raw.byteLength < MIN_MAPPED_BYTES || raw.buffer !== file.buffer) continue;
      const offset = raw.byteOffset - file.byteOffset;
      if (offset < 0 || offset + raw.byteLength > file.byteLength) continue;
      tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      tensor.externalData = [
        { key: 'location', value: fileName },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(raw.byteLength) },
      ];
      tensor.rawData = new Uint8Array(0);
      mapped.tensors++;
      mapped.bytes += raw.byteLength;
      const name = tensor.name ?? '';
      if (lookupTables.has(name)) {
        const renamed = name + PACKED_READERS_SUFFIX;
        second.push({ ...tensor, name: renamed, externalData: tensor.externalData.map((entry) => ({ ...entry })) });
        renameNonGatherReads(graphs, name, renamed);
        mapped.lookupTables++;
      }
    }
    graph.initializer = [...(graph.initializer ?? []), ...second];
  }
  return mapped;
}
