/**
 * The nonlinear accumulating scatters along one axis: `scatter_mul`, `scatter_min` and
 * `scatter_max` (XLA's scatter with multiply / min / max as the update computation). Every
 * update is applied in index order, so repeated indices accumulate as in JAX's
 * `x.at[i].multiply / min / max` (and `divide` / `power`, built on `scatter_mul`).
 * @module
 */

import { isFloat } from "../dtype.ts";
import { full } from "../numpy/creation.ts";
import { add, divide, equal, multiply, subtract, where } from "../numpy/elementwise.ts";
import { type Primitive, UndefinedPrimal } from "../primitive.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { type AxisIndexParams, scatterAdd, scatterPrim, take } from "./indexing.ts";
import { intMax, intMin, nanMax, nanMin, numeric } from "./scalar.ts";
import { zerosOf } from "./structure.ts";

/** `x` with each update multiplied into its target along `axis`; duplicates accumulate. */
export const scatterMul: Primitive<AxisIndexParams> = scatterPrim(
  "scatter_mul",
  numeric((a, b) => a * b, Math.imul, (a, b) => Math.imul(a, b) >>> 0),
  {
    jvp([x, idx, y], [tx, , ty], p) {
      const out = bind1(scatterMul, [x, idx, y], p);
      if (!isFloat(out.dtype)) return [[out], [null]];
      // linear in the operand: its tangent is scaled by the product of the updates
      const fromX = bind1(scatterMul, [tx!, idx, y], p);
      // d out[k] / d y_j = x[k] · (product of the other updates at k). JAX defines this only
      // for unique indices; here the zeros among the updates are counted so that the
      // product of the others never divides by zero.
      const isZero = equal(y, 0);
      const ySafe = where(isZero, 1, y);
      const nonzeroProduct = bind1(take, [bind1(scatterMul, [x, idx, ySafe], p), idx], p);
      const zeroCount = bind1(take, [
        bind1(scatterAdd, [zerosOf(x.aval), idx, where(isZero, 1, zerosOf(y.aval))], p),
        idx,
      ], p);
      const others = where(
        isZero,
        where(equal(zeroCount, 1), nonzeroProduct, 0),
        where(equal(zeroCount, 0), divide(nonzeroProduct, ySafe), 0),
      );
      const fromY = bind1(scatterAdd, [zerosOf(x.aval), idx, multiply(ty!, others)], p);
      return [[out], [add(fromX, fromY)]];
    },
    // linear in the operand alone: out = x · (product of the updates at each target)
    transpose([ct], [x, idx, y], p) {
      if (y instanceof UndefinedPrimal) {
        throw new Error("scatter_mul: transpose: the updates are not a linear input");
      }
      if (!(x instanceof UndefinedPrimal)) return [null, null, null];
      const ones = full(x.aval.shape, 1, { dtype: x.aval.dtype });
      return [multiply(ct, bind1(scatterMul, [ones, idx as Tensor, y], p)), null, null];
    },
  },
);

/**
 * Tangent of scatter_min / scatter_max as JAX's `_scatter_extremal_jvp`: each output takes the
 * tangent of the value that won it (the operand's or an update's), split equally among ties.
 */
function extremalJvp(prim: () => Primitive<AxisIndexParams>) {
  return (
    [x, idx, y]: Tensor[],
    [tx, , ty]: (Tensor | null)[],
    p: AxisIndexParams,
  ): [Tensor[], (Tensor | null)[]] => {
    const out = bind1(prim(), [x, idx, y], p);
    if (!isFloat(out.dtype)) return [[out], [null]];
    const gather = (t: Tensor) => bind1(take, [t, idx], p);
    const countAt = (perUpdate: Tensor) =>
      gather(bind1(scatterAdd, [zerosOf(x.aval), idx, perUpdate], p));
    const won = equal(y, gather(out));
    const kept = gather(equal(x, out));
    const winners = countAt(where(won, 1, zerosOf(y.aval)));
    const refs = countAt(full(y.shape, 1, { dtype: y.dtype }));
    const share = divide(1, where(kept, add(winners, 1), winners));
    const updateCoef = where(won, share, 0);
    const operandCoef = divide(subtract(where(kept, share, 0), 1), refs);
    const perUpdate = add(multiply(gather(tx!), operandCoef), multiply(ty!, updateCoef));
    return [[out], [bind1(scatterAdd, [tx!, idx, perUpdate], p)]];
  };
}

/** `x` with each target replaced by the minimum of it and its updates (NaN propagates). */
export const scatterMin: Primitive<AxisIndexParams> = scatterPrim(
  "scatter_min",
  numeric(nanMin, intMin, intMin),
  { jvp: extremalJvp(() => scatterMin) },
);

/** `x` with each target replaced by the maximum of it and its updates (NaN propagates). */
export const scatterMax: Primitive<AxisIndexParams> = scatterPrim(
  "scatter_max",
  numeric(nanMax, intMax, intMax),
  { jvp: extremalJvp(() => scatterMax) },
);
