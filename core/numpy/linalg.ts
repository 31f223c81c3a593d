/**
 * Products: matmul (batched, broadcasting), dot, inner, outer, vdot, tensordot and einsum,
 * all on the `dot_general` primitive.
 * @module
 */

import { dotGeneral, type MatmulPrecision, precisionParam } from "../prims/dot.ts";
import { fmtShape, normalizeAxis } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { type ArrayLike, asTensor, astype, broadcastTo, promote } from "./convert.ts";
import { multiply } from "./elementwise.ts";
import { sum } from "./reductions.ts";
import { expandDims, ravel, reshape, squeeze, transpose } from "./shape.ts";
import { eye } from "./creation.ts";

function dot2(
  a: Tensor,
  b: Tensor,
  lhsContracting: number[],
  rhsContracting: number[],
  lhsBatch: number[] = [],
  rhsBatch: number[] = [],
  precision?: MatmulPrecision,
): Tensor {
  return bind1(dotGeneral, [a, b], {
    lhsContracting,
    rhsContracting,
    lhsBatch,
    rhsBatch,
    ...precisionParam(precision, "np.matmul"),
  });
}

/** Options of {@link matmul}. */
export interface MatmulOptions {
  /** How precisely float32 products may compute on a GPU (see `MatmulPrecision`). */
  precision?: MatmulPrecision;
}

function numericOperands(op: string, a: ArrayLike, b: ArrayLike): [Tensor, Tensor] {
  const [x, y] = promote(op, a, b);
  if (x.dtype === "bool") {
    // NumPy computes bool products as logical; Kiln counts them in int32
    return [astype(x, "int32"), astype(y, "int32")];
  }
  return [x, y];
}

/**
 * Matrix product with NumPy's rules: 1-D operands are promoted, batch axes broadcast.
 * `options.precision` as JAX's (default: `defaultMatmulPrecision()`).
 */
export function matmul(a: ArrayLike, b: ArrayLike, options: MatmulOptions = {}): Tensor {
  let [x, y] = numericOperands("np.matmul", a, b);
  if (x.ndim === 0 || y.ndim === 0) {
    throw new RangeError(
      `np.matmul: operands must be at least 1-D, got ${fmtShape(x.shape)} and ${fmtShape(y.shape)}`,
    );
  }
  const xVec = x.ndim === 1, yVec = y.ndim === 1;
  if (xVec) x = expandDims(x, 0);
  if (yVec) y = expandDims(y, 1);
  const k1 = x.shape[x.ndim - 1], k2 = y.shape[y.ndim - 2];
  if (k1 !== k2) {
    throw new RangeError(
      `np.matmul: contracting dimensions differ: ${fmtShape(asTensor(a).shape)} @ ${
        fmtShape(asTensor(b).shape)
      } (${k1} vs ${k2})`,
    );
  }
  let out: Tensor;
  if (y.ndim === 2) {
    // (..., m, k) @ (k, n): a plain contraction, no need to broadcast y over the batch
    out = dot2(x, y, [x.ndim - 1], [0], [], [], options.precision);
  } else {
    const xb = x.shape.slice(0, -2), yb = y.shape.slice(0, -2);
    const nb = Math.max(xb.length, yb.length);
    const batch: number[] = [];
    for (let i = 0; i < nb; i++) {
      const da = xb[xb.length - nb + i] ?? 1, db = yb[yb.length - nb + i] ?? 1;
      if (da !== db && da !== 1 && db !== 1) {
        throw new RangeError(
          `np.matmul: batch shapes of ${fmtShape(asTensor(a).shape)} and ${
            fmtShape(asTensor(b).shape)
          } cannot be broadcast`,
        );
      }
      batch.push(da === 1 ? db : da);
    }
    x = broadcastTo(x, [...batch, ...x.shape.slice(-2)], "np.matmul");
    y = broadcastTo(y, [...batch, ...y.shape.slice(-2)], "np.matmul");
    const dims = [...Array(nb).keys()];
    out = dot2(x, y, [nb + 1], [nb], dims, dims, options.precision);
  }
  if (xVec) out = squeeze(out, out.ndim - 2);
  if (yVec) out = squeeze(out, out.ndim - 1);
  return out;
}

/** NumPy's dot: products of scalars, inner products, matrix products, and sum over the last axis of a with the second-to-last of b. */
export function dot(a: ArrayLike, b: ArrayLike): Tensor {
  const [x, y] = numericOperands("np.dot", a, b);
  if (x.ndim === 0 || y.ndim === 0) return multiply(x, y);
  const ya = y.ndim === 1 ? 0 : y.ndim - 2;
  if (x.shape[x.ndim - 1] !== y.shape[ya]) {
    throw new RangeError(
      `np.dot: shapes ${fmtShape(x.shape)} and ${fmtShape(y.shape)} not aligned: ${
        x.shape[x.ndim - 1]
      } (dim ${x.ndim - 1}) != ${y.shape[ya]} (dim ${ya})`,
    );
  }
  return dot2(x, y, [x.ndim - 1], [ya]);
}

/** Inner product over the last axes. */
export function inner(a: ArrayLike, b: ArrayLike): Tensor {
  const [x, y] = numericOperands("np.inner", a, b);
  if (x.ndim === 0 || y.ndim === 0) return multiply(x, y);
  if (x.shape[x.ndim - 1] !== y.shape[y.ndim - 1]) {
    throw new RangeError(
      `np.inner: last dimensions differ: ${fmtShape(x.shape)} and ${fmtShape(y.shape)}`,
    );
  }
  return dot2(x, y, [x.ndim - 1], [y.ndim - 1]);
}

/** Dot product of the flattened arrays. */
export function vdot(a: ArrayLike, b: ArrayLike): Tensor {
  return dot(ravel(a), ravel(b));
}

/** Outer product of the flattened arrays. */
export function outer(a: ArrayLike, b: ArrayLike): Tensor {
  const [x, y] = numericOperands("np.outer", a, b);
  return multiply(expandDims(ravel(x), 1), expandDims(ravel(y), 0));
}

/** Sums products over `axes`: a count (last n of a with first n of b) or two axis lists. */
export function tensordot(
  a: ArrayLike,
  b: ArrayLike,
  axes: number | readonly [readonly number[] | number, readonly number[] | number] = 2,
): Tensor {
  const [x, y] = numericOperands("np.tensordot", a, b);
  let ax: number[], bx: number[];
  if (typeof axes === "number") {
    if (!Number.isInteger(axes) || axes < 0 || axes > x.ndim || axes > y.ndim) {
      throw new RangeError(
        `np.tensordot: axes=${axes} is invalid for shapes ${fmtShape(x.shape)} and ${
          fmtShape(y.shape)
        }`,
      );
    }
    ax = [...Array(axes).keys()].map((i) => x.ndim - axes + i);
    bx = [...Array(axes).keys()];
  } else {
    const list = (v: readonly number[] | number) => (typeof v === "number" ? [v] : [...v]);
    ax = list(axes[0]).map((i) => normalizeAxis(i, x.ndim, "np.tensordot"));
    bx = list(axes[1]).map((i) => normalizeAxis(i, y.ndim, "np.tensordot"));
  }
  if (ax.length !== bx.length || ax.some((i, j) => x.shape[i] !== y.shape[bx[j]])) {
    throw new RangeError(
      `np.tensordot: shape mismatch for sum over axes ${JSON.stringify([ax, bx])} of ${
        fmtShape(x.shape)
      } and ${fmtShape(y.shape)}`,
    );
  }
  return dot2(x, y, ax, bx);
}

// ---- einsum -----------------------------------------------------------------------------

interface Operand {
  t: Tensor;
  labels: string[];
}

function parseEinsum(spec: string, ts: Tensor[]): { inputs: string[][]; output: string[] } {
  const clean = spec.replace(/\s+/g, "");
  const [lhs, rhs] = clean.split("->");
  const parts = lhs.split(",");
  if (parts.length !== ts.length) {
    throw new RangeError(`np.einsum: "${spec}" names ${parts.length} operands, got ${ts.length}`);
  }
  const used = new Set<string>();
  const inputs = parts.map((p, i) => {
    let labels = [...p];
    const ell = p.indexOf("...");
    if (ell >= 0) {
      // ellipsis: name the broadcast axes with upper-case letters not used elsewhere
      const explicit = p.replace("...", "").length;
      const count = ts[i].ndim - explicit;
      // the rightmost broadcast axis is Α, the one before it Β, … so operands align from the right
      const fill = [...Array(count).keys()].map((k) => String.fromCharCode(0x391 + count - 1 - k));
      labels = [...p.slice(0, ell), ...fill, ...p.slice(ell + 3)];
    }
    if (labels.length !== ts[i].ndim || labels.some((l) => !/^[a-zA-Z\u0391-\u03a9]$/.test(l))) {
      throw new RangeError(
        `np.einsum: operand ${i} of shape ${fmtShape(ts[i].shape)} does not match "${p}"`,
      );
    }
    labels.forEach((l) => used.add(l));
    return labels;
  });
  let output: string[];
  if (rhs === undefined) {
    const counts = new Map<string, number>();
    inputs.flat().forEach((l) => counts.set(l, (counts.get(l) ?? 0) + 1));
    const greek = [...counts.keys()].filter((l) => l >= "\u0391").sort().reverse();
    output = [
      ...greek,
      ...[...counts.keys()].filter((l) => l < "\u0391" && counts.get(l) === 1).sort(),
    ];
  } else {
    const ellLabels = [...used].filter((l) => l >= "\u0391").sort().reverse();
    output = [...rhs.replace("...", "\u0000")].flatMap((c) => (c === "\u0000" ? ellLabels : [c]));
    for (const l of output) {
      if (!used.has(l)) {
        throw new RangeError(
          `np.einsum: output label "${l}" does not appear in the inputs of "${spec}"`,
        );
      }
    }
  }
  return { inputs, output };
}

// Takes the diagonal of repeated labels ("ii" -> "i") by masking with an identity and summing.
function diagonalize(op: Operand): Operand {
  let { t, labels } = op;
  for (;;) {
    const dup = labels.findIndex((l, i) => labels.indexOf(l) !== i);
    if (dup < 0) return { t, labels };
    const first = labels.indexOf(labels[dup]);
    const n = t.shape[first];
    const mask = reshape(
      eye(n, n, { dtype: t.dtype }),
      t.shape.map((_, i) => (i === first || i === dup ? n : 1)),
    );
    t = sum(multiply(t, mask), dup);
    labels = labels.filter((_, i) => i !== dup);
  }
}

// Sums out labels that appear in this operand only and not in `keep`.
function sumUnique(op: Operand, keep: Set<string>): Operand {
  const axes = op.labels.flatMap((l, i) => (keep.has(l) ? [] : [i]));
  if (axes.length === 0) return op;
  return { t: sum(op.t, axes), labels: op.labels.filter((_, i) => !axes.includes(i)) };
}

function contractPair(a: Operand, b: Operand, keep: Set<string>): Operand {
  const shared = a.labels.filter((l) => b.labels.includes(l));
  const batch = shared.filter((l) => keep.has(l));
  const contract = shared.filter((l) => !keep.has(l));
  for (const l of shared) {
    const da = a.t.shape[a.labels.indexOf(l)], db = b.t.shape[b.labels.indexOf(l)];
    if (da !== db) throw new RangeError(`np.einsum: label "${l}" has sizes ${da} and ${db}`);
  }
  const idx = (o: Operand, ls: string[]) => ls.map((l) => o.labels.indexOf(l));
  const t = dot2(a.t, b.t, idx(a, contract), idx(b, contract), idx(a, batch), idx(b, batch));
  const freeA = a.labels.filter((l) => !shared.includes(l));
  const freeB = b.labels.filter((l) => !shared.includes(l));
  return { t, labels: [...batch, ...freeA, ...freeB] };
}

/** Einstein summation, e.g. `einsum("ij,jk->ik", a, b)`, with `...` and implicit output. */
export function einsum(subscripts: string, ...operands: ArrayLike[]): Tensor {
  if (typeof subscripts !== "string") {
    throw new TypeError("np.einsum: the first argument must be a subscripts string");
  }
  const ts = operands.length > 1
    ? promote("np.einsum", ...operands)
    : operands.map((o) => asTensor(o));
  const { inputs, output } = parseEinsum(subscripts, ts);
  let ops: Operand[] = ts.map((t, i) => diagonalize({ t, labels: inputs[i] }));
  const stillNeeded = (skip: number) => {
    const s = new Set(output);
    ops.forEach((o, j) => j !== skip && o.labels.forEach((l) => s.add(l)));
    return s;
  };
  ops = ops.map((o, i) => sumUnique(o, stillNeeded(i)));
  while (ops.length > 1) {
    const [a, b] = ops;
    const rest = ops.slice(2);
    const keep = new Set(output);
    rest.forEach((o) => o.labels.forEach((l) => keep.add(l)));
    ops = [contractPair(a, b, keep), ...rest];
  }
  const final = sumUnique(ops[0], new Set(output));
  const perm = output.map((l) => final.labels.indexOf(l));
  return transpose(final.t, perm);
}
