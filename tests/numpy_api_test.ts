/**
 * The API gaps filled after `tools/jax_diff`: shifts and bit counts, the data-dependent
 * functions (nonzero, unique, bincount, repeat with counts) eagerly and with a static size
 * under jit, pad modes, norms, cross, histogram, accumulating `at[]` updates with repeated
 * indices, and the added `nn` functions. Expected values are JS references on random inputs,
 * closed forms, or JAX 0.10.2's outputs written as literals; gradients are checked against
 * finite differences in float64.
 * @module
 */

import { grad, jit, nn, np, vmap } from "../mod.ts";
import type { Tensor } from "../mod.ts";
import { assert, assertClose, rng } from "./helpers.ts";

const i32 = (d: number[] | number[][]) => np.array(d, { dtype: "int32" });
const u32 = (d: number[]) => np.array(d, { dtype: "uint32" });
const f64 = (d: number[] | number[][]) => np.array(d, { dtype: "float64" });
const values = (t: Tensor) => Array.from(t.dataSync() as ArrayLike<number>);

function randomInts(r: () => number, n: number, lo: number, hi: number): number[] {
  return Array.from({ length: n }, () => lo + Math.floor(r() * (hi - lo + 1)));
}

/** Central finite differences of a scalar function of a float64 vector. */
function finiteDiff(f: (x: Tensor) => Tensor, x: number[], h = 1e-6): number[] {
  return x.map((_, i) => {
    const up = x.slice(), down = x.slice();
    up[i] += h;
    down[i] -= h;
    return (values(f(f64(up)))[0] - values(f(f64(down)))[0]) / (2 * h);
  });
}

Deno.test("shifts follow XLA for every count, eager and jitted", () => {
  const r = rng(7);
  const xs = randomInts(r, 200, -(2 ** 31), 2 ** 31 - 1);
  const ss = randomInts(r, 200, -40, 40);
  const inRange = (s: number) => s >= 0 && s < 32;
  const shl = xs.map((x, i) => (inRange(ss[i]) ? (x << ss[i]) : 0));
  const sar = xs.map((x, i) => (inRange(ss[i]) ? x >> ss[i] : x < 0 ? -1 : 0));
  const x = i32(xs), s = i32(ss);
  assert.deepEqual(values(np.leftShift(x, s)), shl);
  assert.deepEqual(values(np.rightShift(x, s)), sar);
  assert.deepEqual(values(jit(np.rightShift)(x, s)), sar);
  const us = xs.map((v) => v >>> 0), su = ss.map((v) => Math.abs(v));
  const shlU = us.map((v, i) => (su[i] < 32 ? (v << su[i]) >>> 0 : 0));
  const shrU = us.map((v, i) => (su[i] < 32 ? v >>> su[i] : 0));
  assert.deepEqual(values(np.leftShift(u32(us), u32(su))), shlU);
  assert.deepEqual(values(jit(np.rightShift)(u32(us), u32(su))), shrU);
  assert.throws(() => np.leftShift(np.array([1.5]), 1), /np.leftShift: expects int32 or uint32/);
});

Deno.test("bitwiseCount counts the bits of |x|", () => {
  const xs = [...randomInts(rng(3), 100, -(2 ** 31), 2 ** 31 - 1), -(2 ** 31), -1, 0];
  const popcount = (v: number) => {
    let n = 0;
    for (let u = Math.abs(v); u > 0; u = Math.floor(u / 2)) n += u % 2;
    return n;
  };
  const got = np.bitwiseCount(i32(xs));
  assert.equal(got.dtype, "int32");
  assert.deepEqual(values(got), xs.map(popcount));
  assert.deepEqual(values(np.bitwiseCount(u32([4294967295, 5]))), [32, 2]); // JAX: [32 2]
});

Deno.test("nonzero / where / argwhere / flatnonzero, exact and with a static size", () => {
  const r = rng(11);
  const shape = [3, 4, 5];
  const data = randomInts(r, 60, 0, 2).map((v) => (v === 2 ? 0 : v * 7));
  const x = i32(data).reshape(shape);
  const hits = data.flatMap((v, i) => (v !== 0 ? [i] : []));
  const coords = [
    (i: number) => Math.floor(i / 20),
    (i: number) => Math.floor(i / 5) % 4,
    (i: number) => i % 5,
  ];
  np.nonzero(x).forEach((t, k) => assert.deepEqual(values(t), hits.map(coords[k])));
  np.where(x).forEach((t, k) => assert.deepEqual(values(t), hits.map(coords[k])));
  assert.deepEqual(values(np.flatnonzero(x)), hits);
  assert.deepEqual(np.argwhere(x).shape, [hits.length, 3]);
  // a size past the count pads with fillValue; one below it truncates
  const size = hits.length + 3;
  const padded = jit((t: Tensor) => np.nonzero(t, { size, fillValue: -1 })[2])(x);
  assert.deepEqual(values(padded), [...hits.map(coords[2]), -1, -1, -1]);
  assert.deepEqual(values(np.flatnonzero(x, { size: 2 })), hits.slice(0, 2));
  // JAX 0.10.2: jnp.argwhere([[0, 3], [1, 0]], size=3) == [[0, 1], [1, 0], [0, 0]]
  assert.deepEqual(np.argwhere(i32([[0, 3], [1, 0]]), { size: 3 }).toArray(), [[0, 1], [1, 0], [
    0,
    0,
  ]]);
  assert.throws(
    () => jit((t: Tensor) => np.nonzero(t)[0])(x),
    /np.nonzero: .*pass a static `size`/,
  );
  assert.throws(
    () => np.nonzero(np.array(3, { dtype: "int32" })),
    /np.nonzero: not allowed on a 0-d array/,
  );
});

Deno.test("unique matches a JS reference, with index, inverse, counts and size", () => {
  const r = rng(5);
  const data = randomInts(r, 40, -5, 5);
  const sorted = [...new Set(data)].sort((a, b) => a - b);
  const [u, index, inverse, counts] = np.unique(i32(data), {
    returnIndex: true,
    returnInverse: true,
    returnCounts: true,
  }) as Tensor[];
  assert.deepEqual(values(u), sorted);
  assert.deepEqual(values(index), sorted.map((v) => data.indexOf(v)));
  assert.deepEqual(values(inverse), data.map((v) => sorted.indexOf(v)));
  assert.deepEqual(values(counts), sorted.map((v) => data.filter((d) => d === v).length));
  // under jit with a size: values padded with the minimum (JAX's default), counts with 0
  const n = sorted.length;
  const [ju, jc] = jit((t: Tensor) =>
    np.unique(t, { size: n + 2, returnCounts: true }) as Tensor[]
  )(i32(data));
  assert.deepEqual(values(ju), [...sorted, sorted[0], sorted[0]]);
  assert.deepEqual(values(jc), [...values(counts), 0, 0]);
  // NaNs collapse into one (JAX 0.10.2: jnp.unique([nan, 1, nan]) == [1, nan])
  assertClose(np.unique(np.array([NaN, 1, NaN])) as Tensor, [1, NaN]);
  assert.throws(() => jit((t: Tensor) => np.unique(t))(i32(data)), /np.unique: .*static `size`/);
});

Deno.test("bincount and repeat with counts match JS references", () => {
  const r = rng(9);
  const xs = randomInts(r, 50, 0, 9), ws = xs.map(() => r());
  const counts = Array.from({ length: 10 }, (_, k) => xs.filter((v) => v === k).length);
  assert.deepEqual(values(np.bincount(i32(xs))), counts);
  const sums = Array.from(
    { length: 12 },
    (_, k) => xs.reduce((s, v, i) => s + (v === k ? ws[i] : 0), 0),
  );
  assertClose(np.bincount(i32(xs), f64(ws), { minlength: 12 }), sums, { rtol: 1e-12 });
  // JAX 0.10.2: jnp.bincount([0, 1, 1, 5, -1], length=4) == [2, 2, 0, 0] (negatives count as 0)
  assert.deepEqual(
    values(jit((t: Tensor) => np.bincount(t, null, { length: 4 }))(i32([0, 1, 1, 5, -1]))),
    [2, 2, 0, 0],
  );
  const reps = randomInts(r, 6, 0, 3), items = [10, 11, 12, 13, 14, 15];
  const want = items.flatMap((v, i) => Array(reps[i]).fill(v));
  assert.deepEqual(values(np.repeat(i32(items), i32(reps))), want);
  const total = want.length + 2; // a longer total repeats the last element, as JAX
  const long = jit((a: Tensor, k: Tensor) => np.repeat(a, k, 0, { totalRepeatLength: total }));
  assert.deepEqual(values(long(i32(items), i32(reps))), [...want, 15, 15]);
  assert.throws(
    () => jit((a: Tensor, k: Tensor) => np.repeat(a, k))(i32(items), i32(reps)),
    /np.repeat: .*static `size`/,
  );
});

Deno.test("pad modes match NumPy's index rules and JAX's outputs", () => {
  const x = i32([1, 2, 3]);
  // JAX 0.10.2: jnp.pad(jnp.arange(1, 4), (5, 4), mode=...)
  const want: Record<string, number[]> = {
    edge: [1, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3],
    reflect: [2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3],
    symmetric: [2, 3, 3, 2, 1, 1, 2, 3, 3, 2, 1, 1],
    wrap: [2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1],
  };
  for (const [mode, expected] of Object.entries(want)) {
    assert.deepEqual(values(np.pad(x, [5, 4], { mode: mode as "edge" })), expected, mode);
  }
  // per-axis widths, corners from the padded first axis
  assert.deepEqual(
    np.pad(np.arange(6, undefined, 1, { dtype: "int32" }).reshape([2, 3]), [[1, 0], [2, 3]], {
      mode: "reflect",
    }).toArray(),
    [[5, 4, 3, 4, 5, 4, 3, 4], [2, 1, 0, 1, 2, 1, 0, 1], [5, 4, 3, 4, 5, 4, 3, 4]],
  );
  assertClose(
    np.pad(np.array([1, 2, 3]), [2, 3], { mode: "linear_ramp", endValues: [5, -1] }),
    [5, 3, 1, 2, 3, 5 / 3, 1 / 3, -1],
  );
  assert.throws(() => np.pad(np.zeros([0]), 1, { mode: "wrap" }), /np.pad: cannot apply "wrap"/);
  assert.throws(() => np.pad(x, 1, { mode: "median" as "edge" }), /np.pad: mode "median"/);
});

Deno.test("linalg.norm, cross and histogram against closed forms", () => {
  const a = f64([[1, -2, 3], [4, 5, -6]]);
  assertClose(np.linalg.norm(a), Math.sqrt(91));
  assertClose(np.linalg.norm(a, 1, 1), [6, 15]);
  assertClose(np.linalg.norm(a, Infinity, 0), [4, 5, 6]);
  assertClose(np.linalg.norm(a, 0, 1), [3, 3]);
  assertClose(np.linalg.norm(a, 3, 1), [36 ** (1 / 3), 405 ** (1 / 3)]);
  assertClose(np.linalg.norm(a, 1), 9); // max column sum
  assertClose(np.linalg.norm(a, -Infinity), 6); // min row sum
  assert.throws(() => np.linalg.norm(a, 2), /np.linalg.norm: matrix ord 2 is not supported/);
  assertClose(grad((x: Tensor) => np.linalg.norm(x))(f64([3, 4])), [0.6, 0.8]);
  assertClose(np.cross(f64([1, 2, 3]), f64([4, 5, 6])), [-3, 6, -3]);
  assertClose(np.cross(f64([[1, 2]]), f64([3, 4])), [-2]);
  // JAX 0.10.2: jnp.histogram([1, 2, 2, 3, 5], bins=4) == ([1, 2, 1, 1], [1, 2, 3, 4, 5])
  const [counts, edges] = jit((x: Tensor) => np.histogram(x, 4))(np.array([1, 2, 2, 3, 5]));
  assertClose(counts, [1, 2, 1, 1]);
  assertClose(edges, [1, 2, 3, 4, 5]);
  const [dense] = np.histogram(np.array([-1, 1, 2, 2, 3]), 2, { range: [0, 4], density: true });
  assertClose(dense, [1 / 8, 3 / 8]); // 4 counted values, bins of width 2
});

Deno.test("at[] multiply/min/max/divide/power fold every repeated index", () => {
  const r = rng(21);
  const x = Array.from({ length: 6 }, () => 0.5 + r()), idx = randomInts(r, 15, 0, 5);
  const v = idx.map(() => 0.5 + r());
  const fold = (f: (a: number, b: number) => number, init: number[]) => {
    const out = init.slice();
    idx.forEach((k, j) => (out[k] = f(out[k], v[j])));
    return out;
  };
  const X = f64(x), I = i32(idx), V = f64(v);
  assertClose(X.at(I).multiply(V), fold((a, b) => a * b, x), { rtol: 1e-12 });
  assertClose(X.at(I).min(V), fold(Math.min, x));
  assertClose(jit((t: Tensor) => t.at(I).max(V))(X), fold(Math.max, x));
  const product = fold((a, b) => a * b, x.map(() => 1));
  assertClose(X.at(I).divide(V), x.map((a, k) => a / product[k]), { rtol: 1e-12 });
  assertClose(X.at(I).power(V), x.map((a, k) => a ** product[k]), { rtol: 1e-12 });
  // vmap over the operand and updates agrees with a loop
  const batched = vmap((t: Tensor, u: Tensor) => t.at(I).min(u))(
    np.stack([X, X.mul(0.5)]),
    np.stack([V, V]),
  );
  assertClose(batched.slice(1), X.mul(0.5).at(I).min(V));
  // JAX 0.10.2: jnp.array([7, 9, 4]).at[[0, 0, 1]].divide([2, 3, 2]) == [1.1666666, 4.5, 4.]
  const q = i32([7, 9, 4]).at(i32([0, 0, 1])).divide(i32([2, 3, 2]));
  assert.equal(q.dtype, "float32");
  assertClose(q, [7 / 6, 4.5, 4]);
});

Deno.test("gradients of the accumulating at[] updates agree with finite differences", () => {
  const idx = i32([0, 2, 0, 0, 3]);
  const x = [1.5, -2, 0.7, 3], v = [0.4, 1.3, -2.2, 0.9, 2.5];
  const withUpdates = (f: (t: Tensor, u: Tensor) => Tensor) => [
    (t: Tensor) => f(t, f64(v)).mul(f64([1, 2, 3, 4])).sum(),
    (u: Tensor) => f(f64(x), u).mul(f64([1, 2, 3, 4])).sum(),
  ];
  const ops: Record<string, (t: Tensor, u: Tensor) => Tensor> = {
    multiply: (t, u) => t.at(idx).multiply(u),
    min: (t, u) => t.at(idx).min(u),
    max: (t, u) => t.at(idx).max(u),
    divide: (t, u) => t.at(idx).divide(u),
  };
  for (const [name, op] of Object.entries(ops)) {
    const [fx, fv] = withUpdates(op);
    assertClose(grad(fx)(f64(x)), finiteDiff(fx, x), { rtol: 1e-6, atol: 1e-6 }, `${name} d/dx`);
    assertClose(grad(fv)(f64(v)), finiteDiff(fv, v), { rtol: 1e-6, atol: 1e-6 }, `${name} d/dv`);
  }
  // a zero among repeated updates: the others' product, not a division by zero
  const withZero = (u: Tensor) => f64([2, 1]).at(i32([0, 0, 0])).multiply(u).sum();
  assertClose(grad(withZero)(f64([0, 3, 5])), [30, 0, 0]);
  // ties split the tangent as JAX (0.10.2: grad of x.at[[0,0,1,0]].max(u) is [.25, .25, .5, .25]
  // at x = [2, 3, 4], u = [2, 2, 3, 2]: a four-way and a two-way tie with the operand)
  const tie = (u: Tensor) => f64([2, 3, 4]).at(i32([0, 0, 1, 0])).max(u).sum();
  assertClose(grad(tie)(f64([2, 2, 3, 2])), [0.25, 0.25, 0.5, 0.25]);
});

Deno.test("nn additions: JAX's values and gradients", () => {
  const v = [-3, -1, -0.5, 0.2, 0.5, 1.5, 3];
  const x = np.array(v);
  // JAX 0.10.2 outputs at x = [-3, -1, -0.5, 0.2, 0.5, 1.5, 3]
  assertClose(nn.hardTanh(x), [-1, -1, -0.5, 0.2, 0.5, 1, 1]);
  assertClose(nn.softSign(x), v.map((t) => t / (Math.abs(t) + 1)));
  assertClose(nn.hardSigmoid(x), v.map((t) => Math.min(Math.max(t + 3, 0), 6) / 6));
  assertClose(nn.hardSilu(x), v.map((t) => (t * Math.min(Math.max(t + 3, 0), 6)) / 6));
  assertClose(
    nn.celu(x, 0.5),
    v.map((t) => Math.max(t, 0) + 0.5 * Math.expm1(Math.min(t, 0) / 0.5)),
  );
  const [alpha, scale] = [1.6732632423543772, 1.0507009873554805];
  assertClose(nn.selu(x), v.map((t) => scale * (t > 0 ? t : alpha * Math.expm1(t))));
  assertClose(nn.glu(np.array([[1, 2, 3, 4]])), [[1 / (1 + Math.exp(-3)), 2 / (1 + Math.exp(-4))]]);
  // standardize: zero mean, unit variance up to epsilon
  const s = nn.standardize(np.array([[1, 2, 3], [-1, 0.5, 2]]));
  assertClose(s.slice(0), [-1, 0, 1].map((t) => t / Math.sqrt(2 / 3 + 1e-5)), { rtol: 1e-5 });
  // logsumexp with weights: log(sum(b e^x)); a negative sum is NaN or a sign
  const lse = nn.logsumexp(np.array([1, 2, 3]), { b: np.array([1, -2, 0.5]) });
  assert.ok(Number.isNaN(values(lse)[0]));
  const [mag, sign] = nn.logsumexp(np.array([1, 2, 3]), {
    b: np.array([1, -2, 0.5]),
    returnSign: true,
  });
  const total = Math.E - 2 * Math.E ** 2 + 0.5 * Math.E ** 3;
  assertClose(mag, Math.log(Math.abs(total)));
  assertClose(sign, Math.sign(total));
  // gradients against finite differences (away from the kinks)
  const fs: Record<string, (t: Tensor) => Tensor> = {
    hardTanh: nn.hardTanh,
    celu: (t) => nn.celu(t, 0.7),
    selu: nn.selu,
    softSign: nn.softSign,
    hardSilu: nn.hardSilu,
    glu: (t) => nn.glu(t),
    standardize: (t) => nn.standardize(t).mul(f64([1, -2, 3, 0.5])),
    logsumexpB: (t) => nn.logsumexp(t, { b: f64([1, 2, 0.5, 3]) }),
  };
  const at = [-1.7, -0.3, 0.6, 2.2];
  for (const [name, f] of Object.entries(fs)) {
    const scalar = (t: Tensor) => f(t).mul(f64([1, 2, 3, 4]).slice(`:${f(t).size}`)).sum();
    assertClose(grad(scalar)(f64(at)), finiteDiff(scalar, at), { rtol: 1e-5, atol: 1e-6 }, name);
  }
});
