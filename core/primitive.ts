/**
 * Primitives: the operations every transform understands. Each is defined once, in
 * `core/prims/<family>.ts`, with all of its rules beside it. This module holds the shared
 * types and the registry; the rules for autodiff, batching and lowering are added to
 * {@link PrimitiveRules} by the issues that introduce those transforms.
 * @module
 */

import type { DType, TypedArray } from "./dtype.ts";
import type { Shape } from "./shape.ts";
import type { Tensor } from "./tensor.ts";

/** An abstract value: what a traced tensor knows about itself. */
export interface Aval {
  readonly shape: Shape;
  readonly dtype: DType;
  /** JAX's weak type: the value came from a JS number and yields to the other operand. */
  readonly weak: boolean;
}

/** Builds an abstract value. */
export function aval(shape: Shape, dtype: DType, weak = false): Aval {
  return { shape, dtype, weak };
}

/**
 * Output index `i` (row-major over the output shape) reads input element
 * `offset + Σ i_k strides_k`. Primitives that only move data (transpose, broadcast, slice,
 * reverse, reshape) describe themselves this way, so one strided-copy kernel runs them all.
 */
export interface View {
  offset: number;
  strides: number[];
}

/**
 * A linear input of a primitive being transposed: its value is unknown (it is what the
 * backward pass computes a cotangent for); only its abstract value is known.
 */
export class UndefinedPrimal {
  constructor(readonly aval: Aval) {}
}

/** The rules a primitive carries. */
export interface PrimitiveRules<P> {
  /** Output shapes and dtypes from input avals; validates and throws naming the op. */
  abstractEval(inputs: Aval[], params: P): Aval[];
  /** Reference implementation on TypedArrays: the `js` device and the oracle of all others. */
  impl(inputs: TypedArray[], inAvals: Aval[], params: P, outAvals: Aval[]): TypedArray[];
  /**
   * For higher-order primitives (control flow, jit, closures): evaluates on concrete tensors
   * by binding other primitives, instead of `impl` on a device.
   */
  run?(args: Tensor[], params: P): Tensor[];
  /** For pure data movement: where each output element comes from in input 0. */
  view?(inAval: Aval, params: P, outAval: Aval): View;
  /**
   * Forward-mode rule: primal outputs and their tangents. Tangents of float inputs are
   * instantiated tensors; those of integer and bool inputs are null (zero). A null output
   * tangent means zero. Runs on the parent trace, so it may bind any primitive.
   */
  jvp?(primals: Tensor[], tangents: (Tensor | null)[], params: P): [Tensor[], (Tensor | null)[]];
  /**
   * The jvp rule accepts null (zero) tangents for float inputs too, so the trace need not
   * instantiate them: for bilinear primitives this skips a whole product with zeros.
   */
  jvpAcceptsZeros?: boolean;
  /**
   * For primitives linear in some inputs: given the output cotangents (instantiated) and the
   * inputs, where linear ones are {@link UndefinedPrimal}, the cotangent of each input (null
   * for non-linear inputs or a zero cotangent).
   */
  transpose?(cts: Tensor[], inputs: (Tensor | UndefinedPrimal)[], params: P): (Tensor | null)[];
  /**
   * Batching rule (vmap): `args[i]` carries a batch axis at `dims[i]` (null: not batched; at
   * least one is batched), all batched ones of size `axisSize`. Returns the outputs and the
   * position of their batch axis (null: unbatched). Runs on the parent trace.
   */
  batch?(
    args: Tensor[],
    dims: (number | null)[],
    params: P,
    axisSize: number,
  ): [Tensor[], (number | null)[]];
}

/** A primitive operation with its rules. Parameters are a typed, plain-data object. */
export class Primitive<P = Record<string, unknown>> {
  /** The primitive's name, as printed in graphs and errors. */
  readonly name: string;
  /** The primitive's rules. */
  readonly rules: PrimitiveRules<P>;

  constructor(name: string, rules: PrimitiveRules<P>) {
    if (registry.has(name)) throw new Error(`primitive ${name} is defined twice`);
    this.name = name;
    this.rules = rules;
    registry.set(name, this as unknown as Primitive);
  }

  /** For printing. */
  toString(): string {
    return this.name;
  }
}

/** Every primitive defined, by name: the conformance tests iterate over it. */
export const registry: Map<string, Primitive> = new Map();
