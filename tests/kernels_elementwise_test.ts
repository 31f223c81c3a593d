// Self-test of the native CPU kernels (kernels/cpu/*.c) through FFI, elementwise families:
// the symbol table, unary and binary ops, compare/select, casts, fill and iota against
// straightforward JS on seeded random data, with the edge cases of kernels/README.md (empty
// and 1-element inputs, NaN, integer division by 0, INT_MIN / -1, saturating casts, ...).
//
// Run: deno test --allow-all tests/kernels_elementwise_test.ts

import assert from "node:assert/strict";
import { cpuSymbolNames } from "../ffi/cpu_library.ts";
import {
  type Arr,
  ARRAY,
  assertClose,
  BY_BYTES,
  call,
  type Code,
  filled,
  FLOATS,
  I,
  I32,
  INT_MAX,
  INT_MIN,
  lib,
  NUMERIC,
  randomArray,
  SIZES,
  stored,
  test,
  U32,
  UINT_MAX,
} from "./kernels_helpers.ts";

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
