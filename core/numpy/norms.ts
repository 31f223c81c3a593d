/**
 * `np.linalg.norm` (vector norms, and the matrix norms that need no decomposition),
 * `np.cross` and `np.histogram` with uniform bins, composed from reductions and elementwise
 * ops (so they differentiate and jit as their parts do).
 * @module
 */

import { DEFAULT_FLOAT, isFloat } from "../dtype.ts";
import { fmtShape, normalizeAxis } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { type ArrayLike, asTensor, astype, promoteAndBroadcast } from "./convert.ts";
import { linspace, onesLike } from "./creation.ts";
import {
  abs,
  equal,
  multiply,
  notEqual,
  power,
  reciprocal,
  sqrt,
  subtract,
  where,
} from "./elementwise.ts";
import { max, min, sum } from "./reductions.ts";
import { searchsorted } from "./assembly.ts";
import { bincount } from "./data_dependent.ts";
import { expandDims, ravel, stack } from "./shape.ts";
import { getIndex } from "./indexing.ts";

/** The `ord` of {@link norm}: a number (incl. ±Infinity), "fro" or "nuc". */
export type NormOrder = number | "fro" | "nuc";

/** Options of {@link norm}. */
export interface NormOptions {
  /** Keep the reduced axes with size 1. */
  keepdims?: boolean;
}

function toFloat(t: Tensor): Tensor {
  return isFloat(t.dtype) ? t : astype(t, DEFAULT_FLOAT);
}

/** A vector norm over one axis (kept with size 1). */
function vectorNorm(x: Tensor, ord: NormOrder, axis: number): Tensor {
  const k = { keepdims: true };
  if (ord === 2) return sqrt(sum(multiply(x, x), axis, k));
  const a = abs(x);
  if (ord === Infinity) return max(a, axis, k);
  if (ord === -Infinity) return min(a, axis, k);
  if (ord === 0) return astype(sum(notEqual(x, 0), axis, k), x.dtype);
  if (ord === 1) return sum(a, axis, k);
  if (typeof ord !== "number") {
    throw new RangeError(`np.linalg.norm: ord ${JSON.stringify(ord)} is not a vector norm`);
  }
  return power(sum(power(a, ord), axis, k), reciprocal(asTensor(ord, x.dtype)));
}

/** A matrix norm over the axis pair (rows, cols), both kept with size 1. */
function matrixNorm(x: Tensor, ord: NormOrder, rows: number, cols: number): Tensor {
  const k = { keepdims: true };
  const a = abs(x);
  switch (ord) {
    case "fro":
      return sqrt(sum(multiply(x, x), [rows, cols], k));
    case 1:
      return max(sum(a, rows, k), cols, k);
    case -1:
      return min(sum(a, rows, k), cols, k);
    case Infinity:
      return max(sum(a, cols, k), rows, k);
    case -Infinity:
      return min(sum(a, cols, k), rows, k);
  }
  throw new RangeError(
    `np.linalg.norm: matrix ord ${
      JSON.stringify(ord)
    } is not supported (2, -2 and "nuc" need singular values); use "fro", 1, -1, Infinity or -Infinity`,
  );
}

/**
 * `np.linalg.norm(x, ord, axis)`: without `axis`, the 2-norm of the flattened array (or, for
 * 2-D `x` with `ord`, its matrix norm); one axis gives vector norms, two axes matrix norms.
 */
export function norm(
  x: ArrayLike,
  ord: NormOrder | null = null,
  axis: number | readonly number[] | null = null,
  options: NormOptions = {},
): Tensor {
  const t = toFloat(asTensor(x));
  let axes: number[];
  if (axis === null) {
    if (ord === null || (t.ndim === 1 && ord !== "fro" && ord !== "nuc")) {
      const flat = vectorNorm(ravel(t), ord ?? 2, 0);
      return options.keepdims ? flat.reshape(t.shape.map(() => 1)) : flat.reshape([]);
    }
    if (t.ndim !== 2) {
      throw new RangeError(
        `np.linalg.norm: ord ${JSON.stringify(ord)} without axis needs a 1-D or 2-D array, got ${
          fmtShape(t.shape)
        }`,
      );
    }
    axes = [0, 1];
  } else {axes = (typeof axis === "number" ? [axis] : [...axis]).map((a) =>
      normalizeAxis(a, t.ndim, "np.linalg.norm")
    );}
  let out: Tensor;
  if (axes.length === 1) out = vectorNorm(t, ord ?? 2, axes[0]);
  else if (axes.length === 2 && axes[0] !== axes[1]) {
    out = matrixNorm(t, ord ?? "fro", axes[0], axes[1]);
  } else {
    throw new RangeError(`np.linalg.norm: axis must be one axis or two distinct axes, got ${axis}`);
  }
  if (options.keepdims) return out;
  return out.reshape(out.shape.filter((_, i) => !axes.includes(i)));
}

/** `np.linalg`: the norms (decompositions are not implemented). */
export const linalg: { norm: typeof norm } = { norm };

/**
 * The cross product of 3-vectors (or 2-vectors, whose z component it returns) along the last
 * axis of `a` and `b`, broadcast against each other.
 */
export function cross(a: ArrayLike, b: ArrayLike): Tensor {
  const [x, y] = promoteAndBroadcast("np.cross", a, b);
  const n = x.shape[x.ndim - 1];
  if (x.ndim === 0 || (n !== 2 && n !== 3) || y.shape[y.ndim - 1] !== n) {
    throw new RangeError(
      `np.cross: both operands need a last axis of length 2 or 3, got ${fmtShape(x.shape)} and ${
        fmtShape(y.shape)
      }`,
    );
  }
  const at = (t: Tensor, i: number) => getIndex(t, "...", i);
  const det = (i: number, j: number) =>
    subtract(multiply(at(x, i), at(y, j)), multiply(at(x, j), at(y, i)));
  if (n === 2) return det(0, 1);
  return stack([det(1, 2), det(2, 0), det(0, 1)], -1);
}

/** Options of {@link histogram}. */
export interface HistogramOptions {
  /** The outer bin edges (default: the data's min and max). */
  range?: readonly [number, number];
  /** Weights per element (the result sums them instead of counting). */
  weights?: ArrayLike;
  /** Normalize to a probability density (integral 1). */
  density?: boolean;
}

/**
 * `np.histogram` with `bins` uniform bins: `[counts, edges]` (float counts, as JAX). Values
 * on the last edge fall in the last bin; values outside the range are not counted.
 */
export function histogram(
  x: ArrayLike,
  bins = 10,
  options: HistogramOptions = {},
): [Tensor, Tensor] {
  if (!Number.isInteger(bins) || bins < 1) {
    throw new RangeError(`np.histogram: bins must be a positive integer, got ${bins}`);
  }
  const a = toFloat(ravel(asTensor(x)));
  let lo: Tensor, hi: Tensor;
  if (options.range) {
    [lo, hi] = options.range.map((v) => asTensor(v, a.dtype));
  } else {
    lo = min(a);
    hi = max(a);
    // one distinct value: widen by 0.5 each side, as NumPy
    const same = equal(lo, hi);
    [lo, hi] = [where(same, subtract(lo, 0.5), lo), where(same, hi.add(0.5), hi)];
  }
  const edges = linspaceBetween(lo, hi, bins + 1);
  // the bin of each value: edges at or below it, the last edge belonging to the last bin
  let bin = searchsorted(edges, a, { side: "right" });
  bin = where(equal(a, getIndex(edges, -1)), bins, bin);
  const w = options.weights === undefined ? onesLike(a) : asTensor(options.weights);
  // bin 0 (below the range) and bins + 1 (above) fall outside the counted bins
  const counts = getIndex(
    bincount(bin, ravel(astype(w, a.dtype)), { length: bins + 2 }),
    `1:${bins + 1}`,
  );
  if (!options.density) return [counts, edges];
  const widths = subtract(getIndex(edges, "1:"), getIndex(edges, ":-1"));
  return [counts.div(multiply(sum(counts), widths)), edges];
}

/** `n` evenly spaced values from `lo` to `hi` (0-d tensors, possibly traced). */
function linspaceBetween(lo: Tensor, hi: Tensor, n: number): Tensor {
  const unit = astype(linspace(0, 1, n), lo.dtype);
  return expandDims(lo, 0).add(multiply(unit, subtract(hi, lo)));
}
