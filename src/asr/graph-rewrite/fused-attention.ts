// Replaces each unfused self-attention block of an encoder graph (scores = Q·Kᵀ·scale, softmax,
// ·V, with the reshapes and transposes that split and merge heads) by one
// com.microsoft.MultiHeadAttention node. Its CPU kernel tiles the computation (flash attention)
// instead of materialising heads × T × T scores and their softmax for every layer.
//
// Matching starts at each Softmax and follows the exact chains exporters write, in any of their
// spellings (4-D per-head tensors as the synthetic models, 3-D [B·H, T, E] as Optimum's eager
// Whisper export, scale on Q, on K or on the scores). Every Reshape's target shape is evaluated
// symbolically (constants, or Shape/Gather/Concat of tensors whose layout is known), so a match
// proves that the chain splits [B, T, H·E] into heads and merges them back; anything else is
// reported as the reason the graph is left alone.
import {
  attributeInt,
  attributeInts,
  defaultOpset,
  floatAttribute,
  GraphIndex,
  importDomain,
  intAttribute,
  pruneUnused,
  type Model,
  type Node,
} from './onnx-graph.js';
import { batchShape, flatten, headsOf, reshapeLayout, sameLayout, transposeLayout, type Atom, type Layout, type ShapeEntry } from './head-layout.js';

export type RewriteOutcome = { applied: true; note: string } | { applied: false; reason: string };

const BATCH: Atom = { id: 'B', size: null };

/** Ops through which a tensor keeps the batch and sequence dims of its first input. */
const KEEPS_LEADING_DIMS = new Set(['Add', 'Sub', 'Mul', 'Div', 'Cast', 'MatMul', 'MatMulInteger', 'DynamicQuantizeLinear', 'LayerNormalization', 'Erf']);
const ANCESTOR_DEPTH = 8;

class Mismatch extends Error {}
const fail = (reason: string): never => {
  throw new Mismatch(reason);
};

interface Root {
  /** The [B, T, H·E] tensor the heads are split from. */
  name: string;
  layout: Layout;
  /** Tensors upstream of it that share its batch and sequence dims (e.g. the LayerNorm output). */
  ancestors: Set<string>;
}

interface Chain {
  root: Root;
  nodes: Node[];
  /** Product of the scalar factors found on the chain. */
  scale: number;
  layout: Layout;
}

class AttentionMatcher {
  constructor(
    private readonly index: GraphIndex,
    private readonly opset: number,
  ) {}

  private root(name: string, tag: string): Root {
    const ancestors = new Set<string>([name]);
    let current = name;
    for (let depth = 0; depth < ANCESTOR_DEPTH; depth++) {
      const node = this.index.producer.get(current);
      if (!node || !KEEPS_LEADING_DIMS.has(node.opType ?? '')) break;
      current = node.input?.[0] ?? '';
      ancestors.add(current);
    }
    const width: Atom = { id: `${tag}.D`, size: this.widthOf(name) };
    return { name, layout: [[BATCH], [{ id: `${tag}.T`, size: null }], [width]], ancestors };
  }

  /** The model width of a projection's output: the last dim of its bias or weight. */
  private widthOf(name: string): number {
    let current = name;
    for (let depth = 0; depth < ANCESTOR_DEPTH; depth++) {
      const node = this.index.producer.get(current);
      if (!node || !KEEPS_LEADING_DIMS.has(node.opType ?? '')) break;
      if (['Add', 'MatMul', 'MatMulInteger'].includes(node.opType ?? '')) {
        const width = this.index.initializerDims(node.input?.[1] ?? '')?.at(-1);
        if (width) return width;
      }
      current = node.input?.[0] ?? '';
    }
    return fail(`the width of ${name} is not known (no projection weight or bias above it)`);
  }

  /** The atoms of dim `i` of `tensor`, from a known layout or from the chain root's ancestors. */
  private dimOf(tensor: string, i: number, known: Map<string, Layout>, root: Root): Atom[] {
    const layout = known.get(tensor) ?? (root.ancestors.has(tensor) && i < 2 ? root.layout : undefined);
    const dim = layout?.[i];
    if (!dim) return fail(`a reshape reads the shape of ${tensor}, whose layout is not known`);
    return dim;
  }

  /** Shape[start:end] of a tensor, as entries. */
  private shapeSlice(shapeNode: Node, from: number, to: number | undefined, known: Map<string, Layout>, root: Root): ShapeEntry[] {
    const tensor = shapeNode.input?.[0] ?? '';
    const offset = attributeInt(shapeNode, 'start') ?? 0;
    const layout = known.get(tensor);
    const end = to ?? layout?.length ?? fail(`a reshape reads the whole shape of ${tensor}, whose rank is not known`);
    const entries: ShapeEntry[] = [];
    for (let i = from + offset; i < end + offset; i++) entries.push({ kind: 'size', atoms: this.dimOf(tensor, i, known, root), factor: 1 });
    return entries;
  }

  /** A scalar shape value: a constant, Gather(Shape(t), i), or a product of those. */
  private scalarEntry(name: string, known: Map<string, Layout>, root: Root): ShapeEntry {
    const constant = this.index.constant(name);
    if (constant?.length === 1) {
      const n = constant[0]!;
      if (n === 0) return { kind: 'copy' };
      if (n === -1) return { kind: 'infer' };
      return n > 0 ? { kind: 'size', atoms: [], factor: n } : fail(`reshape size ${n}`);
    }
    const node = this.index.producer.get(name);
    if (!node) return fail(`reshape size ${name} is not computed in this graph`);
    switch (node.opType) {
      case 'Unsqueeze':
      case 'Squeeze':
      case 'Cast':
        return this.scalarEntry(node.input?.[0] ?? '', known, root);
      case 'Gather': {
        const shape = this.index.producer.get(node.input?.[0] ?? '');
        const at = this.index.scalar(node.input?.[1] ?? '');
        if (shape?.opType !== 'Shape' || at === undefined) return fail(`reshape size from a ${node.opType} that does not read a shape`);
        const offset = attributeInt(shape, 'start') ?? 0;
        return { kind: 'size', atoms: this.dimOf(shape.input?.[0] ?? '', at + offset, known, root), factor: 1 };
      }
      case 'Mul': {
        const [a, b] = (node.input ?? []).map((i) => this.scalarEntry(i, known, root));
        if (a?.kind !== 'size' || b?.kind !== 'size') return fail('reshape size multiplies a 0 or -1');
        return { kind: 'size', atoms: [...a.atoms, ...b.atoms], factor: a.factor * b.factor };
      }
      default:
        return fail(`reshape size computed by ${node.opType}`);
    }
  }

  private shapeEntries(name: string, known: Map<string, Layout>, root: Root): ShapeEntry[] {
    const constant = this.index.constant(name);
    if (constant) return constant.map((n) => (n === 0 ? { kind: 'copy' } : n === -1 ? { kind: 'infer' } : n > 0 ? { kind: 'size', atoms: [], factor: n } : fail(`reshape size ${n}`)));
    const node = this.index.producer.get(name);
    if (node?.opType === 'Shape') return this.shapeSlice(node, 0, undefined, known, root);
    if (node?.opType === 'Slice') {
      const shape = this.index.producer.get(node.input?.[0] ?? '');
      const [start, end] = [this.index.scalar(node.input?.[1] ?? ''), this.index.scalar(node.input?.[2] ?? '')];
      if (shape?.opType !== 'Shape' || start === undefined || end === undefined) return fail('reshape shape sliced from something else than a shape');
      return this.shapeSlice(shape, start, end, known, root);
    }
    if (node?.opType === 'Concat') return (node.input ?? []).flatMap((i) => this.shapeEntries(i, known, root));
    return [this.scalarEntry(name, known, root)];
  }

  /** Layout after one Reshape/Transpose of the chain, or the scale of a scalar Mul/Div. */
  private step(node: Node, input: Layout, known: Map<string, Layout>, root: Root): { layout: Layout; scale: number } {
    switch (node.opType) {
      case 'Transpose':
        return { layout: transposeLayout(input, attributeInts(node, 'perm')) ?? fail('a transpose of unexpected rank'), scale: 1 };
      case 'Reshape': {
        if (attributeInt(node, 'allowzero')) fail('a reshape with allowzero');
        const entries = this.shapeEntries(node.input?.[1] ?? '', known, root);
        return { layout: reshapeLayout(input, entries) ?? fail('a reshape that is not a head split or merge'), scale: 1 };
      }
      default: {
        const factor = this.scalarFactor(node);
        return factor === undefined ? fail(`a ${node.opType} inside the chain`) : { layout: input, scale: factor };
      }
    }
  }

  /** x·c or x/c with a scalar constant c, as the factor it applies; otherwise undefined. */
  private scalarFactor(node: Node): number | undefined {
    if (node.opType !== 'Mul' && node.opType !== 'Div') return undefined;
    const [a, b] = node.input ?? [];
    const constant = this.index.scalar(b ?? '') ?? (node.opType === 'Mul' ? this.index.scalar(a ?? '') : undefined);
    if (constant === undefined || constant === 0) return undefined;
    return node.opType === 'Mul' ? constant : 1 / constant;
  }

  /** The non-constant input of a chain node. */
  private dataInput(node: Node): string {
    const [a, b] = node.input ?? [];
    return (node.opType === 'Mul' && this.index.scalar(a ?? '') !== undefined ? b : a) ?? '';
  }

  /**
   * Walks up from `tensor` through Reshape/Transpose (and scalar Mul/Div when `scalable`) to the
   * [B, T, H·E] root, then replays the chain downward to learn its final layout.
   */
  private chainTo(tensor: string, tag: string, scalable: boolean): Chain {
    const nodes: Node[] = [];
    let current = tensor;
    for (;;) {
      const node = this.index.producer.get(current);
      const kind = node?.opType ?? '';
      const movable = kind === 'Reshape' || kind === 'Transpose' || (scalable && node !== undefined && this.scalarFactor(node) !== undefined);
      if (!node || !movable) break;
      if (!this.index.soleConsumer(current)) fail(`${current} feeds more than the attention`);
      nodes.unshift(node);
      current = this.dataInput(node);
    }
    if (!nodes.some((n) => n.opType === 'Reshape')) fail(`no head split found above ${tensor}`);
    const root = this.root(current, tag);
    const known = new Map<string, Layout>([[current, root.layout]]);
    let layout = root.layout;
    let scale = 1;
    for (const node of nodes) {
      const next = this.step(node, layout, known, root);
      layout = next.layout;
      scale *= next.scale;
      known.set(node.output?.[0] ?? '', layout);
    }
    return { root, nodes, scale, layout };
  }

  match(softmax: Node): { nodes: Node[]; fused: Node } {
    const softmaxIn = softmax.input?.[0] ?? '';
    const softmaxOut = softmax.output?.[0] ?? '';
    // Scalar factors between the scores and the softmax (some exports scale there).
    const scoreNodes: Node[] = [];
    let scores = softmaxIn;
    let scoreScale = 1;
    for (let node = this.index.producer.get(scores); node && node.opType !== 'MatMul'; node = this.index.producer.get(scores)) {
      const factor = this.scalarFactor(node);
      if (factor === undefined) fail(`the scores pass through ${node.opType} (a mask or bias) before the softmax`);
      if (scores !== softmaxIn && !this.index.soleConsumer(scores)) fail('the scores feed more than the softmax');
      scoreNodes.unshift(node!);
      scoreScale *= factor!;
      scores = this.dataInput(node!);
    }
    const qk = this.index.producer.get(scores);
    if (qk?.opType !== 'MatMul') fail('the softmax does not read a MatMul');
    if (!this.index.soleConsumer(scores)) fail('the scores feed more than the softmax');
    const pv = this.index.soleConsumer(softmaxOut);
    if (pv?.opType !== 'MatMul' || pv.input?.[0] !== softmaxOut) fail('the softmax output does not feed a MatMul with V');

    const q = this.chainTo(qk!.input?.[0] ?? '', 'q', true);
    const k = this.chainTo(qk!.input?.[1] ?? '', 'k', true);
    const v = this.chainTo(pv!.input?.[1] ?? '', 'v', false);
    const [qT, kT, vT] = [q, k, v].map((c) => c.root.layout[1]![0]!) as [Atom, Atom, Atom];
    const width = (c: Chain) => c.root.layout[2]![0]!.id;
    const half = (c: Chain, i: 0 | 1) => flatten(c.layout).find((a) => a.id === `${width(c)}.${i}`);
    const [qE, kE, vE] = [half(q, 1), half(k, 1), half(v, 1)];
    if (!qE || !kE || !vE) fail('the head split does not split the model width');
    const heads = [headsOf(q.layout, BATCH, qT, qE!), headsOf(k.layout, BATCH, kE!, kT), headsOf(v.layout, BATCH, vT, vE!)];
    if (heads.some((h) => !h || h.size === null)) fail('Q, Kᵀ and V are not [batch, heads, rows, cols]');
    const headCount = heads[0]!.size!;
    if (heads.some((h) => h!.size !== headCount) || qE!.size !== kE!.size) fail('Q, K and V disagree on heads or head size');
    if (batchShape(q.layout) !== batchShape(k.layout) || batchShape(q.layout) !== batchShape(v.layout)) fail('Q, K and V have different batch dims');

    const rank = q.layout.length;
    const axis = attributeInt(softmax, 'axis') ?? (this.opset >= 13 ? -1 : 1);
    if ((axis + rank) % rank !== rank - 1) fail(`softmax over axis ${axis}, not the keys`);

    // Follow the output from [batch, heads, T, E] until the heads are merged back into [B, T, H·E].
    const merged: Layout = [[BATCH], [qT], [heads[0]!, vE!]];
    const known = new Map<string, Layout>();
    let layout: Layout = [...q.layout.slice(0, -1), [vE!]];
    let output = pv!.output?.[0] ?? '';
    known.set(output, layout);
    const outNodes: Node[] = [];
    while (!sameLayout(layout, merged)) {
      const node = this.index.soleConsumer(output);
      if (!node || (node.opType !== 'Reshape' && node.opType !== 'Transpose') || node.input?.[0] !== output) fail('the attention output is not merged back into [B, T, H·E]');
      layout = this.step(node!, layout, known, q.root).layout;
      output = node!.output?.[0] ?? '';
      known.set(output, layout);
      outNodes.push(node!);
    }
    if (outNodes.length === 0) fail('the attention output is not merged back into [B, T, H·E]');

    const fused: Node = {
      opType: 'MultiHeadAttention',
      domain: 'com.microsoft',
      name: `${softmax.name ?? 'attention'}.fused`,
      input: [q.root.name, k.root.name, v.root.name],
      output: [output],
      attribute: [intAttribute('num_heads', headCount), floatAttribute('scale', q.scale * k.scale * scoreScale)],
    };
    return { nodes: [...q.nodes, ...k.nodes, ...v.nodes, qk!, ...scoreNodes, softmax, pv!, ...outNodes], fused };
  }
}

/**
 * Fuses every softmax attention of the model's main graph, or none: a graph with any attention that
 * does not match exactly is left as it is, and the reason returned.
 */
export function fuseSelfAttention(model: Model): RewriteOutcome {
  const graph = model.graph;
  if (!graph) return { applied: false, reason: 'the model has no graph' };
  const index = new GraphIndex(graph);
  const softmaxes = (graph.node ?? []).filter((n) => n.opType === 'Softmax');
  if (softmaxes.length === 0) return { applied: false, reason: 'no softmax attention in the graph' };
  const matcher = new AttentionMatcher(index, defaultOpset(model));
  const replaced = new Map<Node, Node | null>();
  for (const [i, softmax] of softmaxes.entries()) {
    try {
      const { nodes, fused } = matcher.match(softmax);
      for (const node of nodes) {
        if (replaced.has(node)) return { applied: false, reason: `attention ${i + 1} shares nodes with another` };
        replaced.set(node, null);
      }
      // The fused node takes the place of the last node it replaces: all of its inputs exist by then.
      replaced.set(nodes[nodes.length - 1]!, fused);
    } catch (error) {
      if (error instanceof Mismatch) return { applied: false, reason: `attention ${i + 1} of ${softmaxes.length}: ${error.message}` };
      throw error;
    }
  }
  graph.node = (graph.node ?? []).flatMap((n) => {
    const replacement = replaced.get(n);
    return replacement === undefined ? [n] : replacement === null ? [] : [replacement];
  });
  importDomain(model, 'com.microsoft', 1);
  pruneUnused(graph);
  return { applied: true, note: `${softmaxes.length} self-attention blocks fused into MultiHeadAttention` };
}
