/**
 * Window reductions: `reduce_window_max` and `reduce_window_sum` (XLA's ReduceWindow with the
 * max and add monoids) over any rank. Each output element reduces a (possibly dilated) window
 * of the padded input; padding contributes the reduction's identity (the lowest value for
 * max, 0 for sum). Pooling layers are built on them.
 * @module
 */

import { allocate, type DType, type TypedArray } from "../dtype.ts";
import { type Aval, Primitive, type PrimitiveRules, UndefinedPrimal } from "../primitive.ts";
import { fmtShape, type Shape, sizeOf, stridesOf } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind1, fromHostData, scalarTensor } from "../trace.ts";
import { convVjpLhsPadding, dilateDim, windowOutputSize } from "./conv.ts";
import { add } from "./elementwise.ts";
import { take } from "./indexing.ts";
import { argmax } from "./reduce.ts";
import { pad, reshape } from "./structure.ts";

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

// ---- autodiff ---------------------------------------------------------------------------

/**
 * The flat input offset read by each tap of each window, as an int32 table of shape
 * (outSize, windowSize) (outputs and taps row-major); taps in the padding read offset
 * `sizeOf(inShape)`, one past the end (a sentinel element appended by the caller).
 */
export function windowIndexMap(
  inShape: Shape,
  params: ReduceWindowParams,
  outShape: Shape,
): Int32Array {
  const nd = inShape.length, sentinel = sizeOf(inShape);
  const inStrides = stridesOf(inShape), outStrides = stridesOf(outShape);
  const win = params.windowDimensions, winStrides = stridesOf(win);
  const outSize = sizeOf(outShape), winSize = sizeOf(win);
  const table = new Int32Array(outSize * winSize);
  for (let e = 0; e < outSize; e++) {
    for (let t = 0; t < winSize; t++) {
      let offset = 0;
      for (let i = 0; i < nd; i++) {
        const o = Math.floor(e / outStrides[i]) % outShape[i];
        const k = Math.floor(t / winStrides[i]) % win[i];
        const pos = o * params.windowStrides[i] - params.padding[i][0] +
          k * params.windowDilation[i];
        if (pos < 0 || pos >= inShape[i]) {
          offset = sentinel;
          break;
        }
        offset += pos * inStrides[i];
      }
      table[e * winSize + t] = offset;
    }
  }
  return table;
}

// `x` flattened, with one `value` appended (the element the padding taps read).
function flatWithSentinel(x: Tensor, value: number): Tensor {
  const flat = bind1(reshape, [x], { shape: [sizeOf(x.shape)] });
  const v = scalarTensor(value, x.dtype, false);
  return bind1(pad, [flat, v], { lo: [0], hi: [1], interior: [0] });
}

/**
 * Tangent of `reduce_window_max` (JAX's select-and-gather-add): each output takes the tangent
 * at the position of its window's first maximum, or 0 when the maximum is in the padding.
 * The windows are gathered from the flattened operand through a static index map, the
 * argmax along the window axis picks a tap, and the tangent is gathered at that tap's
 * offset; only `take` of the (padded, flattened) tangent is linear in it.
 */
function reduceWindowMaxTangent(
  x: Tensor,
  t: Tensor,
  params: ReduceWindowParams,
  outShape: Shape,
): Tensor {
  const outSize = sizeOf(outShape), winSize = sizeOf(params.windowDimensions);
  const table = windowIndexMap(x.shape, params, outShape);
  const idx = fromHostData(table, [outSize, winSize], "int32");
  const windows = bind1(take, [flatWithSentinel(x, reduceWindowIdentity("max", x.dtype)), idx], {
    axis: 0,
  });
  const tap = bind1(argmax, [windows], { axis: 1 });
  // the chosen tap's input offset: table[e * winSize + tap[e]]
  const rows = new Int32Array(outSize);
  for (let e = 0; e < outSize; e++) rows[e] = e * winSize;
  const rowBase = fromHostData(rows, [outSize], "int32");
  const flatTable = fromHostData(table, [outSize * winSize], "int32");
  const offsets = bind1(take, [flatTable, bind1(add, [rowBase, tap], {})], { axis: 0 });
  const picked = bind1(take, [flatWithSentinel(t, 0), offsets], { axis: 0 });
  return bind1(reshape, [picked], { shape: [...outShape] });
}

/**
 * Cotangent of `reduce_window_sum` (JAX's `_reduce_window_sum_transpose_rule`): the cotangent
 * dilated by the strides (interior padding stride - 1) and edge-padded so that each input
 * position's (reversed, dilated) window covers exactly the outputs whose windows covered it,
 * then summed over windows with unit strides.
 */
function reduceWindowSumTranspose(ct: Tensor, x: Aval, params: ReduceWindowParams): Tensor {
  const nd = x.shape.length;
  const pads = convVjpLhsPadding(
    x.shape,
    params.windowDimensions,
    params.windowStrides,
    ct.shape,
    params.padding,
    new Array<number>(nd).fill(1),
    params.windowDilation,
  );
  const padded = bind1(pad, [ct, scalarTensor(0, ct.dtype, false)], {
    lo: pads.map((p) => p[0]),
    hi: pads.map((p) => p[1]),
    interior: params.windowStrides.map((s) => s - 1),
  });
  return bind1(reduceWindowSum, [padded], {
    windowDimensions: [...params.windowDimensions],
    windowStrides: new Array<number>(nd).fill(1),
    padding: new Array<number>(nd).fill(0).map(() => [0, 0] as [number, number]),
    windowDilation: [...params.windowDilation],
  });
}

/**
 * Batching rule of the window reductions: the batch axis becomes one more window axis, of
 * extent 1, stride 1, dilation 1 and no padding, so each batch element reduces on its own.
 */
function reduceWindowBatch(
  prim: Primitive<ReduceWindowParams>,
  x: Tensor,
  b: number,
  params: ReduceWindowParams,
): [Tensor[], number[]] {
  const insert = <T>(list: readonly T[], v: T): T[] => [...list.slice(0, b), v, ...list.slice(b)];
  const y = bind1(prim, [x], {
    windowDimensions: insert(params.windowDimensions, 1),
    windowStrides: insert(params.windowStrides, 1),
    padding: insert<[number, number]>(params.padding, [0, 0]),
    windowDilation: insert(params.windowDilation, 1),
  });
  return [[y], [b]];
}

function windowPrimitive(op: "max" | "sum"): Primitive<ReduceWindowParams> {
  const name = `reduce_window_${op}`;
  const self: Primitive<ReduceWindowParams> = new Primitive<ReduceWindowParams>(name, {
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
    jvp: op === "sum"
      // linear
      ? ([x], [t], params) => [[bind1(self, [x], params)], [t && bind1(self, [t], params)]]
      : ([x], [t], params) => {
        const y = bind1(self, [x], params);
        return [[y], [t && reduceWindowMaxTangent(x, t, params, y.shape)]];
      },
    // reduce_window_sum is linear; reduce_window_max has no transpose
    ...(op === "sum"
      ? {
        transpose: ([ct], [x], params) => {
          if (!(x instanceof UndefinedPrimal) || sizeOf(x.aval.shape) === 0) return [null];
          return [reduceWindowSumTranspose(ct, x.aval, params)];
        },
      } satisfies Pick<PrimitiveRules<ReduceWindowParams>, "transpose">
      : {}),
    batch: ([x], [d], params) => reduceWindowBatch(self, x, d!, params),
  });
  return self;
}

/** Maximum over each window; padding reads the lowest value (-inf for floats). */
export const reduceWindowMax: Primitive<ReduceWindowParams> = windowPrimitive("max");
/** Sum over each window; padding reads 0. */
export const reduceWindowSum: Primitive<ReduceWindowParams> = windowPrimitive("sum");
