/**
 * `conv_general_dilated`: XLA's general convolution, on the canonical layouts only. The lhs is
 * (N, C, *spatial), the rhs (O, C/groups, *window) and the output (N, O, *spatial_out), with
 * any number (≥ 1) of spatial axes. Other layouts (NHWC, HWIO, …) are transposes around it,
 * applied by `lax.convGeneralDilated`. The reference implementation is a direct convolution
 * accumulating in float64; devices run the 2-D (and 1-D) case through im2col + matmul. Its
 * transposes are the primitives of `conv_grad.ts` (the gradients wrt the lhs and the rhs).
 * @module
 */

import { allocate, isFloat, type TypedArray } from "../dtype.ts";
import { type Aval, Primitive, UndefinedPrimal } from "../primitive.ts";
import { fmtShape, type Shape, sizeOf, stridesOf } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { add } from "./elementwise.ts";
import { reshape, transpose } from "./structure.ts";
import { moveAxis } from "../vmap.ts";
// a cycle (conv_grad.ts binds `conv` in its own rules): both modules only use the other's
// exports inside rule functions, never while they load
import { convGradLhs, convGradRhs } from "./conv_grad.ts";

/** Parameters of {@link conv}, one entry per spatial axis. */
export interface ConvParams {
  /** Step between windows in the (lhs-dilated, padded) input, ≥ 1. */
  windowStrides: number[];
  /** [lo, hi] padding of the lhs-dilated input; negative values crop. */
  padding: [number, number][];
  /** Lhs dilation (transposed convolution): lhs_dilation - 1 zeros between inputs, ≥ 1. */
  lhsDilation: number[];
  /** Rhs dilation (atrous convolution): rhs_dilation - 1 holes between taps, ≥ 1. */
  rhsDilation: number[];
  /** Number of channel groups; C and O must both be multiples of it. */
  featureGroupCount: number;
}

/** Size of an axis of `size` elements with `dilation - 1` holes between them (XLA's rule). */
export function dilateDim(size: number, dilation: number): number {
  return size === 0 ? 0 : 1 + dilation * (size - 1);
}

/** Output size of one windowed axis: max(0, floor((padded - window) / stride) + 1). */
export function windowOutputSize(padded: number, window: number, stride: number): number {
  if (padded < window) return 0;
  return Math.floor((padded - window) / stride) + 1;
}

const isInt = (v: unknown): v is number => Number.isSafeInteger(v);

function describeConv(lhs: Shape, rhs: Shape, p: ConvParams): string {
  return `lhs ${fmtShape(lhs)}, rhs ${fmtShape(rhs)}, windowStrides ${
    JSON.stringify(p.windowStrides)
  }, padding ${JSON.stringify(p.padding)}, lhsDilation ${
    JSON.stringify(p.lhsDilation)
  }, rhsDilation ${JSON.stringify(p.rhsDilation)}, featureGroupCount ${
    JSON.stringify(p.featureGroupCount)
  }`;
}

/** The five convolution parameters of `params`, without any others (e.g. a gradient's shape). */
export function convParamsOf(params: ConvParams): ConvParams {
  const { windowStrides, padding, lhsDilation, rhsDilation, featureGroupCount } = params;
  return { windowStrides, padding, lhsDilation, rhsDilation, featureGroupCount };
}

/**
 * Validates shapes and parameters of `conv_general_dilated` (canonical layouts) and returns
 * the output shape (N, O, *spatial_out). Throws a RangeError naming the op (`op`, for the
 * gradient primitives that validate the same convolution) and the shapes.
 */
export function convOutputShape(
  lhs: Shape,
  rhs: Shape,
  params: ConvParams,
  op = "conv_general_dilated",
): number[] {
  const fail = (why: string): never => {
    throw new RangeError(`${op}: ${why} (${describeConv(lhs, rhs, params)})`);
  };
  if (lhs.length < 3) {
    fail(`lhs must have rank ≥ 3 (N, C, *spatial), got rank ${lhs.length}`);
  }
  if (rhs.length !== lhs.length) {
    fail(`lhs and rhs must have the same rank, got ${lhs.length} and ${rhs.length}`);
  }
  const nd = lhs.length - 2;
  const { windowStrides, padding, lhsDilation, rhsDilation, featureGroupCount: g } = params;
  const checkList = (name: string, list: unknown, min: number) => {
    if (!Array.isArray(list) || list.length !== nd) {
      fail(`${name} must have ${nd} entries (one per spatial axis)`);
    }
    for (const v of list as unknown[]) {
      if (!isInt(v) || v < min) fail(`${name} entries must be integers ≥ ${min}`);
    }
  };
  checkList("windowStrides", windowStrides, 1);
  checkList("lhsDilation", lhsDilation, 1);
  checkList("rhsDilation", rhsDilation, 1);
  if (!Array.isArray(padding) || padding.length !== nd) {
    fail(`padding must have ${nd} [lo, hi] pairs (one per spatial axis)`);
  }
  for (const pair of padding) {
    if (!Array.isArray(pair) || pair.length !== 2 || !isInt(pair[0]) || !isInt(pair[1])) {
      fail(`padding entries must be [lo, hi] pairs of integers`);
    }
  }
  if (!isInt(g) || g < 1) fail(`featureGroupCount must be a positive integer`);
  const [n, c] = lhs, [o, cPerGroup] = rhs;
  if (c % g !== 0) fail(`featureGroupCount ${g} must divide the lhs feature size ${c}`);
  if (c / g !== cPerGroup) {
    fail(
      `the lhs feature size divided by featureGroupCount must equal the rhs input feature ` +
        `size, but ${c} / ${g} != ${cPerGroup}`,
    );
  }
  if (o % g !== 0) {
    fail(`the rhs output feature size ${o} must be a multiple of featureGroupCount ${g}`);
  }
  const out = [n, o];
  for (let i = 0; i < nd; i++) {
    const padded = dilateDim(lhs[i + 2], lhsDilation[i]) + padding[i][0] + padding[i][1];
    if (padded < 0) {
      fail(`negative padding ${JSON.stringify(padding[i])} is larger than spatial axis ${i}`);
    }
    const window = dilateDim(rhs[i + 2], rhsDilation[i]);
    out.push(windowOutputSize(padded, window, windowStrides[i]));
  }
  return out;
}

// Every multi-index of `shape`, row-major, as a flat table of `shape.length` columns.
function indexTable(shape: Shape): Int32Array {
  const nd = shape.length, count = sizeOf(shape);
  const table = new Int32Array(count * nd);
  const strides = stridesOf(shape);
  for (let e = 0; e < count; e++) {
    for (let k = 0; k < nd; k++) table[e * nd + k] = Math.floor(e / strides[k]) % shape[k];
  }
  return table;
}

/**
 * Where each window tap of each output position reads, for the reference implementations of
 * the convolution and its gradients: entry `e * windowSize + t` (output position e and tap t,
 * both row-major over the spatial axes) is the offset of the input element within one channel
 * plane, or -1 when the tap reads a zero. On spatial axis i the tap reads position
 * `out*stride - pad_lo + k*rhs_dilation` of the lhs-dilated input: input element
 * `pos / lhs_dilation` when that is a whole number inside the input.
 */
export function convTapOffsets(
  lhs: Shape,
  rhs: Shape,
  params: ConvParams,
  outShape: Shape,
): Int32Array {
  const nd = lhs.length - 2;
  const inSpatial = lhs.slice(2), winSpatial = rhs.slice(2), outSpatial = outShape.slice(2);
  const inStrides = stridesOf(inSpatial);
  const winSize = sizeOf(winSpatial), outSize = sizeOf(outSpatial);
  const outIdx = indexTable(outSpatial), winIdx = indexTable(winSpatial);
  const { windowStrides, padding, lhsDilation, rhsDilation } = params;
  const dilatedIn = inSpatial.map((d, i) => dilateDim(d, lhsDilation[i]));
  const table = new Int32Array(outSize * winSize);
  for (let e = 0; e < outSize; e++) {
    for (let t = 0; t < winSize; t++) {
      let offset = 0;
      for (let i = 0; i < nd; i++) {
        const pos = outIdx[e * nd + i] * windowStrides[i] - padding[i][0] +
          winIdx[t * nd + i] * rhsDilation[i];
        if (pos < 0 || pos >= dilatedIn[i] || pos % lhsDilation[i] !== 0) {
          offset = -1;
          break;
        }
        offset += (pos / lhsDilation[i]) * inStrides[i];
      }
      table[e * winSize + t] = offset;
    }
  }
  return table;
}

/**
 * Reference direct convolution on canonical layouts, accumulating in float64 (the taps are
 * those of {@link convTapOffsets}).
 */
export function convReference(
  x: TypedArray,
  lhs: Shape,
  w: TypedArray,
  rhs: Shape,
  params: ConvParams,
  outShape: Shape,
  out: TypedArray,
): void {
  const [n, c] = lhs, [o, cg] = rhs;
  const og = o / params.featureGroupCount;
  const inSize = sizeOf(lhs.slice(2)), winSize = sizeOf(rhs.slice(2));
  const outSize = sizeOf(outShape.slice(2));
  const taps = convTapOffsets(lhs, rhs, params, outShape);
  for (let b = 0; b < n; b++) {
    for (let oc = 0; oc < o; oc++) {
      const group = Math.floor(oc / og);
      for (let e = 0; e < outSize; e++) {
        let acc = 0;
        for (let t = 0; t < winSize; t++) {
          const offset = taps[e * winSize + t];
          if (offset < 0) continue;
          for (let ci = 0; ci < cg; ci++) {
            const xv = x[(b * c + group * cg + ci) * inSize + offset];
            const wv = w[(oc * cg + ci) * winSize + t];
            acc += xv * wv;
          }
        }
        out[(b * o + oc) * outSize + e] = acc;
      }
    }
  }
}

// ---- autodiff ---------------------------------------------------------------------------

/**
 * JAX's `_conv_general_vjp_lhs_padding`: the padding of the convolution (of the output
 * cotangent with the reversed kernel) that maps an output cotangent back onto the lhs. Kiln's
 * `conv_grad_lhs` computes that map directly; `reduce_window_sum`'s transpose pads its
 * cotangent with it. Sizes are per spatial axis.
 */
export function convVjpLhsPadding(
  inSizes: readonly number[],
  windowSizes: readonly number[],
  windowStrides: readonly number[],
  outSizes: readonly number[],
  padding: readonly (readonly [number, number])[],
  lhsDilation: readonly number[],
  rhsDilation: readonly number[],
): [number, number][] {
  return inSizes.map((d, i) => {
    const lhsDilated = dilateDim(d, lhsDilation[i]);
    const rhsDilated = dilateDim(windowSizes[i], rhsDilation[i]);
    const outDilated = dilateDim(outSizes[i], windowStrides[i]);
    const before = rhsDilated - padding[i][0] - 1;
    const after = lhsDilated + rhsDilated - 1 - outDilated - before;
    return [before, after];
  });
}

// ---- batching ---------------------------------------------------------------------------

/** Splits axis `axis` of x (of size a·b) into (a, b). */
export function splitAxis(x: Tensor, axis: number, a: number, b: number): Tensor {
  const shape = [...x.shape];
  shape.splice(axis, 1, a, b);
  return bind1(reshape, [x], { shape });
}

/** Merges axes `axis` and `axis + 1` of x (the first becomes the major part). */
export function mergeAxes(x: Tensor, axis: number): Tensor {
  const shape = [...x.shape];
  shape.splice(axis, 2, shape[axis] * shape[axis + 1]);
  return bind1(reshape, [x], { shape });
}

/** Swaps adjacent axes `axis` and `axis + 1`. */
export function swapAdjacent(x: Tensor, axis: number): Tensor {
  const perm = [...Array(x.ndim).keys()];
  perm[axis] = axis + 1;
  perm[axis + 1] = axis;
  return bind1(transpose, [x], { perm });
}

/**
 * Batching rule (JAX's `_conv_general_dilated_batch_rule`, without batch groups). A batched
 * lhs alone folds the batch into N; a batched rhs alone folds it into O, inside each feature
 * group, (G, B, O/G), so that the groups stay contiguous; both batched fold it into the feature
 * groups: lhs (N, B·C), rhs (B·O, C/G) with B·G groups. The batch comes out of the output's
 * N or O axis.
 */
function convBatch(
  [lhs, rhs]: Tensor[],
  [ld, rd]: (number | null)[],
  p: ConvParams,
  size: number,
): [Tensor[], (number | null)[]] {
  const g = p.featureGroupCount;
  const n = lhs.shape[ld === 0 ? 1 : 0], o = rhs.shape[rd === 0 ? 1 : 0];
  if (ld !== null && rd !== null) {
    if (size === 0) {
      // B·G = 0 groups is no convolution: the (empty) result has the per-example shape
      const lShape = lhs.shape.filter((_, i) => i !== ld),
        rShape = rhs.shape.filter((_, i) => i !== rd);
      const out = convOutputShape(lShape, rShape, p);
      return [[bind1(reshape, [moveAxis(lhs, ld, 0)], { shape: [0, ...out] })], [0]];
    }
    // lhs (N, B, C, *sp) -> (N, B·C, *sp); rhs (B, O, C/G, *win) -> (B·O, C/G, *win)
    const l = mergeAxes(moveAxis(lhs, ld, 1), 1);
    const r = mergeAxes(moveAxis(rhs, rd, 0), 0);
    const y = bind1(conv, [l, r], { ...p, featureGroupCount: size * g });
    return [[splitAxis(y, 1, size, o)], [1]]; // (N, B·O, *out) -> (N, B, O, *out)
  }
  if (ld !== null) {
    // (B, N, C, *sp) -> (B·N, C, *sp); out (B·N, O, *out) -> (B, N, O, *out)
    const y = bind1(conv, [mergeAxes(moveAxis(lhs, ld, 0), 0), rhs], p);
    return [[splitAxis(y, 0, size, n)], [0]];
  }
  if (g === 1) {
    // (B, O, C, *win) -> (B·O, C, *win); out (N, B·O, *out) -> (N, B, O, *out)
    const y = bind1(conv, [lhs, mergeAxes(moveAxis(rhs, rd!, 0), 0)], p);
    return [[splitAxis(y, 1, size, o)], [1]];
  }
  // (B, O, C/G, *win) -> (B, G, O/G, …) -> (G, B, O/G, …) -> (G·B·O/G, C/G, *win)
  let r = splitAxis(moveAxis(rhs, rd!, 0), 1, g, o / g);
  r = mergeAxes(mergeAxes(swapAdjacent(r, 0), 1), 0);
  const y = bind1(conv, [lhs, r], p);
  // (N, G·B·O/G, *out) -> (N, G, B, O/G, *out) -> (N, B, G, O/G, *out) -> (N, B, O, *out)
  const out = mergeAxes(
    swapAdjacent(splitAxis(splitAxis(y, 1, g, size * o / g), 2, size, o / g), 1),
    2,
  );
  return [[out], [1]];
}

/**
 * General dilated, padded, strided, grouped convolution on canonical layouts: lhs
 * (N, C, *spatial), rhs (O, C/groups, *window), out (N, O, *spatial_out). Operands share a
 * float dtype.
 */
export const conv: Primitive<ConvParams> = new Primitive<ConvParams>("conv_general_dilated", {
  abstractEval([lhs, rhs], params) {
    if (lhs === undefined || rhs === undefined) {
      throw new TypeError("conv_general_dilated: takes two operands (lhs, rhs)");
    }
    if (lhs.dtype !== rhs.dtype || !isFloat(lhs.dtype)) {
      throw new TypeError(
        `conv_general_dilated: operands must share a float dtype, got lhs ${lhs.dtype}${
          fmtShape(lhs.shape)
        } and rhs ${rhs.dtype}${fmtShape(rhs.shape)}`,
      );
    }
    const shape = convOutputShape(lhs.shape, rhs.shape, params);
    return [{ shape, dtype: lhs.dtype, weak: lhs.weak && rhs.weak }];
  },
  impl([x, w], [la, ra]: Aval[], params, [out]) {
    const y = allocate(out.dtype, sizeOf(out.shape));
    convReference(x, la.shape, w, ra.shape, params, out.shape, y);
    return [y];
  },
  // bilinear: d(lhs ⊛ rhs) = dlhs ⊛ rhs + lhs ⊛ drhs
  // bilinear, skipping the term of a zero (null) tangent
  jvpAcceptsZeros: true,
  jvp([lhs, rhs], [dl, dr], params) {
    const y = bind1(conv, [lhs, rhs], params);
    const t1 = dl === null ? null : bind1(conv, [dl, rhs], params);
    const t2 = dr === null ? null : bind1(conv, [lhs, dr], params);
    return [[y], [t1 !== null && t2 !== null ? bind1(add, [t1, t2], {}) : t1 ?? t2]];
  },
  transpose([ct], [lhs, rhs], params) {
    const lhsLinear = lhs instanceof UndefinedPrimal, rhsLinear = rhs instanceof UndefinedPrimal;
    if (lhsLinear === rhsLinear) {
      throw new Error(
        "conv_general_dilated: transpose needs exactly one linear operand (it is bilinear)",
      );
    }
    // an empty cotangent gives a zero cotangent
    if (sizeOf(ct.shape) === 0) return [null, null];
    const p = convParamsOf(params);
    if (lhsLinear) {
      return [
        bind1(convGradLhs, [ct, rhs as Tensor], { ...p, lhsShape: [...lhs.aval.shape] }),
        null,
      ];
    }
    const rhsShape = [...(rhs as UndefinedPrimal).aval.shape];
    return [null, bind1(convGradRhs, [lhs as Tensor, ct], { ...p, rhsShape })];
  },
  batch: convBatch,
});
