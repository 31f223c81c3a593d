/**
 * `conv_general_dilated`: XLA's general convolution, on the canonical layouts only. The lhs is
 * (N, C, *spatial), the rhs (O, C/groups, *window) and the output (N, O, *spatial_out), with
 * any number (≥ 1) of spatial axes. Other layouts (NHWC, HWIO, …) are transposes around it,
 * applied by `lax.convGeneralDilated`. The reference implementation is a direct convolution
 * accumulating in float64; devices run the 2-D (and 1-D) case through im2col + matmul.
 * @module
 */

import { allocate, isFloat, type TypedArray } from "../dtype.ts";
import { type Aval, Primitive } from "../primitive.ts";
import { fmtShape, type Shape, sizeOf, stridesOf } from "../shape.ts";

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

/**
 * Validates shapes and parameters of `conv_general_dilated` (canonical layouts) and returns
 * the output shape (N, O, *spatial_out). Throws a RangeError naming the op and the shapes.
 */
export function convOutputShape(lhs: Shape, rhs: Shape, params: ConvParams): number[] {
  const fail = (why: string): never => {
    throw new RangeError(`conv_general_dilated: ${why} (${describeConv(lhs, rhs, params)})`);
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
 * Reference direct convolution on canonical layouts, accumulating in float64. For output
 * position `out` and window tap `k` on spatial axis i, the position in the lhs-dilated input
 * is `out*stride - pad_lo + k*rhs_dilation`; it reads input element `pos / lhs_dilation` when
 * that is a whole number inside the input, and 0 otherwise.
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
  const nd = lhs.length - 2;
  const [n, c] = lhs, [o, cg] = rhs;
  const g = params.featureGroupCount, og = o / g;
  const inSpatial = lhs.slice(2), winSpatial = rhs.slice(2), outSpatial = outShape.slice(2);
  const inStrides = stridesOf(inSpatial);
  const inSize = sizeOf(inSpatial), winSize = sizeOf(winSpatial), outSize = sizeOf(outSpatial);
  const outIdx = indexTable(outSpatial), winIdx = indexTable(winSpatial);
  const { windowStrides, padding, lhsDilation, rhsDilation } = params;
  const dilatedIn = inSpatial.map((d, i) => dilateDim(d, lhsDilation[i]));
  for (let b = 0; b < n; b++) {
    for (let oc = 0; oc < o; oc++) {
      const group = Math.floor(oc / og);
      for (let e = 0; e < outSize; e++) {
        let acc = 0;
        for (let t = 0; t < winSize; t++) {
          // input offset of this tap within one channel plane, or -1 when it reads a zero
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

/**
 * General dilated, padded, strided, grouped convolution on canonical layouts: lhs
 * (N, C, *spatial), rhs (O, C/groups, *window), out (N, O, *spatial_out). Operands share a
 * float dtype.
 */
export const conv = new Primitive<ConvParams>("conv_general_dilated", {
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
});
