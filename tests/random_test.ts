import { assert, assertClose } from "./helpers.ts";
import { jit, np, type Tensor, vmap } from "../mod.ts";
import * as random from "../random/index.ts";
import { threefry2x32, threefry2x32Host } from "../random/threefry.ts";

const A = (t: Tensor) => Array.from(t.dataSync() as ArrayLike<number>).map(Number);
const u32 = (v: number) => np.array([v], { dtype: "uint32" });

Deno.test("random: threefry2x32", async (t) => {
  // Random123 known-answer vectors (also in JAX's tests/random_test.py).
  const kat: [number[], number[]][] = [
    [[0, 0, 0, 0], [0x6b200159, 0x99ba4efe]],
    [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0x1cb996fc, 0xbb002be7]],
    [[0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3], [0xc4923a9c, 0x483df7a0]],
  ];
  await t.step("host reference matches Random123", () => {
    for (const [[k0, k1, x0, x1], want] of kat) {
      assert.deepEqual(threefry2x32Host(k0, k1, x0, x1), want);
    }
  });
  await t.step("tensor version matches Random123, eager and jitted", () => {
    const f = (a: Tensor, b: Tensor, c: Tensor, d: Tensor) => threefry2x32(a, b, c, d);
    for (const [[k0, k1, x0, x1], want] of kat) {
      const args = [u32(k0), u32(k1), u32(x0), u32(x1)] as const;
      assert.deepEqual(f(...args).map(A).flat(), want);
      assert.deepEqual(jit(f)(...args).map(A).flat(), want);
    }
  });
  await t.step("tensor version matches the host one on random inputs", () => {
    const n = 200;
    const vals = Array.from(
      { length: 4 },
      () => Array.from({ length: n }, () => Math.floor(Math.random() * 2 ** 32)),
    );
    const ts = vals.map((v) => np.array(v, { dtype: "uint32" }));
    const [a, b] = threefry2x32(ts[0], ts[1], ts[2], ts[3]).map(A);
    for (let i = 0; i < n; i++) {
      assert.deepEqual(
        [a[i], b[i]],
        threefry2x32Host(vals[0][i], vals[1][i], vals[2][i], vals[3][i]),
      );
    }
  });
  await t.step("rejects non-uint32 words", () => {
    assert.throws(() => threefry2x32(np.array([1]), u32(0), u32(0), u32(0)), /uint32/);
  });
});

Deno.test("random: bit-exact against jax-js 0.1.25 / JAX (threefry_partitionable)", async (t) => {
  // Reference numbers below were produced by npm:@jax-js/jax@0.1.25, whose key/split/bits/
  // uniform follow JAX's default partitionable Threefry scheme; split(key(0))[0] is also the
  // Random123 vector (0x6b200159, 0x99ba4efe) and JAX's documented split(key(0)).
  await t.step("key", () => {
    assert.deepEqual(A(random.key(0)), [0, 0]);
    assert.deepEqual(A(random.key(42)), [0, 42]);
    assert.deepEqual(A(random.key(-1)), [0, 4294967295]);
    assert.deepEqual(A(random.key(2 ** 32 + 5)), [1, 5]);
    assert.equal(random.key(3).dtype, "uint32");
    assert.deepEqual(A(random.key(np.array(9, { dtype: "int32" }))), [0, 9]);
  });
  await t.step("split", () => {
    const s0 = random.split(random.key(0), 3);
    assert.deepEqual(s0.shape, [3, 2]);
    assert.deepEqual(A(s0), [
      1797259609,
      2579123966,
      928981903,
      3453687069,
      4146024105,
      2718843009,
    ]);
    assert.deepEqual(
      A(random.split(random.key(42), 3)),
      [1832780943, 270669613, 64467757, 2916123636, 2465931498, 255383827],
    );
    const sub = random.split(random.key(42)).slice(1);
    assert.deepEqual(A(random.split(sub)), [3187376881, 129218101, 2350016172, 1168365246]);
    assert.deepEqual(random.split(random.key(0), [2, 3]).shape, [2, 3, 2]);
  });
  await t.step("foldIn is threefry(key, (0, data)) = split(key, data + 1)[data]", () => {
    // jax-js split(key(0), 8)[7]
    assert.deepEqual(A(random.foldIn(random.key(0), 7)), [2716826189, 292468403]);
    const k = random.key(42);
    assert.deepEqual(A(random.foldIn(k, 4)), A(random.split(k, 5).slice(4)));
    assert.deepEqual(A(random.foldIn(k, np.array(4, { dtype: "int32" }))), A(random.foldIn(k, 4)));
  });
  await t.step("bits", () => {
    assert.deepEqual(
      A(random.bits(random.key(0), [5])),
      [4070199207, 4202968722, 1427181096, 2012915765, 2447653815],
    );
    assert.deepEqual(
      A(random.bits(random.key(42), [5])),
      [2098992034, 2919706841, 2646866425, 2409546199, 1935504149],
    );
  });
  await t.step("uniform float32", () => {
    const f = (x: number[]) => x.map(Math.fround);
    assert.deepEqual(
      A(random.uniform(random.key(0), [5])),
      f([
        0.9476670026779175,
        0.9785798788070679,
        0.33229148387908936,
        0.46866846084594727,
        0.569888710975647,
      ]),
    );
    assert.deepEqual(
      A(random.uniform(random.key(42), [5])),
      f([
        0.48870956897735596,
        0.6797971725463867,
        0.6162714958190918,
        0.5610160827636719,
        0.4506446123123169,
      ]),
    );
    assert.deepEqual(
      A(random.uniform(random.key(7), [2, 2])),
      f([0.6740899085998535, 0.9746168851852417, 0.3028435707092285, 0.4439585208892822]),
    );
    assert.deepEqual(
      A(random.uniform(random.key(0), [2, 3], { minval: -2, maxval: 3 })),
      f([
        2.738335132598877,
        2.892899513244629,
        -0.3385425806045532,
        0.34334230422973633,
        0.8494434356689453,
        -1.1724848747253418,
      ]),
    );
  });
  await t.step("bernoulli", () => {
    assert.deepEqual(A(random.bernoulli(random.key(42), 0.3, [8])), [0, 0, 0, 0, 0, 0, 1, 0]);
  });
  await t.step("normal (regression values; key(0) -> 1.6226422 as in JAX >= 0.5)", () => {
    // Not from jax-js (it uses Box-Muller). Kiln's own values, pinned to catch changes.
    assertClose(
      random.normal(random.key(0), [5]),
      [
        1.622642159461975,
        2.0252647399902344,
        -0.4335944354534149,
        -0.07861734926700592,
        0.17609089612960815,
      ],
      { rtol: 1e-6, atol: 1e-6 },
    );
  });
});

function moments(x: Tensor): [number, number] {
  const v = A(x.astype("float64"));
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return [m, v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length];
}

Deno.test("random: distributions", async (t) => {
  const N = 100_000;
  const k = random.key(1234);
  await t.step("uniform mean/variance, range, float64", () => {
    const u = random.uniform(k, [N]);
    const [m, v] = moments(u);
    assert.ok(Math.abs(m - 0.5) < 0.005 && Math.abs(v - 1 / 12) < 0.002, `${m} ${v}`);
    const r = random.uniform(k, [N], { minval: 2, maxval: 5 });
    assert.ok(Math.min(...A(r)) >= 2 && Math.max(...A(r)) < 5);
    const d = random.uniform(k, [N], { dtype: "float64" });
    assert.equal(d.dtype, "float64");
    const [md, vd] = moments(d);
    assert.ok(Math.abs(md - 0.5) < 0.005 && Math.abs(vd - 1 / 12) < 0.002);
    assert.ok(A(d).every((x) => x >= 0 && x < 1));
  });
  await t.step("normal and its float64 variant", () => {
    for (const dtype of ["float32", "float64"] as const) {
      const [m, v] = moments(random.normal(k, [N], { dtype }));
      assert.ok(Math.abs(m) < 0.015 && Math.abs(v - 1) < 0.02, `${dtype} ${m} ${v}`);
    }
  });
  await t.step("erfinv accuracy through normal's tails", () => {
    // erf(normal/√2) recovers the uniform it came from.
    const u = random.uniform(k, [1000], { minval: -(1 - 2 ** -24), maxval: 1 });
    const z = random.normal(k, [1000]);
    assertClose(np.erf(np.divide(z, Math.SQRT2)), u, { atol: 2e-6, rtol: 1e-5 });
    const z64 = random.normal(k, [1000], { dtype: "float64" });
    const u64 = random.uniform(k, [1000], { dtype: "float64", minval: -(1 - 2 ** -53), maxval: 1 });
    assertClose(np.erf(np.divide(z64, Math.SQRT2)), u64, { atol: 1e-12, rtol: 1e-12 });
  });
  await t.step("truncatedNormal stays inside its bounds", () => {
    const x = A(random.truncatedNormal(k, -0.5, 2, [N]));
    assert.ok(x.every((v) => v > -0.5 && v < 2));
    const m = x.reduce((a, b) => a + b, 0) / N;
    // mean of N(0,1) truncated to (-0.5, 2): (φ(-0.5) - φ(2)) / (Φ(2) - Φ(-0.5)) ≈ 0.4458
    assert.ok(Math.abs(m - 0.4458) < 0.01, `${m}`);
  });
  await t.step("bernoulli frequency", () => {
    const [m] = moments(random.bernoulli(k, 0.3, [N]).astype("float32"));
    assert.ok(Math.abs(m - 0.3) < 0.006, `${m}`);
    assert.deepEqual(random.bernoulli(k, np.array([0.1, 0.9])).shape, [2]);
  });
  await t.step("gumbel mean (Euler's gamma) and variance π²/6", () => {
    const [m, v] = moments(random.gumbel(k, [N]));
    assert.ok(Math.abs(m - 0.5772) < 0.02 && Math.abs(v - Math.PI ** 2 / 6) < 0.05, `${m} ${v}`);
  });
  await t.step("randint range and uniformity, uint32, big spans", () => {
    const r = A(random.randint(k, [N], -3, 7));
    assert.ok(r.every((v) => Number.isInteger(v) && v >= -3 && v < 7));
    const counts = new Array(10).fill(0);
    for (const v of r) counts[v + 3]++;
    assert.ok(counts.every((c) => Math.abs(c - N / 10) < 600), `${counts}`);
    assert.equal(random.randint(k, [3], 0, 5, { dtype: "uint32" }).dtype, "uint32");
    const big = A(random.randint(k, [1000], -(2 ** 31), 2 ** 31 - 1));
    assert.ok(big.every((v) => v >= -(2 ** 31) && v < 2 ** 31 - 1));
    assert.ok(A(random.randint(k, [5], 4, 4)).every((v) => v === 4));
  });
  await t.step("categorical follows softmax(logits)", () => {
    const p = [0.2, 0.5, 0.3];
    const c = A(random.categorical(k, np.log(np.array(p)), { shape: [N] }));
    for (let i = 0; i < 3; i++) {
      const f = c.filter((v) => v === i).length / N;
      assert.ok(Math.abs(f - p[i]) < 0.01, `${i}: ${f}`);
    }
    const batched = random.categorical(k, np.array([[0, 0, 50], [50, 0, 0]]));
    assert.deepEqual(A(batched), [2, 0]);
    assert.deepEqual(random.categorical(k, np.zeros([4, 3]), { axis: 0 }).shape, [3]);
  });
  await t.step("permutation is a permutation", () => {
    for (const n of [1, 10, 2000]) { // 2000 takes two sort rounds
      const p = A(random.permutation(k, n)).sort((a, b) => a - b);
      assert.deepEqual(p, Array.from({ length: n }, (_, i) => i));
    }
    const x = np.arange(12).reshape([4, 3]);
    const px = random.permutation(k, x);
    assert.deepEqual(px.shape, [4, 3]);
    assert.deepEqual(A(np.take(px, 0, 1)).sort((a, b) => a - b), [0, 3, 6, 9]);
  });
  await t.step("choice", () => {
    const c = A(random.choice(k, 50, [20], { replace: false }));
    assert.equal(new Set(c).size, 20);
    assert.ok(c.every((v) => v >= 0 && v < 50));
    const w = A(random.choice(k, np.array([10, 20, 30]), [2, 5]));
    assert.ok(w.every((v) => [10, 20, 30].includes(v)));
    const p = np.array([0.1, 0.0, 0.9]);
    const cp = A(random.choice(k, 3, [N], { p }));
    assert.ok(!cp.includes(1));
    assert.ok(Math.abs(cp.filter((v) => v === 2).length / N - 0.9) < 0.01);
    const cnr = A(random.choice(k, 5, [3], { replace: false, p: np.array([1, 1, 1, 1, 0.001]) }));
    assert.equal(new Set(cnr).size, 3);
    assert.throws(() => random.choice(k, 3, [5], { replace: false }), /without replacement/);
  });
});

Deno.test("random: transforms", async (t) => {
  const k = random.key(7);
  await t.step("jit equals eager", () => {
    const f = (key: Tensor) => {
      const ks = random.split(key, 3);
      return [
        random.uniform(ks.slice(0), [4, 3]),
        random.normal(ks.slice(1), [5]),
        random.randint(ks.slice(2), [6], 0, 100),
        random.foldIn(key, 3),
        random.permutation(key, 8),
      ];
    };
    const eager = f(k), jitted = jit(f)(k);
    for (let i = 0; i < eager.length; i++) assert.deepEqual(A(jitted[i]), A(eager[i]), `out ${i}`);
  });
  await t.step("vmap over split keys equals a loop", () => {
    const keys = random.split(k, 5);
    const sample = (key: Tensor) => random.uniform(key, [3]);
    const batched = vmap(sample)(keys);
    const loop = [0, 1, 2, 3, 4].map((i) => A(sample(keys.slice(i)))).flat();
    assert.deepEqual(A(batched), loop);
    const norm = vmap((key: Tensor) => random.normal(key, [2]))(keys);
    const nloop = [0, 1, 2, 3, 4].map((i) => A(random.normal(keys.slice(i), [2]))).flat();
    assert.deepEqual(A(norm), nloop);
    const seeds = np.array([1, 2, 3], { dtype: "int32" });
    assert.deepEqual(A(vmap(random.key)(seeds)), [0, 1, 0, 2, 0, 3]);
  });
});

Deno.test("random: bad input", () => {
  assert.throws(
    () => random.uniform(np.array([0, 0]), [2]),
    /random.uniform: key must be a uint32/,
  );
  assert.throws(() => random.split(random.key(0), -1), /random.split: shape/);
  assert.throws(() => random.key(1.5), /random.key/);
  assert.throws(
    () => random.normal(random.key(0), [2], { dtype: "int32" as "float32" }),
    /options/,
  );
  assert.throws(() => random.permutation(random.key(0), -2), /random.permutation/);
  assert.throws(() => random.categorical(random.key(0), np.zeros([2]), { axis: 3 }), /axis/);
});
