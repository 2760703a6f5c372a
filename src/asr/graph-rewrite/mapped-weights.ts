// Weights left in the model file. Given a path, onnxruntime parses the whole file and copies every
// initializer into memory of its own; the parsed copy is freed after loading, but glibc keeps that
// much (~the decoder file's size) for reuse, and the copies of weights no kernel prepacks (the
// token embedding's plain rows, which the decoder's lookup reads: 26 MB for base) stay anonymous
// memory for good. An initializer declared as external data is mapped from the file instead
// (read-only file pages, shared with the page cache and with every other worker): those a kernel
// prepacks are unmapped once packed, the rest stay pages the kernel can drop and read back.
import onnxProto from 'onnx-proto';
import { graphsOf, type Model } from './onnx-graph.js';

const { onnx } = onnxProto;

/** Smaller tensors (shapes, scalars, norms) stay in the graph, where the optimizer reads them. */
const MIN_MAPPED_BYTES = 1024;

export interface MappedWeights {
  tensors: number;
  bytes: number;
}

/**
 * Declares every initializer whose bytes are a view into `file` (the model was decoded from that
 * buffer: protobufjs hands bytes fields of a Node Buffer out as views) as external data at its
 * offset in the file named `fileName`. The session must then be created with that file's folder as
 * `session.model_external_initializers_file_folder_path`.
 */
export function mapWeightsFromFile(model: Model, file: Uint8Array, fileName: string): MappedWeights {
  const mapped: MappedWeights = { tensors: 0, bytes: 0 };
  for (const graph of model.graph ? graphsOf(model.graph) : []) {
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
    }
  }
  return mapped;
}
