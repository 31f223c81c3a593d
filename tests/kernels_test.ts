// Self-test of the native CPU kernels (kernels/cpu/*.c) through FFI: every symbol family
// against straightforward JS loops on seeded random data, with the edge cases of
// kernels/README.md (empty and 1-element inputs, NaN, integer division by 0, INT_MIN / -1,
// saturating casts, BLAS and the built-in matmul, dilated and grouped convolution, ...).
//
// Run: deno test --allow-all tests/kernels_test.ts

import assert from "node:assert/strict";
import {
  type CpuLibrary,
  cpuSymbolNames,
  isCpuSymbol,
  loadCpuLibrary,
} from "../ffi/cpu_library.ts";

type Code = "f32" | "f64" | "i32" | "u32" | "b8";
type Arr = Float32Array | Float64Array | Int32Array | Uint32Array | Uint16Array | Uint8Array;
/** A TypedArray class, for tests that only care about the element size. */
type ArrayClass = { new (n: number): Arr; from(values: ArrayLike<number>): Arr };
type Arg = bigint | number | ArrayBufferView | null;

const ARRAY = {
  f32: Float32Array,
  f64: Float64Array,
  i32: Int32Array,
  u32: Uint32Array,
  b8: Uint8Array,
} as const;
const FLOATS = ["f32", "f64"] as const;
const NUMERIC = ["f32", "f64", "i32", "u32"] as const;
/** Arrays of every element size; the 4-byte ones as floats or integers. */
const BY_BYTES: [number, ArrayClass][] = [[1, Uint8Array], [2, Uint16Array], [4, Float32Array], [
  8,
  Float64Array,
]];
const filled = (T: ArrayClass, n: number, f: (i: number) => number) =>
  T.from(Array.from({ length: n }, (_, i) => f(i)));
const INT_MIN = -2147483648, INT_MAX = 2147483647, UINT_MAX = 4294967295;

/** The library, or undefined (and every test ignored) on a machine without a C compiler. */
const loaded: CpuLibrary | undefined = (() => {
  try {
    return loadCpuLibrary();
  } catch (error) {
    if (!String(error).includes("found no C compiler")) throw error; // a real failure
    console.warn(`kernels_test: skipped, ${(error as Error).message}`);
    return undefined;
  }
})();
const lib = loaded as CpuLibrary;

/** Deno.test, ignored when the library could not be built for lack of a compiler. */
function test(name: string, fn: (t: Deno.TestContext) => void | Promise<void>) {
  Deno.test({ name, ignore: loaded === undefined, fn });
}

/** Calls a kernel by name (sizes as BigInt). */
function call(name: string, ...args: Arg[]): number | void {
  assert.ok(isCpuSymbol(name), `missing symbol ${name}`);
  const fn = lib.symbols[name] as unknown as (...a: Arg[]) => number | void;
  return fn(...args);
}
const I = (n: number) => BigInt(n);
const i64 = (values: number[]) => BigInt64Array.from(values.map(BigInt));

// Seeded PRNG (mulberry32) so that failures reproduce.
let seed = 12345;
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randInt = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));

/** Random values of a type: floats in [lo, hi), integers spanning edge values too. */
function randomArray(code: Code, n: number, lo = -10, hi = 10): Arr {
  const a = new ARRAY[code](n);
  for (let i = 0; i < n; i++) {
    if (code === "b8") a[i] = random() < 0.5 ? 1 : 0;
    else if (code === "i32") {
      a[i] = random() < 0.1 ? [INT_MIN, -1, 0, 1, INT_MAX][randInt(0, 4)] : randInt(-1000, 1000);
    } else if (code === "u32") {
      a[i] = random() < 0.1 ? [0, 1, UINT_MAX][randInt(0, 2)] : randInt(0, 2000);
    } else a[i] = lo + (hi - lo) * random();
  }
  return a;
}

const same = (a: number, b: number) =>
  Object.is(a, b) || (a === b) || (Number.isNaN(a) && Number.isNaN(b));

/** Elementwise comparison with a relative + absolute tolerance; NaN equals NaN. */
function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  rtol = 0,
  atol = 0,
) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    if (same(a, e) || (a === e)) continue;
    const ok = Number.isFinite(e) && Math.abs(a - e) <= atol + rtol * Math.abs(e);
    assert.ok(ok, `${what}[${i}]: got ${a}, expected ${e}`);
  }
}

/** The value JS computes, stored into the kernel's output type (rounding f32, wrapping ints). */
function stored(code: Code, values: number[]): Arr {
  return ARRAY[code].from(values);
}

const SIZES = [0, 1, 17, 1000, 300_000]; // 300k crosses the parallel thresholds

test("symbols", () => {
  const names = cpuSymbolNames();
  // + f16/bf16 casts, max-pool grads, conv grads, scatter mul/min/max
  assert.equal(names.length, 267 + 24 + 8 + 4 + 12);
  for (const name of names) assert.ok(name in lib.symbols, name);
  assert.ok("kiln_exp_f32" in lib.symbols);
  assert.equal(lib.symbols.kiln_blas_loaded() === 1, lib.blasLoaded);
});

const roundHalfEven = (x: number) => {
  if (!Number.isFinite(x)) return x;
  const r = Math.round(x);
  return (Math.abs(x % 1) === 0.5 && r % 2 !== 0)
    ? r - 1
    : (r === 0 ? (x < 0 || Object.is(x, -0) ? -0 : 0) : r);
};
/** erf by its Taylor series (|x| < 3) or continued fraction of erfc; accurate to ~1e-14. */
function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = x, sum = x;
    for (let n = 1; n < 200; n++) {
      term *= -x * x / n;
      sum += term / (2 * n + 1);
      if (Math.abs(term) < 1e-18) break;
    }
    return 2 / Math.sqrt(Math.PI) * sum;
  }
  let f = 0; // erfc(ax) = exp(-x²)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
  for (let k = 60; k >= 1; k--) f = (k / 2) / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return Math.sign(x) * (1 - erfc);
}
const FLOAT_UNARY: [string, (x: number) => number, number, number][] = [
  ["neg", (x) => -x, -10, 10],
  ["abs", Math.abs, -10, 10],
  ["sign", (x) => x > 0 ? 1 : x < 0 ? -1 : x, -10, 10],
  ["exp", Math.exp, -80, 80],
  ["exp2", (x) => 2 ** x, -100, 100],
  ["expm1", Math.expm1, -5, 5],
  ["log", Math.log, 0, 100],
  ["log2", Math.log2, 0, 100],
  ["log10", Math.log10, 0, 100],
  ["log1p", Math.log1p, -1, 10],
  ["sqrt", Math.sqrt, 0, 100],
  ["rsqrt", (x) => 1 / Math.sqrt(x), 0.01, 100],
  ["cbrt", Math.cbrt, -100, 100],
  ["sin", Math.sin, -10, 10],
  ["cos", Math.cos, -10, 10],
  ["tan", Math.tan, -1.5, 1.5],
  ["asin", Math.asin, -1, 1],
  ["acos", Math.acos, -1, 1],
  ["atan", Math.atan, -10, 10],
  ["sinh", Math.sinh, -10, 10],
  ["cosh", Math.cosh, -10, 10],
  ["tanh", Math.tanh, -10, 10],
  ["asinh", Math.asinh, -10, 10],
  ["acosh", Math.acosh, 1, 100],
  ["atanh", Math.atanh, -0.99, 0.99],
  ["floor", Math.floor, -10, 10],
  ["ceil", Math.ceil, -10, 10],
  ["round", roundHalfEven, -10, 10],
  ["trunc", Math.trunc, -10, 10],
  ["reciprocal", (x) => 1 / x, 0.01, 10],
  ["logistic", (x) => 1 / (1 + Math.exp(-x)), -100, 100],
  ["erf", erf, -5, 5],
];

test("unary float ops against Math", async (t) => {
  for (const [op, ref, lo, hi] of FLOAT_UNARY) {
    await t.step(op, () => {
      for (const code of FLOATS) {
        for (const n of SIZES) {
          const x = randomArray(code, n, lo, hi) as Float32Array | Float64Array;
          if (n >= 17) {
            x.set(
              [NaN, Infinity, -Infinity].filter((v) => !Number.isNaN(ref(v)) || Number.isNaN(v)),
              3,
            );
          }
          const out = new ARRAY[code](n);
          call(`kiln_${op}_${code}`, I(n), x, out);
          const expected = stored(code, Array.from(x, ref));
          const [rtol, atol] = code === "f32" ? [2e-6, 1e-6] : [1e-13, 1e-14];
          assertClose(out, expected, `${op}_${code} n=${n}`, rtol, atol);
        }
      }
    });
  }
  await t.step("round is half-to-even, rint under the default mode", () => {
    const x = new Float64Array([0.5, 1.5, 2.5, -0.5, -2.5, 3.5, 2.4999, -0.2]);
    const out = new Float64Array(x.length);
    call("kiln_round_f64", I(x.length), x, out);
    assert.deepEqual(Array.from(out), [0, 2, 2, -0, -2, 4, 2, -0]);
  });
  await t.step("logistic saturates without NaN", () => {
    const x = new Float32Array([-1000, 1000, -Infinity, Infinity]);
    const out = new Float32Array(4);
    call("kiln_logistic_f32", 4n, x, out);
    assert.deepEqual(Array.from(out), [0, 1, 0, 1]);
  });
});

test("unary integer, bool and predicates", () => {
  const i = new Int32Array([INT_MIN, -5, -1, 0, 1, 7, INT_MAX]);
  const check = (op: string, code: Code, x: Arr, f: (v: number) => number) => {
    const out = new ARRAY[code](x.length);
    call(`kiln_${op}_${code}`, I(x.length), x, out);
    assert.deepEqual(Array.from(out), Array.from(stored(code, Array.from(x, f))), `${op}_${code}`);
  };
  check("neg", "i32", i, (v) => -v);
  check("abs", "i32", i, (v) => Math.abs(v));
  check("sign", "i32", i, Math.sign);
  check("not", "i32", i, (v) => ~v);
  const u = new Uint32Array([0, 1, 5, UINT_MAX]);
  check("neg", "u32", u, (v) => -v);
  check("abs", "u32", u, (v) => v);
  check("sign", "u32", u, Math.sign);
  check("not", "u32", u, (v) => ~v);
  check("not", "b8", new Uint8Array([0, 1, 1, 0]), (v) => v ? 0 : 1);
  for (const code of FLOATS) {
    const x = ARRAY[code].from([NaN, Infinity, -Infinity, 0, -0, 1e30, -3]);
    const preds: [string, (v: number) => boolean][] = [
      ["isnan", Number.isNaN],
      ["isinf", (v) => Math.abs(v) === Infinity],
      ["isfinite", Number.isFinite],
    ];
    for (const [op, f] of preds) {
      const out = new Uint8Array(x.length);
      call(`kiln_${op}_${code}`, I(x.length), x, out);
      assert.deepEqual(Array.from(out), Array.from(x, (v) => f(v) ? 1 : 0), `${op}_${code}`);
    }
  }
});

const cMax = (a: number, b: number) =>
  Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b) === a ? a : b;
const cMin = (a: number, b: number) =>
  Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b) === a ? a : b;
function intPow(base: number, exponent: number, wrap: (v: number) => number): number {
  if (exponent < 0) return base === 1 ? 1 : base === -1 ? (exponent & 1 ? -1 : 1) : 0;
  let result = 1;
  for (let e = exponent, b = base; e > 0; e = Math.floor(e / 2), b = wrap(Math.imul(b, b))) {
    if (e & 1) result = wrap(Math.imul(result, b));
  }
  return result;
}
/** C's pow: pow(1, y) and pow(x, ±0) are 1 even for NaN, pow(-1, ±inf) is 1 (NumPy agrees). */
const cPow = (a: number, b: number) =>
  a === 1 || b === 0 || (a === -1 && Math.abs(b) === Infinity) ? 1 : a ** b;
const I32 = (v: number) => v | 0, U32 = (v: number) => v >>> 0;
const BINARY: Record<string, Partial<Record<Code, (a: number, b: number) => number>>> = {
  add: {
    f32: (a, b) => a + b,
    f64: (a, b) => a + b,
    i32: (a, b) => I32(a + b),
    u32: (a, b) => U32(a + b),
  },
  sub: {
    f32: (a, b) => a - b,
    f64: (a, b) => a - b,
    i32: (a, b) => I32(a - b),
    u32: (a, b) => U32(a - b),
  },
  mul: {
    f32: (a, b) => Math.fround(a) * b,
    f64: (a, b) => a * b,
    i32: Math.imul,
    u32: (a, b) => U32(Math.imul(a, b)),
  },
  div: {
    f32: (a, b) => a / b,
    f64: (a, b) => a / b,
    i32: (a, b) => b === 0 ? 0 : I32(Math.trunc(a / b)),
    u32: (a, b) => b === 0 ? 0 : Math.trunc(a / b),
  },
  rem: {
    f32: (a, b) => a % b,
    f64: (a, b) => a % b,
    i32: (a, b) => b === 0 ? 0 : (a % b) | 0,
    u32: (a, b) => b === 0 ? 0 : a % b,
  },
  max: { f32: cMax, f64: cMax, i32: Math.max, u32: Math.max },
  min: { f32: cMin, f64: cMin, i32: Math.min, u32: Math.min },
  pow: { f32: cPow, f64: cPow, i32: (a, b) => intPow(a, b, I32), u32: (a, b) => intPow(a, b, U32) },
  atan2: { f32: Math.atan2, f64: Math.atan2 },
  and: { i32: (a, b) => a & b, u32: (a, b) => U32(a & b), b8: (a, b) => a & b },
  or: { i32: (a, b) => a | b, u32: (a, b) => U32(a | b), b8: (a, b) => a | b },
  xor: { i32: (a, b) => a ^ b, u32: (a, b) => U32(a ^ b), b8: (a, b) => a ^ b },
};

test("binary ops against JS", async (t) => {
  for (const [op, byType] of Object.entries(BINARY)) {
    await t.step(op, () => {
      for (
        const [code, ref] of Object.entries(byType) as [Code, (a: number, b: number) => number][]
      ) {
        for (const n of SIZES) {
          const a = randomArray(code, n, op === "pow" ? 0 : -10, 10);
          const b = randomArray(code, n, op === "pow" ? -3 : -10, op === "pow" ? 3 : 10);
          if (op === "pow" && !code.startsWith("f")) {
            b.forEach((v, i) => (b[i] = code === "u32" ? v % 40 : (v % 40) - 5));
          }
          if (n >= 17 && code.startsWith("f")) {
            a.set([NaN, 1, NaN, Infinity], 0), b.set([1, NaN, NaN, 1], 0);
          }
          const out = new ARRAY[code](n);
          call(`kiln_${op}_${code}`, I(n), a, b, out);
          const expected = stored(code, Array.from(a, (v, i) => ref(v, b[i])));
          const tol = code === "f32" ? 2e-6 : code === "f64" ? 1e-13 : 0;
          assertClose(out, expected, `${op}_${code} n=${n}`, tol, tol);
        }
      }
    });
  }
  await t.step("integer division edge cases never trap", () => {
    const a = new Int32Array([INT_MIN, INT_MIN, 7, -7, 7, 0, INT_MIN]);
    const b = new Int32Array([-1, 0, 0, 2, -2, 0, 1]);
    const out = new Int32Array(a.length);
    call("kiln_div_i32", I(a.length), a, b, out);
    assert.deepEqual(Array.from(out), [INT_MIN, 0, 0, -3, -3, 0, INT_MIN]);
    call("kiln_rem_i32", I(a.length), a, b, out);
    assert.deepEqual(Array.from(out), [0, 0, 0, -1, 1, 0, 0]);
    const ua = new Uint32Array([5, UINT_MAX]),
      ub = new Uint32Array([0, 0]),
      uo = new Uint32Array(2);
    call("kiln_div_u32", 2n, ua, ub, uo);
    assert.deepEqual(Array.from(uo), [0, 0]);
    call("kiln_rem_u32", 2n, ua, ub, uo);
    assert.deepEqual(Array.from(uo), [0, 0]);
    const pa = new Int32Array([2, 1, -1, -1, 0, 3]), pb = new Int32Array([-1, -5, -3, -4, -1, 31]);
    call("kiln_pow_i32", 6n, pa, pb, out);
    assert.deepEqual(Array.from(out.subarray(0, 6)), [
      0,
      1,
      -1,
      1,
      0,
      I32(Math.imul(3 ** 20, 3 ** 11)),
    ]);
  });
});

test("compare and select", () => {
  const ops: [string, (a: number, b: number) => boolean][] = [
    ["eq", (a, b) => a === b],
    ["ne", (a, b) => a !== b],
    ["lt", (a, b) => a < b],
    ["le", (a, b) => a <= b],
    ["gt", (a, b) => a > b],
    ["ge", (a, b) => a >= b],
  ];
  for (const code of ["f32", "f64", "i32", "u32", "b8"] as const) {
    for (const n of [0, 1, 100, 300_000]) {
      const a = randomArray(code, n, -3, 3), b = randomArray(code, n, -3, 3);
      if (code.startsWith("f")) {
        a.forEach((v, i) => (a[i] = Math.round(v))), b.forEach((v, i) => (b[i] = Math.round(v)));
      }
      if (n >= 100 && code.startsWith("f")) a[5] = NaN, b[6] = NaN, a[7] = b[7] = NaN;
      for (const [op, f] of ops) {
        const out = new Uint8Array(n);
        call(`kiln_${op}_${code}`, I(n), a, b, out);
        assert.deepEqual(out, Uint8Array.from(a, (v, i) => f(v, b[i]) ? 1 : 0), `${op}_${code}`);
      }
    }
  }
  for (const [bytes, T] of BY_BYTES.filter(([b]) => b !== 2)) {
    const n = 1000, pred = randomArray("b8", n) as Uint8Array;
    const x = filled(T, n, (i) => i), y = filled(T, n, (i) => -i), out = new T(n);
    call(`kiln_select_${bytes}`, I(n), pred, x, y, out);
    assert.deepEqual(Array.from(out), Array.from(pred, (p, i) => p ? x[i] : y[i]));
  }
});

/** What a cast of v from one type to another must give (kernels/README.md). */
function castRef(v: number, to: Code): number {
  if (to === "b8") return v !== 0 ? 1 : 0; // NaN counts as true
  if (to === "f32" || to === "f64") return v;
  if (Number.isNaN(v)) return 0;
  const t = Math.trunc(v);
  return to === "i32"
    ? Math.min(Math.max(t, INT_MIN), INT_MAX)
    : Math.min(Math.max(t, 0), UINT_MAX);
}

test("casts saturate and never trap", () => {
  const specials = [
    NaN,
    Infinity,
    -Infinity,
    3e9,
    -3e9,
    2147483647.5,
    2147483648,
    -2147483648.5,
    -2147483649,
    -0.7,
    0.7,
    -1,
    4294967295.5,
    4294967296,
    1e20,
    -0,
    16777217,
    123.9,
  ];
  const CODES = ["f32", "f64", "i32", "u32", "b8"] as const;
  for (const from of CODES) {
    const x = from === "b8"
      ? Uint8Array.from([0, 1, 1])
      : ARRAY[from].from([...specials, ...randomArray(from, 300_000)]);
    for (const to of CODES) {
      const out = new ARRAY[to](x.length);
      call(`kiln_cast_${from}_${to}`, I(x.length), x, out);
      // Integer sources wrap into the other integer type (two's complement).
      const expected = stored(
        to,
        Array.from(
          x,
          (v) => (from === "i32" || from === "u32") && to !== "b8" ? v : castRef(v, to),
        ),
      );
      assertClose(out, expected, `cast_${from}_${to}`);
    }
  }
});

test("fill and iota", () => {
  for (const [bytes, T] of BY_BYTES) {
    for (const n of [0, 1, 600_000]) {
      const out = new T(n), value = T.from([7]);
      call(`kiln_fill_${bytes}`, I(n), out, value);
      assert.ok(out.every((v) => v === 7));
    }
  }
  for (const code of NUMERIC) {
    const [o, l, i] = [3, 5, 4], out = new ARRAY[code](o * l * i);
    call(`kiln_iota_${code}`, I(o), I(l), I(i), out);
    assert.deepEqual(Array.from(out), Array.from(out, (_, k) => Math.floor(k / i) % l));
  }
});

/** Reference strided copy: visits every index of shape. */
function copyRef(
  shape: number[],
  src: Arr,
  so: number,
  ss: number[],
  dst: Arr,
  dof: number,
  ds: number[],
) {
  const total = shape.reduce((a, b) => a * b, 1);
  for (let flat = 0; flat < total; flat++) {
    let rest = flat, s = so, d = dof;
    for (let k = shape.length - 1; k >= 0; k--) {
      const i = rest % shape[k];
      rest = Math.floor(rest / shape[k]);
      s += i * ss[k], d += i * ds[k];
    }
    dst[d] = src[s];
  }
}

test("strided copy: transpose, broadcast, flip, slices", () => {
  const cases: { shape: number[]; perm?: number[]; zero?: number[]; flip?: number[] }[] = [
    { shape: [] },
    { shape: [0, 3] },
    { shape: [1] },
    { shape: [5] },
    { shape: [4, 6], perm: [1, 0] },
    { shape: [800, 700], perm: [1, 0] },
    { shape: [2, 3, 40, 50], perm: [0, 3, 1, 2] },
    { shape: [3, 1, 5], zero: [1] },
    { shape: [800, 800], zero: [0] },
    { shape: [7, 9], flip: [1] },
    { shape: [6, 5, 4], flip: [0, 2], perm: [2, 0, 1] },
    { shape: [600, 1000], flip: [1] },
  ];
  for (const bytes of [1, 2, 4, 8]) {
    const T: ArrayClass = {
      1: Uint8Array,
      2: Uint16Array,
      4: Uint32Array,
      8: Float64Array,
    }[bytes]!;
    for (const c of cases) {
      const nd = c.shape.length, total = c.shape.reduce((a, b) => a * b, 1);
      // Source: a dense array of the (permuted) shape; strides permuted back, zeroed or negated.
      const perm = c.perm ?? [...Array(nd).keys()];
      const srcShape = perm.map((p) => c.shape[p]);
      const dense: number[] = Array(nd).fill(1);
      for (let k = nd - 2; k >= 0; k--) dense[k] = dense[k + 1] * srcShape[k + 1];
      const ss = Array(nd).fill(0);
      perm.forEach((p, k) => (ss[p] = dense[k]));
      let so = 3; // a leading offset
      for (const z of c.zero ?? []) ss[z] = 0;
      for (const f of c.flip ?? []) so += (c.shape[f] - 1) * ss[f], ss[f] = -ss[f];
      const src = filled(T, Math.max(total, 1) + 3, (i) => (i * 7 + 1) % 251);
      const ds = Array(nd).fill(1);
      for (let k = nd - 2; k >= 0; k--) ds[k] = ds[k + 1] * c.shape[k + 1];
      const got = new T(total + 2), want = new T(total + 2);
      call(
        "kiln_strided_copy",
        I(bytes),
        I(nd),
        i64(c.shape),
        src,
        I(so),
        i64(ss),
        got,
        2n,
        i64(ds),
      );
      copyRef(c.shape, src, so, ss, want, 2, ds);
      assert.deepEqual(got, want, `bytes=${bytes} ${JSON.stringify(c)}`);
    }
  }
});

/** Reference (outer, len, inner) reduction. */
function reduceRef(
  x: Arr,
  o: number,
  l: number,
  n: number,
  init: number,
  f: (a: number, v: number) => number,
) {
  const out: number[] = [];
  for (let a = 0; a < o; a++) {
    for (let c = 0; c < n; c++) {
      let acc = init;
      for (let b = 0; b < l; b++) acc = f(acc, x[(a * l + b) * n + c]);
      out.push(acc);
    }
  }
  return out;
}
const SHAPES = [
  [1, 0, 1],
  [2, 0, 3],
  [1, 1, 1],
  [3, 7, 1],
  [2, 5, 3],
  [4, 33, 300],
  [1, 400_000, 1],
  [20, 20_000, 1],
  [3, 1000, 100],
];

test("reductions, arg-reductions and scans", async (t) => {
  const nanMax = (a: number, v: number) =>
    Number.isNaN(a) || Number.isNaN(v) ? NaN : Math.max(a, v);
  const nanMin = (a: number, v: number) =>
    Number.isNaN(a) || Number.isNaN(v) ? NaN : Math.min(a, v);
  const lowest = { f32: -Infinity, f64: -Infinity, i32: INT_MIN, u32: 0, b8: 0 };
  const highest = { f32: Infinity, f64: Infinity, i32: INT_MAX, u32: UINT_MAX, b8: 1 };
  await t.step("reduce", () => {
    for (const code of [...NUMERIC, "b8"] as const) {
      const ops: [string, number, (a: number, v: number) => number][] = code === "b8"
        ? [["any", 0, Math.max], ["all", 1, Math.min]]
        : [
          [
            "sum",
            0,
            code === "i32"
              ? (a, v) => I32(a + v)
              : code === "u32"
              ? (a, v) => U32(a + v)
              : (a, v) => a + v,
          ],
          [
            "prod",
            1,
            code === "i32"
              ? Math.imul
              : code === "u32"
              ? (a, v) => U32(Math.imul(a, v))
              : (a, v) => a * v,
          ],
          ["max", lowest[code], nanMax],
          ["min", highest[code], nanMin],
        ];
      for (const [o, l, n] of SHAPES) {
        for (const [op, init, f] of ops) {
          const x = randomArray(
            code,
            o * l * n,
            op === "prod" ? 0.9 : -10,
            op === "prod" ? 1.1 : 10,
          );
          if (code.startsWith("f") && (op === "max" || op === "min") && x.length > 10) {
            x[x.length - 3] = NaN;
          }
          const out = new ARRAY[code](o * n);
          call(`kiln_reduce_${op}_${code}`, I(o), I(l), I(n), x, out);
          const tol = code === "f32" ? 1e-6 : code === "f64" ? 1e-12 : 0;
          assertClose(
            out,
            stored(code, reduceRef(x, o, l, n, init, f)),
            `${op}_${code} ${[o, l, n]}`,
            tol,
            tol * l,
          );
        }
      }
    }
  });
  await t.step("float sums are accurate", () => {
    const n = 1_000_000, x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = (random() - 0.3) * 10 ** randInt(-3, 3);
    let sum = 0, c = 0; // float64 Neumaier reference
    for (const v of x) {
      const t = sum + v;
      c += Math.abs(sum) >= Math.abs(v) ? (sum - t) + v : (v - t) + sum;
      sum = t;
    }
    const out = new Float32Array(1);
    call("kiln_reduce_sum_f32", 1n, I(n), 1n, x, out);
    assert.equal(out[0], Math.fround(sum + c), "f32 sum should be the correctly rounded sum");
    const y = Float64Array.from(x), out64 = new Float64Array(1);
    call("kiln_reduce_sum_f64", 1n, I(n), 1n, y, out64);
    assert.ok(
      Math.abs(out64[0] - (sum + c)) <= 1e-15 * Math.abs(sum + c) * 10,
      `${out64[0]} vs ${sum + c}`,
    );
  });
  await t.step("argmax / argmin", () => {
    for (const code of NUMERIC) {
      for (const [o, l, n] of SHAPES.filter(([, l]) => l > 0)) {
        const x = randomArray(code, o * l * n, -3, 3);
        if (code.startsWith("f")) x.forEach((v, i) => (x[i] = Math.round(v))); // ties
        if (code.startsWith("f") && x.length > 10) x[x.length - 2] = NaN, x[x.length - 5] = NaN;
        for (const op of ["max", "min"]) {
          const out = new Int32Array(o * n), want: number[] = [];
          call(`kiln_arg${op}_${code}`, I(o), I(l), I(n), x, out);
          for (let a = 0; a < o; a++) {
            for (let c = 0; c < n; c++) {
              let best = 0;
              for (let b = 1; b < l; b++) {
                const v = x[(a * l + b) * n + c], cur = x[(a * l + best) * n + c];
                if (Number.isNaN(cur)) break;
                if (Number.isNaN(v) || (op === "max" ? v > cur : v < cur)) best = b;
              }
              want.push(best);
            }
          }
          assert.deepEqual(Array.from(out), want, `arg${op}_${code} ${[o, l, n]}`);
        }
      }
    }
  });
  await t.step("cumulative", () => {
    for (const code of NUMERIC) {
      const ops: [string, number, (a: number, v: number) => number][] = [
        [
          "sum",
          0,
          code === "i32"
            ? (a, v) => I32(a + v)
            : code === "u32"
            ? (a, v) => U32(a + v)
            : (a, v) => a + v,
        ],
        [
          "prod",
          1,
          code === "i32"
            ? Math.imul
            : code === "u32"
            ? (a, v) => U32(Math.imul(a, v))
            : (a, v) => a * v,
        ],
        ["max", lowest[code], nanMax],
        ["min", highest[code], nanMin],
      ];
      for (
        const [o, l, n] of [
          [1, 0, 1],
          [1, 1, 1],
          [3, 9, 1],
          [2, 7, 5],
          [2, 50, 300],
          [4, 300, 300],
          [8, 40_000, 1],
          [1, 200_000, 1],
        ]
      ) {
        for (const [op, init, f] of ops) {
          for (const reverse of [0, 1]) {
            const x = randomArray(
              code,
              o * l * n,
              op === "prod" ? 0.9 : -10,
              op === "prod" ? 1.1 : 10,
            );
            if (code.startsWith("f") && x.length > 10 && op === "max") x[4] = NaN;
            const out = new ARRAY[code](x.length), want = new Float64Array(x.length);
            call(`kiln_cum${op}_${code}`, I(o), I(l), I(n), reverse, x, out);
            for (let a = 0; a < o; a++) {
              for (let c = 0; c < n; c++) {
                let acc = init;
                for (let s = 0; s < l; s++) {
                  const at = (a * l + (reverse ? l - 1 - s : s)) * n + c;
                  acc = f(acc, x[at]);
                  want[at] = acc;
                }
              }
            }
            const tol = code === "f32" ? 1e-5 : code === "f64" ? 1e-11 : 0;
            assertClose(
              out,
              stored(code, Array.from(want)),
              `cum${op}_${code} ${[o, l, n]} rev=${reverse}`,
              tol,
              tol,
            );
          }
        }
      }
    }
  });
});

/** Naive batched matmul in float64 (or wrapping integers). */
function matmulRef(
  code: Code,
  batch: number,
  m: number,
  n: number,
  k: number,
  a: Arr,
  ta: number,
  b: Arr,
  tb: number,
) {
  const out: number[] = [];
  for (let e = 0; e < batch; e++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = a[e * m * k + (ta ? p * m + i : i * k + p)],
            bv = b[e * k * n + (tb ? j * k + p : p * n + j)];
          s = code === "i32" || code === "u32" ? (s + Math.imul(av, bv)) | 0 : s + av * bv;
        }
        out.push(s);
      }
    }
  }
  return out;
}

test("matmul: BLAS, built-in blocked kernel, integers", async (t) => {
  const shapes = [
    [1, 1, 1, 1],
    [1, 3, 4, 0],
    [2, 1, 40, 33],
    [2, 37, 1, 29],
    [3, 37, 53, 29],
    [1, 130, 300, 70],
    [1, 64, 64, 64],
    [2, 150, 40, 260],
    [1, 1, 3000, 400], // matrix-vector products split over threads
    [1, 2000, 1, 600],
    // the direct kernel: columns or rows split over threads, edge rows and columns, and a k
    // cut into slices
    [1, 37, 200, 1100],
    [1, 130, 40, 600],
    [2, 45, 70, 700],
  ];
  const run = (name: string, codes: readonly Code[]) => {
    for (const code of codes) {
      for (const [batch, m, n, k] of shapes) {
        for (const ta of [0, 1]) {
          for (const tb of [0, 1]) {
            const a = randomArray(code, batch * m * k, -1, 1),
              b = randomArray(code, batch * k * n, -1, 1);
            const out = new ARRAY[code](batch * m * n).fill(123);
            call(`kiln_${name}_${code}`, I(batch), I(m), I(n), I(k), a, ta, b, tb, out);
            const tol = code === "f32"
              ? 1e-5 * Math.sqrt(k + 1)
              : code === "f64"
              ? 1e-13 * (k + 1)
              : 0;
            assertClose(
              out,
              stored(code, matmulRef(code, batch, m, n, k, a, ta, b, tb)),
              `${name}_${code} ${[batch, m, n, k, ta, tb]}`,
              tol,
              tol,
            );
          }
        }
      }
    }
  };
  await t.step(
    `kiln_matmul (BLAS ${lib.blasLoaded ? lib.blasPath : "not loaded"})`,
    () => run("matmul", NUMERIC),
  );
  await t.step("kiln_matmul_blocked", () => run("matmul_blocked", FLOATS));
  await t.step("batched products large enough to go to BLAS one by one", () => {
    for (const [code, ta, tb] of [["f32", 0, 1], ["f64", 1, 0]] as const) {
      const [batch, m, n, k] = [2, 260, 256, 256];
      const a = randomArray(code, batch * m * k, -1, 1),
        b = randomArray(code, batch * k * n, -1, 1);
      const out = new ARRAY[code](batch * m * n);
      call(`kiln_matmul_${code}`, I(batch), I(m), I(n), I(k), a, ta, b, tb, out);
      const want = stored(code, matmulRef(code, batch, m, n, k, a, ta, b, tb));
      assertClose(out, want, `matmul_${code} batched`, code === "f32" ? 2e-4 : 1e-12, 1e-4);
    }
  });
  await t.step("kiln_matmul with BLAS unloaded, then reloaded", () => {
    lib.symbols.kiln_blas_load(null);
    assert.equal(lib.symbols.kiln_blas_loaded(), 0);
    try {
      run("matmul", FLOATS);
    } finally {
      if (lib.blasPath) lib.symbols.kiln_blas_load(new TextEncoder().encode(`${lib.blasPath}\0`));
    }
    assert.equal(lib.symbols.kiln_blas_loaded() === 1, lib.blasLoaded);
  });
  await t.step("a missing BLAS library reports 0", () => {
    assert.equal(
      lib.symbols.kiln_blas_load(new TextEncoder().encode("libkiln-no-such-blas.so\0")),
      0,
    );
  });
});

/** Direct convolution with the parameters of kiln_conv2d. */
function convRef(p: number[], x: Arr, w: Arr): number[] {
  const [N, C, H, W, O, KH, KW, OH, OW, G, sh, sw, pt, pl, ldh, ldw, rdh, rdw] = p;
  const cg = C / G, og = O / G, out: number[] = [];
  const src = (
    o: number,
    k: number,
    s: number,
    pad: number,
    rd: number,
    ld: number,
    size: number,
  ) => {
    const q = o * s - pad + k * rd;
    return q < 0 || q > (size - 1) * ld || q % ld !== 0 ? -1 : q / ld;
  };
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let s = 0;
          for (let c = 0; c < cg; c++) {
            for (let kh = 0; kh < KH; kh++) {
              for (let kw = 0; kw < KW; kw++) {
                const ih = src(oh, kh, sh, pt, rdh, ldh, H), iw = src(ow, kw, sw, pl, rdw, ldw, W);
                if (ih < 0 || iw < 0) continue;
                const g = Math.floor(o / og);
                s += w[((o * cg + c) * KH + kh) * KW + kw] *
                  x[((n * C + g * cg + c) * H + ih) * W + iw];
              }
            }
          }
          out.push(s);
        }
      }
    }
  }
  return out;
}

test("conv2d against direct convolution", () => {
  // [N, C, H, W, O, KH, KW, groups, stride h/w, pad top/left (bottom/right = same), lhs dil, rhs dil]
  const cases = [
    [2, 3, 8, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    [1, 4, 7, 7, 6, 3, 2, 2, 2, 1, 1, 0, 1, 1, 1, 1],
    [2, 2, 6, 5, 2, 3, 3, 1, 1, 1, 2, 2, 2, 1, 1, 1],
    [1, 2, 9, 9, 3, 3, 3, 1, 1, 2, 0, 1, 1, 1, 2, 2],
    [3, 8, 5, 6, 4, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1],
    [1, 6, 10, 10, 6, 3, 3, 3, 2, 2, 3, 0, 1, 1, 1, 2],
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1],
    [1, 32, 20, 20, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    [4, 16, 24, 24, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1], // whole images per thread
    [4, 64, 32, 32, 64, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1],
  ];
  for (const code of FLOATS) {
    for (const [N, C, H, W, O, KH, KW, G, sh, sw, pt, pl, ldh, ldw, rdh, rdw] of cases) {
      const dh = (H - 1) * ldh + 1, dw = (W - 1) * ldw + 1;
      const OH = Math.floor((dh + 2 * pt - ((KH - 1) * rdh + 1)) / sh) + 1;
      const OW = Math.floor((dw + 2 * pl - ((KW - 1) * rdw + 1)) / sw) + 1;
      const p = [N, C, H, W, O, KH, KW, OH, OW, G, sh, sw, pt, pl, ldh, ldw, rdh, rdw];
      const x = randomArray(code, N * C * H * W, -1, 1),
        w = randomArray(code, O * (C / G) * KH * KW, -1, 1);
      const out = new ARRAY[code](N * O * OH * OW);
      call(`kiln_conv2d_${code}`, i64(p), x, w, out);
      const tol = code === "f32" ? 1e-5 : 1e-12;
      assertClose(out, stored(code, convRef(p, x, w)), `conv2d_${code} ${p}`, tol, tol);
    }
  }
});

test("reduce_window against loops", () => {
  // [in_shape, window, strides, pad_lo, dilation]; out_shape follows with pad_hi = pad_lo.
  const cases = [
    [[10], [3], [1], [0], [1]],
    [[9], [2], [2], [1], [2]],
    [[4, 6, 6], [1, 2, 2], [1, 2, 2], [0, 0, 0], [1, 1, 1]],
    [[2, 7, 8], [1, 3, 3], [1, 2, 1], [0, 1, 1], [1, 1, 2]],
    [[3, 4, 5, 6], [2, 1, 3, 2], [1, 1, 2, 3], [1, 0, 1, 0], [1, 1, 1, 2]],
    [[50, 60], [3, 3], [1, 1], [1, 1], [1, 1]],
    [[200, 300], [3, 3], [1, 1], [1, 1], [1, 1]],
  ];
  for (const code of NUMERIC) {
    for (const [shape, win, st, pad, dil] of cases) {
      const nd = shape.length;
      const outShape = shape.map((s, k) =>
        Math.floor((s + 2 * pad[k] - ((win[k] - 1) * dil[k] + 1)) / st[k]) + 1
      );
      const x = randomArray(code, shape.reduce((a, b) => a * b, 1));
      if (code.startsWith("f")) x[2] = NaN;
      const total = outShape.reduce((a, b) => a * b, 1), wsize = win.reduce((a, b) => a * b, 1);
      for (const op of ["max", "sum"]) {
        const out = new ARRAY[code](total), want: number[] = [];
        call(
          `kiln_reduce_window_${op}_${code}`,
          I(nd),
          i64([...shape, ...outShape, ...win, ...st, ...pad, ...dil]),
          x,
          out,
        );
        for (let o = 0; o < total; o++) {
          let acc = op === "sum" ? 0 : code === "i32" ? INT_MIN : code === "u32" ? 0 : -Infinity;
          for (let t = 0; t < wsize; t++) {
            let ro = o, rt = t, offset = 0, inside = true;
            const pos: number[] = [];
            for (let k = nd - 1; k >= 0; k--) {
              pos[k] = (ro % outShape[k]) * st[k] - pad[k] + (rt % win[k]) * dil[k];
              ro = Math.floor(ro / outShape[k]), rt = Math.floor(rt / win[k]);
              inside &&= pos[k] >= 0 && pos[k] < shape[k];
            }
            if (!inside) continue;
            for (let k = 0; k < nd; k++) offset = offset * shape[k] + pos[k];
            const v = x[offset];
            acc = op === "sum"
              ? (code === "i32" ? I32(acc + v) : code === "u32" ? U32(acc + v) : acc + v)
              : (Number.isNaN(acc) || Number.isNaN(v) ? NaN : Math.max(acc, v));
          }
          want.push(acc);
        }
        const tol = code === "f32" ? 1e-6 : 0;
        assertClose(out, stored(code, want), `reduce_window_${op}_${code} ${shape}`, tol, tol);
      }
    }
  }
});

test("take and scatter", () => {
  for (
    const [o, l, n] of [[1, 5, 1], [3, 4, 1], [2, 6, 5], [1, 1, 1], [4, 300, 100], [8, 8, 10_000]]
  ) {
    const nidx = 7, idx = Int32Array.from({ length: nidx }, () => randInt(0, l - 1));
    for (const [bytes, T] of BY_BYTES) {
      const x = filled(T, o * l * n, (i) => i % 250),
        out = new T(o * nidx * n),
        want = new T(o * nidx * n);
      call(`kiln_take_${bytes}`, I(o), I(l), I(n), I(nidx), idx, x, out);
      for (let a = 0; a < o; a++) {
        for (let j = 0; j < nidx; j++) {
          for (let c = 0; c < n; c++) want[(a * nidx + j) * n + c] = x[(a * l + idx[j]) * n + c];
        }
      }
      assert.deepEqual(out, want, `take_${bytes}`);
      const upd = filled(T, o * nidx * n, (i) => (i * 3) % 200), got = x.slice(), ref = x.slice();
      call(`kiln_scatter_set_${bytes}`, I(o), I(l), I(n), I(nidx), idx, upd, got);
      for (let a = 0; a < o; a++) {
        for (let j = 0; j < nidx; j++) {
          for (let c = 0; c < n; c++) ref[(a * l + idx[j]) * n + c] = upd[(a * nidx + j) * n + c];
        }
      }
      assert.deepEqual(got, ref, `scatter_set_${bytes} (last write wins)`);
    }
    for (const code of NUMERIC) {
      const x = randomArray(code, o * l * n),
        upd = randomArray(code, o * nidx * n),
        got = x.slice(),
        ref = Array.from(x);
      call(`kiln_scatter_add_${code}`, I(o), I(l), I(n), I(nidx), idx, upd, got);
      for (let a = 0; a < o; a++) {
        for (let j = 0; j < nidx; j++) {
          for (let c = 0; c < n; c++) {
            ref[(a * l + idx[j]) * n + c] += upd[(a * nidx + j) * n + c];
          }
        }
      }
      assertClose(
        got,
        stored(code, ref),
        `scatter_add_${code}`,
        code === "f32" ? 1e-6 : 1e-12,
        1e-6,
      );
    }
  }
});

test("scatter mul/min/max fold every update in order", () => {
  // JS folds, stored per update as the kernels do (f32 rounding, int32/uint32 wraparound)
  const folds: Record<string, (a: number, b: number, code: string) => number> = {
    mul: (a, b, code) =>
      code === "i32" ? Math.imul(a, b) : code === "u32" ? Math.imul(a, b) >>> 0 : a * b,
    min: (a, b) => (a !== a || b !== b ? NaN : a < b ? a : b),
    max: (a, b) => (a !== a || b !== b ? NaN : a > b ? a : b),
  };
  for (const [o, l, n] of [[1, 5, 1], [3, 4, 1], [2, 6, 5], [1, 1, 1], [4, 300, 100]]) {
    const nidx = 9, idx = Int32Array.from({ length: nidx }, () => randInt(0, l - 1));
    for (const [op, fold] of Object.entries(folds)) {
      for (const code of NUMERIC) {
        const x = randomArray(code, o * l * n, -3, 3), upd = randomArray(code, o * nidx * n, -3, 3);
        if (code.startsWith("f") && op !== "mul") upd[0] = NaN;
        const got = x.slice(), ref = x.slice();
        call(`kiln_scatter_${op}_${code}`, I(o), I(l), I(n), I(nidx), idx, upd, got);
        for (let a = 0; a < o; a++) {
          for (let j = 0; j < nidx; j++) {
            for (let c = 0; c < n; c++) {
              const d = (a * l + idx[j]) * n + c;
              ref[d] = fold(ref[d], upd[(a * nidx + j) * n + c], code);
            }
          }
        }
        assert.deepEqual(got, ref, `scatter_${op}_${code} ${o}x${l}x${n}`);
      }
    }
  }
});

/** NumPy's order: ascending, NaN last, -0 equal to +0, stable. */
function sortKey(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number(Number.isNaN(a)) - Number(Number.isNaN(b));
  return a < b ? -1 : a > b ? 1 : 0;
}

test("sort: stable, NaN last, argsort", () => {
  for (const code of ["f32", "f64", "i32", "u32", "b8"] as const) {
    for (const [outer, len] of [[1, 0], [1, 1], [3, 10], [2, 48], [2, 49], [1, 5000], [40, 3000]]) {
      const x = randomArray(code, outer * len, -5, 5);
      if (code.startsWith("f")) {
        x.forEach((v, i) => (x[i] = Math.round(v))); // many ties
        for (let i = 0; i < x.length; i += 7) x[i] = [NaN, -0, 0, Infinity, -Infinity][i % 5];
      }
      const values = new ARRAY[code](x.length), indices = new Int32Array(x.length);
      call(`kiln_sort_${code}`, I(outer), I(len), x, values, indices);
      for (let r = 0; r < outer; r++) {
        const order = Array.from({ length: len }, (_, i) => i).sort((i, j) =>
          sortKey(x[r * len + i], x[r * len + j]) || i - j
        );
        assert.deepEqual(
          Array.from(indices.subarray(r * len, (r + 1) * len)),
          order,
          `argsort_${code} ${[outer, len]} row ${r}`,
        );
        assertClose(
          values.subarray(r * len, (r + 1) * len),
          order.map((i) => x[r * len + i]),
          `sort_${code}`,
        );
      }
      const valuesOnly = new ARRAY[code](x.length);
      call(`kiln_sort_${code}`, I(outer), I(len), x, valuesOnly, null);
      assertClose(valuesOnly, values, `sort_${code} without indices`);
    }
  }
});
