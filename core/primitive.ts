/**
 * Primitives: the operations every transform understands. Each is defined once, in
 * `core/prims/<family>.ts`, with all of its rules beside it. This module holds the shared
 * types and the registry; the rules for autodiff, batching and lowering are added to
 * {@link PrimitiveRules} by the issues that introduce those transforms.
 * @module
 */

import type { DType, TypedArray } from "./dtype.ts";
import type { Shape } from "./shape.ts";

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

/** The rules a primitive carries. */
export interface PrimitiveRules<P> {
  /** Output shapes and dtypes from input avals; validates and throws naming the op. */
  abstractEval(inputs: Aval[], params: P): Aval[];
  /** Reference implementation on TypedArrays: the `js` device and the oracle of all others. */
  impl(inputs: TypedArray[], inAvals: Aval[], params: P, outAvals: Aval[]): TypedArray[];
  /** For pure data movement: where each output element comes from in input 0. */
  view?(inAval: Aval, params: P, outAval: Aval): View;
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
