/**
 * Reductions over axes (sum, prod, max, min), arg-reductions (argmax, argmin) and cumulative
 * scans (cumsum, cumprod, cummax, cummin).
 * @module
 */

import { allocate, type DType, isFloat, type TypedArray } from "../dtype.ts";
import { type Aval, Primitive, type PrimitiveRules, UndefinedPrimal } from "../primitive.ts";
import { fmtShape, type Shape, sizeOf, stridesOf } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind1, scalarTensor } from "../trace.ts";
import * as E from "./elementwise.ts";
import { broadcastInDim, pad, reshape, slice, transpose } from "./structure.ts";

/** Parameters of the axis reductions: sorted, unique, non-negative axes. */
export interface ReduceParams {
  axes: number[];
}

/** Identity element and combiner of each reduction. */
export interface ReduceDef {
  identity(dtype: DType): number;
  combine(a: number, b: number): number;
  dtypes: DType[];
}

const LOWEST: Record<DType, number> = {
  float16: -Infinity,
  bfloat16: -Infinity,
  float32: -Infinity,
  float64: -Infinity,
  int32: -2147483648,
  uint32: 0,
  bool: 0,
};
const HIGHEST: Record<DType, number> = {
  float16: Infinity,
  bfloat16: Infinity,
  float32: Infinity,
  float64: Infinity,
  int32: 2147483647,
  uint32: 4294967295,
  bool: 1,
};

/** The lowest value of a dtype (identity of max). */
export function lowest(dtype: DType): number {
  return LOWEST[dtype];
}
/** The highest value of a dtype (identity of min). */
export function highest(dtype: DType): number {
  return HIGHEST[dtype];
}

const NUMERIC: DType[] = ["float16", "bfloat16", "float32", "float64", "int32", "uint32"];
const nanMax = (a: number, b: number) => (a !== a || b !== b ? NaN : a > b ? a : b);
const nanMin = (a: number, b: number) => (a !== a || b !== b ? NaN : a < b ? a : b);

/** The reduction definitions, by primitive name. */
export const reduceDefs: Record<string, ReduceDef> = {
  reduce_sum: { identity: () => 0, combine: (a, b) => a + b, dtypes: NUMERIC },
  reduce_prod: { identity: () => 1, combine: (a, b) => a * b, dtypes: NUMERIC },
  reduce_max: { identity: lowest, combine: nanMax, dtypes: [...NUMERIC, "bool"] },
  reduce_min: { identity: highest, combine: nanMin, dtypes: [...NUMERIC, "bool"] },
};

/** Shape after removing `axes`. */
export function reducedShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.filter((_, i) => !axes.includes(i));
}

function checkAxes(name: string, x: Aval, axes: readonly number[]): void {
  for (let i = 0; i < axes.length; i++) {
    if (!(axes[i] >= 0 && axes[i] < x.shape.length) || (i > 0 && axes[i] <= axes[i - 1])) {
      throw new RangeError(
        `${name}: axes ${JSON.stringify(axes)} are invalid for shape ${fmtShape(x.shape)}`,
      );
    }
  }
}

/** For each input element, the index of the output element it reduces into. */
export function reductionTargets(shape: Shape, axes: readonly number[]): Int32Array {
  const n = sizeOf(shape);
  const outShape = reducedShape(shape, axes);
  const outStrides = stridesOf(outShape);
  // stride of each input axis in the output (0 for reduced axes)
  const mapped: number[] = [];
  let j = 0;
  for (let i = 0; i < shape.length; i++) mapped.push(axes.includes(i) ? 0 : outStrides[j++]);
  const targets = new Int32Array(n);
  const idx = new Array<number>(shape.length).fill(0);
  let t = 0;
  for (let e = 0; e < n; e++) {
    targets[e] = t;
    for (let k = shape.length - 1; k >= 0; k--) {
      idx[k]++;
      t += mapped[k];
      if (idx[k] < shape[k]) break;
      t -= mapped[k] * shape[k];
      idx[k] = 0;
    }
  }
  return targets;
}

// ---- batching: the batch axis is one more axis that the op leaves alone -------------------

/** A per-example axis in the batched operand, whose batch axis is at `bd`. */
const axisPast = (axis: number, bd: number) => (axis >= bd ? axis + 1 : axis);

/** Batch rule of the axis reductions: shift the axes; the batch axis moves down past them. */
function reductionBatch(
  prim: () => Primitive<ReduceParams>,
): PrimitiveRules<ReduceParams>["batch"] {
  return ([x], [bd], { axes }) => {
    const b = bd!;
    const shifted = axes.map((a) => axisPast(a, b));
    const out = bind1(prim(), [x], { axes: shifted });
    return [[out], [b - shifted.filter((a) => a < b).length]];
  };
}

/** Batch rule of the arg-reductions: shift the axis; the batch axis moves down past it. */
function argReductionBatch(prim: () => Primitive<AxisParams>): PrimitiveRules<AxisParams>["batch"] {
  return ([x], [bd], { axis }) => {
    const b = bd!;
    const a = axisPast(axis, b);
    return [[bind1(prim(), [x], { axis: a })], [a < b ? b - 1 : b]];
  };
}

/** Batch rule of the cumulative scans: shift the axis; the batch axis stays. */
function cumulativeBatch(
  prim: () => Primitive<CumulativeParams>,
): PrimitiveRules<CumulativeParams>["batch"] {
  return ([x], [bd], { axis, reverse }) => {
    const b = bd!;
    return [[bind1(prim(), [x], { axis: axisPast(axis, b), reverse })], [b]];
  };
}

// ---- helpers for the differentiation rules -----------------------------------------------

const ap = (p: Primitive<E.NoParams>, ...xs: Tensor[]): Tensor => bind1(p, xs, {});

/** The axes of a rank-`rank` shape that are not in `axes`. */
function keptAxes(rank: number, axes: readonly number[]): number[] {
  const kept: number[] = [];
  for (let i = 0; i < rank; i++) if (!axes.includes(i)) kept.push(i);
  return kept;
}

/** Broadcasts a reduction's result back over the reduced `axes` of `shape`. */
function unreduce(y: Tensor, shape: Shape, axes: readonly number[]): Tensor {
  return bind1(broadcastInDim, [y], {
    shape: [...shape],
    broadcastDimensions: keptAxes(shape.length, axes),
  });
}

/** `x[start:limit]` along `axis`. */
function sliceAxis(x: Tensor, axis: number, start: number, limit: number): Tensor {
  return bind1(slice, [x], {
    start: x.shape.map((_, i) => (i === axis ? start : 0)),
    limit: x.shape.map((d, i) => (i === axis ? limit : d)),
    strides: x.shape.map(() => 1),
  });
}

/** Pads `x` along `axis` with `lo` and `hi` copies of `value`. */
function padAxis(x: Tensor, axis: number, lo: number, hi: number, value: number): Tensor {
  const v = scalarTensor(value, x.dtype, false);
  return bind1(pad, [x, v], {
    lo: x.shape.map((_, i) => (i === axis ? lo : 0)),
    hi: x.shape.map((_, i) => (i === axis ? hi : 0)),
    interior: x.shape.map(() => 0),
  });
}

/**
 * Shifts `x` by `k` along `axis` in the scan's direction (toward higher indices, or lower
 * when `reverse`), filling the vacated positions with `fill`.
 */
function shiftAxis(x: Tensor, axis: number, k: number, reverse: boolean, fill: number): Tensor {
  const n = x.shape[axis];
  return reverse
    ? padAxis(sliceAxis(x, axis, k, n), axis, 0, k, fill)
    : padAxis(sliceAxis(x, axis, 0, n - k), axis, k, 0, fill);
}

/**
 * The jvp of a reduction: its primal output, and the tangent from `tangent(x, t, y)` when the
 * input is float and has a tangent.
 */
function reductionJvp(
  prim: () => Primitive<ReduceParams>,
  tangent: (x: Tensor, t: Tensor, y: Tensor, axes: number[]) => Tensor,
): PrimitiveRules<ReduceParams>["jvp"] {
  return ([x], [t], { axes }) => {
    const y = bind1(prim(), [x], { axes });
    if (t === null || !isFloat(x.dtype)) return [[y], [null]];
    return [[y], [tangent(x, t, y, axes)]];
  };
}

/**
 * Tangent of reduce_max/min as JAX: the mean of the tangents at the positions equal to the
 * extremum.
 */
function extremumTangent(x: Tensor, t: Tensor, y: Tensor, axes: number[]): Tensor {
  const hit = ap(E.eq, x, unreduce(y, x.shape, axes));
  const mask = bind1(E.convertElementType, [hit], { dtype: x.dtype, weak: false });
  const count = bind1(reduceSum, [mask], { axes });
  return ap(E.div, bind1(reduceSum, [ap(E.mul, t, mask)], { axes }), count);
}

/**
 * Tangent of reduce_prod: Σ t_i · Π_{j≠i} x_j, the product of the others taken as the
 * exclusive cumulative products from either side (exact when x has zeros).
 */
function prodTangent(x: Tensor, t: Tensor, _y: Tensor, axes: number[]): Tensor {
  const rank = x.shape.length;
  const kept = keptAxes(rank, axes);
  const n = sizeOf(axes.map((a) => x.shape[a]));
  if (n === 0) return bind1(reduceSum, [t], { axes }); // zeros
  // move the reduced axes last and flatten them into one
  const perm = [...kept, ...axes];
  const identity = perm.every((p, i) => p === i);
  const moved = identity ? x : bind1(transpose, [x], { perm });
  const flat = bind1(reshape, [moved], { shape: [...kept.map((a) => x.shape[a]), n] });
  const last = kept.length;
  const left = sliceAxis(bind1(cumprod, [flat], { axis: last, reverse: false }), last, 0, n - 1);
  const right = sliceAxis(bind1(cumprod, [flat], { axis: last, reverse: true }), last, 1, n);
  const others = ap(E.mul, padAxis(left, last, 1, 0, 1), padAxis(right, last, 0, 1, 1));
  let back = bind1(reshape, [others], { shape: moved.shape });
  if (!identity) {
    const inverse = new Array<number>(rank);
    perm.forEach((p, i) => (inverse[p] = i));
    back = bind1(transpose, [back], { perm: inverse });
  }
  return bind1(reduceSum, [ap(E.mul, t, back)], { axes });
}

function reduction(
  name: string,
  extra: Partial<PrimitiveRules<ReduceParams>> = {},
): Primitive<ReduceParams> {
  const def = reduceDefs[name];
  const prim: Primitive<ReduceParams> = new Primitive<ReduceParams>(name, {
    abstractEval([x], { axes }) {
      checkAxes(name, x, axes);
      if (!def.dtypes.includes(x.dtype)) {
        throw new TypeError(`${name}: dtype ${x.dtype} is not supported`);
      }
      return [{ shape: reducedShape(x.shape, axes), dtype: x.dtype, weak: x.weak }];
    },
    impl([x], [xa], { axes }, [out]) {
      // accumulate in float64 JS numbers, store once (so float32 sums are accurate)
      const acc = new Float64Array(sizeOf(out.shape)).fill(def.identity(xa.dtype));
      const targets = reductionTargets(xa.shape, axes);
      // integer products wrap modulo 2^32 as the C kernels do (a float64 product would round)
      const combine = name === "reduce_prod" && (xa.dtype === "int32" || xa.dtype === "uint32")
        ? Math.imul
        : def.combine;
      for (let e = 0; e < x.length; e++) acc[targets[e]] = combine(acc[targets[e]], x[e]);
      const y = allocate(out.dtype, acc.length);
      if (out.dtype === "int32") { for (let i = 0; i < acc.length; i++) y[i] = acc[i] | 0; }
      else if (out.dtype === "uint32") { for (let i = 0; i < acc.length; i++) y[i] = acc[i] >>> 0; }
      else y.set(acc);
      return [y];
    },
    batch: reductionBatch(() => prim),
    ...extra,
  });
  return prim;
}

/** Sum over axes. Linear: its transpose broadcasts the cotangent back. */
export const reduceSum: Primitive<ReduceParams> = reduction("reduce_sum", {
  jvp: reductionJvp(() => reduceSum, (_x, t, _y, axes) => bind1(reduceSum, [t], { axes })),
  transpose: ([ct], [x], { axes }) => [
    x instanceof UndefinedPrimal ? unreduce(ct, x.aval.shape, axes) : null,
  ],
});
/** Product over axes. */
export const reduceProd: Primitive<ReduceParams> = reduction("reduce_prod", {
  jvp: reductionJvp(() => reduceProd, prodTangent),
});
/** Maximum over axes (NaN propagates; empty gives the dtype's lowest). */
export const reduceMax: Primitive<ReduceParams> = reduction("reduce_max", {
  jvp: reductionJvp(() => reduceMax, extremumTangent),
});
/** Minimum over axes. */
export const reduceMin: Primitive<ReduceParams> = reduction("reduce_min", {
  jvp: reductionJvp(() => reduceMin, extremumTangent),
});

/** Parameters of arg-reductions and cumulative scans: one axis. */
export interface AxisParams {
  axis: number;
}

/** View of shape as (outer, len, inner) around `axis`. */
export function splitAt(shape: Shape, axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis], sizeOf(shape.slice(axis + 1))];
}

function argReduction(name: string, better: (a: number, b: number) => boolean) {
  const prim: Primitive<AxisParams> = new Primitive<AxisParams>(name, {
    abstractEval([x], { axis }) {
      checkAxes(name, x, [axis]);
      if (x.shape[axis] === 0) {
        throw new RangeError(
          `${name}: attempt to get ${name} of an empty axis ${axis} of ${fmtShape(x.shape)}`,
        );
      }
      return [{ shape: reducedShape(x.shape, [axis]), dtype: "int32", weak: false }];
    },
    impl([x], [xa], { axis }) {
      const [outer, len, inner] = splitAt(xa.shape, axis);
      const y = new Int32Array(outer * inner);
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < inner; i++) {
          const base = o * len * inner + i;
          let best = x[base], bestIdx = 0;
          for (let k = 1; k < len && best === best; k++) {
            const v = x[base + k * inner];
            if (v !== v || better(v, best)) {
              best = v;
              bestIdx = k;
            }
          }
          y[o * inner + i] = bestIdx;
        }
      }
      return [y];
    },
    // integer output: zero tangent
    jvp: ([x], _t, params) => [[bind1(prim, [x], params)], [null]],
    batch: argReductionBatch(() => prim),
  });
  return prim;
}

/** Index of the first maximum along an axis (a NaN counts as the maximum). */
export const argmax = argReduction("argmax", (a, b) => a > b);
/** Index of the first minimum along an axis. */
export const argmin = argReduction("argmin", (a, b) => a < b);

/** Parameters of cumulative scans. */
export interface CumulativeParams {
  axis: number;
  reverse: boolean;
}

/** The combiners of the cumulative scans, by primitive name. */
export const cumulativeDefs: Record<string, (a: number, b: number) => number> = {
  cumsum: (a, b) => a + b,
  cumprod: (a, b) => a * b,
  cummax: nanMax,
  cummin: nanMin,
};

/**
 * The jvp of a non-linear scan with combiner `op` (mul, max, min) and identity `fill`: the
 * exact derivative of the scan written as an associative (Hillis–Steele) scan, log2(n) steps
 * of `y = op(shift(y, k), y)`, differentiated step by step with `op`'s own jvp rule. The
 * primal output still comes from the scan primitive.
 */
function scanJvp(
  prim: () => Primitive<CumulativeParams>,
  combiner: () => Primitive<E.NoParams>,
  fill: (dtype: DType) => number,
): PrimitiveRules<CumulativeParams>["jvp"] {
  // the combiner is looked up when the rule runs: elementwise.ts may still be loading now
  return ([x], [t], params) => {
    const op = combiner();
    const out = bind1(prim(), [x], params);
    if (t === null || !isFloat(x.dtype)) return [[out], [null]];
    const { axis, reverse } = params;
    const n = x.shape[axis];
    const opJvp = op.rules.jvp!;
    const trueScalar = scalarTensor(1, "bool", false);
    const everywhere = bind1(broadcastInDim, [trueScalar], {
      shape: x.shape,
      broadcastDimensions: [],
    });
    let y = x, ty = t;
    for (let k = 1; k < n; k *= 2) {
      // positions with a predecessor k steps back take op(predecessor, self)
      const valid = shiftAxis(everywhere, axis, k, reverse, 0);
      const ys = shiftAxis(y, axis, k, reverse, fill(x.dtype));
      const ts = shiftAxis(ty, axis, k, reverse, 0);
      const [[ny], [nt]] = opJvp([ys, y], [ts, ty], {});
      y = ap(E.select, valid, ny, y);
      ty = ap(E.select, valid, nt!, ty);
    }
    return [[out], [ty]];
  };
}

function cumulative(
  name: string,
  extra: Partial<PrimitiveRules<CumulativeParams>> = {},
): Primitive<CumulativeParams> {
  const combine = cumulativeDefs[name];
  const prim: Primitive<CumulativeParams> = new Primitive<CumulativeParams>(name, {
    abstractEval([x], { axis }) {
      checkAxes(name, x, [axis]);
      if (!NUMERIC.includes(x.dtype)) {
        throw new TypeError(`${name}: dtype ${x.dtype} is not supported`);
      }
      return [x];
    },
    impl([x], [xa], { axis, reverse }) {
      const [outer, len, inner] = splitAt(xa.shape, axis);
      const y: TypedArray = allocate(xa.dtype, x.length);
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < inner; i++) {
          const base = o * len * inner + i;
          let acc = 0;
          for (let s = 0; s < len; s++) {
            const k = reverse ? len - 1 - s : s;
            const v = x[base + k * inner];
            acc = s === 0 ? v : combine(acc, v);
            y[base + k * inner] = acc;
            acc = y[base + k * inner]; // round like the stored dtype does, as kernels do
          }
        }
      }
      return [y];
    },
    batch: cumulativeBatch(() => prim),
    ...extra,
  });
  return prim;
}

/** Cumulative sum along an axis. Linear: its transpose is the sum in the other direction. */
export const cumsum: Primitive<CumulativeParams> = cumulative("cumsum", {
  jvp: ([x], [t], params) => [
    [bind1(cumsum, [x], params)],
    [t === null || !isFloat(x.dtype) ? null : bind1(cumsum, [t], params)],
  ],
  transpose: ([ct], [x], { axis, reverse }) => [
    x instanceof UndefinedPrimal ? bind1(cumsum, [ct], { axis, reverse: !reverse }) : null,
  ],
});
/** Cumulative product along an axis. */
export const cumprod: Primitive<CumulativeParams> = cumulative("cumprod", {
  jvp: scanJvp(() => cumprod, () => E.mul, () => 1),
});
/** Cumulative maximum along an axis. */
export const cummax: Primitive<CumulativeParams> = cumulative("cummax", {
  jvp: scanJvp(() => cummax, () => E.max, lowest),
});
/** Cumulative minimum along an axis. */
export const cummin: Primitive<CumulativeParams> = cumulative("cummin", {
  jvp: scanJvp(() => cummin, () => E.min, highest),
});
