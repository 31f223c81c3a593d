// Self-test of the native CPU kernels (kernels/cpu/*.c) through FFI, contractions and
// windows: matmul (BLAS, the built-in blocked kernel, integers), dilated and grouped conv2d,
// and reduce_window, against naive float64 loops on seeded random data.
//
// Run: deno test --allow-all tests/kernels_matmul_conv_test.ts

import assert from "node:assert/strict";
import {
  type Arr,
  ARRAY,
  assertClose,
  call,
  type Code,
  FLOATS,
  I,
  I32,
  i64,
  INT_MIN,
  lib,
  NUMERIC,
  randomArray,
  stored,
  test,
  U32,
} from "./kernels_helpers.ts";

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
