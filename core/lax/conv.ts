/**
 * Convolutions and window reductions, as JAX's `jax.lax`: {@link conv},
 * {@link convGeneralDilated}, {@link convTranspose} and {@link reduceWindow}. Layouts other
 * than the canonical NCHW / OIHW / NCHW are transposes around the `conv_general_dilated`
 * primitive; string paddings ("SAME", "VALID", "SAME_LOWER") follow JAX's formulas.
 * @module
 */

import { castScalar, DEFAULT_FLOAT, isFloat } from "../dtype.ts";
import { type ArrayLike, asTensor, astype, broadcastTo, promote } from "../numpy/convert.ts";
import * as P from "../prims/elementwise.ts";
import { conv as convPrim, type ConvParams, dilateDim } from "../prims/conv.ts";
import { rev, transpose } from "../prims/structure.ts";
import {
  reduceWindowIdentity,
  reduceWindowMax,
  type ReduceWindowParams,
  reduceWindowSum,
} from "../prims/window.ts";
import { describe, fmtShape, type Shape } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
// deno-lint-ignore no-import-prefix
import { z } from "npm:zod@4";

/**
 * Padding of a convolution or window reduction: `"VALID"` (none), `"SAME"` (output size
 * ceil(in / stride), the extra padding at the high end when odd), `"SAME_LOWER"` (the same,
 * extra padding at the low end), or explicit `[lo, hi]` pairs, one per spatial axis (negative
 * values crop).
 */
export type Padding =
  | "SAME"
  | "VALID"
  | "SAME_LOWER"
  | readonly (readonly [number, number])[];

/**
 * Layouts of lhs, rhs and output, as JAX: strings such as `["NCHW", "OIHW", "NCHW"]` or
 * `["NHWC", "HWIO", "NHWC"]` (N batch, C feature, O/I output/input feature; the other letters
 * name spatial axes, matched by letter, ordered as in the rhs string), or explicit specs
 * `[lhsSpec, rhsSpec, outSpec]` where each lists the axis of (batch/out-feature,
 * feature/in-feature, spatial…) in the array, as JAX's `ConvDimensionNumbers`.
 */
export type ConvDimensionNumbers =
  | readonly [string, string, string]
  | readonly [readonly number[], readonly number[], readonly number[]];

/** Options of {@link convGeneralDilated}. */
export interface ConvGeneralDilatedOptions {
  /** Dilation of the input per spatial axis (transposed convolution); default all 1. */
  lhsDilation?: readonly number[];
  /** Dilation of the kernel per spatial axis (atrous convolution); default all 1. */
  rhsDilation?: readonly number[];
  /** Layouts; default canonical (NCHW, OIHW, NCHW and their n-d analogues). */
  dimensionNumbers?: ConvDimensionNumbers | null;
  /** Number of feature groups (depthwise convolution: the number of input channels). */
  featureGroupCount?: number;
  /** Batch grouping; only 1 is supported. */
  batchGroupCount?: number;
}

/** Options of {@link convTranspose}. */
export interface ConvTransposeOptions {
  /** Dilation of the kernel per spatial axis; default all 1. */
  rhsDilation?: readonly number[];
  /** Layouts; default `["NHWC", "HWIO", "NHWC"]` and its 1-d/3-d analogues (JAX's default). */
  dimensionNumbers?: ConvDimensionNumbers | null;
  /** Flip the kernel's spatial axes and swap its feature axes (the gradient of a conv). */
  transposeKernel?: boolean;
}

/** Options of {@link reduceWindow}. */
export interface ReduceWindowOptions {
  /** Window dilation per axis; default all 1. */
  windowDilation?: readonly number[];
}

// ---- option validation (zod, once per call at the public entry) -------------------------

const posInt = z.number().int().min(1);
const posInts = z.array(posInt);
const dimensionNumbersSchema = z.union([
  z.tuple([z.string(), z.string(), z.string()]),
  z.tuple([z.array(z.number().int()), z.array(z.number().int()), z.array(z.number().int())]),
]).nullable();

const convOptionsSchema = z.object({
  lhsDilation: posInts.optional(),
  rhsDilation: posInts.optional(),
  dimensionNumbers: dimensionNumbersSchema.optional(),
  featureGroupCount: posInt.optional(),
  batchGroupCount: posInt.optional(),
}).strict();

const convTransposeOptionsSchema = z.object({
  rhsDilation: posInts.optional(),
  dimensionNumbers: dimensionNumbersSchema.optional(),
  transposeKernel: z.boolean().optional(),
}).strict();

const reduceWindowOptionsSchema = z.object({ windowDilation: posInts.optional() }).strict();

function parseOptions<T>(op: string, schema: z.ZodType<T>, options: unknown): T {
  if (options === undefined) return {} as T;
  const r = schema.safeParse(options);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => {
    const path = i.path.length > 0 ? `${i.path.join(".")}: ` : "";
    return path + i.message;
  });
  throw new TypeError(`${op}: invalid options: ${issues.join("; ")}`);
}

function checkIntList(op: string, name: string, value: unknown, n: number, min: number): number[] {
  if (
    !Array.isArray(value) || value.length !== n ||
    !value.every((v) => Number.isSafeInteger(v) && v >= min)
  ) {
    throw new RangeError(
      `${op}: ${name} must be ${n} integer(s) ≥ ${min}, got ${
        JSON.stringify(value) ?? describe(value)
      }`,
    );
  }
  return value as number[];
}

// ---- padding ------------------------------------------------------------------------------

/**
 * JAX's `padtype_to_pads`: explicit [lo, hi] pairs for a padding spec, given the (dilated)
 * input sizes, (dilated) window sizes and strides of the windowed axes.
 */
export function paddingToPairs(
  op: string,
  padding: unknown,
  inShape: Shape,
  windowShape: Shape,
  strides: readonly number[],
): [number, number][] {
  const n = inShape.length;
  if (typeof padding === "string") {
    const kind = padding.toUpperCase();
    if (kind === "VALID") return inShape.map(() => [0, 0]);
    if (kind === "SAME" || kind === "SAME_LOWER") {
      return inShape.map((d, i) => {
        const out = Math.ceil(d / strides[i]);
        const total = Math.max((out - 1) * strides[i] + windowShape[i] - d, 0);
        const half = Math.floor(total / 2);
        return kind === "SAME" ? [half, total - half] : [total - half, half];
      });
    }
  } else if (
    Array.isArray(padding) && padding.length === n &&
    padding.every((p) =>
      Array.isArray(p) && p.length === 2 && Number.isSafeInteger(p[0]) &&
      Number.isSafeInteger(p[1])
    )
  ) {
    return padding.map((p) => [p[0], p[1]]);
  }
  throw new RangeError(
    `${op}: padding must be "SAME", "SAME_LOWER", "VALID" or ${n} [lo, hi] integer pairs, got ${
      JSON.stringify(padding) ?? describe(padding)
    }`,
  );
}

// ---- dimension numbers --------------------------------------------------------------------

/** Where each canonical axis (N, C, spatial…) lives in the lhs, rhs and output arrays. */
export interface ConvPerms {
  /** Array axes of the lhs's (N, C, spatial…). */
  lhs: number[];
  /** Array axes of the rhs's (O, I, spatial…). */
  rhs: number[];
  /** Array axes of the output's (N, C, spatial…). */
  out: number[];
}

/**
 * Parses dimension numbers (JAX's `conv_dimension_numbers`) for operands of rank `ndim`:
 * each perm lists the array axis of (N or O, C or I, spatial…), spatial axes ordered as in
 * the rhs spec.
 */
export function convDimensionNumbers(
  op: string,
  ndim: number,
  dn: ConvDimensionNumbers | null | undefined,
): ConvPerms {
  const identity = [...Array(ndim).keys()];
  if (dn === null || dn === undefined) return { lhs: identity, rhs: identity, out: identity };
  const fail = (why: string): never => {
    throw new RangeError(
      `${op}: invalid dimensionNumbers ${JSON.stringify(dn)} for operands of rank ${ndim}: ${why}`,
    );
  };
  if (typeof dn[0] !== "string") {
    const specs = dn as readonly (readonly number[])[];
    for (const spec of specs) {
      if (
        spec.length !== ndim || new Set(spec).size !== ndim ||
        !spec.every((a) => Number.isInteger(a) && a >= 0 && a < ndim)
      ) fail(`each spec must be a permutation of 0..${ndim - 1}`);
    }
    return { lhs: [...specs[0]], rhs: [...specs[1]], out: [...specs[2]] };
  }
  const [lhsSpec, rhsSpec, outSpec] = dn as readonly string[];
  const pairs: [string, string, string][] = [[lhsSpec, "N", "C"], [rhsSpec, "O", "I"], [
    outSpec,
    "N",
    "C",
  ]];
  for (const [spec, a, b] of pairs) {
    if (spec.length !== ndim) fail(`"${spec}" has ${spec.length} letters, expected ${ndim}`);
    if (new Set(spec).size !== spec.length) fail(`"${spec}" repeats a letter`);
    if (!spec.includes(a) || !spec.includes(b)) fail(`"${spec}" must contain "${a}" and "${b}"`);
  }
  const spatialOf = (spec: string, a: string, b: string) =>
    [...spec].filter((ch) => ch !== a && ch !== b).sort().join("");
  const rhsSpatial = spatialOf(rhsSpec, "O", "I");
  if (spatialOf(lhsSpec, "N", "C") !== rhsSpatial || spatialOf(outSpec, "N", "C") !== rhsSpatial) {
    fail("the spatial letters of lhs, rhs and output must match");
  }
  const rhsOrder = [...rhsSpec].filter((ch) => ch !== "O" && ch !== "I");
  const perm = (spec: string, a: string, b: string) => [
    spec.indexOf(a),
    spec.indexOf(b),
    ...rhsOrder.map((ch) => spec.indexOf(ch)),
  ];
  return {
    lhs: perm(lhsSpec, "N", "C"),
    rhs: perm(rhsSpec, "O", "I"),
    out: perm(outSpec, "N", "C"),
  };
}

const isIdentity = (perm: readonly number[]) => perm.every((p, i) => p === i);

function permute(x: Tensor, perm: number[]): Tensor {
  return isIdentity(perm) ? x : bind1(transpose, [x], { perm });
}

function inversePerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

// ---- convolution --------------------------------------------------------------------------

// Both operands to one float dtype (JAX's promotion, then ints/bools to float32).
function floatOperands(op: string, lhs: ArrayLike, rhs: ArrayLike): [Tensor, Tensor] {
  const [a, b] = promote(op, lhs, rhs);
  if (isFloat(a.dtype)) return [a, b];
  return [astype(a, DEFAULT_FLOAT), astype(b, DEFAULT_FLOAT)];
}

interface ConvArgs {
  lhsDilation?: readonly number[];
  rhsDilation?: readonly number[];
  dimensionNumbers?: ConvDimensionNumbers | null;
  featureGroupCount?: number;
}

// The shared body of the convolution entry points, on validated options.
function convImpl(
  op: string,
  lhsIn: ArrayLike,
  rhsIn: ArrayLike,
  windowStrides: unknown,
  padding: unknown,
  o: ConvArgs,
): Tensor {
  const [lhs, rhs] = floatOperands(op, lhsIn, rhsIn);
  if (lhs.ndim < 3 || lhs.ndim !== rhs.ndim) {
    throw new RangeError(
      `${op}: lhs and rhs must have the same rank ≥ 3 (batch, feature and ≥ 1 spatial axes), ` +
        `got lhs ${fmtShape(lhs.shape)} and rhs ${fmtShape(rhs.shape)}`,
    );
  }
  const nd = lhs.ndim - 2;
  const strides = checkIntList(op, "windowStrides", windowStrides, nd, 1);
  const lhsDilation = o.lhsDilation ? [...o.lhsDilation] : new Array<number>(nd).fill(1);
  const rhsDilation = o.rhsDilation ? [...o.rhsDilation] : new Array<number>(nd).fill(1);
  checkIntList(op, "lhsDilation", lhsDilation, nd, 1);
  checkIntList(op, "rhsDilation", rhsDilation, nd, 1);
  const perms = convDimensionNumbers(op, lhs.ndim, o.dimensionNumbers);
  const l = permute(lhs, perms.lhs);
  const r = permute(rhs, perms.rhs);
  const inSizes = l.shape.slice(2).map((d, i) => dilateDim(d, lhsDilation[i]));
  const winSizes = r.shape.slice(2).map((d, i) => dilateDim(d, rhsDilation[i]));
  const params: ConvParams = {
    windowStrides: strides,
    padding: paddingToPairs(op, padding, inSizes, winSizes, strides),
    lhsDilation,
    rhsDilation,
    featureGroupCount: o.featureGroupCount ?? 1,
  };
  const y = bind1(convPrim, [l, r], params);
  return permute(y, inversePerm(perms.out));
}

/**
 * General convolution (JAX's `lax.conv_general_dilated`): strided, padded, with input
 * (`lhsDilation`) and kernel (`rhsDilation`) dilation, feature groups and any layout.
 *
 * @param lhs the input, (N, C, *spatial) in the default layout.
 * @param rhs the kernel, (O, C / featureGroupCount, *window) in the default layout.
 * @param windowStrides the stride of each spatial axis.
 * @param padding `"SAME"`, `"VALID"`, `"SAME_LOWER"` or `[lo, hi]` per spatial axis. String
 *   paddings are computed from the lhs-dilated input size and the rhs-dilated window size.
 * @param options `lhsDilation`, `rhsDilation`, `dimensionNumbers` (e.g.
 *   `["NHWC", "HWIO", "NHWC"]`), `featureGroupCount`; `batchGroupCount` must be 1.
 * @returns the output, (N, O, *spatial_out) in the default layout. Integer operands are
 *   computed in float32.
 */
export function convGeneralDilated(
  lhs: ArrayLike,
  rhs: ArrayLike,
  windowStrides: readonly number[],
  padding: Padding,
  options?: ConvGeneralDilatedOptions,
): Tensor {
  const op = "lax.convGeneralDilated";
  const o = parseOptions(op, convOptionsSchema, options);
  if (o.batchGroupCount !== undefined && o.batchGroupCount !== 1) {
    throw new RangeError(
      `${op}: batchGroupCount ${o.batchGroupCount} is not supported (only 1); ` +
        `split the batch and use featureGroupCount instead`,
    );
  }
  return convImpl(op, lhs, rhs, windowStrides, padding, o as ConvArgs);
}

/**
 * Convolution in the NCHW / OIHW / NCHW layout without dilation (JAX's `lax.conv`).
 *
 * @param lhs the input, (N, C, *spatial).
 * @param rhs the kernel, (O, C, *window).
 * @param windowStrides the stride of each spatial axis.
 * @param padding `"SAME"`, `"VALID"`, `"SAME_LOWER"` or `[lo, hi]` per spatial axis.
 * @returns (N, O, *spatial_out).
 */
export function conv(
  lhs: ArrayLike,
  rhs: ArrayLike,
  windowStrides: readonly number[],
  padding: Padding,
): Tensor {
  return convImpl("lax.conv", lhs, rhs, windowStrides, padding, {});
}

// JAX's _conv_transpose_padding: padding of the fractionally strided conv that is the
// transpose of a forward conv with SAME or VALID padding.
function convTransposePadding(k: number, s: number, padding: string): [number, number] {
  let padLen: number, padA: number;
  if (padding === "SAME") {
    padLen = k + s - 2;
    padA = s > k - 1 ? k - 1 : Math.ceil(padLen / 2);
  } else {
    padLen = k + s - 2 + Math.max(k - s, 0);
    padA = k - 1;
  }
  return [padA, padLen - padA];
}

const TRANSPOSE_DEFAULT_DN: Record<number, [string, string, string]> = {
  3: ["NHC", "HIO", "NHC"],
  4: ["NHWC", "HWIO", "NHWC"],
  5: ["NHWDC", "HWDIO", "NHWDC"],
};

/**
 * Transposed ("fractionally strided") convolution, as JAX's `lax.conv_transpose`: a
 * convolution of the `strides`-dilated input with unit window strides. With `"SAME"` or
 * `"VALID"` the padding is that of the transpose of the forward convolution with that padding
 * (Keras' Conv2DTranspose conventions).
 *
 * @param lhs the input, (N, H, W, C) in the default layout.
 * @param rhs the kernel, (H, W, I, O) in the default layout.
 * @param strides the fractional stride of each spatial axis.
 * @param padding `"SAME"`, `"VALID"` or `[lo, hi]` per spatial axis.
 * @param options `rhsDilation`, `dimensionNumbers` (default `["NHWC", "HWIO", "NHWC"]` and its
 *   1-d/3-d analogues), `transposeKernel` (flip the window and swap I/O, giving the gradient
 *   of the forward convolution with the same kernel).
 */
export function convTranspose(
  lhs: ArrayLike,
  rhs: ArrayLike,
  strides: readonly number[],
  padding: Padding,
  options?: ConvTransposeOptions,
): Tensor {
  const op = "lax.convTranspose";
  const o = parseOptions(op, convTransposeOptionsSchema, options);
  const [l, r] = floatOperands(op, lhs, rhs);
  if (l.ndim < 3 || l.ndim !== r.ndim) {
    throw new RangeError(
      `${op}: lhs and rhs must have the same rank ≥ 3, got lhs ${fmtShape(l.shape)} and rhs ${
        fmtShape(r.shape)
      }`,
    );
  }
  const nd = l.ndim - 2;
  let dn: ConvDimensionNumbers | null | undefined = o.dimensionNumbers;
  if (dn === undefined || dn === null) {
    dn = TRANSPOSE_DEFAULT_DN[l.ndim];
    if (dn === undefined) {
      throw new RangeError(
        `${op}: no default dimensionNumbers for rank ${l.ndim}; pass options.dimensionNumbers`,
      );
    }
  }
  const perms = convDimensionNumbers(op, l.ndim, dn);
  const s = checkIntList(op, "strides", strides, nd, 1);
  const rhsDilation = o.rhsDilation ? [...o.rhsDilation] : new Array<number>(nd).fill(1);
  checkIntList(op, "rhsDilation", rhsDilation, nd, 1);
  let pads: unknown = padding;
  if (typeof padding === "string" && ["SAME", "VALID"].includes(padding.toUpperCase())) {
    const kind = padding.toUpperCase();
    pads = perms.rhs.slice(2).map((axis, i) =>
      convTransposePadding(dilateDim(r.shape[axis], rhsDilation[i]), s[i], kind)
    );
  } else if (typeof padding === "string") {
    throw new RangeError(
      `${op}: padding must be "SAME", "VALID" or ${nd} [lo, hi] integer pairs, got ${
        JSON.stringify(padding)
      }`,
    );
  }
  let kernel = r;
  if (o.transposeKernel) {
    kernel = bind1(rev, [kernel], { axes: perms.rhs.slice(2) });
    const swap = [...Array(kernel.ndim).keys()];
    swap[perms.rhs[0]] = perms.rhs[1];
    swap[perms.rhs[1]] = perms.rhs[0];
    kernel = bind1(transpose, [kernel], { perm: swap });
  }
  return convImpl(op, l, kernel, new Array<number>(nd).fill(1), pads, {
    lhsDilation: s,
    rhsDilation,
    dimensionNumbers: dn,
  });
}

// ---- window reductions --------------------------------------------------------------------

/**
 * Reduces each window of `x` with `op` (JAX's `lax.reduce_window` with `lax.max` or
 * `lax.add`). Windows that reach into the padding see the reduction's identity there (the
 * lowest value for max, 0 for sum). `init` is combined once with each window's result; pass
 * the identity (`-Infinity` for max, `0` for sum) for a plain reduction.
 *
 * @param x the operand (any numeric dtype, any rank).
 * @param init the initial value of each window's reduction.
 * @param op `"max"` or `"sum"`.
 * @param windowDimensions the window extent per axis of `x`.
 * @param windowStrides the step between windows per axis.
 * @param padding `"SAME"`, `"VALID"`, `"SAME_LOWER"` or `[lo, hi]` per axis.
 * @param options `windowDilation` per axis (default all 1).
 */
export function reduceWindow(
  x: ArrayLike,
  init: ArrayLike,
  op: "max" | "sum",
  windowDimensions: readonly number[],
  windowStrides: readonly number[],
  padding: Padding,
  options?: ReduceWindowOptions,
): Tensor {
  const name = "lax.reduceWindow";
  const o = parseOptions(name, reduceWindowOptionsSchema, options);
  if (op !== "max" && op !== "sum") {
    throw new TypeError(`${name}: op must be "max" or "sum", got ${describe(op)}`);
  }
  const t = asTensor(x);
  const nd = t.ndim;
  const win = checkIntList(name, "windowDimensions", windowDimensions, nd, 1);
  const strides = checkIntList(name, "windowStrides", windowStrides, nd, 1);
  const windowDilation = o.windowDilation ? [...o.windowDilation] : new Array<number>(nd).fill(1);
  checkIntList(name, "windowDilation", windowDilation, nd, 1);
  if (t.dtype === "bool") {
    throw new TypeError(
      `${name}: the operand must be numeric, got bool${fmtShape(t.shape)}; cast it first`,
    );
  }
  const dilatedWin = win.map((w, i) => dilateDim(w, windowDilation[i]));
  const params: ReduceWindowParams = {
    windowDimensions: win,
    windowStrides: strides,
    padding: paddingToPairs(name, padding, t.shape, dilatedWin, strides),
    windowDilation,
  };
  const y = bind1(op === "max" ? reduceWindowMax : reduceWindowSum, [t], params);
  // fold in a non-identity init
  if (typeof init === "number") {
    if (castScalar(init, t.dtype) === reduceWindowIdentity(op, t.dtype)) return y;
  }
  const initT = asTensor(init, t.dtype);
  if (initT.ndim !== 0) {
    throw new RangeError(`${name}: init must be a scalar, got shape ${fmtShape(initT.shape)}`);
  }
  const initB = broadcastTo(astype(initT, y.dtype, y.aval.weak), y.shape, name);
  return bind1(op === "max" ? P.max : P.add, [y, initB], {} as P.NoParams);
}
