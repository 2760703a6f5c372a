// Lets an encoder run on fewer than its 3000 input frames: the hub's graphs add the whole
// [positions, width] positional table to the convolution output, which only broadcasts for a
// full 30-s window. The table is sliced to the runtime sequence length instead; with a full
// window the slice is the whole table, so the arithmetic is unchanged.
import { GraphIndex, int64Tensor, TensorType, toNumber, type Model } from './onnx-graph.js';
import type { RewriteOutcome } from './fused-attention.js';

/** dims of a 2-D constant table, from an initializer or a Constant node. */
function tableDims(index: GraphIndex, name: string): number[] | undefined {
  const dims = index.initializerDims(name) ?? index.producer.get(name)?.attribute?.find((a) => a.name === 'value')?.t?.dims?.map(toNumber);
  return dims?.length === 2 ? dims : undefined;
}

export function slicePositionalTable(model: Model): RewriteOutcome {
  const graph = model.graph;
  if (!graph) return { applied: false, reason: 'the model has no graph' };
  const index = new GraphIndex(graph);
  // The table is added to the convolution output after its [B, width, T] → [B, T, width] transpose.
  const candidates = (graph.node ?? []).flatMap((node) => {
    if (node.opType !== 'Add') return [];
    const [a, b] = node.input ?? [];
    for (const [data, table] of [[a, b], [b, a]] as const) {
      const producer = index.producer.get(data ?? '');
      if (producer?.opType === 'Transpose' && tableDims(index, table ?? '')) {
        return [{ node, data: data!, table: table! }];
      }
    }
    return [];
  });
  if (candidates.length !== 1) return { applied: false, reason: `expected one positional table added after the convolutions, found ${candidates.length}` };
  const { node, data, table } = candidates[0]!;
  const prefix = `${node.name ?? 'positions'}.window`;
  graph.initializer!.push(int64Tensor(`${prefix}.zero`, [0]), int64Tensor(`${prefix}.one`, [1]));
  const sliced = [
    { opType: 'Shape', name: `${prefix}.shape`, input: [data], output: [`${prefix}.shape`] },
    { opType: 'Gather', name: `${prefix}.length`, input: [`${prefix}.shape`, `${prefix}.one`], output: [`${prefix}.length`] },
    {
      opType: 'Slice',
      name: `${prefix}.slice`,
      input: [table, `${prefix}.zero`, `${prefix}.length`, `${prefix}.zero`],
      output: [`${prefix}.table`],
    },
  ];
  node.input = (node.input ?? []).map((i) => (i === table ? `${prefix}.table` : i));
  const width = tableDims(index, table)![1]!;
  const frames = { dimParam: `${prefix}.frames` };
  graph.valueInfo = [
    ...(graph.valueInfo ?? []),
    { name: data, type: { tensorType: { elemType: TensorType.FLOAT, shape: { dim: [{ dimParam: `${prefix}.batch` }, frames, { dimValue: width }] } } } },
    { name: `${prefix}.table`, type: { tensorType: { elemType: TensorType.FLOAT, shape: { dim: [frames, { dimValue: width }] } } } },
  ];
  const at = graph.node!.indexOf(node);
  graph.node!.splice(at, 0, ...sliced);
  return { applied: true, note: 'positional table sliced to the window' };
}
