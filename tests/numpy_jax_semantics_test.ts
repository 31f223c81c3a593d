/**
 * Regression tests for the differences from JAX found by `tools/jax_diff` (the expected
 * values are JAX 0.10.2's outputs, written as literals, or closed forms).
 * @module
 */

import { grad, jit, lax, nn, np } from "../mod.ts";
import type { Tensor } from "../mod.ts";
import { assert, assertClose } from "./helpers.ts";

const f32 = (d: number[]) => np.array(d);
const i32 = (d: number[]) => np.array(d, { dtype: "int32" });
const u32 = (d: number[]) => np.array(d, { dtype: "uint32" });

function same(t: Tensor, dtype: string, values: number[], weak?: boolean) {
  assert.equal(t.dtype, dtype);
  if (weak !== undefined) assert.equal(t.aval.weak, weak, "weak type");
  assertClose(t, values);
}

Deno.test("promotion: a weak scalar of a higher kind stays weak (JAX's lattice)", () => {
  // JAX 0.10.2: (int32 + 1.5) is a weak float32, so adding float16 gives float16
  same(np.add(i32([1]), 1.5), "float32", [2.5], true);
  same(np.add(np.add(i32([1]), 1.5), np.array([2], { dtype: "float16" })), "float16", [4.5]);
  same(np.add(np.array([true]), 1), "int32", [2], true);
  assert.equal(np.less(i32([1, 2]), 1.5).aval.weak, true);
  // a negative weak int meets uint32 by wrapping: u32(5) + -1 == 4, u32(5) > -1 is false
  same(np.add(u32([5]), -1), "uint32", [4]);
  assert.deepEqual(np.greater(u32([5, 0]), -1).toArray(), [false, false]);
});

Deno.test("np.full infers int32 / float32 weakly from the fill value, as jnp.full", () => {
  same(np.full([2], 3), "int32", [3, 3], true);
  same(np.full([2], 1.5), "float32", [1.5, 1.5], true);
  same(np.full([2], 3, { dtype: "float32" }), "float32", [3, 3], false);
  same(np.ones([2]), "float32", [1, 1], false);
  same(jit(() => np.full([2], 3))(), "int32", [3, 3]);
});

Deno.test("np.floorDivide: JAX's edge cases for zero divisors and infinities", () => {
  // JAX 0.10.2: [5,-5,0,7,-7] // [0,0,0,-2,2] (int32)
  same(np.floorDivide(i32([5, -5, 0, 7, -7]), i32([0, 0, 0, -2, 2])), "int32", [
    -2,
    -2,
    -1,
    -4,
    -4,
  ]);
  same(np.floorDivide(u32([7, 5]), u32([0, 2])), "uint32", [4294967295, 2]);
  const q = np.floorDivide(f32([Infinity, -0, 5, -7.5]), f32([2, 1, 0, 2])).dataSync();
  assert.ok(Number.isNaN(q[0]));
  assert.ok(Object.is(q[1], 0), "-0 // 1 is +0");
  assert.deepEqual([q[2], q[3]], [Infinity, -4]);
});

Deno.test("np.hypot: inf beats NaN, and JAX's gradient at zero", () => {
  assertClose(np.hypot(f32([Infinity, NaN, 3]), f32([NaN, -Infinity, 4])), [Infinity, Infinity, 5]);
  assertClose(grad((x: Tensor) => np.hypot(x, 0))(np.array(0)), [0.5]); // JAX 0.10.2
});

Deno.test("gradients at kinks follow JAX: abs'(±0) = 1, relu6' = 0 at 0 and 6", () => {
  assertClose(grad((x: Tensor) => np.abs(x))(np.array(0)), [1]);
  assertClose(grad((x: Tensor) => np.abs(x))(np.array(-0)), [1]);
  assertClose(grad((x: Tensor) => nn.relu6(x))(np.array(6)), [0]);
  assertClose(grad((x: Tensor) => nn.relu6(x))(np.array(0)), [0]);
  assertClose(grad((x: Tensor) => nn.relu(x))(np.array(0)), [0]);
});

Deno.test("nn.relu and nn.relu6 keep NaN", () => {
  assertClose(nn.relu(f32([NaN, -1, 2])), [NaN, 0, 2]);
  assertClose(nn.relu6(f32([NaN, 7])), [NaN, 6]);
});

Deno.test("sums with infinities are not NaN (compensated CPU sum)", () => {
  const x = f32([Infinity, 1, 1, -Infinity, Infinity, Infinity]).reshape([3, 2]);
  assertClose(np.sum(x, 1), [Infinity, -Infinity, Infinity]);
  assertClose(np.logsumexp(f32([Infinity, 1, -Infinity, -Infinity]).reshape([2, 2]), 1), [
    Infinity,
    -Infinity,
  ]);
});

Deno.test("np.var with ddof >= n is NaN, as JAX", () => {
  assertClose(np.var(f32([1, 2]), null, { ddof: 2 }), [NaN]);
  assertClose(np.std(f32([1, 2]), null, { ddof: 3 }), [NaN]);
});

Deno.test("lax.dynamicSlice / dynamicUpdateSlice: negative starts count from the end", () => {
  // JAX 0.10.2: dynamic_slice(arange(5.), (-2,), (2,)) and the update at -1
  assertClose(lax.dynamicSlice(np.arange(5, undefined, 1, { dtype: "float32" }), [-2], [2]), [
    3,
    4,
  ]);
  assertClose(
    lax.dynamicUpdateSlice(np.arange(5, undefined, 1, { dtype: "float32" }), np.array([9, 9]), [
      -1,
    ]),
    [0, 1, 2, 9, 9],
  );
  const traced = jit((x: Tensor, i: Tensor) => lax.dynamicSlice(x, [i], [2]));
  assertClose(traced(f32([0, 1, 2, 3, 4]), np.array(-2, { dtype: "int32" })), [3, 4]);
});

Deno.test("reductions accept initial and where", () => {
  assertClose(np.max(f32([1, 2]), null, { initial: 5 }), [5]);
  assertClose(np.max(f32([]), null, { initial: -5 }), [-5]);
  assertClose(np.sum(f32([1, 2, 3]), null, { where: np.array([false, true, true]) }), [5]);
  assertClose(np.mean(f32([1, 2, 3]), null, { where: np.array([false, true, true]) }), [2.5]);
  assert.throws(() => np.min(f32([1]), null, { where: np.array([true]) }), /initial/);
});

Deno.test("np.power and np.round reject what JAX rejects", () => {
  assert.throws(() => np.power(i32([2]), -1), /negative powers/);
  assert.throws(() => np.round(i32([1250]), -2), /decimals/);
});

Deno.test("new functions agree with JAX 0.10.2", () => {
  const m = f32([3, 1, 2, 10, 4, NaN, 1, 0]).reshape([2, 4]);
  assertClose(np.median(m, 1), [2.5, NaN]);
  assertClose(np.quantile(f32([1, 2, 3, 4, 5]), 0.3), [2.2]);
  assertClose(np.nanmax(f32([NaN, NaN, 1, NaN]).reshape([2, 2]), 1), [NaN, 1]);
  assert.deepEqual(
    np.isclose(f32([1, NaN, Infinity, 1e-9, 1.00001]), f32([1.000001, NaN, Infinity, 0, 1]))
      .toArray(),
    [true, false, true, true, false],
  );
  same(np.searchsorted(f32([1, 2, 2, 3]), f32([2, 0, 4, 2.5])), "int32", [1, 0, 4, 3]);
  assertClose(np.searchsorted(f32([1, 2, 2, 3]), 2, { side: "right" }), [3]);
  assertClose(np.diag(f32([1, 2]), 1), [0, 1, 0, 0, 0, 2, 0, 0, 0]);
  assertClose(np.trace(f32([1, 2, 3, 4, 5, 6]).reshape([2, 3]), -1), [4]);
  assertClose(np.fmax(f32([NaN, 1, NaN]), f32([1, NaN, NaN])), [1, 1, NaN]);
  assert.equal(np.allclose(f32([1, 2]), f32([1, 2.0000001])).item(), true);
  assert.deepEqual(np.arraySplit(f32([1, 2, 3, 4, 5]), 3).map((t) => t.shape[0]), [2, 2, 1]);
  assertClose(np.concatenate([f32([1, 2]).reshape([1, 2]), f32([3])], null), [1, 2, 3]);
  assertClose(np.hstack([np.array(1), np.array(2)]), [1, 2]);
  assertClose(nn.oneHot(f32([0, 1.5, 2]), 3), [1, 0, 0, 0, 0, 0, 0, 0, 1]);
});
