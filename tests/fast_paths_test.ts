// The cpu kernels' fast paths, each against the js reference device on seeded data: large
// matrix-vector products (built-in loops, not BLAS), rows short enough for the column-blocked
// reductions and arg-reductions (with NaN, ±0 and ties), strided copies (broadcast columns,
// stepped slices, one long run split over the threads), np.arange's direct fill and
// dotGeneralPlan's checks and plans.
//
// Run: deno test --allow-all tests/fast_paths_test.ts

import { lax, np, type Tensor } from "../mod.ts";
import { dotGeneralPlan } from "../core/prims/dot.ts";
import { assert, assertClose, rng } from "./helpers.ts";

/** The same data on the cpu and js devices. */
function pair(shape: number[], seed: number, special = false): [Tensor, Tensor] {
  const next = rng(seed);
  const n = shape.reduce((p, d) => p * d, 1);
  const values = new Float32Array(n);
  const specials = [NaN, -0, 0, 1, 1, Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    // a few specials, and small integers so that ties happen
    values[i] = special && next() < 0.05
      ? specials[Math.floor(next() * specials.length)]
      : next() < 0.3
      ? Math.floor(next() * 4)
      : next() * 2 - 1;
  }
  return [
    np.array(values, { device: "cpu" }).reshape(shape),
    np.array(values, { device: "js" }).reshape(shape),
  ];
}

Deno.test("large matrix-vector products match the reference", async (t) => {
  for (const [m, k] of [[1024, 1024], [600, 700], [3, 100000]] as const) {
    await t.step(`${m}x${k}`, () => {
      const [a, aRef] = pair([m, k], 1);
      const [v, vRef] = pair([k], 2);
      const [u, uRef] = pair([m], 3);
      const tol = { rtol: 1e-4, atol: 1e-4 * Math.sqrt(k) };
      assertClose(np.matmul(a, v), np.matmul(aRef, vRef), tol, "A @ v");
      assertClose(np.matmul(u, a), np.matmul(uRef, aRef), tol, "u @ A");
      assertClose(np.matmul(a.T, u), np.matmul(aRef.T, uRef), tol, "A.T @ u");
      assertClose(np.matmul(v, a.T), np.matmul(vRef, aRef.T), tol, "v @ A.T");
    });
  }
  await t.step("batched", () => {
    const [a, aRef] = pair([4, 300, 500], 4);
    const [v, vRef] = pair([4, 500, 1], 5);
    assertClose(np.matmul(a, v), np.matmul(aRef, vRef), { rtol: 1e-4, atol: 1e-3 });
  });
});

Deno.test("short-row reductions match the reference", async (t) => {
  for (const len of [1, 2, 4, 7, 16, 24, 32, 33, 64, 65]) {
    await t.step(`rows of ${len}`, () => {
      for (const rows of [8, 300, 5000]) {
        const [x, ref] = pair([rows, len], len * 7 + rows, true);
        assertClose(np.sum(x, -1), np.sum(ref, -1), { rtol: 1e-5, atol: 1e-5 });
        assertClose(np.prod(x, -1), np.prod(ref, -1), { rtol: 1e-5, atol: 1e-6 });
        assertClose(np.max(x, -1), np.max(ref, -1), { rtol: 0, atol: 0 });
        assertClose(np.min(x, -1), np.min(ref, -1), { rtol: 0, atol: 0 });
        assertClose(np.argmax(x, -1), np.argmax(ref, -1), { rtol: 0, atol: 0 });
        assertClose(np.argmin(x, -1), np.argmin(ref, -1), { rtol: 0, atol: 0 });
        const xi = x.astype("int32"), refi = ref.astype("int32");
        assertClose(np.sum(xi, -1), np.sum(refi, -1), { rtol: 0, atol: 0 });
        assertClose(np.max(xi, -1), np.max(refi, -1), { rtol: 0, atol: 0 });
      }
    });
  }
});

Deno.test("strided copies match the reference", async (t) => {
  const [x, ref] = pair([1024, 1024], 11);
  const [col, colRef] = pair([1024, 1], 12);
  const [row, rowRef] = pair([1, 1024], 13);
  const exact = { rtol: 0, atol: 0 };
  await t.step("broadcasts", () => {
    assertClose(np.broadcastTo(col, [1024, 1024]), np.broadcastTo(colRef, [1024, 1024]), exact);
    assertClose(np.broadcastTo(row, [1024, 1024]), np.broadcastTo(rowRef, [1024, 1024]), exact);
    assertClose(np.add(x, col), np.add(ref, colRef), exact);
    assertClose(x.mul(2.5), ref.mul(2.5), exact);
  });
  await t.step("slices with a step", () => {
    assertClose(x.slice(":", "::2"), ref.slice(":", "::2"), exact);
    assertClose(x.reshape([-1]).slice("::3"), ref.reshape([-1]).slice("::3"), exact);
    assertClose(x.slice("::-1", "1::5"), ref.slice("::-1", "1::5"), exact);
  });
  await t.step("long runs", () => {
    assertClose(np.concatenate([x, x], 0), np.concatenate([ref, ref], 0), exact);
    assertClose(np.concatenate([x, x], 1), np.concatenate([ref, ref], 1), exact);
    const big = np.concatenate([x, x, x], 0), bigRef = np.concatenate([ref, ref, ref], 0);
    assertClose(lax.slice(big, [5, 0], [3000, 1024]), lax.slice(bigRef, [5, 0], [3000, 1024]));
  });
});

Deno.test("np.arange fills as storeNumber would", () => {
  assert.deepEqual(np.arange(5).toArray(), [0, 1, 2, 3, 4]);
  assert.deepEqual(np.arange(-3, 3, 1.5).toArray(), [-3, -1.5, 0, 1.5]);
  assert.deepEqual(Array.from(np.arange(0, 1, 0.25).dataSync()), [0, 0.25, 0.5, 0.75]);
  assert.equal(np.arange(0, 1, 0.1).dataSync()[3], Math.fround(0.30000000000000004));
  // out of int32 range: saturates through the slow path, as before
  assert.deepEqual(
    np.arange(2147483640, 2147483650, 3).toArray(),
    [2147483640, 2147483643, 2147483646, 2147483647],
  );
  assert.deepEqual(np.arange(5, 0, -2, { dtype: "uint32" }).toArray(), [5, 3, 1]);
  assert.deepEqual(np.arange(1.5, 4, 1, { dtype: "int32" }).toArray(), [1, 2, 3]);
  assert.deepEqual(np.arange(-1.5, 1, 1, { dtype: "uint32" }).toArray(), [0, 0, 0]);
});

Deno.test("dotGeneralPlan still names bad axes and plans as before", () => {
  const plan = (p: [number[], number[], number[], number[]], lhs = [2, 3], rhs = [3, 4]) =>
    dotGeneralPlan(lhs, rhs, {
      lhsContracting: p[0],
      rhsContracting: p[1],
      lhsBatch: p[2],
      rhsBatch: p[3],
    });
  assert.throws(() => plan([[2], [0], [], []]), /dot_general: axis 2 out of range/);
  assert.throws(() => plan([[1, 1], [0, 0], [], []]), /an axis is used twice/);
  assert.throws(() => plan([[0], [0], [], []]), /contracting axes differ in size/);
  assert.throws(() => plan([[1], [0, 1], [], []]), /contracting axes differ in count/);
  assert.throws(() => plan([[2], [1], [0], []], [5, 2, 3], [5, 3, 4]), /batch axes differ/);
  assert.throws(
    () => plan([[2], [1], [0], [0]], [5, 2, 3], [6, 3, 4]),
    /batch axes differ in size/,
  );
  assert.deepEqual(plan([[1], [0], [], []]), {
    lhsPerm: [0, 1],
    rhsPerm: [0, 1],
    batch: 1,
    m: 2,
    n: 4,
    k: 3,
    outShape: [2, 4],
  });
  // (batch 5) x (free 2, 7) x (contract 3) against (batch 5) x (contract 3) x (free 4)
  assert.deepEqual(plan([[3], [1], [0], [0]], [5, 2, 7, 3], [5, 3, 4]), {
    lhsPerm: [0, 1, 2, 3],
    rhsPerm: [0, 1, 2],
    batch: 5,
    m: 14,
    n: 4,
    k: 3,
    outShape: [5, 2, 7, 4],
  });
  assert.deepEqual(plan([[0], [1], [], []], [3, 2], [4, 3]), {
    lhsPerm: [1, 0],
    rhsPerm: [1, 0],
    batch: 1,
    m: 2,
    n: 4,
    k: 3,
    outShape: [2, 4],
  });
});
