/**
 * Bit shifts and population count on int32 / uint32, composed from the arithmetic primitives
 * (a shift by s is a product or floor quotient by 2^s) with XLA's semantics for shift counts
 * outside [0, 32): logical shifts give 0, an arithmetic right shift fills with the sign bit.
 * @module
 */

import { type DType, isFloat } from "../dtype.ts";
import * as P from "../prims/elementwise.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { type ArrayLike, asTensor, astype, broadcastTo, promoteAndBroadcast } from "./convert.ts";
import { logicalAnd, where } from "./elementwise.ts";

const NONE = {} as P.NoParams;

/** Promotes and broadcasts the operands of a shift, which must be integers. */
function shiftOperands(op: string, a: ArrayLike, b: ArrayLike): [Tensor, Tensor] {
  const [x, s] = promoteAndBroadcast(op, a, b);
  if (x.dtype !== "int32" && x.dtype !== "uint32") {
    throw new TypeError(`${op}: expects int32 or uint32 operands, got ${x.dtype}`);
  }
  return [x, s];
}

/** A constant of `like`'s shape and dtype. */
function filled(like: Tensor, value: number): Tensor {
  return broadcastTo(asTensor(value, like.dtype), like.shape);
}

/** `2 ** s` (s in [0, 32), wrapping: 2^31 is -2^31 in int32). */
function powerOfTwo(s: Tensor): Tensor {
  return bind1(P.pow, [filled(s, 2), s], NONE);
}

const lt = (a: Tensor, b: Tensor) => bind1(P.lt, [a, b], NONE);
const ge = (a: Tensor, b: Tensor) => bind1(P.ge, [a, b], NONE);

/** Whether each shift count lies in [0, limit). */
function countBelow(s: Tensor, limit: number): Tensor {
  const below = lt(s, filled(s, limit));
  return s.dtype === "uint32" ? below : logicalAnd(ge(s, filled(s, 0)), below);
}

/**
 * `a << b`, elementwise (int32 / uint32, wrapping). Counts outside [0, 32) give 0, as XLA's
 * `shift_left` (JAX's `jnp.left_shift`).
 */
export function leftShift(a: ArrayLike, b: ArrayLike): Tensor {
  const [x, s] = shiftOperands("np.leftShift", a, b);
  const ok = countBelow(s, 32);
  const shifted = bind1(P.mul, [x, powerOfTwo(where(ok, s, 0))], NONE);
  return where(ok, shifted, filled(x, 0));
}

/**
 * `a >> b`, elementwise: arithmetic (sign-filling) for int32, logical for uint32, as
 * `jnp.right_shift`. Counts outside [0, 32) give the sign fill (-1 or 0) for int32 and 0 for
 * uint32.
 */
export function rightShift(a: ArrayLike, b: ArrayLike): Tensor {
  const [x, s] = shiftOperands("np.rightShift", a, b);
  if (x.dtype === "uint32") {
    const ok = countBelow(s, 32);
    const q = bind1(P.div, [x, powerOfTwo(where(ok, s, 0))], NONE);
    return where(ok, q, filled(x, 0));
  }
  // int32: floor(x / 2^s) for s < 31 (2^31 does not fit); beyond that only the sign is left
  const ok = countBelow(s, 31);
  const d = powerOfTwo(where(ok, s, 0));
  const q = bind1(P.div, [x, d], NONE);
  const r = bind1(P.rem, [x, d], NONE);
  const floored = where(lt(r, filled(r, 0)), bind1(P.sub, [q, filled(q, 1)], NONE), q);
  const signFill = where(lt(x, filled(x, 0)), filled(x, -1), filled(x, 0));
  return where(ok, floored, signFill);
}

/**
 * The number of set bits of each element's absolute value (NumPy's and JAX's
 * `bitwise_count`; int32 and uint32 give int32, bool gives its value). JAX returns uint8,
 * which Kiln does not have.
 */
export function bitwiseCount(x: ArrayLike): Tensor {
  const t = asTensor(x);
  if (isFloat(t.dtype)) {
    throw new TypeError(`np.bitwiseCount: expects an integer or bool operand, got ${t.dtype}`);
  }
  if (t.dtype === "bool") return astype(t, "int32");
  // |x| as uint32 (negated modulo 2^32, so |INT_MIN| is 2^31), then a SWAR sum of bit fields
  let v = t.dtype === "uint32" ? t : astype(t, "uint32" as DType);
  const u = (n: number) => filled(v, n);
  if (t.dtype === "int32") {
    v = where(lt(t, filled(t, 0)), bind1(P.sub, [u(0), v], NONE), v);
  }
  const and = (a: Tensor, b: Tensor) => bind1(P.and, [a, b], NONE);
  const plus = (a: Tensor, b: Tensor) => bind1(P.add, [a, b], NONE);
  const shr = (a: Tensor, n: number) => bind1(P.div, [a, u(2 ** n)], NONE);
  v = bind1(P.sub, [v, and(shr(v, 1), u(0x55555555))], NONE);
  v = plus(and(v, u(0x33333333)), and(shr(v, 2), u(0x33333333)));
  v = and(plus(v, shr(v, 4)), u(0x0f0f0f0f));
  v = shr(bind1(P.mul, [v, u(0x01010101)], NONE), 24);
  return astype(v, "int32");
}
