/**
 * The `sort` primitive: N operands of equal shape sorted together along one axis by their
 * first `numKeys` operands (lexicographically), stable, NaN last as NumPy. `argsort` is a
 * sort of `(x, iota)` keeping output 1.
 * @module
 */

import { allocate, type TypedArray } from "../dtype.ts";
import { add, multiply } from "../numpy/elementwise.ts";
import { type Aval, Primitive } from "../primitive.ts";
import { fmtShape, type Shape, shapeEqual, sizeOf, stridesOf } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind, bind1 } from "../trace.ts";
import { matchBatch } from "../vmap.ts";
import { take } from "./indexing.ts";
import { iota, reshape } from "./structure.ts";

/** Parameters of {@link sort}. */
export interface SortParams {
  /** The axis sorted along. */
  axis: number;
  /** How many leading operands are sort keys (the rest follow their permutation). */
  numKeys: number;
}

/** NumPy's total order for sorting: NaN after everything, -0 equal to 0. */
export function compareKeys(a: number, b: number): number {
  if (a < b) return -1;
  if (a > b) return 1;
  if (a === b) return 0;
  const an = a !== a, bn = b !== b;
  return an === bn ? 0 : an ? 1 : -1;
}

/**
 * For each row along `axis`, the stable permutation that sorts the keys: `perm[o, k, i]` is
 * the source position (along the axis) of output position k. Shape (outer, len, inner).
 */
export function sortPermutation(
  keys: TypedArray[],
  outer: number,
  len: number,
  inner: number,
): Int32Array {
  const perm = new Int32Array(outer * len * inner);
  const order = new Array<number>(len);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * len * inner + i;
      for (let k = 0; k < len; k++) order[k] = k;
      order.sort((p, q) => {
        for (const key of keys) {
          const c = compareKeys(key[base + p * inner], key[base + q * inner]);
          if (c !== 0) return c;
        }
        return p - q; // stable regardless of the engine
      });
      for (let k = 0; k < len; k++) perm[base + k * inner] = order[k];
    }
  }
  return perm;
}

/** Sorts operands together along `axis` by the first `numKeys` of them. */
export const sort: Primitive<SortParams> = new Primitive("sort", {
  abstractEval(xs, { axis, numKeys }) {
    if (xs.length === 0) throw new RangeError("sort: needs at least one operand");
    const first = xs[0];
    for (const x of xs) {
      if (!shapeEqual(x.shape, first.shape)) {
        throw new RangeError(
          `sort: operands must have equal shapes, got ${
            xs.map((a) => a.dtype + fmtShape(a.shape)).join(", ")
          }`,
        );
      }
    }
    if (!Number.isInteger(axis) || axis < 0 || axis >= first.shape.length) {
      throw new RangeError(
        `sort: axis ${axis} is out of range for shape ${fmtShape(first.shape)}`,
      );
    }
    if (!Number.isInteger(numKeys) || numKeys < 1 || numKeys > xs.length) {
      throw new RangeError(
        `sort: numKeys ${numKeys} must be between 1 and the number of operands ${xs.length}`,
      );
    }
    return xs.map((x): Aval => ({ shape: x.shape, dtype: x.dtype, weak: x.weak }));
  },
  impl(xs, avals, { axis, numKeys }, outs) {
    const shape = avals[0].shape;
    const outer = sizeOf(shape.slice(0, axis)), len = shape[axis];
    const inner = sizeOf(shape.slice(axis + 1));
    const perm = sortPermutation(xs.slice(0, numKeys), outer, len, inner);
    return xs.map((x, n) => {
      const y = allocate(outs[n].dtype, x.length);
      for (let o = 0; o < outer; o++) {
        const base = o * len * inner;
        for (let k = 0; k < len; k++) {
          for (let i = 0; i < inner; i++) {
            const at = base + k * inner + i;
            y[at] = x[base + perm[at] * inner + i];
          }
        }
      }
      return y;
    });
  },
  // sort an iota along with the operands to learn the permutation, then apply it to the
  // tangents (not linear: the permutation depends on the keys)
  jvp(primals, tangents, params) {
    const shape = primals[0].shape;
    const positions = bind1(iota, [], {
      shape: [...shape],
      dimension: params.axis,
      dtype: "int32",
    });
    const sorted = bind(sort, [...primals, positions], params);
    const perm = sorted.pop()!;
    if (tangents.every((t) => t === null)) return [sorted, sorted.map(() => null)];
    const flat = flatGatherIndices(perm, shape, params.axis);
    const size = sizeOf(shape);
    const tangentsOut = tangents.map((t) => {
      if (t === null) return null;
      const gathered = bind1(take, [bind1(reshape, [t], { shape: [size] }), flat], { axis: 0 });
      return shape.length === 1 ? gathered : bind1(reshape, [gathered], { shape: [...shape] });
    });
    return [sorted, tangentsOut];
  },
  // operands are sorted together, so all need the batch axis (unbatched ones are broadcast):
  // put it where the first batched operand has it and shift the sorted axis past it
  batch(xs, dims, { axis, numKeys }, size) {
    const bd = dims.find((d) => d !== null)!;
    const args = xs.map((x, i) => matchBatch(x, dims[i], bd, size));
    const out = bind(sort, args, { axis: axis >= bd ? axis + 1 : axis, numKeys });
    return [out, out.map(() => bd)];
  },
});

/**
 * Row-major flat indices (int32, shaped like `perm`, flattened) of the elements that
 * `take_along_axis(x, perm, axis)` picks: `perm * stride[axis] + Σ_{k≠axis} iota_k * stride[k]`.
 */
function flatGatherIndices(perm: Tensor, shape: Shape, axis: number): Tensor {
  const strides = stridesOf(shape);
  let flat = strides[axis] === 1 ? perm : multiply(perm, strides[axis]);
  for (let k = 0; k < shape.length; k++) {
    if (k === axis || shape[k] === 1) continue;
    const along = bind1(iota, [], { shape: [...shape], dimension: k, dtype: "int32" });
    flat = add(flat, strides[k] === 1 ? along : multiply(along, strides[k]));
  }
  return bind1(reshape, [flat], { shape: [sizeOf(shape)] });
}
