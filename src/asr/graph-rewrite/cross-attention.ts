// The cross-attention keys and values of a merged Whisper decoder, as graphs of their own, one per
// layer. The merged decoder computes every layer's keys and values in its uncached first step and
// hands them all to JS at once: onnxruntime-node copies each output into a JS buffer before it
// frees its own, so both copies of all of them are live together (72 MB for base, 220 MB for
// small, the largest item of a note's peak). A layer at a time, only one layer is ever held twice.
// The graphs are the decoder's own nodes and weights, sliced from its uncached branch: the same
// arithmetic, nothing re-derived. That branch then reads the keys and values from the
// past_key_values.{i}.encoder inputs, as the cached branch always did, and returns for them what the
// cached branch returns (empty tensors); the projections and their weights leave the decoder.
import type { RewriteOutcome } from './fused-attention.js';
import { pruneUnused, subgraphsOf, type Graph, type Model, type Node } from './onnx-graph.js';

/** The input every slice may read besides weights. */
const ENCODER_STATES = 'encoder_hidden_states';

/** decoder_model_merged.onnx, decoder_model_merged_quantized.onnx, ... */
export const isMergedDecoderFile = (fileName: string): boolean => /^decoder_model_merged(_[a-z0-9]+)?\.onnx$/.test(fileName);

const PRESENT_CROSS = /^present\.(\d+)\.encoder\.(key|value)$/;

export type CrossAttentionSlices = { applied: true; note: string; layers: Model[] } | Extract<RewriteOutcome, { applied: false }>;

/** The merged decoder's one If, its output names, and the cross-attention outputs' positions by layer. */
interface MergedDecoder {
  main: Graph;
  theIf: Node;
  outputNames: string[];
  layers: { key: number; value: number }[];
}

interface LayerOutputs {
  key?: number;
  value?: number;
}

/** The nodes of `branch` that `outputs` depend on, in the branch's order, or why they cannot be had. */
function backwardSlice(branch: Graph, outputs: string[], outerWeights: Set<string>): Node[] | string {
  const producer = new Map<string, Node>();
  for (const node of branch.node ?? []) for (const o of node.output ?? []) producer.set(o, node);
  const local = new Set((branch.initializer ?? []).map((t) => t.name ?? ''));
  const taken = new Set<Node>();
  let readsEncoder = false;
  const pending = [...outputs];
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (!name || local.has(name) || outerWeights.has(name)) continue;
    if (name === ENCODER_STATES) {
      readsEncoder = true;
      continue;
    }
    const node = producer.get(name);
    if (!node) return `${outputs.join(', ')} read ${name}, which is neither ${ENCODER_STATES} nor a weight`;
    if (taken.has(node)) continue;
    if (subgraphsOf(node).length > 0) return `${outputs.join(', ')} depend on a ${node.opType} with a subgraph`;
    taken.add(node);
    pending.push(...(node.input ?? []));
  }
  if (!readsEncoder) return `${outputs.join(', ')} are not computed from ${ENCODER_STATES}`;
  return (branch.node ?? []).filter((node) => taken.has(node));
}

function mergedDecoder(decoder: Model): MergedDecoder | string {
  const main = decoder.graph;
  if (!main) return 'the decoder has no graph';
  const found = new Map<number, LayerOutputs>();
  (main.output ?? []).forEach((output, index) => {
    const match = PRESENT_CROSS.exec(output.name ?? '');
    if (!match) return;
    const entry = found.get(Number(match[1])) ?? {};
    entry[match[2] as 'key' | 'value'] = index;
    found.set(Number(match[1]), entry);
  });
  if (found.size === 0) return 'the decoder has no present.N.encoder outputs';
  const layers = [...Array(found.size).keys()].map((i) => found.get(i));
  if (layers.some((l) => l?.key === undefined || l.value === undefined)) return 'the decoder does not output a key and a value for every layer 0..N-1';
  const outputNames = (main.output ?? []).map((o) => o.name ?? '');
  const theIf = (main.node ?? [])[0];
  if ((main.node ?? []).length !== 1 || theIf?.opType !== 'If' || outputNames.some((name, i) => theIf.output?.[i] !== name)) {
    return 'the decoder is not one If around two branches (not a merged decoder)';
  }
  return { main, theIf, outputNames, layers: layers as { key: number; value: number }[] };
}

/**
 * One graph per decoder layer, from `encoder_hidden_states` to that layer's
 * `present.{i}.encoder.key` and `.value`, sliced from the branch of the merged decoder's `If` that
 * computes them. Initializers are shared with `decoder` by reference (rawData views included), so
 * the slices must be taken before the decoder's own weights are mapped from the file.
 */
function sliceCrossAttention(decoder: Model, merged: MergedDecoder): CrossAttentionSlices {
  const { main, theIf, outputNames } = merged;
  const count = merged.layers.length;
  const encoderInput = (main.input ?? []).find((i) => i.name === ENCODER_STATES);
  if (!encoderInput) return { applied: false, reason: `the decoder has no ${ENCODER_STATES} input` };
  const weights = new Map((main.initializer ?? []).map((t) => [t.name ?? '', t]));
  const outerWeights = new Set(weights.keys());
  const reasons: string[] = [];
  for (const branch of subgraphsOf(theIf)) {
    const sliced: Model[] = [];
    for (let layer = 0; layer < count; layer++) {
      const { key, value } = merged.layers[layer]!;
      const wanted = [key, value].map((index) => outputNames[index]!);
      // The If's outputs are the main graph's, position for position.
      const branchOutputs = [key, value].map((index) => branch.output?.[index]?.name ?? '');
      const nodes = backwardSlice(branch, branchOutputs, outerWeights);
      if (typeof nodes === 'string') {
        reasons.push(`${branch.name ?? 'a branch'}: ${nodes}`);
        break;
      }
      const read = new Set(nodes.flatMap((n) => n.input ?? []));
      const renames: Node[] = branchOutputs.map((from, i) => ({ opType: 'Identity', name: `${wanted[i]}.apart`, input: [from], output: [wanted[i]!] }));
      const graph: Graph = {
        name: `cross_attention_${layer}`,
        node: [...nodes.map((n) => ({ ...n })), ...renames],
        input: [encoderInput],
        output: wanted.map((name) => main.output!.find((o) => o.name === name)!),
        initializer: [...(branch.initializer ?? []), ...weights.values()].filter((t) => read.has(t.name ?? '')).map((t) => ({ ...t })),
      };
      sliced.push({ ...decoder, graph } as Model);
    }
    if (sliced.length === count) {
      return { applied: true, layers: sliced, note: `cross-attention keys and values of ${count} layers computed apart, a layer at a time` };
    }
  }
  return { applied: false, reason: reasons.join('; ') };
}

/** The past input each cross-attention output of the main graph corresponds to. */
const pastOf = (outputName: string) => outputName.replace(/^present\./, 'past_key_values.');

/**
 * Rewrites the merged decoder in place so that its uncached branch reads every layer's
 * cross-attention keys and values from the past_key_values.{i}.encoder inputs instead of computing
 * them, and returns for the present.{i}.encoder outputs what the cached branch returns (its
 * constants, empty tensors). The projections, and the weights only they read, are dropped. Nothing
 * is changed unless every output can be.
 */
function readCrossAttentionFromPasts(merged: MergedDecoder): RewriteOutcome {
  const { main, theIf, outputNames } = merged;
  const inputs = new Set((main.input ?? []).map((i) => i.name ?? ''));
  const positions = merged.layers.flatMap(({ key, value }) => [key, value]);
  const branches = subgraphsOf(theIf).map((graph) => ({
    graph,
    producers: new Map((graph.node ?? []).flatMap((n) => (n.output ?? []).map((o) => [o, n] as const))),
  }));
  // The cached branch returns a Constant for every cross-attention output; the other computes them.
  const cachedBranch = branches.find((b) => positions.every((p) => b.producers.get(b.graph.output?.[p]?.name ?? '')?.opType === 'Constant'));
  const computingBranch = branches.find((b) => b !== cachedBranch);
  if (!cachedBranch || !computingBranch) return { applied: false, reason: 'no branch returns constants for the cross-attention outputs (no cached branch)' };
  const { graph: cached, producers: cachedProducers } = cachedBranch;
  const { graph: computing, producers: computingProducers } = computingBranch;
  const plan: { past: string; output: string; producer: Node; computed: Set<string>; empty: Node }[] = [];
  for (const p of positions) {
    const past = pastOf(outputNames[p]!);
    if (!inputs.has(past)) return { applied: false, reason: `the decoder has no ${past} input` };
    const output = computing.output?.[p]?.name ?? '';
    const producer = computingProducers.get(output);
    if (!producer) return { applied: false, reason: `${output} has no producer in the uncached branch` };
    // What the branch's attention reads: the output itself, or what an Identity passes to it.
    const computed = new Set([output, ...(producer.opType === 'Identity' ? [producer.input?.[0] ?? ''] : [])]);
    plan.push({ past, output, producer, computed, empty: cachedProducers.get(cached.output![p]!.name ?? '')! });
  }
  for (const { past, output, producer, computed, empty } of plan) {
    for (const node of computing.node ?? []) node.input = (node.input ?? []).map((i) => (computed.has(i) ? past : i));
    computing.node = (computing.node ?? []).map((n) => (n === producer ? { ...empty, name: `${output}.empty`, output: [output] } : n));
  }
  pruneUnused(computing);
  pruneUnused(main);
  return { applied: true, note: 'its uncached branch reads them from its past inputs' };
}

/**
 * The layers' graphs (sliceCrossAttention), and the decoder rewritten to read what they compute
 * (readCrossAttentionFromPasts); the decoder is left as it was unless both apply.
 */
export function crossAttentionApart(decoder: Model): CrossAttentionSlices {
  const merged = mergedDecoder(decoder);
  if (typeof merged === 'string') return { applied: false, reason: merged };
  const slices = sliceCrossAttention(decoder, merged);
  if (!slices.applied) return slices;
  const rewritten = readCrossAttentionFromPasts(merged);
  return rewritten.applied ? { ...slices, note: `${slices.note}; ${rewritten.note}` } : rewritten;
}
