/**
 * Reductions over axes (sum, prod, max, min), arg-reductions (argmax, argmin) and cumulative
 * scans (cumsum, cumprod, cummax, cummin).
 * @module
 */

import { allocate, type DType, type TypedArray } from "../dtype.ts";
import { type Aval, Primitive } from "../primitive.ts";
import { fmtShape, type Shape, sizeOf, stridesOf } from "../shape.ts";

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
  float32: -Infinity,
  float64: -Infinity,
  int32: -2147483648,
  uint32: 0,
  bool: 0,
};
const HIGHEST: Record<DType, number> = {
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

const NUMERIC: DType[] = ["float32", "float64", "int32", "uint32"];
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

function reduction(name: string): Primitive<ReduceParams> {
  const def = reduceDefs[name];
  return new Primitive<ReduceParams>(name, {
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
      for (let e = 0; e < x.length; e++) acc[targets[e]] = def.combine(acc[targets[e]], x[e]);
      const y = allocate(out.dtype, acc.length);
      if (out.dtype === "int32") { for (let i = 0; i < acc.length; i++) y[i] = acc[i] | 0; }
      else if (out.dtype === "uint32") { for (let i = 0; i < acc.length; i++) y[i] = acc[i] >>> 0; }
      else y.set(acc);
      return [y];
    },
  });
}

/** Sum over axes. */
export const reduceSum = reduction("reduce_sum");
/** Product over axes. */
export const reduceProd = reduction("reduce_prod");
/** Maximum over axes (NaN propagates; empty gives the dtype's lowest). */
export const reduceMax = reduction("reduce_max");
/** Minimum over axes. */
export const reduceMin = reduction("reduce_min");

/** Parameters of arg-reductions and cumulative scans: one axis. */
export interface AxisParams {
  axis: number;
}

/** View of shape as (outer, len, inner) around `axis`. */
export function splitAt(shape: Shape, axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis], sizeOf(shape.slice(axis + 1))];
}

function argReduction(name: string, better: (a: number, b: number) => boolean) {
  return new Primitive<AxisParams>(name, {
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
  });
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

function cumulative(name: string): Primitive<CumulativeParams> {
  const combine = cumulativeDefs[name];
  return new Primitive<CumulativeParams>(name, {
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
  });
}

/** Cumulative sum along an axis. */
export const cumsum = cumulative("cumsum");
/** Cumulative product along an axis. */
export const cumprod = cumulative("cumprod");
/** Cumulative maximum along an axis. */
export const cummax = cumulative("cummax");
/** Cumulative minimum along an axis. */
export const cummin = cumulative("cummin");
