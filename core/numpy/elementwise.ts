/**
 * NumPy's elementwise functions: arithmetic, powers, exp/log, trig, rounding, comparisons,
 * logic, `where` and `clip`. Each promotes (JAX's rules), broadcasts explicitly, then binds
 * the primitives of `core/prims/elementwise.ts`.
 * @module
 */

import { DEFAULT_FLOAT, type DType, floatDType, isFloat } from "../dtype.ts";
import * as P from "../prims/elementwise.ts";
import type { Primitive } from "../primitive.ts";
import type { Tensor } from "../tensor.ts";
import { broadcastShapes } from "../shape.ts";
import { bind1 } from "../trace.ts";
import { type ArrayLike, asTensor, astype, broadcastTo, promoteAndBroadcast } from "./convert.ts";
import { nonzero, type SizeOptions } from "./data_dependent.ts";

const NONE = {} as P.NoParams;

function binary(prim: Primitive<P.NoParams>, op: string, a: ArrayLike, b: ArrayLike): Tensor {
  const [x, y] = promoteAndBroadcast(op, a, b);
  return bind1(prim, [x, y], NONE);
}

// ints and bools become the default float first (NumPy/JAX give float results)
function toFloat(x: ArrayLike): Tensor {
  const t = asTensor(x);
  return isFloat(t.dtype) ? t : astype(t, floatDType(t.dtype), t.aval.weak);
}

function floatUnary(prim: Primitive<P.NoParams>): (x: ArrayLike) => Tensor {
  return (x) => bind1(prim, [toFloat(x)], NONE);
}

function floatBinary(prim: Primitive<P.NoParams>, op: string) {
  return (a: ArrayLike, b: ArrayLike): Tensor => {
    const [x, y] = promoteAndBroadcast(op, a, b);
    const dt: DType = isFloat(x.dtype) ? x.dtype : DEFAULT_FLOAT;
    return bind1(prim, [astype(x, dt, x.aval.weak), astype(y, dt, y.aval.weak)], NONE);
  };
}

/** a + b, elementwise with broadcasting (logical or on bools, as NumPy). */
export function add(a: ArrayLike, b: ArrayLike): Tensor {
  const [x, y] = promoteAndBroadcast("np.add", a, b);
  return bind1(x.dtype === "bool" ? P.or : P.add, [x, y], NONE);
}
/** a - b (not defined for bools, as NumPy). */
export const subtract = (a: ArrayLike, b: ArrayLike): Tensor => binary(P.sub, "np.subtract", a, b);
/** a * b (logical and on bools). */
export function multiply(a: ArrayLike, b: ArrayLike): Tensor {
  const [x, y] = promoteAndBroadcast("np.multiply", a, b);
  return bind1(x.dtype === "bool" ? P.and : P.mul, [x, y], NONE);
}
/** True division: integers divide as floats. */
export const divide: (a: ArrayLike, b: ArrayLike) => Tensor = floatBinary(P.div, "np.divide");
/** Alias of {@link divide}. */
export const trueDivide = divide;
/** Elementwise maximum (NaN propagates; logical or on bools). */
export function maximum(a: ArrayLike, b: ArrayLike): Tensor {
  const [x, y] = promoteAndBroadcast("np.maximum", a, b);
  return bind1(x.dtype === "bool" ? P.or : P.max, [x, y], NONE);
}
/** Elementwise minimum (NaN propagates; logical and on bools). */
export function minimum(a: ArrayLike, b: ArrayLike): Tensor {
  const [x, y] = promoteAndBroadcast("np.minimum", a, b);
  return bind1(x.dtype === "bool" ? P.and : P.min, [x, y], NONE);
}
/** atan2(a, b), quadrant-aware. */
export const arctan2: (a: ArrayLike, b: ArrayLike) => Tensor = floatBinary(P.atan2, "np.arctan2");
/** Remainder with the sign of the dividend (C's fmod). */
export const fmod = (a: ArrayLike, b: ArrayLike): Tensor => binary(P.rem, "np.fmod", a, b);

/**
 * a ** b. Integer bases with integer exponents stay integers; a negative JS integer exponent
 * of an integer base is an error, as in NumPy and JAX.
 */
export function power(a: ArrayLike, b: ArrayLike): Tensor {
  const [x, y] = promoteAndBroadcast("np.power", a, b);
  if (typeof b === "number" && b < 0 && !isFloat(x.dtype) && x.dtype !== "bool") {
    throw new TypeError(
      `np.power: integers cannot be raised to negative powers, got ${x.dtype} ** ${b}`,
    );
  }
  return bind1(P.pow, [x, y], NONE);
}

/**
 * Floor division: the quotient rounded toward -inf. Edge cases as JAX's: floats follow
 * Python's divmod (`inf // 2` is NaN, `-0 // 1` is 0, `x // 0` is ±inf or NaN); integer
 * division by zero gives XLA's all-ones quotient floored (int32: -1 for 0 // 0, else -2;
 * uint32: 4294967295).
 */
export function floorDivide(a: ArrayLike, b: ArrayLike): Tensor {
  const [x, y] = promoteAndBroadcast("np.floorDivide", a, b);
  if (isFloat(x.dtype)) return floatFloorDivide(x, y);
  const zero = broadcastTo(asTensor(0, x.dtype), x.shape);
  const byZero = bind1(P.eq, [y, zero], NONE);
  const q = bind1(P.div, [x, y], NONE);
  if (x.dtype !== "int32") return where(byZero, 4294967295, q); // unsigned: trunc is floor
  const r = bind1(P.rem, [x, y], NONE);
  const floored = where(needsFloorFix(r, y), subtract(q, 1), q);
  return where(byZero, where(bind1(P.eq, [x, zero], NONE), -1, -2), floored);
}

// Python's float divmod: the quotient of (x - fmod(x, y)) / y, corrected when the remainder's
// sign differs from the divisor's, then rounded (it is integral up to rounding error).
function floatFloorDivide(x: Tensor, y: Tensor): Tensor {
  const mod = bind1(P.rem, [x, y], NONE);
  const zero = broadcastTo(asTensor(0, x.dtype), x.shape);
  const corrected = where(bind1(P.eq, [y, zero], NONE), x, bind1(P.sub, [x, mod], NONE));
  const div = bind1(P.div, [corrected, y], NONE);
  const fix = logicalAnd(
    bind1(P.ne, [mod, zero], NONE),
    bind1(P.ne, [bind1(P.sign, [y], NONE), bind1(P.sign, [mod], NONE)], NONE),
  );
  return bind1(P.round, [where(fix, subtract(div, 1), div)], NONE);
}

// remainder nonzero and of the opposite sign to the divisor
function needsFloorFix(r: Tensor, y: Tensor): Tensor {
  const zero = broadcastTo(asTensor(0, r.dtype), r.shape);
  const rNonzero = bind1(P.ne, [r, zero], NONE);
  const signsDiffer = bind1(
    P.ne,
    [bind1(P.lt, [r, zero], NONE), bind1(P.lt, [y, zero], NONE)],
    NONE,
  );
  return bind1(P.and, [rNonzero, signsDiffer], NONE);
}

/** Remainder with the sign of the divisor (Python's %, NumPy's mod). */
export function remainder(a: ArrayLike, b: ArrayLike): Tensor {
  const [x, y] = promoteAndBroadcast("np.remainder", a, b);
  const r = bind1(P.rem, [x, y], NONE);
  if (x.dtype === "uint32") return r;
  return where(needsFloorFix(r, y), bind1(P.add, [r, y], NONE), r);
}
/** Alias of {@link remainder}. */
export const mod = remainder;

/** -x. */
export const negative = (x: ArrayLike): Tensor => bind1(P.neg, [asTensor(x)], NONE);
/** +x (a copy-free identity). */
export const positive = (x: ArrayLike): Tensor => asTensor(x);
/** |x|. */
export const absolute = (x: ArrayLike): Tensor => {
  const t = asTensor(x);
  return t.dtype === "bool" ? t : bind1(P.abs, [t], NONE);
};
/** Alias of {@link absolute}. */
export const abs = absolute;
/** -1, 0 or 1 by sign (NaN stays NaN). */
export const sign = (x: ArrayLike): Tensor => bind1(P.sign, [asTensor(x)], NONE);
/** x * x. */
export const square = (x: ArrayLike): Tensor => {
  const t = asTensor(x);
  return bind1(P.mul, [t, t], NONE);
};
/** 1 / x (as float). */
export const reciprocal: (x: ArrayLike) => Tensor = floatUnary(P.reciprocal);
/** e^x. */
export const exp: (x: ArrayLike) => Tensor = floatUnary(P.exp);
/** 2^x. */
export const exp2: (x: ArrayLike) => Tensor = floatUnary(P.exp2);
/** e^x - 1. */
export const expm1: (x: ArrayLike) => Tensor = floatUnary(P.expm1);
/** Natural log. */
export const log: (x: ArrayLike) => Tensor = floatUnary(P.log);
/** Base-2 log. */
export const log2: (x: ArrayLike) => Tensor = floatUnary(P.log2);
/** Base-10 log. */
export const log10: (x: ArrayLike) => Tensor = floatUnary(P.log10);
/** log(1 + x). */
export const log1p: (x: ArrayLike) => Tensor = floatUnary(P.log1p);
/** Square root. */
export const sqrt: (x: ArrayLike) => Tensor = floatUnary(P.sqrt);
/** 1 / sqrt(x). */
export const rsqrt: (x: ArrayLike) => Tensor = floatUnary(P.rsqrt);
/** Cube root. */
export const cbrt: (x: ArrayLike) => Tensor = floatUnary(P.cbrt);
/** Sine. */
export const sin: (x: ArrayLike) => Tensor = floatUnary(P.sin);
/** Cosine. */
export const cos: (x: ArrayLike) => Tensor = floatUnary(P.cos);
/** Tangent. */
export const tan: (x: ArrayLike) => Tensor = floatUnary(P.tan);
/** Inverse sine. */
export const arcsin: (x: ArrayLike) => Tensor = floatUnary(P.asin);
/** Inverse cosine. */
export const arccos: (x: ArrayLike) => Tensor = floatUnary(P.acos);
/** Inverse tangent. */
export const arctan: (x: ArrayLike) => Tensor = floatUnary(P.atan);
/** Hyperbolic sine. */
export const sinh: (x: ArrayLike) => Tensor = floatUnary(P.sinh);
/** Hyperbolic cosine. */
export const cosh: (x: ArrayLike) => Tensor = floatUnary(P.cosh);
/** Hyperbolic tangent. */
export const tanh: (x: ArrayLike) => Tensor = floatUnary(P.tanh);
/** Inverse hyperbolic sine. */
export const arcsinh: (x: ArrayLike) => Tensor = floatUnary(P.asinh);
/** Inverse hyperbolic cosine. */
export const arccosh: (x: ArrayLike) => Tensor = floatUnary(P.acosh);
/** Inverse hyperbolic tangent. */
export const arctanh: (x: ArrayLike) => Tensor = floatUnary(P.atanh);
/** Error function. */
export const erf: (x: ArrayLike) => Tensor = floatUnary(P.erfPrim);
/** The logistic sigmoid. */
export const sigmoid: (x: ArrayLike) => Tensor = floatUnary(P.logistic);

function intPreserving(prim: Primitive<P.NoParams>) {
  return (x: ArrayLike): Tensor => {
    const t = asTensor(x);
    return isFloat(t.dtype) ? bind1(prim, [t], NONE) : t; // already integral
  };
}
/** Round toward -inf. */
export const floor: (x: ArrayLike) => Tensor = intPreserving(P.floor);
/** Round toward +inf. */
export const ceil: (x: ArrayLike) => Tensor = intPreserving(P.ceil);
/** Round toward zero. */
export const trunc: (x: ArrayLike) => Tensor = intPreserving(P.trunc);
/** Alias of {@link trunc}. */
export const fix = trunc;
/** Round half to even. */
export const rint: (x: ArrayLike) => Tensor = intPreserving(P.round);

/** Round half to even to `decimals` places. */
export function round(x: ArrayLike, decimals = 0): Tensor {
  const t = asTensor(x);
  if (!Number.isInteger(decimals)) {
    throw new TypeError(`np.round: decimals must be an integer, got ${decimals}`);
  }
  if (!isFloat(t.dtype) && decimals < 0) {
    throw new RangeError(`np.round: decimals < 0 is not supported for ${t.dtype} (as JAX)`);
  }
  if (!isFloat(t.dtype) || decimals === 0) return rint(t);
  const scale = 10 ** decimals;
  return divide(rint(multiply(t, scale)), scale);
}
/** Alias of {@link round}. */
export const around = round;

function predicate(prim: Primitive<P.NoParams>, whenNotFloat: boolean) {
  return (x: ArrayLike): Tensor => {
    const t = asTensor(x);
    if (isFloat(t.dtype)) return bind1(prim, [t], NONE);
    return full(t, whenNotFloat);
  };
}
function full(like: Tensor, value: boolean): Tensor {
  return broadcastTo(asTensor(value), like.shape);
}
/** NaN test (false for integers). */
export const isnan: (x: ArrayLike) => Tensor = predicate(P.isnan, false);
/** ±inf test (false for integers). */
export const isinf: (x: ArrayLike) => Tensor = predicate(P.isinf, false);
/** Finite test (true for integers). */
export const isfinite: (x: ArrayLike) => Tensor = predicate(P.isfinite, true);

/** a == b. */
export const equal = (a: ArrayLike, b: ArrayLike): Tensor => binary(P.eq, "np.equal", a, b);
/** a != b. */
export const notEqual = (a: ArrayLike, b: ArrayLike): Tensor => binary(P.ne, "np.notEqual", a, b);
/** a < b. */
export const less = (a: ArrayLike, b: ArrayLike): Tensor => binary(P.lt, "np.less", a, b);
/** a <= b. */
export const lessEqual = (a: ArrayLike, b: ArrayLike): Tensor => binary(P.le, "np.lessEqual", a, b);
/** a > b. */
export const greater = (a: ArrayLike, b: ArrayLike): Tensor => binary(P.gt, "np.greater", a, b);
/** a >= b. */
export const greaterEqual = (a: ArrayLike, b: ArrayLike): Tensor =>
  binary(P.ge, "np.greaterEqual", a, b);

function toBool(x: ArrayLike): Tensor {
  const t = asTensor(x);
  return t.dtype === "bool" ? t : notEqual(t, 0);
}
function logical(prim: Primitive<P.NoParams>, op: string) {
  return (a: ArrayLike, b: ArrayLike): Tensor => {
    const [x, y] = promoteAndBroadcast(op, toBool(a), toBool(b));
    return bind1(prim, [x, y], NONE);
  };
}
/** Logical and (nonzero is true). */
export const logicalAnd: (a: ArrayLike, b: ArrayLike) => Tensor = logical(P.and, "np.logicalAnd");
/** Logical or. */
export const logicalOr: (a: ArrayLike, b: ArrayLike) => Tensor = logical(P.or, "np.logicalOr");
/** Logical xor. */
export const logicalXor: (a: ArrayLike, b: ArrayLike) => Tensor = logical(P.xor, "np.logicalXor");
/** Logical not. */
export const logicalNot = (x: ArrayLike): Tensor => bind1(P.not, [toBool(x)], NONE);

function bitwise(prim: Primitive<P.NoParams>, op: string) {
  return (a: ArrayLike, b: ArrayLike): Tensor => {
    const [x, y] = promoteAndBroadcast(op, a, b);
    if (isFloat(x.dtype)) {
      throw new TypeError(`${op}: not supported for ${x.dtype}; expected integers or bool`);
    }
    return bind1(prim, [x, y], NONE);
  };
}
/** Bitwise and. */
export const bitwiseAnd: (a: ArrayLike, b: ArrayLike) => Tensor = bitwise(P.and, "np.bitwiseAnd");
/** Bitwise or. */
export const bitwiseOr: (a: ArrayLike, b: ArrayLike) => Tensor = bitwise(P.or, "np.bitwiseOr");
/** Bitwise xor. */
export const bitwiseXor: (a: ArrayLike, b: ArrayLike) => Tensor = bitwise(P.xor, "np.bitwiseXor");
/** Bitwise not. */
export function bitwiseNot(x: ArrayLike): Tensor {
  const t = asTensor(x);
  if (isFloat(t.dtype)) throw new TypeError(`np.bitwiseNot: not supported for ${t.dtype}`);
  return bind1(P.not, [t], NONE);
}
/** Alias of {@link bitwiseNot}. */
export const invert = bitwiseNot;

/**
 * `where(cond, x, y)`: x where cond is true (nonzero), else y; all broadcast. With `cond`
 * alone (and optionally `{ size, fillValue }`), the indices of its nonzero elements, as
 * {@link nonzero}.
 */
export function where(cond: ArrayLike, options?: SizeOptions): Tensor[];
export function where(cond: ArrayLike, x: ArrayLike, y: ArrayLike): Tensor;
export function where(
  cond: ArrayLike,
  x?: ArrayLike | SizeOptions,
  y?: ArrayLike,
): Tensor | Tensor[] {
  if (y === undefined && (x === undefined || isSizeOptions(x))) {
    return nonzero(cond, (x ?? {}) as SizeOptions);
  }
  if (x === undefined || y === undefined) {
    throw new TypeError(
      "np.where: pass both x and y, or neither (the indices of nonzero elements)",
    );
  }
  const [a, b] = promoteAndBroadcast("np.where", x as ArrayLike, y);
  const c = toBool(cond);
  const [cb, ab, bb] = promoteAndBroadcastShapes("np.where", c, a, b);
  return bind1(P.select, [cb, ab, bb], NONE);
}

// a plain options object, not array data
function isSizeOptions(x: unknown): x is SizeOptions {
  return typeof x === "object" && x !== null && !Array.isArray(x) && !ArrayBuffer.isView(x) &&
    Object.getPrototypeOf(x) === Object.prototype;
}

function promoteAndBroadcastShapes(op: string, ...ts: Tensor[]): Tensor[] {
  const target = broadcastShapes(op, ...ts.map((t) => t.shape));
  return ts.map((t) => broadcastTo(t, target, op));
}

/** Limits values to [lo, hi] (either may be null). */
export function clip(x: ArrayLike, lo: ArrayLike | null, hi: ArrayLike | null): Tensor {
  let t = asTensor(x);
  if (lo !== null && lo !== undefined) t = maximum(t, lo);
  if (hi !== null && hi !== undefined) t = minimum(t, hi);
  return t;
}

/**
 * sqrt(a² + b²) without undue overflow; inf when either is ±inf (even with NaN), and JAX's
 * gradient at (0, 0) (the zero branch passes the larger leg through).
 */
export function hypot(a: ArrayLike, b: ArrayLike): Tensor {
  const [fa, fb] = promoteAndBroadcast("np.hypot", toFloat(a), toFloat(b));
  const x = absolute(fa), y = absolute(fb);
  const anyInf = logicalOr(isinf(x), isinf(y));
  const hi = maximum(x, y), lo = minimum(x, y);
  const hiIsZero = equal(hi, 0);
  const ratio = divide(lo, where(hiIsZero, 1, hi));
  const h = where(hiIsZero, hi, multiply(hi, sqrt(add(1, square(ratio)))));
  return where(anyInf, Infinity, h);
}

/** log(e^a + e^b), stable. */
export function logaddexp(a: ArrayLike, b: ArrayLike): Tensor {
  const x = toFloat(a), y = toFloat(b);
  const m = maximum(x, y);
  const safeM = where(isfinite(m), m, 0);
  return add(safeM, log(add(exp(subtract(x, safeM)), exp(subtract(y, safeM)))));
}

/** Degrees to radians. */
export const deg2rad = (x: ArrayLike): Tensor => multiply(toFloat(x), Math.PI / 180);
/** Radians to degrees. */
export const rad2deg = (x: ArrayLike): Tensor => multiply(toFloat(x), 180 / Math.PI);
/** Alias of {@link deg2rad}. */
export const radians = deg2rad;
/** Alias of {@link rad2deg}. */
export const degrees = rad2deg;

/** Elementwise maximum ignoring NaN: NaN only where both are NaN. */
export function fmax(a: ArrayLike, b: ArrayLike): Tensor {
  const [x, y] = promoteAndBroadcast("np.fmax", a, b);
  if (!isFloat(x.dtype)) return maximum(x, y);
  return where(isnan(x), y, where(isnan(y), x, maximum(x, y)));
}
/** Elementwise minimum ignoring NaN: NaN only where both are NaN. */
export function fmin(a: ArrayLike, b: ArrayLike): Tensor {
  const [x, y] = promoteAndBroadcast("np.fmin", a, b);
  if (!isFloat(x.dtype)) return minimum(x, y);
  return where(isnan(x), y, where(isnan(y), x, minimum(x, y)));
}

/** Options of {@link isclose} and {@link allclose}. */
export interface IsCloseOptions {
  /** Relative tolerance (default 1e-5). */
  rtol?: number;
  /** Absolute tolerance (default 1e-8). */
  atol?: number;
  /** NaN equals NaN (default false). */
  equalNan?: boolean;
}

/**
 * `|a - b| <= atol + rtol * |b|` elementwise (NumPy/JAX's asymmetric test); infinities are
 * close only to themselves, NaN to nothing unless `equalNan`.
 */
export function isclose(a: ArrayLike, b: ArrayLike, options: IsCloseOptions = {}): Tensor {
  const [x, y] = promoteAndBroadcast("np.isclose", a, b);
  if (!isFloat(x.dtype)) {
    const [fx, fy] = [toFloat(x), toFloat(y)];
    return isclose(fx, fy, options);
  }
  const rtol = options.rtol ?? 1e-5, atol = options.atol ?? 1e-8;
  const finite = lessEqual(absolute(subtract(x, y)), add(atol, multiply(rtol, absolute(y))));
  const bothInf = logicalAnd(logicalOr(isinf(x), isinf(y)), equal(x, y));
  let close = logicalOr(logicalAnd(finite, logicalAnd(isfinite(x), isfinite(y))), bothInf);
  if (options.equalNan) close = logicalOr(close, logicalAnd(isnan(x), isnan(y)));
  return close;
}
