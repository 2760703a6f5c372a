// A small typed layer over onnx-proto: enough ONNX to write Whisper-shaped graphs, nothing more.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
} as const;
export type DataTypeId = (typeof DataType)[keyof typeof DataType];

type AttributeValue = number | number[] | string | { graph: onnxProto.onnx.IGraphProto } | { tensor: onnxProto.onnx.ITensorProto };
export type Attributes = Record<string, AttributeValue>;

/** A dimension: a fixed size, or a symbol such as `batch_size` that the runtime fills in. */
export type Dim = number | string;

function attribute(name: string, value: AttributeValue): onnxProto.onnx.IAttributeProto {
  // onnx-proto does not infer AttributeProto.type; onnxruntime rejects attributes without it.
  const A = onnx.AttributeProto.AttributeType;
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: A.INT, i: value } : { name, type: A.FLOAT, f: value };
  }
  if (typeof value === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: A.INTS, ints: value };
  if ('graph' in value) return { name, type: A.GRAPH, g: value.graph };
  return { name, type: A.TENSOR, t: value.tensor };
}

export function valueInfo(name: string, elemType: DataTypeId, shape?: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: shape ? { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } : undefined,
      },
    },
  };
}

export function tensor(name: string, dataType: DataTypeId, dims: number[], bytes: Uint8Array): onnxProto.onnx.ITensorProto {
  return { name, dataType, dims, rawData: bytes };
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/**
 * A graph under construction. Node outputs get unique names from a counter, so a builder
 * function can be called for every layer without naming each intermediate by hand.
 * Subgraphs (If branches) share the parent's initializers and name counter.
 */
export class GraphBuilder {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly shared: { initializers: onnxProto.onnx.ITensorProto[]; counter: { n: number }; names: Set<string> };

  constructor(parent?: GraphBuilder) {
    this.shared = parent ? parent.shared : { initializers: [], counter: { n: 0 }, names: new Set() };
  }

  get initializers(): readonly onnxProto.onnx.ITensorProto[] {
    return this.shared.initializers;
  }

  fresh(hint: string): string {
    this.shared.counter.n += 1;
    return `${hint}_${this.shared.counter.n}`;
  }

  op(opType: string, inputs: string[], attrs: Attributes = {}, outputCount = 1, outputNames?: string[]): string[] {
    const outputs = outputNames ?? Array.from({ length: outputCount }, () => this.fresh(opType));
    this.nodes.push({
      opType,
      name: this.fresh(`n_${opType}`),
      input: inputs,
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outputs;
  }

  /** Single-output convenience for `op`. */
  apply(opType: string, inputs: string[], attrs: Attributes = {}, outputName?: string): string {
    return this.op(opType, inputs, attrs, 1, outputName ? [outputName] : undefined)[0]!;
  }

  /** Registers an initializer once; a second call with the same name reuses it (tied or shared weights). */
  initializer(name: string, dataType: DataTypeId, dims: number[], make: () => ArrayBufferView): string {
    if (!this.shared.names.has(name)) {
      this.shared.names.add(name);
      this.shared.initializers.push(tensor(name, dataType, dims, bytesOf(make())));
    }
    return name;
  }

  scalarFloat(name: string, value: number): string {
    return this.initializer(name, DataType.FLOAT, [], () => new Float32Array([value]));
  }

  ints(name: string, values: number[]): string {
    return this.initializer(name, DataType.INT64, [values.length], () => new BigInt64Array(values.map(BigInt)));
  }

  scalarInt(name: string, value: number): string {
    return this.initializer(name, DataType.INT64, [], () => new BigInt64Array([BigInt(value)]));
  }

  graph(name: string, inputs: onnxProto.onnx.IValueInfoProto[], outputs: onnxProto.onnx.IValueInfoProto[], withInitializers: boolean): onnxProto.onnx.IGraphProto {
    return {
      name,
      node: this.nodes,
      input: inputs,
      output: outputs,
      initializer: withInitializers ? this.shared.initializers : [],
    };
  }
}

export function encodeModel(graph: onnxProto.onnx.IGraphProto, opsetVersion: number): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'voicebot-synth',
    opsetImport: [
      { domain: '', version: opsetVersion },
      { domain: 'com.microsoft', version: 1 },
    ],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}
