// Silero VAD v5 as one run per stretch of frames instead of one run per 32-ms frame.
//
// The published graph scores one frame per run: an If on the sample rate, then the 16-kHz branch
// (STFT as a convolution, four convolutions, an LSTM cell fed the caller's recurrent state, and a
// 1×1 convolution and sigmoid on the cell's hidden state). onnxruntime's fixed cost per run is most
// of the ~0.15 ms a frame costs. Only the LSTM carries anything from one frame to the next, and an
// ONNX LSTM runs a whole sequence: so the rewritten graph takes N frames (each with its 64 samples
// of context) as a batch through the convolutions, runs the LSTM over them as a sequence of N
// steps from the caller's state, and applies the head to every step's hidden state. Frame i's
// probability is computed from exactly what the streaming graph would have seen at frame i.
//
// Inputs `input` [N, 576] and `state` [2, 1, 128]; outputs `output` [N] and `stateN` [2, 1, 128].
import { attributeInts, defaultOpset, GraphIndex, int64Tensor, intAttribute, subgraphsOf, toNumber, TensorType, type Graph, type Model, type Node } from './onnx-graph.js';
import type { RewriteOutcome } from './fused-attention.js';

class Mismatch extends Error {}
const fail = (reason: string): never => {
  throw new Mismatch(reason);
};

/** Every node of a graph and of the subgraphs nested in it, by each output name. */
function producersDeep(graph: Graph, into = new Map<string, Node>()): Map<string, Node> {
  for (const node of graph.node ?? []) {
    for (const output of node.output ?? []) if (output) into.set(output, node);
    for (const g of subgraphsOf(node)) producersDeep(g, into);
  }
  return into;
}

/** The 16-kHz branch: the If on `sr` whose condition is sr == 16000, and the branch taken then. */
function branchFor16k(graph: Graph): Graph {
  const index = new GraphIndex(graph);
  const ifs = (graph.node ?? []).filter((n) => n.opType === 'If');
  if (ifs.length !== 1) fail(`expected one If on the sample rate, found ${ifs.length}`);
  const condition = index.producer.get(ifs[0]!.input?.[0] ?? '');
  const [a, b] = condition?.input ?? [];
  const rate = condition?.opType === 'Equal' ? (a === 'sr' ? index.scalar(b ?? '') : b === 'sr' ? index.scalar(a ?? '') : undefined) : undefined;
  if (rate !== 16000) fail('the If is not a test of sr == 16000');
  const branch = ifs[0]!.attribute?.find((x) => x.name === 'then_branch')?.g;
  return branch ?? fail('the If has no then_branch');
}

/** The nodes that compute `names` from constants and `input`, producers first. */
function nodesComputing(names: string[], producers: Map<string, Node>): Node[] {
  const ordered: Node[] = [];
  const seen = new Set<Node>();
  const visit = (name: string): void => {
    if (!name || name === 'input') return;
    const node = producers.get(name) ?? fail(`nothing produces ${name}`);
    if (seen.has(node)) return;
    if (node.opType === 'If' || node.opType === 'LSTM') fail(`${name} depends on the recurrent part (${node.opType})`);
    if ((node.input ?? []).some((i) => i === 'state' || i === 'sr')) fail(`${name} depends on the state or the sample rate`);
    seen.add(node);
    for (const input of node.input ?? []) visit(input);
    ordered.push(node);
  };
  for (const name of names) visit(name);
  return ordered;
}

/** Whether `name` is computed from the graph input `state` (through any nesting). */
function readsState(name: string, producers: Map<string, Node>, depth = 0): boolean {
  if (name === 'state') return true;
  const node = producers.get(name);
  // The cell's initial state is a few Gathers, Unsqueezes and Ifs from the input: deeper is not it.
  if (!node || depth > 12) return false;
  if (node.opType === 'If') {
    return (node.attribute ?? []).some((a) => a.g && (a.g.output ?? []).some((o) => readsState(o.name ?? '', producers, depth + 1)));
  }
  return (node.input ?? []).some((i) => readsState(i, producers, depth + 1));
}

export function sileroAsSequence(model: Model): RewriteOutcome {
  try {
    const graph = model.graph ?? fail('the model has no graph');
    if (defaultOpset(model) < 13) fail(`opset ${defaultOpset(model)} (Squeeze and Unsqueeze take axes as inputs from 13)`);
    const names = (list: { name?: string | null }[] | null | undefined) => (list ?? []).map((v) => v.name).join(',');
    if (names(graph.input) !== 'input,state,sr' || names(graph.output) !== 'output,stateN') fail(`inputs ${names(graph.input)} and outputs ${names(graph.output)} are not Silero v5's`);
    const branch = branchFor16k(graph);
    const producers = producersDeep(branch);
    const all = [...producers.values()];

    const cells = [...new Set(all.filter((n) => n.opType === 'LSTM' && readsState(n.input?.[5] ?? '', producers)))];
    if (cells.length !== 1) fail(`expected one LSTM started from the state input, found ${cells.length}`);
    const cell = cells[0]!;
    const hidden = toNumber(cell.attribute?.find((a) => a.name === 'hidden_size')?.i);

    // The features the cell reads: the last Relu of the branch before its first If.
    const top = branch.node ?? [];
    const firstIf = top.findIndex((n) => n.opType === 'If');
    const features = top.slice(0, firstIf < 0 ? top.length : firstIf).filter((n) => n.opType === 'Relu').at(-1)?.output?.[0] ?? fail('no Relu before the recurrent part');

    // The head: Relu → 1×1 Conv → Sigmoid on the cell's hidden state.
    const sigmoids = top.filter((n) => n.opType === 'Sigmoid');
    if (sigmoids.length !== 1) fail(`expected one Sigmoid, found ${sigmoids.length}`);
    const head = producers.get(sigmoids[0]!.input?.[0] ?? '');
    if (head?.opType !== 'Conv' || JSON.stringify(attributeInts(head, 'kernel_shape')) !== '[1]') fail('the Sigmoid does not follow a 1×1 Conv');
    if (producers.get(head!.input?.[0] ?? '')?.opType !== 'Relu') fail('the head Conv does not follow a Relu');
    const [, headWeight, headBias] = head!.input ?? [];

    const [, w, r, b] = cell.input ?? [];
    const kept = nodesComputing([features, w ?? '', r ?? '', b ?? '', headWeight ?? '', headBias ?? ''], producers);

    const n = (opType: string, input: string[], output: string[], attribute: Node['attribute'] = []): Node => ({ opType, name: `sequence/${output[0]}`, input, output, attribute });
    const initializer = [
      int64Tensor('sequence/axis0', [0]),
      int64Tensor('sequence/axis1', [1]),
      int64Tensor('sequence/axis2', [2]),
      int64Tensor('sequence/one', [1]),
      int64Tensor('sequence/two', [2]),
      int64Tensor('sequence/steps', [-1, hidden, 1]),
      int64Tensor('sequence/flat', [-1]),
    ];
    const nodes: Node[] = [
      ...kept,
      // [N, C, 1] → [N, 1, C]: Squeeze fails at run time if the convolutions left more than one step.
      n('Squeeze', [features, 'sequence/axis2'], ['sequence/features']),
      n('Unsqueeze', ['sequence/features', 'sequence/axis1'], ['sequence/x']),
      n('Slice', ['state', 'sequence/axis0', 'sequence/one', 'sequence/axis0'], ['sequence/h0']),
      n('Slice', ['state', 'sequence/one', 'sequence/two', 'sequence/axis0'], ['sequence/c0']),
      n('LSTM', ['sequence/x', w!, r!, b!, '', 'sequence/h0', 'sequence/c0'], ['sequence/y', 'sequence/h', 'sequence/c'], cell.attribute ?? []),
      n('Concat', ['sequence/h', 'sequence/c'], ['stateN'], [intAttribute('axis', 0)]),
      // Y is [N, 1, 1, H]: every step's hidden state, laid out as the head's [N, H, 1].
      n('Reshape', ['sequence/y', 'sequence/steps'], ['sequence/hidden']),
      n('Relu', ['sequence/hidden'], ['sequence/relu']),
      { ...head!, name: 'sequence/head', input: ['sequence/relu', headWeight!, ...(headBias ? [headBias] : [])], output: ['sequence/logit'] },
      n('Sigmoid', ['sequence/logit'], ['sequence/probability']),
      n('Reshape', ['sequence/probability', 'sequence/flat'], ['output']),
    ];
    const float = (name: string, dims: (number | string)[]) => ({
      name,
      type: { tensorType: { elemType: TensorType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
    });
    model.graph = {
      name: 'silero_vad_sequence',
      node: nodes,
      initializer,
      input: [float('input', ['frames', 576]), float('state', [2, 1, hidden])],
      output: [float('output', ['frames']), float('stateN', [2, 1, hidden])],
    };
    return { applied: true, note: `Silero VAD scores a stretch of frames per run (one LSTM of ${hidden} over the stretch)` };
  } catch (error) {
    if (error instanceof Mismatch) return { applied: false, reason: error.message };
    throw error;
  }
}
