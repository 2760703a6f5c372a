// Where each element of a tensor comes from, followed through Reshape and Transpose symbolically.
// A layout is a list of dims; each dim is the ordered product of atoms: named factors such as the
// batch, a sequence length, or the two halves (heads, head size) the model width is split into.
// This is what tells an attention matcher that a chain of reshapes really splits [B, T, H·E] into
// heads and merges them back, whatever mix of constants and runtime shapes an exporter wrote.

export interface Atom {
  id: string;
  /** Known size, or null for a runtime size (batch, sequence length). */
  size: number | null;
}

export type Layout = Atom[][];

/** One entry of a Reshape's target shape, as far as it can be known before running the graph. */
export type ShapeEntry =
  | { kind: 'copy' } // 0: keep the input's dim at this position
  | { kind: 'infer' } // -1
  | { kind: 'size'; atoms: Atom[]; factor: number }; // product of runtime dims and a constant

export const flatten = (layout: Layout): Atom[] => layout.flat();

/** Consumes atoms from the front of `atoms` whose product is `factor`, splitting a known atom if needed. */
function takeFactor(atoms: Atom[], factor: number, fromEnd: boolean): Atom[] | undefined {
  const taken: Atom[] = [];
  let rest = factor;
  while (rest > 1) {
    const atom = fromEnd ? atoms.pop() : atoms.shift();
    if (!atom || atom.size === null) return undefined;
    if (rest % atom.size === 0) {
      taken.push(atom);
      rest /= atom.size;
    } else if (atom.size % rest === 0) {
      // Split the atom: its first part is the outer (slower-varying) factor.
      const outer = { id: `${atom.id}.0`, size: fromEnd ? atom.size / rest : rest };
      const inner = { id: `${atom.id}.1`, size: fromEnd ? rest : atom.size / rest };
      if (fromEnd) {
        taken.push(inner);
        atoms.push(outer);
      } else {
        taken.push(outer);
        atoms.unshift(inner);
      }
      rest = 1;
    } else {
      return undefined;
    }
  }
  return fromEnd ? taken.reverse() : taken;
}

function takeEntry(atoms: Atom[], entry: Extract<ShapeEntry, { kind: 'size' }>, fromEnd: boolean): Atom[] | undefined {
  const named: Atom[] = [];
  const order = fromEnd ? [...entry.atoms].reverse() : entry.atoms;
  // Runtime atoms first (in the written order), then the constant factor: how B·H is written.
  if (fromEnd) {
    const constant = takeFactor(atoms, entry.factor, true);
    if (!constant) return undefined;
    for (const a of order) {
      const next = atoms.pop();
      if (next?.id !== a.id) return undefined;
      named.unshift(next);
    }
    return [...named, ...constant];
  }
  for (const a of order) {
    const next = atoms.shift();
    if (next?.id !== a.id) return undefined;
    named.push(next);
  }
  const constant = takeFactor(atoms, entry.factor, false);
  return constant ? [...named, ...constant] : undefined;
}

/** The layout after Reshape(input, entries), or undefined when it cannot be followed exactly. */
export function reshapeLayout(input: Layout, entries: ShapeEntry[]): Layout | undefined {
  const inferAt = entries.findIndex((e) => e.kind === 'infer');
  if (entries.filter((e) => e.kind === 'infer').length > 1) return undefined;
  const atoms = flatten(input);
  const out: Layout = new Array(entries.length);
  const head = inferAt < 0 ? entries.length : inferAt;
  let consumed = 0;
  for (let i = 0; i < head; i++) {
    const entry = entries[i]!;
    let dim: Atom[] | undefined;
    if (entry.kind === 'copy') {
      // Valid only when everything before it came from the input's dims before it.
      const before = flatten(input.slice(0, i)).length;
      if (i >= input.length || consumed !== before) return undefined;
      dim = atoms.splice(0, input[i]!.length);
    } else if (entry.kind === 'size') {
      dim = takeEntry(atoms, entry, false);
    }
    if (!dim || dim.length === 0) return undefined;
    consumed += dim.length;
    out[i] = dim;
  }
  for (let i = entries.length - 1; i > head; i--) {
    const entry = entries[i]!;
    if (entry.kind !== 'size') return undefined;
    const dim = takeEntry(atoms, entry, true);
    if (!dim || dim.length === 0) return undefined;
    out[i] = dim;
  }
  if (inferAt >= 0) {
    if (atoms.length === 0) return undefined;
    out[inferAt] = atoms.splice(0);
  }
  return atoms.length === 0 ? out : undefined;
}

export function transposeLayout(input: Layout, perm: number[] | undefined): Layout | undefined {
  const order = perm && perm.length > 0 ? perm : input.map((_, i) => input.length - 1 - i);
  if (order.length !== input.length || new Set(order).size !== order.length) return undefined;
  const out: Layout = [];
  for (const p of order) {
    const dim = input[p];
    if (!dim) return undefined;
    out.push(dim);
  }
  return out;
}

const ids = (dim: Atom[] | undefined) => (dim ?? []).map((a) => a.id).join('*');

export function sameLayout(a: Layout, b: Layout): boolean {
  return a.length === b.length && a.every((dim, i) => ids(dim) === ids(b[i]));
}

/**
 * Reads a per-head tensor: `[...batch, rows, cols]` whose batch dims flatten to exactly
 * [batch, heads]. Returns the heads atom, or undefined.
 */
export function headsOf(layout: Layout, batch: Atom, rows: Atom, cols: Atom): Atom | undefined {
  if (layout.length < 3) return undefined;
  const batchAtoms = flatten(layout.slice(0, -2));
  if (ids(layout.at(-2)) !== rows.id || ids(layout.at(-1)) !== cols.id) return undefined;
  if (batchAtoms.length !== 2 || batchAtoms[0]!.id !== batch.id) return undefined;
  return batchAtoms[1];
}

/** The batch dims' structure: how many dims, each with how many atoms (both operands of a MatMul must agree). */
export const batchShape = (layout: Layout): string => layout.slice(0, -2).map((d) => d.length).join(',');
