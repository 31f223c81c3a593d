/**
 * Window reductions: `reduce_window_max` and `reduce_window_sum` (XLA's ReduceWindow with the
 * max and add monoids) over any rank. Each output element reduces a (possibly dilated) window
 * of the padded input; padding contributes the reduction's identity (the lowest value for
 * max, 0 for sum). Pooling layers are built on them.
 * @module
 */

import { allocate, type DType, type TypedArray } from "../dtype.ts";
import { type Aval, Primitive } from "../primitive.ts";
import { fmtShape, type Shape, sizeOf, stridesOf } from "../shape.ts";
import { dilateDim, windowOutputSize } from "./conv.ts";

/** Parameters of the window reductions, one entry per axis of the operand. */
export interface ReduceWindowParams {
  /** Window extent per axis, ≥ 1. */
  windowDimensions: number[];
  /** Step between windows per axis, ≥ 1. */
  windowStrides: number[];
  /** [lo, hi] padding per axis; negative values crop. */
  padding: [number, number][];
  /** Window dilation per axis, ≥ 1 (dilation - 1 skipped elements between taps). */
  windowDilation: number[];
}

const isInt = (v: unknown): v is number => Number.isSafeInteger(v);

/**
 * Validates the parameters of a window reduction over `shape` and returns the output shape.
 * Throws a RangeError naming `op` and the shape.
 */
export function reduceWindowShape(op: string, shape: Shape, params: ReduceWindowParams): number[] {
  const { windowDimensions, windowStrides, padding, windowDilation } = params;
  const fail = (why: string): never => {
    throw new RangeError(
      `${op}: ${why} (operand ${fmtShape(shape)}, windowDimensions ${
        JSON.stringify(windowDimensions)
      }, windowStrides ${JSON.stringify(windowStrides)}, padding ${
        JSON.stringify(padding)
      }, windowDilation ${JSON.stringify(windowDilation)})`,
    );
  };
  const nd = shape.length;
  const checkList = (name: string, list: unknown) => {
    if (!Array.isArray(list) || list.length !== nd) {
      fail(`${name} must have ${nd} entries (one per axis of the operand)`);
    }
    for (const v of list as unknown[]) {
      if (!isInt(v) || v < 1) fail(`${name} entries must be integers ≥ 1`);
    }
  };
  checkList("windowDimensions", windowDimensions);
  checkList("windowStrides", windowStrides);
  checkList("windowDilation", windowDilation);
  if (!Array.isArray(padding) || padding.length !== nd) {
    fail(`padding must have ${nd} [lo, hi] pairs (one per axis of the operand)`);
  }
  for (const pair of padding) {
    if (!Array.isArray(pair) || pair.length !== 2 || !isInt(pair[0]) || !isInt(pair[1])) {
      fail(`padding entries must be [lo, hi] pairs of integers`);
    }
  }
  return shape.map((d, i) => {
    const padded = d + padding[i][0] + padding[i][1];
    if (padded < 0) {
      fail(`negative padding ${JSON.stringify(padding[i])} is larger than axis ${i}`);
    }
    return windowOutputSize(
      padded,
      dilateDim(windowDimensions[i], windowDilation[i]),
      windowStrides[i],
    );
  });
}

/** The identity of a window reduction in `dtype`: the lowest value for max, 0 for sum. */
export function reduceWindowIdentity(op: "max" | "sum", dtype: DType): number {
  if (op === "sum") return 0;
  return dtype === "int32" ? -2147483648 : dtype === "uint32" ? 0 : -Infinity;
}

/** Reference window reduction (float sums accumulate in float64; ints wrap as in C). */
export function reduceWindowReference(
  op: "max" | "sum",
  x: TypedArray,
  inShape: Shape,
  dtype: DType,
  params: ReduceWindowParams,
  outShape: Shape,
  out: TypedArray,
): void {
  const nd = inShape.length;
  const inStrides = stridesOf(inShape), outStrides = stridesOf(outShape);
  const win = params.windowDimensions, winStrides = stridesOf(win), winSize = sizeOf(win);
  const identity = reduceWindowIdentity(op, dtype);
  const wrap = dtype === "int32"
    ? (v: number) => v | 0
    : dtype === "uint32"
    ? (v: number) => v >>> 0
    : (v: number) => v;
  const outSize = sizeOf(outShape);
  for (let e = 0; e < outSize; e++) {
    let acc = identity;
    for (let t = 0; t < winSize; t++) {
      let offset = 0;
      for (let i = 0; i < nd; i++) {
        const o = Math.floor(e / outStrides[i]) % outShape[i];
        const k = Math.floor(t / winStrides[i]) % win[i];
        const pos = o * params.windowStrides[i] - params.padding[i][0] +
          k * params.windowDilation[i];
        if (pos < 0 || pos >= inShape[i]) {
          offset = -1; // a padding element: the identity, which changes nothing
          break;
        }
        offset += pos * inStrides[i];
      }
      if (offset < 0) continue;
      const v = x[offset];
      if (op === "sum") acc = wrap(acc + v);
      else if (v > acc || Number.isNaN(v)) acc = v;
      if (Number.isNaN(acc)) break; // NaN propagates through max and sum
    }
    out[e] = acc;
  }
}

function windowPrimitive(op: "max" | "sum"): Primitive<ReduceWindowParams> {
  const name = `reduce_window_${op}`;
  return new Primitive<ReduceWindowParams>(name, {
    abstractEval([x], params) {
      if (x === undefined) throw new TypeError(`${name}: takes one operand`);
      if (x.dtype === "bool") {
        throw new TypeError(
          `${name}: the operand must be numeric, got bool${fmtShape(x.shape)}; cast it first`,
        );
      }
      return [{ shape: reduceWindowShape(name, x.shape, params), dtype: x.dtype, weak: x.weak }];
    },
    impl([x], [xa]: Aval[], params, [out]) {
      const y = allocate(out.dtype, sizeOf(out.shape));
      reduceWindowReference(op, x, xa.shape, xa.dtype, params, out.shape, y);
      return [y];
    },
  });
}

/** Maximum over each window; padding reads the lowest value (-inf for floats). */
export const reduceWindowMax: Primitive<ReduceWindowParams> = windowPrimitive("max");
/** Sum over each window; padding reads 0. */
export const reduceWindowSum: Primitive<ReduceWindowParams> = windowPrimitive("sum");
