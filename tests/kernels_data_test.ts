// Self-test of the native CPU kernels (kernels/cpu/*.c) through FFI, data movement:
// strided copies, reductions, arg-reductions and scans, take and scatter, and sort, against
// straightforward JS loops on seeded random data (empty and 1-element inputs, NaN, ...).
//
// Run: deno test --allow-all tests/kernels_data_test.ts

import assert from "node:assert/strict";
import {
  type Arr,
  ARRAY,
  type ArrayClass,
  assertClose,
  BY_BYTES,
  call,
  filled,
  I,
  I32,
  i64,
  INT_MAX,
  INT_MIN,
  NUMERIC,
  randInt,
  random,
  randomArray,
  stored,
  test,
  U32,
  UINT_MAX,
} from "./kernels_helpers.ts";

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
  // [op, identity, fold] of the numeric reductions and scans, wrapping as the kernels do
  type Fold = [string, number, (a: number, v: number) => number];
  const numericFolds = (code: (typeof NUMERIC)[number]): Fold[] => [
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
  await t.step("reduce", () => {
    for (const code of [...NUMERIC, "b8"] as const) {
      const ops: Fold[] = code === "b8"
        ? [["any", 0, Math.max], ["all", 1, Math.min]]
        : numericFolds(code);
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
      const ops = numericFolds(code);
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
