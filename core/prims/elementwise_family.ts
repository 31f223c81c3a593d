/**
 * The machinery behind the elementwise primitive families: the scalar definitions
 * (`UnaryDef`, `BinaryDef`), the registries by name, and `unop`/`binop`, which fill in a
 * primitive's shape rule, reference implementation, jvp and batch rule from its scalar
 * definition. The primitives themselves are defined in `elementwise.ts`.
 * @module
 */

import { allocate, type DType, isFloat } from "../dtype.ts";
import { type Aval, Primitive, type PrimitiveRules } from "../primitive.ts";
import { fmtShape, shapeEqual } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { matchBatch } from "../vmap.ts";
import type { ByDType } from "./scalar.ts";

/** Parameters of elementwise primitives (none). */
export type NoParams = Record<string, never>;

/**
 * Aligns the operands of an elementwise primitive under vmap: batched operands are moved to
 * the first batched operand's batch axis (nothing moves when they agree) and unbatched ones
 * are broadcast there, since primitives take equal shapes. Returns the operands and that axis.
 */
export function alignBatch(
  args: Tensor[],
  dims: (number | null)[],
  axisSize: number,
): [Tensor[], number] {
  const dim = dims.find((d) => d !== null) ?? 0;
  return [args.map((x, i) => matchBatch(x, dims[i], dim, axisSize)), dim];
}

/** The batch rule of an elementwise primitive: align the operands, apply it once. */
export function elementwiseBatch<P>(prim: () => Primitive<P>): PrimitiveRules<P>["batch"] {
  return (args, dims, params, axisSize) => {
    const [xs, dim] = alignBatch(args, dims, axisSize);
    return [[bind1(prim(), xs, params)], [dim]];
  };
}

/** A unary scalar function (one dtype's semantics of a unary primitive). */
export type Scalar1 = (x: number) => number;
/** A binary scalar function (one dtype's semantics of a binary primitive). */
export type Scalar2 = (a: number, b: number) => number;

const NO_PARAMS = {} as NoParams;
/** Binds a parameterless primitive to `xs` on the current trace (the jvp rules' building block). */
export const ap = (p: Primitive<NoParams>, ...xs: Tensor[]): Tensor => bind1(p, xs, NO_PARAMS);

/** The scalar semantics of a unary primitive, for each dtype it accepts. */
export interface UnaryDef {
  /** Accepted dtypes and their scalar function. */
  fns: ByDType<Scalar1>;
  /** Output dtype when it is not the input's (predicates give bool). */
  outDType?: DType;
  /**
   * Differentiation: the output tangent from the input tangent `t`, input `x` and output `y`
   * (all float, equal shapes). Absent: the tangent is zero (rounding ops, predicates, bit ops).
   */
  jvp?: (t: Tensor, x: Tensor, y: Tensor) => Tensor;
}

/** Throws a TypeError naming the primitive when `dtype` is not one of `accepted`'s keys. */
export function checkDTypeAccepted(name: string, dtype: DType, accepted: ByDType<unknown>): void {
  if (!(dtype in accepted)) {
    throw new TypeError(
      `${name}: dtype ${dtype} is not supported; expected one of ${
        Object.keys(accepted).join(", ")
      }`,
    );
  }
}

/** Elementwise unary primitives, by name. */
export const unaryPrims: Record<string, Primitive<NoParams>> = {};
/** The scalar definitions behind {@link unaryPrims}, for devices that interpret them. */
export const unaryDefs: Record<string, UnaryDef> = {};

/**
 * Defines and registers a unary elementwise primitive from its scalar definition: the shape
 * rule, the reference implementation, jvp (from `def.jvp`) and batch rule; `extra` adds or
 * overrides rules (a transpose for linear ones).
 */
export function unop(
  name: string,
  def: UnaryDef,
  extra: Partial<PrimitiveRules<NoParams>> = {},
): Primitive<NoParams> {
  const prim: Primitive<NoParams> = new Primitive<NoParams>(name, {
    abstractEval([x]) {
      checkDTypeAccepted(name, x.dtype, def.fns);
      return [{
        shape: x.shape,
        dtype: def.outDType ?? x.dtype,
        weak: def.outDType ? false : x.weak,
      }];
    },
    impl([x], [xa], _params, [out]) {
      const f = def.fns[xa.dtype]!;
      const y = allocate(out.dtype, x.length);
      for (let i = 0; i < x.length; i++) y[i] = f(x[i]);
      return [y];
    },
    jvp([x], [t]) {
      const y = ap(prim, x);
      if (t === null || def.jvp === undefined || !isFloat(y.dtype)) return [[y], [null]];
      return [[y], [def.jvp(t, x, y)]];
    },
    batch: elementwiseBatch(() => prim),
    ...extra,
  });
  unaryPrims[name] = prim;
  unaryDefs[name] = def;
  return prim;
}

/** The scalar semantics of a binary primitive. */
export interface BinaryDef {
  /** Accepted dtypes and their scalar function. */
  fns: ByDType<Scalar2>;
  /** Output dtype when it is not the inputs' (comparisons give bool). */
  outDType?: DType;
  /**
   * Differentiation: the output tangent from the inputs' tangents (null where zero), the
   * inputs and the output. Absent: the tangent is zero (comparisons, bit ops).
   */
  jvp?: (ta: Tensor | null, tb: Tensor | null, a: Tensor, b: Tensor, y: Tensor) => Tensor | null;
  /** For primitives linear in an input: the cotangents of the inputs (see PrimitiveRules). */
  transpose?: PrimitiveRules<NoParams>["transpose"];
}

/** Elementwise binary primitives, by name. */
export const binaryPrims: Record<string, Primitive<NoParams>> = {};
/** The scalar definitions behind {@link binaryPrims}. */
export const binaryDefs: Record<string, BinaryDef> = {};

/** Throws, naming the primitive, unless `a` and `b` have equal shapes and dtypes. */
export function sameShapeAndType(name: string, a: Aval, b: Aval): void {
  if (!shapeEqual(a.shape, b.shape)) {
    throw new RangeError(
      `${name}: operands must have equal shapes, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`,
    );
  }
  if (a.dtype !== b.dtype) {
    throw new TypeError(`${name}: operands must have equal dtypes, got ${a.dtype} and ${b.dtype}`);
  }
}

/**
 * Defines and registers a binary elementwise primitive from its scalar definition: the shape
 * rule (equal shapes and dtypes), the reference implementation, jvp, batch rule and, for
 * primitives linear in an input, `def.transpose`.
 */
export function binop(name: string, def: BinaryDef): Primitive<NoParams> {
  const prim: Primitive<NoParams> = new Primitive<NoParams>(name, {
    abstractEval([a, b]) {
      sameShapeAndType(name, a, b);
      checkDTypeAccepted(name, a.dtype, def.fns);
      const weak = a.weak && b.weak; // comparisons too: JAX's `i32 < 1.5` is a weak bool
      return [{ shape: a.shape, dtype: def.outDType ?? a.dtype, weak }];
    },
    impl([a, b], [aa], _params, [out]) {
      const f = def.fns[aa.dtype]!;
      const y = allocate(out.dtype, a.length);
      for (let i = 0; i < a.length; i++) y[i] = f(a[i], b[i]);
      return [y];
    },
    // the family's jvp terms skip null tangents (see `partial`)
    jvpAcceptsZeros: true,
    jvp([a, b], [ta, tb]) {
      const y = ap(prim, a, b);
      if (def.jvp === undefined || !isFloat(y.dtype)) return [[y], [null]];
      return [[y], [def.jvp(ta, tb, a, b, y)]];
    },
    batch: elementwiseBatch(() => prim),
    ...(def.transpose ? { transpose: def.transpose } : {}),
  });
  binaryPrims[name] = prim;
  binaryDefs[name] = def;
  return prim;
}
