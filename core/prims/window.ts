/**
 * Window reductions: `reduce_window_max` and `reduce_window_sum` (XLA's ReduceWindow with the
 * max and add monoids) over any rank. Each output element reduces a (possibly dilated) window
 * of the padded input; padding contributes the reduction's identity (the lowest value for
 * max, 0 for sum). Pooling layers are built on them. The derivatives of the max are two more
 * primitives, as in JAX: `select_and_gather_add` (its jvp: the tangent at each window's
 * selected tap) and its transpose `select_and_scatter_add` (the cotangent added back there).
 * @module
 */

import { allocate, type DType, type TypedArray } from "../dtype.ts";
import { type Aval, Primitive, type PrimitiveRules, UndefinedPrimal } from "../primitive.ts";
import { fmtShape, type Shape, shapeEqual, sizeOf, stridesOf } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind1, scalarTensor } from "../trace.ts";
import { matchBatch } from "../vmap.ts";
import { convVjpLhsPadding, dilateDim, windowOutputSize } from "./conv.ts";
import { pad } from "./structure.ts";

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

// ---- autodiff ----------------------------------------------------------------------------

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
 * `params` for operands with one more axis at `b`: a window of extent 1, stride 1, dilation 1
 * and no padding there, so each index along it is reduced on its own (the batching rules).
 */
function withUnitWindowAxis(params: ReduceWindowParams, b: number): ReduceWindowParams {
  const insert = <T>(list: readonly T[], v: T): T[] => [...list.slice(0, b), v, ...list.slice(b)];
  return {
    windowDimensions: insert(params.windowDimensions, 1),
    windowStrides: insert(params.windowStrides, 1),
    padding: insert<[number, number]>(params.padding, [0, 0]),
    windowDilation: insert(params.windowDilation, 1),
  };
}

/** Batching rule of the window reductions: the batch axis becomes a window axis of extent 1. */
function reduceWindowBatch(
  prim: Primitive<ReduceWindowParams>,
  x: Tensor,
  b: number,
  params: ReduceWindowParams,
): [Tensor[], number[]] {
  return [[bind1(prim, [x], withUnitWindowAxis(params, b))], [b]];
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
        return [[y], [t && bind1(selectAndGatherAdd, [t, x], params)]];
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

/**
 * Maximum over each window; padding reads the lowest value (-inf for floats). Its derivative
 * ({@link selectAndGatherAdd}, transposed {@link selectAndScatterAdd}) goes wholly to each
 * window's first maximal element in row-major order (ties are not split; a NaN counts as the
 * maximum).
 */
export const reduceWindowMax: Primitive<ReduceWindowParams> = windowPrimitive("max");
/** Sum over each window; padding reads 0. */
export const reduceWindowSum: Primitive<ReduceWindowParams> = windowPrimitive("sum");

// ---- select-and-gather / select-and-scatter: the derivatives of reduce_window_max ----------

/**
 * The tap that each window of `reduce_window_max(x)` selects, as a flat offset into x, or -1
 * when the window lies wholly in the padding: the first maximal tap in row-major tap order, a
 * NaN counting as the maximum (the first NaN wins), as argmax picks. Padding taps are never
 * selected (they would contribute nothing). The C kernels in kernels/cpu/window_grad.c pick
 * the same taps.
 */
export function selectedTaps(
  x: TypedArray,
  inShape: Shape,
  params: ReduceWindowParams,
  outShape: Shape,
): Float64Array {
  const nd = inShape.length;
  const inStrides = stridesOf(inShape), outStrides = stridesOf(outShape);
  const win = params.windowDimensions, winStrides = stridesOf(win), winSize = sizeOf(win);
  const outSize = sizeOf(outShape);
  const chosen = new Float64Array(outSize).fill(-1);
  for (let e = 0; e < outSize; e++) {
    let best = 0;
    for (let t = 0; t < winSize; t++) {
      let offset = 0;
      for (let i = 0; i < nd; i++) {
        const o = Math.floor(e / outStrides[i]) % outShape[i];
        const k = Math.floor(t / winStrides[i]) % win[i];
        const pos = o * params.windowStrides[i] - params.padding[i][0] +
          k * params.windowDilation[i];
        if (pos < 0 || pos >= inShape[i]) {
          offset = -1;
          break;
        }
        offset += pos * inStrides[i];
      }
      if (offset < 0) continue;
      const v = x[offset];
      if (chosen[e] < 0 || v > best || (Number.isNaN(v) && !Number.isNaN(best))) {
        best = v;
        chosen[e] = offset;
      }
    }
  }
  return chosen;
}

/** Validates the operands of the select primitives: numeric, the same dtype. */
function checkSelectOperands(name: string, first: Aval | undefined, x: Aval | undefined): void {
  if (first === undefined || x === undefined) {
    throw new TypeError(`${name}: takes two operands (values, operand)`);
  }
  if (x.dtype === "bool" || first.dtype !== x.dtype) {
    throw new TypeError(
      `${name}: the values and the operand must have the same numeric dtype, got ${first.dtype}${
        fmtShape(first.shape)
      } and ${x.dtype}${fmtShape(x.shape)}`,
    );
  }
}

/** The error for transposing a select primitive with respect to its operand. */
function notLinearInOperand(name: string): never {
  throw new TypeError(`${name}: is linear in its first input only, not in the operand`);
}

/**
 * Batching rule of the select primitives: both operands get the batch axis at the same place
 * (the first operand's, else the operand's), which becomes a window axis of extent 1.
 */
function selectBatch(prim: () => Primitive<ReduceWindowParams>) {
  return (
    [v, x]: Tensor[],
    [vd, xd]: (number | null)[],
    params: ReduceWindowParams,
    size: number,
  ): [Tensor[], number[]] => {
    const b = vd ?? xd!;
    const args = [matchBatch(v, vd, b, size), matchBatch(x, xd, b, size)];
    return [[bind1(prim(), args, withUnitWindowAxis(params, b))], [b]];
  };
}

/**
 * `select_and_gather_add(tangent, x)`: for each window of `reduce_window_max(x)`, the tangent
 * at the window's selected tap (see {@link selectedTaps}), 0 for a window wholly in the
 * padding. tangent has x's shape and dtype; the output has the reduction's shape. Linear in
 * the tangent; x only selects (its derivative is zero). The jvp of reduce_window_max; its
 * transpose is {@link selectAndScatterAdd}.
 */
export const selectAndGatherAdd: Primitive<ReduceWindowParams> = new Primitive<
  ReduceWindowParams
>("select_and_gather_add", {
  abstractEval([t, x], params) {
    checkSelectOperands("select_and_gather_add", t, x);
    if (!shapeEqual(t.shape, x.shape)) {
      throw new TypeError(
        `select_and_gather_add: the tangent ${fmtShape(t.shape)} must have the operand's shape ${
          fmtShape(x.shape)
        }`,
      );
    }
    const shape = reduceWindowShape("select_and_gather_add", x.shape, params);
    return [{ shape, dtype: t.dtype, weak: t.weak }];
  },
  impl([t, x], [, xa], params, [out]) {
    const taps = selectedTaps(x, xa.shape, params, out.shape);
    const y = allocate(out.dtype, taps.length);
    for (let e = 0; e < taps.length; e++) y[e] = taps[e] < 0 ? 0 : t[taps[e]];
    return [y];
  },
  jvp: ([t, x], [dt], params) => [
    [bind1(selectAndGatherAdd, [t, x], params)],
    [dt && bind1(selectAndGatherAdd, [dt, x], params)],
  ],
  transpose([ct], [t, x], params) {
    if (x instanceof UndefinedPrimal) notLinearInOperand("select_and_gather_add");
    if (!(t instanceof UndefinedPrimal)) return [null, null];
    return [bind1(selectAndScatterAdd, [ct, x as Tensor], params), null];
  },
  batch: selectBatch(() => selectAndGatherAdd),
});

/**
 * `select_and_scatter_add(cotangent, x)` (XLA's SelectAndScatter with add): zeros of x's shape
 * into which each window of `reduce_window_max(x)` adds its cotangent at its selected tap
 * (see {@link selectedTaps}); overlapping windows accumulate, in row-major window order.
 * cotangent has the reduction's shape and x's dtype. Linear in the cotangent; the transpose of
 * {@link selectAndGatherAdd} and so the backward pass of max pooling.
 */
export const selectAndScatterAdd: Primitive<ReduceWindowParams> = new Primitive<
  ReduceWindowParams
>("select_and_scatter_add", {
  abstractEval([ct, x], params) {
    checkSelectOperands("select_and_scatter_add", ct, x);
    const shape = reduceWindowShape("select_and_scatter_add", x.shape, params);
    if (!shapeEqual(ct.shape, shape)) {
      throw new TypeError(
        `select_and_scatter_add: the cotangent ${
          fmtShape(ct.shape)
        } must have the shape of the window reduction of the operand ${fmtShape(x.shape)}, ${
          fmtShape(shape)
        }`,
      );
    }
    return [{ shape: x.shape, dtype: ct.dtype, weak: ct.weak }];
  },
  impl([ct, x], [cta, xa], params) {
    const taps = selectedTaps(x, xa.shape, params, cta.shape);
    // typed-array adds round (floats) and wrap (ints) as the C kernels do
    const y = allocate(xa.dtype, sizeOf(xa.shape));
    for (let e = 0; e < taps.length; e++) if (taps[e] >= 0) y[taps[e]] += ct[e];
    return [y];
  },
  jvp: ([ct, x], [dct], params) => [
    [bind1(selectAndScatterAdd, [ct, x], params)],
    [dct && bind1(selectAndScatterAdd, [dct, x], params)],
  ],
  transpose([ct], [c, x], params) {
    if (x instanceof UndefinedPrimal) notLinearInOperand("select_and_scatter_add");
    if (!(c instanceof UndefinedPrimal)) return [null, null];
    return [bind1(selectAndGatherAdd, [ct, x as Tensor], params), null];
  },
  batch: selectBatch(() => selectAndScatterAdd),
});
