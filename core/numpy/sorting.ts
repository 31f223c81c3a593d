/**
 * NumPy sorting: `np.sort` and `np.argsort` (ascending, stable, NaN last), both through the
 * `sort` primitive (argsort sorts `(x, iota)` and keeps the permuted iota), and the
 * `x.sort(axis)` / `x.argsort(axis)` methods.
 * @module
 */

import type { Primitive } from "../primitive.ts";
import { iota, reshape as reshapePrim } from "../prims/structure.ts";
import { sort as sortPrim } from "../prims/sort.ts";
import { normalizeAxis } from "../shape.ts";
import { Tensor } from "../tensor.ts";
import { bind, bind1 } from "../trace.ts";
import { type ArrayLike, asTensor } from "./convert.ts";

function prepare(x: ArrayLike, axis: number | null, op: string): [Tensor, number] {
  let t = asTensor(x);
  if (axis === null) {
    if (t.ndim !== 1) t = bind1(reshapePrim, [t], { shape: [t.size] });
    return [t, 0];
  }
  return [t, normalizeAxis(axis, t.ndim, op)];
}

const SORT = sortPrim as unknown as Primitive;

/**
 * A sorted copy of `x` along `axis` (default -1; null sorts the flattened array): ascending,
 * stable, NaN last, as NumPy.
 */
export function sort(x: ArrayLike, axis: number | null = -1): Tensor {
  const [t, a] = prepare(x, axis, "np.sort");
  return bind(SORT, [t], { axis: a, numKeys: 1 })[0];
}

/**
 * The int32 indices that sort `x` along `axis` (default -1; null: the flattened array),
 * stable (equal elements keep their order), NaN last.
 */
export function argsort(x: ArrayLike, axis: number | null = -1): Tensor {
  const [t, a] = prepare(x, axis, "np.argsort");
  const positions = bind1(iota, [], { shape: [...t.shape], dimension: a, dtype: "int32" });
  return bind(SORT, [t, positions], { axis: a, numKeys: 1 })[1];
}

declare module "../tensor.ts" {
  interface Tensor {
    /** `np.sort(x, axis)`: a sorted copy (ascending, stable, NaN last). */
    sort(axis?: number | null): Tensor;
    /** `np.argsort(x, axis)`: the stable sorting permutation, as int32. */
    argsort(axis?: number | null): Tensor;
  }
}

Tensor.prototype.sort = function (this: Tensor, axis: number | null = -1): Tensor {
  return sort(this, axis);
};
Tensor.prototype.argsort = function (this: Tensor, axis: number | null = -1): Tensor {
  return argsort(this, axis);
};
