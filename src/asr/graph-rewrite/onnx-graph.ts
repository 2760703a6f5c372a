// Reading and editing an ONNX graph in memory: who produces and who consumes each tensor, the
// values of small constant tensors (shapes, scales), and removal of what no output needs any more.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
export type Model = onnxProto.onnx.ModelProto;
export type Graph = onnxProto.onnx.IGraphProto;
export type Node = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type Int = number | { toNumber(): number };

export const TensorType = { FLOAT: 1, INT64: 7 } as const;
const ATTRIBUTE = onnx.AttributeProto.AttributeType;

export function decodeModel(bytes: Uint8Array): Model {
  return onnx.ModelProto.decode(bytes);
}

export function encodeModel(model: Model): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

export const toNumber = (value: Int | null | undefined): number => (typeof value === 'number' ? value : value ? value.toNumber() : 0);

/** The opset of the default domain, which decides defaults such as Softmax's axis. */
export function defaultOpset(model: Model): number {
  return toNumber(model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version);
}

export function importDomain(model: Model, domain: string, version: number): void {
  if (!model.opsetImport.some((o) => o.domain === domain)) model.opsetImport.push({ domain, version });
}

export function attributeInt(node: Node, name: string): number | undefined {
  const a = node.attribute?.find((x) => x.name === name);
  return a ? toNumber(a.i) : undefined;
}

export function attributeInts(node: Node, name: string): number[] | undefined {
  const a = node.attribute?.find((x) => x.name === name);
  return a ? (a.ints ?? []).map(toNumber) : undefined;
}

export const intAttribute = (name: string, value: number) => ({ name, type: ATTRIBUTE.INT, i: value });
export const floatAttribute = (name: string, value: number) => ({ name, type: ATTRIBUTE.FLOAT, f: value });

export function int64Tensor(name: string, values: number[]): TensorProto {
  return { name, dataType: TensorType.INT64, dims: [values.length], int64Data: values };
}

function tensorNumbers(t: TensorProto): number[] | undefined {
  const count = (t.dims ?? []).map(toNumber).reduce((a, b) => a * b, 1);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : undefined;
  if (t.dataType === TensorType.INT64) {
    if (raw) {
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      return Array.from({ length: count }, (_, i) => Number(view.getBigInt64(i * 8, true)));
    }
    return (t.int64Data ?? []).map(toNumber);
  }
  if (t.dataType === TensorType.FLOAT) {
    if (raw) {
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      return Array.from({ length: count }, (_, i) => view.getFloat32(i * 4, true));
    }
    return t.floatData ?? [];
  }
  return undefined;
}

/** The graphs nested in a node's attributes (If branches, Loop bodies). */
export function subgraphsOf(node: Node): Graph[] {
  return (node.attribute ?? []).flatMap((a) => [a.g, ...(a.graphs ?? [])]).filter((g): g is Graph => Boolean(g));
}

/** A graph and every graph nested in it, at any depth. */
export function graphsOf(graph: Graph): Graph[] {
  return [graph, ...(graph.node ?? []).flatMap(subgraphsOf).flatMap(graphsOf)];
}

/** Names a subgraph reads from its enclosing scope (If/Loop bodies), so they are never pruned. */
function outerNamesRead(graph: Graph, into: Set<string>): void {
  const local = new Set<string>([...(graph.initializer ?? []).map((t) => t.name ?? ''), ...(graph.input ?? []).map((i) => i.name ?? '')]);
  for (const node of graph.node ?? []) {
    for (const input of node.input ?? []) if (input && !local.has(input)) into.add(input);
    for (const output of node.output ?? []) local.add(output);
    for (const g of subgraphsOf(node)) outerNamesRead(g, into);
  }
}

/** Producers and consumers of every tensor of one graph, and its constants. */
export class GraphIndex {
  readonly producer = new Map<string, Node>();
  readonly consumers = new Map<string, Node[]>();
  readonly initializers = new Map<string, TensorProto>();
  readonly outputs: Set<string>;

  constructor(readonly graph: Graph) {
    for (const t of graph.initializer ?? []) this.initializers.set(t.name ?? '', t);
    for (const node of graph.node ?? []) {
      for (const o of node.output ?? []) this.producer.set(o, node);
      const read = new Set<string>(node.input ?? []);
      for (const g of subgraphsOf(node)) outerNamesRead(g, read);
      for (const i of read) {
        if (!i) continue;
        const list = this.consumers.get(i) ?? [];
        list.push(node);
        this.consumers.set(i, list);
      }
    }
    this.outputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  }

  /** The one node reading `name`, when exactly one does and it is not also a graph output. */
  soleConsumer(name: string): Node | undefined {
    const list = this.consumers.get(name) ?? [];
    return list.length === 1 && !this.outputs.has(name) ? list[0] : undefined;
  }

  /** A constant's numbers (initializer or Constant node), for int64 and float tensors. */
  constant(name: string): number[] | undefined {
    const init = this.initializers.get(name);
    if (init) return tensorNumbers(init);
    const node = this.producer.get(name);
    if (node?.opType !== 'Constant') return undefined;
    const value = node.attribute?.find((a) => a.name === 'value');
    return value?.t ? tensorNumbers(value.t) : undefined;
  }

  /** The dims of an initializer, or undefined for any other tensor. */
  initializerDims(name: string): number[] | undefined {
    return this.initializers.get(name)?.dims?.map(toNumber);
  }

  scalar(name: string): number | undefined {
    const values = this.constant(name);
    return values?.length === 1 ? values[0] : undefined;
  }
}

/**
 * Drops nodes whose outputs nothing needs (graph outputs are what is needed), then initializers and
 * value infos that no remaining node refers to.
 */
export function pruneUnused(graph: Graph): void {
  const needed = new Set<string>((graph.output ?? []).map((o) => o.name ?? ''));
  const kept: Node[] = [];
  for (const node of [...(graph.node ?? [])].reverse()) {
    if (!(node.output ?? []).some((o) => needed.has(o))) continue;
    kept.push(node);
    for (const i of node.input ?? []) needed.add(i);
    for (const g of subgraphsOf(node)) outerNamesRead(g, needed);
  }
  graph.node = kept.reverse();
  graph.initializer = (graph.initializer ?? []).filter((t) => needed.has(t.name ?? ''));
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => needed.has(v.name ?? ''));
}
