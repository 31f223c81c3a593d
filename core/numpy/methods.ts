/**
 * Chaining methods on `Tensor` (`x.add(y).mul(2).sum(0)`), mirroring the `np` functions.
 * Installed on the prototype here so that `tensor.ts` stays free of the NumPy layer; module
 * augmentation gives them their types.
 * @module
 */

import type { DType } from "../dtype.ts";
import { Tensor } from "../tensor.ts";
import { devicePut } from "../transfer.ts";
import { type ArrayLike, astype, broadcastTo } from "./convert.ts";
import * as E from "./elementwise.ts";
import * as L from "./linalg.ts";
import * as R from "./reductions.ts";
import * as S from "./shape.ts";

declare module "../tensor.ts" {
  interface Tensor {
    /** `this + other`. */
    add(other: ArrayLike): Tensor;
    /** `this - other`. */
    sub(other: ArrayLike): Tensor;
    /** `this * other`. */
    mul(other: ArrayLike): Tensor;
    /** `this / other` (true division). */
    div(other: ArrayLike): Tensor;
    /** Floor division. */
    floorDiv(other: ArrayLike): Tensor;
    /** Remainder with the divisor's sign. */
    mod(other: ArrayLike): Tensor;
    /** `this ** other`. */
    pow(other: ArrayLike): Tensor;
    /** Elementwise maximum. */
    maximum(other: ArrayLike): Tensor;
    /** Elementwise minimum. */
    minimum(other: ArrayLike): Tensor;
    /** `-this`. */
    neg(): Tensor;
    /** `|this|`. */
    abs(): Tensor;
    /** Sign. */
    sign(): Tensor;
    /** `this * this`. */
    square(): Tensor;
    /** Square root. */
    sqrt(): Tensor;
    /** e^this. */
    exp(): Tensor;
    /** Natural log. */
    log(): Tensor;
    /** Sine. */
    sin(): Tensor;
    /** Cosine. */
    cos(): Tensor;
    /** Hyperbolic tangent. */
    tanh(): Tensor;
    /** Reciprocal. */
    reciprocal(): Tensor;
    /** Round half to even. */
    round(decimals?: number): Tensor;
    /** Round down. */
    floor(): Tensor;
    /** Round up. */
    ceil(): Tensor;
    /** Limit to [lo, hi]. */
    clip(lo: ArrayLike | null, hi: ArrayLike | null): Tensor;
    /** `this == other`. */
    eq(other: ArrayLike): Tensor;
    /** `this != other`. */
    ne(other: ArrayLike): Tensor;
    /** `this < other`. */
    lt(other: ArrayLike): Tensor;
    /** `this <= other`. */
    le(other: ArrayLike): Tensor;
    /** `this > other`. */
    gt(other: ArrayLike): Tensor;
    /** `this >= other`. */
    ge(other: ArrayLike): Tensor;
    /** Logical and. */
    and(other: ArrayLike): Tensor;
    /** Logical or. */
    or(other: ArrayLike): Tensor;
    /** Logical not. */
    not(): Tensor;
    /** Sum over axes. */
    sum(axis?: R.Axis, options?: R.ReduceOptions): Tensor;
    /** Product over axes. */
    prod(axis?: R.Axis, options?: R.ReduceOptions): Tensor;
    /** Mean over axes. */
    mean(axis?: R.Axis, options?: R.ReduceOptions): Tensor;
    /** Maximum over axes. */
    max(axis?: R.Axis, options?: R.ReduceOptions): Tensor;
    /** Minimum over axes. */
    min(axis?: R.Axis, options?: R.ReduceOptions): Tensor;
    /** Index of the maximum. */
    argmax(axis?: number | null, options?: { keepdims?: boolean }): Tensor;
    /** Index of the minimum. */
    argmin(axis?: number | null, options?: { keepdims?: boolean }): Tensor;
    /** All nonzero. */
    all(axis?: R.Axis, options?: R.ReduceOptions): Tensor;
    /** Any nonzero. */
    any(axis?: R.Axis, options?: R.ReduceOptions): Tensor;
    /** Variance. */
    var(axis?: R.Axis, options?: R.VarOptions): Tensor;
    /** Standard deviation. */
    std(axis?: R.Axis, options?: R.VarOptions): Tensor;
    /** Cumulative sum. */
    cumsum(axis?: number | null): Tensor;
    /** Cumulative product. */
    cumprod(axis?: number | null): Tensor;
    /** New shape (one entry may be -1). */
    reshape(shape: number | readonly number[]): Tensor;
    /** Flatten to 1-D. */
    ravel(): Tensor;
    /** Flatten to 1-D (NumPy's copying name). */
    flatten(): Tensor;
    /** Permute axes (reverse when omitted). */
    transpose(axes?: readonly number[]): Tensor;
    /** The transpose (axes reversed). */
    readonly T: Tensor;
    /** Swap two axes. */
    swapaxes(a: number, b: number): Tensor;
    /** Insert size-1 axes. */
    expandDims(axis: number | readonly number[]): Tensor;
    /** Remove size-1 axes. */
    squeeze(axis?: number | readonly number[] | null): Tensor;
    /** Broadcast to a shape. */
    broadcastTo(shape: readonly number[]): Tensor;
    /** Cast to a dtype. */
    astype(dtype: DType): Tensor;
    /** A copy on device `device` (`"cpu"`, `"js"`, `"cuda"`), or this tensor if already there. */
    to(device: string): Tensor;
    /** Reverse along axes. */
    flip(axis?: number | readonly number[] | null): Tensor;
    /** Repeat elements (a count, or one count per element). */
    repeat(repeats: number | ArrayLike, axis?: number, options?: S.RepeatOptions): Tensor;
    /** Tile the array. */
    tile(reps: number | readonly number[]): Tensor;
    /** Matrix product. */
    matmul(other: ArrayLike): Tensor;
    /** NumPy's dot. */
    dot(other: ArrayLike): Tensor;
  }
}

const proto = Tensor.prototype;
const binaryMethods: Record<string, (a: ArrayLike, b: ArrayLike) => Tensor> = {
  add: E.add,
  sub: E.subtract,
  mul: E.multiply,
  div: E.divide,
  floorDiv: E.floorDivide,
  mod: E.remainder,
  pow: E.power,
  maximum: E.maximum,
  minimum: E.minimum,
  eq: E.equal,
  ne: E.notEqual,
  lt: E.less,
  le: E.lessEqual,
  gt: E.greater,
  ge: E.greaterEqual,
  and: E.logicalAnd,
  or: E.logicalOr,
  matmul: L.matmul,
  dot: L.dot,
};
for (const [name, fn] of Object.entries(binaryMethods)) {
  Object.defineProperty(proto, name, {
    value: function (this: Tensor, other: ArrayLike) {
      return fn(this, other);
    },
    writable: true,
    configurable: true,
  });
}

const unaryMethods: Record<string, (x: ArrayLike) => Tensor> = {
  neg: E.negative,
  abs: E.absolute,
  sign: E.sign,
  square: E.square,
  sqrt: E.sqrt,
  exp: E.exp,
  log: E.log,
  sin: E.sin,
  cos: E.cos,
  tanh: E.tanh,
  reciprocal: E.reciprocal,
  floor: E.floor,
  ceil: E.ceil,
  not: E.logicalNot,
  ravel: S.ravel,
  flatten: S.ravel,
};
for (const [name, fn] of Object.entries(unaryMethods)) {
  Object.defineProperty(proto, name, {
    value: function (this: Tensor) {
      return fn(this);
    },
    writable: true,
    configurable: true,
  });
}

// methods whose extra arguments pass straight through to the np function
const passThrough: Record<string, (x: Tensor, ...args: never[]) => Tensor> = {
  round: E.round,
  clip: E.clip,
  sum: R.sum,
  prod: R.prod,
  mean: R.mean,
  max: R.max,
  min: R.min,
  argmax: R.argmax,
  argmin: R.argmin,
  all: R.all,
  any: R.any,
  var: R.variance,
  std: R.std,
  cumsum: R.cumsum,
  cumprod: R.cumprod,
  reshape: S.reshape,
  transpose: S.transpose,
  swapaxes: S.swapaxes,
  expandDims: S.expandDims,
  squeeze: S.squeeze,
  flip: S.flip,
  repeat: S.repeat,
  tile: S.tile,
  broadcastTo: (x: Tensor, shape: readonly number[]) => broadcastTo(x, shape),
  astype: (x: Tensor, dtype: DType) => astype(x, dtype),
  to: (x: Tensor, device: string) => devicePut(x, device),
};
for (const [name, fn] of Object.entries(passThrough)) {
  Object.defineProperty(proto, name, {
    value: function (this: Tensor, ...args: never[]) {
      return fn(this, ...args);
    },
    writable: true,
    configurable: true,
  });
}

Object.defineProperty(proto, "T", {
  get(this: Tensor) {
    return S.transpose(this);
  },
  configurable: true,
});
