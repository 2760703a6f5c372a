// Tables looked up by column (the hub's quantized token embedding) given a file of rows: the rows
// file holds the table's transpose, the lookups read it with the same result bit for bit, the file
// is gone once the session holds it, and anything that cannot be done leaves the graph as it was.
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { LOADER, lookUpRowsFromFile } from '../src/asr/graph-rewrite/lookup-rows.js';
import { attributeInt, decodeModel, graphsOf } from '../src/asr/graph-rewrite/onnx-graph.js';
import { createRewritten } from './support/rewritten-session.js';
import { DataType, GraphBuilder, encodeModel, valueInfo } from '../bench/synth/onnx-builder.js';
import { cachedModelsRoot } from './support/test-model.js';

const MODEL_ID = 'voicebot-test/whisper-test-tiny-dtypes';
const options = { intraOpNumThreads: 1, enableCpuMemArena: false };
const mapOnly = { fuseAttention: false, fitWindow: false, mapWeights: true, crossAttentionApart: false };
const ROWS = 256;
const COLUMNS = 4096;
const rowsFilesIn = async (dir: string) => (await readdir(dir)).filter((name) => name.includes('.rows-'));

/** y = Transpose(Gather(table [256, 4096] uint8, ids, axis=1), perm) — the hub's embedding lookup, small. */
async function lookupModel(dir: string, perm = [1, 2, 0], alsoRead = false): Promise<string> {
  const g = new GraphBuilder();
  const table = g.initializer('embed', DataType.UINT8, [ROWS, COLUMNS], () => Uint8Array.from({ length: ROWS * COLUMNS }, (_, i) => (i * 7919) % 251));
  const columns = g.apply('Gather', [table, 'ids'], { axis: 1 });
  g.apply('Transpose', [columns], { perm }, 'y');
  const outputs = [valueInfo('y', DataType.UINT8)];
  if (alsoRead) {
    g.apply('Identity', [columns], {}, 'columns');
    outputs.push(valueInfo('columns', DataType.UINT8));
  }
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'lookup.onnx');
  await writeFile(file, encodeModel(g.graph('lookup', [valueInfo('ids', DataType.INT64, [2, 3])], outputs, true), 17));
  return file;
}

const ids = new ort.Tensor('int64', BigInt64Array.from([0n, 1n, 4095n, 17n, 2048n, 1n]), [2, 3]);

async function lookedUp(session: ort.InferenceSession): Promise<Uint8Array> {
  const out = await session.run({ ids });
  await session.release();
  return out.y!.data as Uint8Array;
}

/** The graph loaded through RewrittenSessions and as it is: the load's notes, and what each looks up. */
async function loadBothWays(file: string) {
  const loaded = await createRewritten(mapOnly, file, options);
  return { notes: loaded.notes, rewritten: await lookedUp(loaded.value), original: await lookedUp(await ort.InferenceSession.create(file, options)) };
}

const freshFolder = () => mkdtemp(path.join(os.tmpdir(), 'rows-'));

/** Dated two hours back: what a process that died while loading left, as the sweep sees it. */
async function leftTwoHoursAgo(at: string): Promise<void> {
  const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
  await utimes(at, twoHoursAgo, twoHoursAgo);
}

describe('a table looked up by column, given a file of rows', () => {
  it('looks up the same bytes, and no rows file is left once the session holds it', async () => {
    const dir = await freshFolder();
    const file = await lookupModel(dir);
    const expected = await lookedUp(await ort.InferenceSession.create(file, options));
    const loaded = await createRewritten(mapOnly, file, options);
    expect(loaded.notes).toContain(`lookup.onnx: 1 table(s) looked up by column (1.0 MB) given a file of rows to look up in`);
    expect(await rowsFilesIn(dir)).toEqual([]);
    const got = await lookedUp(loaded.value);
    expect(got).toEqual(expected);
    // y[0][1] is column 1 of the table.
    expect(Array.from(got.subarray(ROWS, 2 * ROWS))).toEqual(Array.from({ length: ROWS }, (_, r) => ((r * COLUMNS + 1) * 7919) % 251));
  });

  it('writes the transpose, and every lookup in every branch reads it with axis 0 and no Transpose', async () => {
    const dir = path.join(await cachedModelsRoot(MODEL_ID, { dtypes: ['q8', 'int8', 'fp32'] }), MODEL_ID, 'onnx');
    for (const name of ['decoder_model_merged_quantized.onnx', 'decoder_model_merged_int8.onnx']) {
      const bytes = await readFile(path.join(dir, name));
      const model = decodeModel(bytes);
      const table = model.graph!.initializer!.find((t) => t.name === 'decoder.embed_tokens.weight_quantized')!;
      const [d, v] = table.dims!.map(Number) as [number, number];
      const raw = table.rawData!;
      const rows = lookUpRowsFromFile(model, dir, name);
      if (!rows.applied) throw new Error(`not applied: ${rows.reason}`);
      try {
        const written = await readFile(rows.files[0]!);
        expect(written.byteLength).toBe(d * v);
        for (const [token, dim] of [[0, 0], [1, 0], [v - 1, d - 1], [12345 % v, 7], [v >> 1, d >> 1]] as const) expect(written[token * d + dim]).toBe(raw[dim * v + token]);
        const gathers = graphsOf(model.graph!).flatMap((g) => g.node ?? []).filter((n) => n.opType === 'Gather' && n.input![0]!.startsWith(table.name!));
        expect(gathers.length).toBe(2);
        expect(gathers.every((n) => n.input![0] === `${table.name}.rows` && attributeInt(n, 'axis') === 0)).toBe(true);
        // The logits' projection still reads the table itself, to pack it.
        expect(graphsOf(model.graph!).some((g) => (g.node ?? []).some((n) => n.opType !== 'Gather' && n.input!.includes(table.name!)))).toBe(true);
      } finally {
        for (const file of rows.files) await rm(file);
      }
    }
  });

  it.each([
    ['whose columns something else reads too', [1, 2, 0], true],
    ['whose Transpose does not put the column last', [2, 1, 0], false],
  ] as const)('a lookup %s is left as it is, and the load says why', async (_, perm, alsoRead) => {
    const dir = await freshFolder();
    const { notes, rewritten, original } = await loadBothWays(await lookupModel(dir, [...perm], alsoRead));
    expect(notes).toContain("lookup.onnx: tables looked up by column as they are: embed's lookup in lookup is not read by a Transpose that puts the column last");
    expect(rewritten).toEqual(original);
    expect(await rowsFilesIn(dir)).toEqual([]);
  });

  const ownName = `.lookup.onnx.embed.rows-${LOADER}`;
  it.each([
    // A dead process with the same pid (a restarted container) left it.
    ['a file, which is replaced', (at: string) => writeFile(at, 'left by a process killed while loading'), /^lookup\.onnx: 1 table\(s\) looked up by column \(1\.0 MB\) given a file of rows/, []],
    // Neither removing nor creating it works, even as root: the lookup stays as it is.
    ['a directory, which leaves the lookup as it is', (at: string) => mkdir(at), /^lookup\.onnx: tables looked up by column as they are: embed.s rows could not be written to .*EISDIR/, [ownName]],
  ])('where its rows file goes, %s, and the load says so', async (_, place, note, left) => {
    const dir = await freshFolder();
    const file = await lookupModel(dir);
    await place(path.join(dir, ownName));
    const { notes, rewritten, original } = await loadBothWays(file);
    expect(notes.some((n) => note.test(n))).toBe(true);
    expect(rewritten).toEqual(original);
    expect(await rowsFilesIn(dir)).toEqual(left);
  });

  it('sweeps rows files a dead process left more than an hour ago, and keeps a fresh one (another load in progress)', async () => {
    const dir = await freshFolder();
    const file = await lookupModel(dir);
    const [abandoned, inProgress] = ['.lookup.onnx.embed.rows-gone-host-1-0', '.lookup.onnx.embed.rows-other-host-7-1'];
    for (const name of [abandoned, inProgress]) await writeFile(path.join(dir, name), 'x');
    await leftTwoHoursAgo(path.join(dir, abandoned));
    const loaded = await createRewritten(mapOnly, file, options);
    await loaded.value.release();
    expect(await rowsFilesIn(dir)).toEqual([inProgress]);
  });

  it('an abandoned rows file it cannot remove leaves the lookup as it is, and the load says why', async () => {
    const dir = await freshFolder();
    const file = await lookupModel(dir);
    const abandoned = path.join(dir, '.lookup.onnx.embed.rows-gone-host-1-0');
    await mkdir(abandoned);
    await leftTwoHoursAgo(abandoned);
    const { notes, rewritten, original } = await loadBothWays(file);
    expect(notes.some((n) => /^lookup\.onnx: tables looked up by column as they are: abandoned rows files in .* cannot be swept: .*EISDIR/.test(n))).toBe(true);
    expect(rewritten).toEqual(original);
  });
});
