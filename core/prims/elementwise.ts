/**
 * Elementwise primitives: unary math, binary arithmetic, comparisons and select (casts are in
 * `convert.ts`, re-exported here). Inputs have equal shapes (the NumPy layer broadcasts
 * explicitly). The family helpers `unop`/`binop` (`elementwise_family.ts`) fill in the shape
 * rule and the reference implementation from a scalar function, so each primitive is one line
 * here.
 * @module
 */

import { allocate, isFloat } from "../dtype.ts";
import { Primitive, UndefinedPrimal } from "../primitive.ts";
import { fmtShape, shapeEqual } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind1, scalarTensor } from "../trace.ts";
import { broadcastInDim } from "./structure.ts";
import {
  ap,
  type BinaryDef,
  binop,
  elementwiseBatch,
  type NoParams,
  sameShapeAndType,
  type Scalar2,
  unop,
} from "./elementwise_family.ts";
import {
  erf,
  everyDType,
  floats,
  i32,
  intDiv,
  intMax,
  intMin,
  intPow,
  intRem,
  nanMax,
  nanMin,
  numeric,
  roundHalfEven,
  u32,
} from "./scalar.ts";

export {
  alignBatch,
  type BinaryDef,
  binaryDefs,
  binaryPrims,
  type NoParams,
  type UnaryDef,
  unaryDefs,
  unaryPrims,
} from "./elementwise_family.ts";
export { castArray, convertElementType, type ConvertParams } from "./convert.ts";

// ---- helpers for the differentiation rules (they bind primitives on the current trace) ----

const plus = (a: Tensor, b: Tensor) => ap(add, a, b);
const minus = (a: Tensor, b: Tensor) => ap(sub, a, b);
const times = (a: Tensor, b: Tensor) => ap(mul, a, b);
const over = (a: Tensor, b: Tensor) => ap(div, a, b);
const negate = (a: Tensor) => ap(neg, a);
const where = (c: Tensor, a: Tensor, b: Tensor) => ap(select, c, a, b);

/** A tensor shaped and typed like `like`, filled with `value` (a weakly typed constant). */
export function constLike(like: Tensor, value: number): Tensor {
  const s = scalarTensor(value, like.dtype, true);
  if (like.shape.length === 0) return s;
  return bind1(broadcastInDim, [s], { shape: like.shape, broadcastDimensions: [] });
}
/** `x * c` for a JS number c, keeping x's dtype. */
const scale = (x: Tensor, c: number) => times(x, constLike(x, c));
/** `c + x` for a JS number c. */
const shift = (x: Tensor, c: number) => plus(x, constLike(x, c));
/** x², as `x * x`. */
const sq = (x: Tensor) => times(x, x);

/** Sum of the present terms (null when none): the tangent of a sum of partial derivatives. */
function sumTerms(...terms: (Tensor | null)[]): Tensor | null {
  let acc: Tensor | null = null;
  for (const t of terms) if (t !== null) acc = acc === null ? t : plus(acc, t);
  return acc;
}

/** `t * d` where t may be a symbolic zero (null). */
const partial = (t: Tensor | null, d: () => Tensor): Tensor | null =>
  t === null ? null : times(t, d());

// ---- unary ------------------------------------------------------------------------------

/** Negation. */
export const neg = unop(
  "neg",
  { fns: numeric((x) => -x, (x) => i32(-x), (x) => u32(-x)), jvp: (t) => negate(t) },
  { transpose: ([ct]) => [negate(ct)] },
);
/** Absolute value. */
export const abs = unop("abs", {
  fns: numeric(Math.abs, (x) => i32(Math.abs(x)), (x) => x),
  // JAX's convention: the slope at ±0 is +1 (select(x >= 0, t, -t)), not sign(0) = 0
  jvp: (t, x) => where(ap(ge, x, constLike(x, 0)), t, negate(t)),
});
/** Sign: -1, 0, 1 (NaN stays NaN). */
export const sign = unop("sign", { fns: numeric(Math.sign, Math.sign, (x) => (x > 0 ? 1 : 0)) });
/** e^x. */
export const exp = unop("exp", { fns: floats(Math.exp), jvp: (t, _x, y) => times(t, y) });
/** 2^x. */
export const exp2 = unop("exp2", {
  fns: floats((x: number) => Math.pow(2, x)),
  jvp: (t, _x, y) => times(t, scale(y, Math.LN2)),
});
/** e^x - 1, accurate near 0. */
export const expm1 = unop("expm1", {
  fns: floats(Math.expm1),
  jvp: (t, _x, y) => times(t, shift(y, 1)),
});
/** Natural logarithm. */
export const log = unop("log", { fns: floats(Math.log), jvp: (t, x) => over(t, x) });
/** Base-2 logarithm. */
export const log2 = unop("log2", {
  fns: floats(Math.log2),
  jvp: (t, x) => over(t, scale(x, Math.LN2)),
});
/** Base-10 logarithm. */
export const log10 = unop("log10", {
  fns: floats(Math.log10),
  jvp: (t, x) => over(t, scale(x, Math.LN10)),
});
/** log(1 + x), accurate near 0. */
export const log1p = unop("log1p", {
  fns: floats(Math.log1p),
  jvp: (t, x) => over(t, shift(x, 1)),
});
/** Square root. */
export const sqrt = unop("sqrt", {
  fns: floats(Math.sqrt),
  jvp: (t, _x, y) => over(t, scale(y, 2)),
});
/** 1 / sqrt(x). */
export const rsqrt = unop("rsqrt", {
  fns: floats((x: number) => 1 / Math.sqrt(x)),
  jvp: (t, x, y) => times(t, scale(over(y, x), -0.5)),
});
/** Cube root. */
export const cbrt = unop("cbrt", {
  fns: floats(Math.cbrt),
  jvp: (t, _x, y) => over(t, scale(sq(y), 3)),
});
/** Sine. */
export const sin = unop("sin", { fns: floats(Math.sin), jvp: (t, x) => times(t, ap(cos, x)) });
/** Cosine. */
export const cos = unop("cos", {
  fns: floats(Math.cos),
  jvp: (t, x) => negate(times(t, ap(sin, x))),
});
/** Tangent. */
export const tan = unop("tan", {
  fns: floats(Math.tan),
  jvp: (t, _x, y) => times(t, shift(sq(y), 1)),
});
/** Inverse sine. */
export const asin = unop("asin", {
  fns: floats(Math.asin),
  jvp: (t, x) => times(t, ap(rsqrt, minus(constLike(x, 1), sq(x)))),
});
/** Inverse cosine. */
export const acos = unop("acos", {
  fns: floats(Math.acos),
  jvp: (t, x) => negate(times(t, ap(rsqrt, minus(constLike(x, 1), sq(x))))),
});
/** Inverse tangent. */
export const atan = unop("atan", {
  fns: floats(Math.atan),
  jvp: (t, x) => over(t, shift(sq(x), 1)),
});
/** Hyperbolic sine. */
export const sinh = unop("sinh", { fns: floats(Math.sinh), jvp: (t, x) => times(t, ap(cosh, x)) });
/** Hyperbolic cosine. */
export const cosh = unop("cosh", { fns: floats(Math.cosh), jvp: (t, x) => times(t, ap(sinh, x)) });
/** Hyperbolic tangent. */
export const tanh = unop("tanh", {
  fns: floats(Math.tanh),
  jvp: (t, _x, y) => times(t, minus(constLike(y, 1), sq(y))),
});
/** Inverse hyperbolic sine. */
export const asinh = unop("asinh", {
  fns: floats(Math.asinh),
  jvp: (t, x) => times(t, ap(rsqrt, shift(sq(x), 1))),
});
/** Inverse hyperbolic cosine. */
export const acosh = unop("acosh", {
  fns: floats(Math.acosh),
  jvp: (t, x) => times(t, ap(rsqrt, times(shift(x, -1), shift(x, 1)))),
});
/** Inverse hyperbolic tangent. */
export const atanh = unop("atanh", {
  fns: floats(Math.atanh),
  jvp: (t, x) => over(over(t, minus(constLike(x, 1), x)), shift(x, 1)),
});
/** Round toward -inf. */
export const floor = unop("floor", { fns: floats(Math.floor) });
/** Round toward +inf. */
export const ceil = unop("ceil", { fns: floats(Math.ceil) });
/** Round half to even. */
export const round = unop("round", { fns: floats(roundHalfEven) });
/** Round toward zero. */
export const trunc = unop("trunc", { fns: floats(Math.trunc) });
/** 1 / x. */
export const reciprocal = unop("reciprocal", {
  fns: floats((x: number) => 1 / x),
  jvp: (t, _x, y) => negate(times(t, sq(y))),
});
/** The logistic sigmoid 1 / (1 + e^-x). */
export const logistic = unop("logistic", {
  fns: floats((x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)))),
  jvp: (t, _x, y) => times(t, times(y, minus(constLike(y, 1), y))),
});
/** The error function. */
export const erfPrim = unop("erf", {
  fns: floats(erf),
  jvp: (t, x) => times(t, scale(ap(exp, negate(sq(x))), 2 / Math.sqrt(Math.PI))),
});
/** Bitwise not (logical on bool). */
export const not = unop("not", {
  fns: { int32: (x) => ~x, uint32: (x) => u32(~x), bool: (x) => (x ? 0 : 1) },
});
/** x is NaN. */
export const isnan = unop("isnan", {
  fns: floats((x: number) => (x !== x ? 1 : 0)),
  outDType: "bool",
});
/** x is ±inf. */
export const isinf = unop("isinf", {
  fns: floats((x: number) => x === Infinity || x === -Infinity ? 1 : 0),
  outDType: "bool",
});
/** x is neither NaN nor ±inf. */
export const isfinite = unop("isfinite", {
  fns: floats((x: number) => (Number.isFinite(x) ? 1 : 0)),
  outDType: "bool",
});

// ---- binary -----------------------------------------------------------------------------

/**
 * Tangent of max/min as JAX: each side's tangent where it is the result, half of each at
 * ties (`_balanced_eq`).
 */
function extremumJvp(ta: Tensor | null, tb: Tensor | null, a: Tensor, b: Tensor, y: Tensor) {
  const one = constLike(y, 1), two = constLike(y, 2), zero = constLike(y, 0);
  const aHit = ap(eq, a, y), bHit = ap(eq, b, y);
  return sumTerms(
    partial(ta, () => over(where(aHit, one, zero), where(bHit, two, one))),
    partial(tb, () => over(where(bHit, one, zero), where(aHit, two, one))),
  );
}

/** a + b. */
export const add = binop("add", {
  fns: numeric((a, b) => a + b, (a, b) => (a + b) | 0, (a, b) => (a + b) >>> 0),
  jvp: (ta, tb) => sumTerms(ta, tb),
  transpose: ([ct], [a, b]) => [
    a instanceof UndefinedPrimal ? ct : null,
    b instanceof UndefinedPrimal ? ct : null,
  ],
});
/** a - b. */
export const sub = binop("sub", {
  fns: numeric((a, b) => a - b, (a, b) => (a - b) | 0, (a, b) => (a - b) >>> 0),
  jvp: (ta, tb) => sumTerms(ta, tb === null ? null : negate(tb)),
  transpose: ([ct], [a, b]) => [
    a instanceof UndefinedPrimal ? ct : null,
    b instanceof UndefinedPrimal ? negate(ct) : null,
  ],
});
/** a * b. */
export const mul = binop("mul", {
  fns: numeric((a, b) => a * b, Math.imul, (a, b) => Math.imul(a, b) >>> 0),
  jvp: (ta, tb, a, b) => sumTerms(partial(ta, () => b), partial(tb, () => a)),
  transpose([ct], [a, b]) {
    if (a instanceof UndefinedPrimal && b instanceof UndefinedPrimal) {
      throw new Error("mul: transpose: the product of two linear inputs is not linear");
    }
    if (a instanceof UndefinedPrimal) return [times(ct, b as Tensor), null];
    if (b instanceof UndefinedPrimal) return [null, times(a, ct)];
    return [null, null];
  },
});
/** a / b (integers truncate toward zero; division by zero gives 0). */
export const div = binop("div", {
  fns: numeric((a, b) => a / b, (a, b) => i32(intDiv(a, b)), (a, b) => u32(intDiv(a, b))),
  // d(a/b) = ta / b - tb * a / b²
  jvp: (ta, tb, _a, b, y) =>
    sumTerms(ta === null ? null : over(ta, b), tb === null ? null : negate(times(tb, over(y, b)))),
  transpose([ct], [a, b]) {
    if (b instanceof UndefinedPrimal) {
      throw new Error("div: transpose: division is linear only in its numerator");
    }
    return [a instanceof UndefinedPrimal ? over(ct, b) : null, null];
  },
});
/** Remainder with the dividend's sign (C's fmod / %). */
export const rem = binop("rem", {
  fns: numeric((a, b) => a % b, intRem, intRem),
  // rem(a, b) = a - b * trunc(a / b)
  jvp: (ta, tb, a, b) => sumTerms(ta, partial(tb, () => negate(ap(trunc, over(a, b))))),
});
/** a ** b. */
export const pow = binop("pow", {
  fns: numeric(Math.pow, (a, b) => intPow(a, b, i32), (a, b) => intPow(a, b, u32)),
  // as JAX: d/da is 0 where b == 0; d/db uses log(a) with a == 0 replaced by 1
  jvp: (ta, tb, a, b, y) =>
    sumTerms(
      partial(ta, () => {
        const bIsZero = ap(eq, b, constLike(b, 0));
        const jac = times(b, ap(pow, a, shift(b, -1)));
        return where(bIsZero, constLike(b, 0), jac);
      }),
      partial(tb, () => {
        const aSafe = where(ap(eq, a, constLike(a, 0)), constLike(a, 1), a);
        return times(ap(log, aSafe), y);
      }),
    ),
});
/** Elementwise maximum (propagates NaN). */
export const max = binop("max", { fns: numeric(nanMax, intMax, intMax), jvp: extremumJvp });
/** Elementwise minimum (propagates NaN). */
export const min = binop("min", { fns: numeric(nanMin, intMin, intMin), jvp: extremumJvp });
/** atan2(a, b). */
export const atan2 = binop("atan2", {
  fns: floats(Math.atan2),
  // d atan2(a, b) = (b ta - a tb) / (a² + b²)
  jvp: (ta, tb, a, b) => {
    const r = plus(sq(a), sq(b));
    return sumTerms(partial(ta, () => over(b, r)), partial(tb, () => negate(over(a, r))));
  },
});
/** Bitwise and (logical on bool). */
export const and = binop("and", {
  fns: { int32: (a, b) => a & b, uint32: (a, b) => (a & b) >>> 0, bool: (a, b) => a & b },
});
/** Bitwise or (logical on bool). */
export const or = binop("or", {
  fns: { int32: (a, b) => a | b, uint32: (a, b) => (a | b) >>> 0, bool: (a, b) => a | b },
});
/** Bitwise xor (logical on bool). */
export const xor = binop("xor", {
  fns: { int32: (a, b) => a ^ b, uint32: (a, b) => (a ^ b) >>> 0, bool: (a, b) => a ^ b },
});

const compare = (f: Scalar2): BinaryDef => ({ fns: everyDType(f), outDType: "bool" });
/** a == b. */
export const eq = binop("eq", compare((a, b) => (a === b ? 1 : 0)));
/** a != b. */
export const ne = binop("ne", compare((a, b) => (a !== b ? 1 : 0)));
/** a < b. */
export const lt = binop("lt", compare((a, b) => (a < b ? 1 : 0)));
/** a <= b. */
export const le = binop("le", compare((a, b) => (a <= b ? 1 : 0)));
/** a > b. */
export const gt = binop("gt", compare((a, b) => (a > b ? 1 : 0)));
/** a >= b. */
export const ge = binop("ge", compare((a, b) => (a >= b ? 1 : 0)));

// ---- select and cast --------------------------------------------------------------------

/** `select(pred, onTrue, onFalse)`: where pred is true take onTrue, else onFalse. */
export const select: Primitive<NoParams> = new Primitive<NoParams>("select", {
  abstractEval([pred, t, f]) {
    if (pred.dtype !== "bool") {
      throw new TypeError(`select: the predicate must be bool, got ${pred.dtype}`);
    }
    sameShapeAndType("select", t, f);
    if (!shapeEqual(pred.shape, t.shape)) {
      throw new RangeError(
        `select: predicate shape ${fmtShape(pred.shape)} differs from ${fmtShape(t.shape)}`,
      );
    }
    return [{ shape: t.shape, dtype: t.dtype, weak: t.weak && f.weak }];
  },
  impl([pred, t, f], _avals, _params, [out]) {
    const y = allocate(out.dtype, t.length);
    for (let i = 0; i < y.length; i++) y[i] = pred[i] ? t[i] : f[i];
    return [y];
  },
  // linear in the two branches; the predicate is constant
  jvp([pred, a, b], [_tp, ta, tb]) {
    const y = where(pred, a, b);
    if (!isFloat(y.dtype) || (ta === null && tb === null)) return [[y], [null]];
    return [[y], [where(pred, ta ?? constLike(a, 0), tb ?? constLike(b, 0))]];
  },
  transpose([ct], [pred, a, b]) {
    if (pred instanceof UndefinedPrimal) {
      throw new Error("select: transpose: the predicate must be a constant");
    }
    const zero = constLike(ct, 0);
    return [
      null,
      a instanceof UndefinedPrimal ? where(pred, ct, zero) : null,
      b instanceof UndefinedPrimal ? where(pred, zero, ct) : null,
    ];
  },
  batch: elementwiseBatch(() => select),
});
