/**
 * The NumPy layer against closed forms and float64 hand computations, on the default device
 * and on `js`: creation, promotion, elementwise families, reductions, shape ops, products,
 * the Tensor API, and clear errors for bad input.
 */

import { getDevice, np, setDefaultDevice, Tensor } from "../mod.ts";
import { assert, assertClose, rng } from "./helpers.ts";

const DEVICES = ["cpu", "js"];

function randn(seed: number, n: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => 4 * r() - 2);
}

for (const device of DEVICES) {
  Deno.test(`numpy closed forms on ${device}`, async (t) => {
    getDevice(device);
    setDefaultDevice(device);
    try {
      await t.step("quick start example", () => {
        const x = np.array([[1, 2, 3], [4, 5, 6]]);
        const y = np.tanh(x.mul(2).add(1)).mul(x).sub(np.exp(x.neg()));
        assert.deepEqual(y.shape, [2, 3]);
        assert.equal(y.dtype, "float32");
        const expect = [1, 2, 3, 4, 5, 6].map((v) => Math.tanh(2 * v + 1) * v - Math.exp(-v));
        assertClose(y, expect, { rtol: 1e-6 });
        assertClose(np.sum(y, 1), [
          expect[0] + expect[1] + expect[2],
          expect[3] + expect[4] + expect[5],
        ], { rtol: 1e-6 });
        assert.equal(y.device, device);
      });

      await t.step("dtype promotion follows JAX, weak types included", () => {
        const f = np.ones([2]), i = np.arange(2), u = np.array([1, 2], { dtype: "uint32" });
        const b = np.array([true, false]), d = np.ones([2], { dtype: "float64" });
        assert.equal(f.mul(2).dtype, "float32");
        assert.equal(f.mul(2.5).dtype, "float32");
        assert.equal(i.mul(2).dtype, "int32");
        assert.equal(i.mul(2.5).dtype, "float32");
        assert.equal(i.add(f).dtype, "float32");
        assert.equal(i.add(u).dtype, "int32");
        assert.equal(u.add(1).dtype, "uint32");
        assert.equal(b.add(b).dtype, "bool");
        assert.equal(b.add(1).dtype, "int32");
        assert.equal(d.add(f).dtype, "float64");
        assert.equal(np.divide(i, 2).dtype, "float32");
        assert.equal(np.sum(b).dtype, "int32");
        assert.equal(np.mean(i).dtype, "float32");
        assertClose(i.mul(2.5), [0, 2.5]);
      });

      await t.step("creation", () => {
        assertClose(np.arange(1, 7, 2), [1, 3, 5]);
        assertClose(np.arange(0, 1, 0.25), [0, 0.25, 0.5, 0.75]);
        assert.deepEqual(np.arange(5, 1).shape, [0]);
        assertClose(np.linspace(0, 1, 5), [0, 0.25, 0.5, 0.75, 1]);
        assertClose(np.linspace(0, 1, 4, { endpoint: false }), [0, 0.25, 0.5, 0.75]);
        assertClose(np.eye(2, 3, { k: 1 }), [0, 1, 0, 0, 0, 1]);
        assertClose(np.full([2, 2], 7), [7, 7, 7, 7]);
        assert.equal(np.full([1], true).dtype, "bool");
        assert.deepEqual(np.zerosLike(np.ones([3, 0])).shape, [3, 0]);
        assert.equal(np.onesLike(np.arange(3)).dtype, "int32");
      });

      await t.step("elementwise families against Math", () => {
        const data = randn(1, 50);
        const x = np.array(data, { dtype: "float64" });
        const pos = np.array(data.map((v) => Math.abs(v) + 0.1), { dtype: "float64" });
        const unit = np.array(data.map((v) => v / 2.5), { dtype: "float64" });
        const check = (got: Tensor, f: (v: number) => number, src: number[]) =>
          assertClose(got, src.map(f), { rtol: 1e-12, atol: 1e-14 });
        check(np.sin(x), Math.sin, data);
        check(np.cos(x), Math.cos, data);
        check(np.tan(x), Math.tan, data);
        check(np.arctan(x), Math.atan, data);
        check(np.sinh(x), Math.sinh, data);
        check(np.cosh(x), Math.cosh, data);
        check(np.tanh(x), Math.tanh, data);
        check(np.arcsinh(x), Math.asinh, data);
        check(np.exp(x), Math.exp, data);
        check(np.expm1(x), Math.expm1, data);
        check(np.exp2(x), (v) => 2 ** v, data);
        check(np.cbrt(x), Math.cbrt, data);
        const posData = data.map((v) => Math.abs(v) + 0.1);
        check(np.log(pos), Math.log, posData);
        check(np.log2(pos), Math.log2, posData);
        check(np.log10(pos), Math.log10, posData);
        check(np.sqrt(pos), Math.sqrt, posData);
        check(np.arccosh(pos.add(1)), (v) => Math.acosh(v + 1), posData);
        const unitData = data.map((v) => v / 2.5);
        check(np.arcsin(unit), Math.asin, unitData);
        check(np.arccos(unit), Math.acos, unitData);
        check(np.arctanh(unit), Math.atanh, unitData);
        check(np.log1p(unit), Math.log1p, unitData);
        check(np.sigmoid(x), (v) => 1 / (1 + Math.exp(-v)), data);
        check(np.square(x), (v) => v * v, data);
        check(np.reciprocal(pos), (v) => 1 / v, posData);
        check(np.power(pos, x), (v) => v, posData.map((v, i) => v ** data[i]));
        check(np.arctan2(x, pos), (v) => v, data.map((v, i) => Math.atan2(v, posData[i])));
        assertClose(np.erf(np.array([0, 0.5, 1, -2, 3])), [
          0,
          0.5204998778,
          0.8427007929,
          -0.995322265,
          0.9999779095,
        ], { rtol: 1e-6 });
      });

      await t.step("rounding, NaN and inf predicates", () => {
        const x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.6, NaN, Infinity]);
        assertClose(np.round(x), [-2, -2, -0, 0, 2, 2, 3, NaN, Infinity]);
        assertClose(np.floor(x), [-3, -2, -1, 0, 1, 2, 2, NaN, Infinity]);
        assertClose(np.ceil(x), [-2, -1, -0, 1, 2, 3, 3, NaN, Infinity]);
        assertClose(np.trunc(x), [-2, -1, -0, 0, 1, 2, 2, NaN, Infinity]);
        assert.deepEqual(np.isnan(x).toArray(), [
          false,
          false,
          false,
          false,
          false,
          false,
          false,
          true,
          false,
        ]);
        assert.deepEqual(np.isinf(x).toArray(), [
          false,
          false,
          false,
          false,
          false,
          false,
          false,
          false,
          true,
        ]);
        assert.deepEqual(np.isfinite(x).toArray(), [
          true,
          true,
          true,
          true,
          true,
          true,
          true,
          false,
          false,
        ]);
        assertClose(np.round(np.array([1.2345, -2.5551]), 2), [1.23, -2.56], { atol: 1e-6 });
        assert.deepEqual(np.isnan(np.arange(3)).toArray(), [false, false, false]);
      });

      await t.step("integer arithmetic: floor division and modulo follow Python", () => {
        const a = np.array([-7, -7, 7, 7, 0], { dtype: "int32" });
        const b = np.array([2, -2, 2, -2, 3], { dtype: "int32" });
        assert.deepEqual(np.floorDivide(a, b).toArray(), [-4, 3, 3, -4, 0]);
        assert.deepEqual(np.remainder(a, b).toArray(), [1, -1, 1, -1, 0]);
        assert.deepEqual(np.fmod(a, b).toArray(), [-1, -1, 1, 1, 0]);
        assertClose(np.remainder(np.array([-7.5, 7.5]), 2), [0.5, 1.5]);
        assert.deepEqual(np.power(np.arange(5), 3).toArray(), [0, 1, 8, 27, 64]);
        assert.equal(np.power(np.arange(5), 3).dtype, "int32");
        // integer division by zero never traps; JAX 0.10.2 gives XLA's -1 quotient, floored
        assert.deepEqual(np.floorDivide(a, 0).toArray(), [-2, -2, -2, -2, -1]);
        assert.deepEqual(np.array([2147483647], { dtype: "int32" }).add(1).toArray(), [
          -2147483648,
        ]);
      });

      await t.step("comparisons, logic, where, clip, maximum with NaN", () => {
        const x = np.array([1, 2, 3, 4]);
        assert.deepEqual(x.gt(2).toArray(), [false, false, true, true]);
        assert.deepEqual(np.logicalAnd(x.gt(1), x.lt(4)).toArray(), [false, true, true, false]);
        assert.deepEqual(np.logicalNot(x.eq(2)).toArray(), [true, false, true, true]);
        assertClose(np.where(x.gt(2), x, x.neg()), [-1, -2, 3, 4]);
        assertClose(np.where(np.array([[true], [false]]), 1, np.zeros([3])), [1, 1, 1, 0, 0, 0]);
        assertClose(np.clip(x, 2, 3), [2, 2, 3, 3]);
        assertClose(np.maximum(np.array([1, NaN]), np.array([NaN, 0])), [NaN, NaN]);
        assert.deepEqual(np.bitwiseAnd(np.array([12], { dtype: "int32" }), 10).toArray(), [8]);
        assertClose(np.hypot(np.array([3, 1e30]), np.array([4, 1e30])), [5, Math.SQRT2 * 1e30], {
          rtol: 1e-6,
        });
        assertClose(np.logaddexp(np.array([0, -Infinity, 1000]), np.array([0, -Infinity, 1000])), [
          Math.LN2,
          -Infinity,
          1000 + Math.LN2,
        ], { rtol: 1e-6 });
      });

      await t.step("reductions with axis lists, negative axes and keepdims", () => {
        const data = randn(2, 24);
        const x = np.array(data, { dtype: "float64" }).reshape([2, 3, 4]);
        const at = (i: number, j: number, k: number) => data[i * 12 + j * 4 + k];
        const sum02 = [0, 1, 2].map((j) =>
          [0, 1].reduce((s, i) => s + [0, 1, 2, 3].reduce((q, k) => q + at(i, j, k), 0), 0)
        );
        assertClose(np.sum(x, [0, -1]), sum02, { rtol: 1e-12 });
        assert.deepEqual(np.sum(x, [0, 2], { keepdims: true }).shape, [1, 3, 1]);
        assertClose(np.mean(x), data.reduce((a, b) => a + b, 0) / 24, { rtol: 1e-12 });
        assertClose(np.max(x), Math.max(...data));
        assertClose(
          np.min(x, 1).reshape([-1]),
          [0, 1].flatMap((i) =>
            [0, 1, 2, 3].map((k) => Math.min(at(i, 0, k), at(i, 1, k), at(i, 2, k)))
          ),
        );
        assert.equal(np.argmax(x).item(), data.indexOf(Math.max(...data)));
        assert.deepEqual(np.argmin(x, 2, { keepdims: true }).shape, [2, 3, 1]);
        const m = data.reduce((a, b) => a + b, 0) / 24;
        const v = data.reduce((a, b) => a + (b - m) ** 2, 0) / 24;
        assertClose(np.var(x), v, { rtol: 1e-12 });
        assertClose(np.std(x, null, { ddof: 1 }), Math.sqrt((v * 24) / 23), { rtol: 1e-12 });
        assertClose(np.prod(np.array([1, 2, 3, 4])), 24);
        assert.equal(np.all(np.array([1, 1, 0])).item(), false);
        assert.equal(np.any(np.array([0, 0, 2])).item(), true);
        assert.equal(np.sum(np.zeros([0])).item(), 0);
        assert.deepEqual(np.sum(np.ones([3, 0]), 1).toArray(), [0, 0, 0]);
        assertClose(np.cumsum(np.array([[1, 2], [3, 4]]), 0), [1, 2, 4, 6]);
        assertClose(np.cumsum(np.array([[1, 2], [3, 4]])), [1, 3, 6, 10]);
        assertClose(np.cumprod(np.array([1, 2, 3, 4])), [1, 2, 6, 24]);
        const lse = np.logsumexp(np.array([[1000, 1000], [-Infinity, -Infinity]]), 1);
        assertClose(lse, [1000 + Math.LN2, -Infinity], { rtol: 1e-6 });
      });

      await t.step("shape operations", () => {
        const x = np.arange(24).reshape([2, 3, 4]);
        assert.deepEqual(x.reshape([4, -1]).shape, [4, 6]);
        assert.deepEqual(x.T.shape, [4, 3, 2]);
        assert.equal(x.T.slice !== undefined, true);
        assert.deepEqual(
          np.transpose(x, [1, 0, 2]).toArray(),
          [0, 1, 2].map((j) => [0, 1].map((i) => [0, 1, 2, 3].map((k) => i * 12 + j * 4 + k))),
        );
        assert.deepEqual(np.swapaxes(x, 0, -1).shape, [4, 3, 2]);
        assert.deepEqual(np.moveaxis(x, 0, -1).shape, [3, 4, 2]);
        assert.deepEqual(np.expandDims(x, [0, -1]).shape, [1, 2, 3, 4, 1]);
        assert.deepEqual(np.squeeze(np.ones([1, 3, 1])).shape, [3]);
        assert.deepEqual(np.broadcastTo(np.arange(3), [2, 3]).toArray(), [[0, 1, 2], [0, 1, 2]]);
        assert.deepEqual(np.concatenate([np.arange(2), np.arange(3)]).toArray(), [0, 1, 0, 1, 2]);
        assert.deepEqual(np.stack([np.arange(2), np.arange(2)], 1).toArray(), [[0, 0], [1, 1]]);
        assert.deepEqual(np.split(np.arange(5), [2, 3]).map((s) => s.toArray()), [[0, 1], [2], [
          3,
          4,
        ]]);
        assert.deepEqual(np.tile(np.arange(2), [2, 2]).toArray(), [[0, 1, 0, 1], [0, 1, 0, 1]]);
        assert.deepEqual(np.repeat(np.array([[1, 2], [3, 4]]), 2, 1).toArray(), [[1, 1, 2, 2], [
          3,
          3,
          4,
          4,
        ]]);
        assert.deepEqual(np.pad(np.arange(2), [1, 2], { constantValues: 9 }).toArray(), [
          9,
          0,
          1,
          9,
          9,
        ]);
        assert.deepEqual(np.flip(np.arange(3)).toArray(), [2, 1, 0]);
        assert.deepEqual(np.roll(np.arange(5), -1).toArray(), [1, 2, 3, 4, 0]);
        assert.deepEqual(np.roll(np.arange(4).reshape([2, 2]), 1, 1).toArray(), [[1, 0], [3, 2]]);
        assert.deepEqual(np.triu(np.ones([3, 3]), 1).toArray(), [[0, 1, 1], [0, 0, 1], [0, 0, 0]]);
        assert.deepEqual(np.tril(np.ones([2, 3]), -1).toArray(), [[0, 0, 0], [1, 0, 0]]);
      });

      await t.step("products: matmul broadcasting, dot, tensordot, einsum", () => {
        const r = rng(3);
        const a = np.array(Array.from({ length: 24 }, r), { dtype: "float64" }).reshape([
          2,
          1,
          3,
          4,
        ]);
        const b = np.array(Array.from({ length: 120 }, r), { dtype: "float64" }).reshape([5, 4, 6]);
        const c = np.matmul(a, b);
        assert.deepEqual(c.shape, [2, 5, 3, 6]);
        const A = a.dataSync(), B = b.dataSync(), C = c.dataSync();
        for (let i = 0; i < 2; i++) {
          for (let j = 0; j < 5; j++) {
            for (let m = 0; m < 3; m++) {
              for (let n = 0; n < 6; n++) {
                let s = 0;
                for (let k = 0; k < 4; k++) s += A[i * 12 + m * 4 + k] * B[j * 24 + k * 6 + n];
                assertClose(C[((i * 5 + j) * 3 + m) * 6 + n], s, { rtol: 1e-12 });
              }
            }
          }
        }
        const v = np.array([1, 2, 3]), M = np.arange(6).reshape([2, 3]).astype("float32");
        assertClose(np.matmul(M, v), [8, 26]);
        assertClose(np.matmul(v, M.T), [8, 26]);
        assertClose(np.dot(v, v), 14);
        assertClose(np.dot(M, M.T), [5, 14, 14, 50]);
        assertClose(np.outer(np.array([1, 2]), np.array([3, 4, 5])), [3, 4, 5, 6, 8, 10]);
        assertClose(np.tensordot(M, M, [[1], [1]]), [5, 14, 14, 50]);
        assertClose(np.einsum("ij,kj->ik", M, M), [5, 14, 14, 50]);
        assertClose(np.einsum("ii->i", np.arange(9).reshape([3, 3]).astype("float32")), [0, 4, 8]);
        assertClose(np.einsum("ij->", M), 15);
        assertClose(
          np.einsum("...ij,...jk->...ik", a, a.swapaxes(-1, -2)),
          np.matmul(a, a.swapaxes(-1, -2)),
          { rtol: 1e-12 },
        );
        assertClose(np.einsum("i,i", v, v), 14);
        assert.deepEqual(np.matmul(np.ones([0, 3]), np.ones([3, 2])).shape, [0, 2]);
        assertClose(np.matmul(np.ones([2, 0]), np.ones([0, 2])), [0, 0, 0, 0]);
      });

      await t.step("Tensor API", () => {
        const x = np.array([[1, 2], [3, 4]]);
        assert.equal(x.ndim, 2);
        assert.equal(x.size, 4);
        assert.ok(x.dataSync() instanceof Float32Array);
        assert.equal(np.array(5).item(), 5);
        assert.equal(+np.array(2.5), 2.5);
        assert.match(x.toString(), /Tensor\(\[\[1\., 2\.\],\s+\[3\., 4\.\]\], float32\)/);
        const y = np.ones([2]);
        y.dispose();
        y.dispose();
        assert.ok(y.isDisposed);
        assert.throws(() => y.add(1), /disposed/);
        assert.throws(() => y.dataSync(), /dataSync.*disposed/);
        {
          using z = np.ones([1]);
          assert.equal(z.item(), 1);
        }
        assert.ok(x instanceof Tensor);
      });

      await t.step("async data", async () => {
        const d = await np.arange(3).data();
        assert.deepEqual(Array.from(d), [0, 1, 2]);
      });
    } finally {
      setDefaultDevice("cpu");
    }
  });
}

Deno.test("bad input gets clear errors", async (t) => {
  await t.step("shapes", () => {
    assert.throws(
      () => np.add(np.ones([2, 3]), np.ones([4])),
      /np\.add: shapes \(2, 3\), \(4,\) cannot be broadcast/,
    );
    assert.throws(
      () => np.matmul(np.ones([2, 3]), np.ones([4, 2])),
      /np\.matmul: contracting dimensions differ/,
    );
    assert.throws(
      () => np.reshape(np.ones([2, 3]), [4, -1]),
      /np\.reshape: cannot reshape an array of size 6/,
    );
    assert.throws(() => np.concatenate([np.ones([2, 3]), np.ones([2, 4])]), /concatenate/);
    assert.throws(() => np.array([[1, 2], [3]]), /np\.array: ragged nested array/);
    assert.throws(() => np.squeeze(np.ones([2, 3]), 0), /np\.squeeze: cannot select axis 0/);
    assert.throws(() => np.zeros([-1]), /non-negative/);
  });
  await t.step("axes", () => {
    assert.throws(
      () => np.sum(np.ones([2, 3]), 2),
      /np\.sum: axis 2 is out of bounds for an array of dimension 2/,
    );
    assert.throws(() => np.sum(np.ones([2, 3]), [0, 0]), /repeated axis/);
    assert.throws(() => np.transpose(np.ones([2, 3]), [0, 0]), /repeat/);
    assert.throws(() => np.max(np.ones([0, 3]), 0), /np\.max: zero-size reduction/);
    assert.throws(() => np.argmax(np.ones([0])), /empty/);
  });
  await t.step("dtypes and values", () => {
    assert.throws(() => np.array([1, 2], { dtype: "int8" as never }), /unknown dtype "int8"/);
    assert.throws(() => np.array(["a"] as never), /expected numbers or booleans/);
    assert.throws(() => np.array({} as never), /cannot make a tensor/);
    assert.throws(
      () => np.bitwiseAnd(np.ones([2]), np.ones([2])),
      /np\.bitwiseAnd: not supported for float32/,
    );
    assert.throws(() => np.ones([2, 2]).item(), /item: only a tensor of size 1/);
    assert.throws(() => np.arange(0, 1, 0), /step must not be zero/);
    assert.throws(
      () => np.ones([2]).astype("complex64" as never),
      /astype: unknown dtype "complex64"/,
    );
  });
  await t.step("sizes that cannot be allocated", () => {
    assert.throws(
      () => np.zeros([1e6, 1e6]),
      /np\.zeros: cannot allocate 1000000000000 elements of float32/,
    );
    assert.throws(
      () => np.broadcastTo(np.ones([1]), [1e6, 1e6]),
      /broadcast_in_dim: out of memory computing float32\(1000000, 1000000\)/,
    );
  });
});
