// The CPU kernel glue of convolution and window reductions (ffi/cpu_ops/conv.ts), checked
// against fake C symbols implementing kernels/README.md's ABI in JS, without a compiler.

// first: it loads the core in a working order (see conv_helpers.ts)
import {
  assertClose,
  convConfig,
  naiveConv,
  naiveReduceWindow,
  random,
  ravel,
  unravel,
  windowConfig,
} from "./conv_helpers.ts";
import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix no-unversioned-import
import fc from "npm:fast-check";
import { conv as convPrim, type ConvParams } from "../core/prims/conv.ts";
import { reduceWindowMax, type ReduceWindowParams, reduceWindowSum } from "../core/prims/window.ts";
import { sizeOf } from "../core/shape.ts";
import { convKernels } from "../ffi/cpu_ops/conv.ts";
import type { CArg, CpuSymbols } from "../ffi/cpu_ops/types.ts";

// ---- CPU kernel glue ----------------------------------------------------------------------

// Fake C symbols implementing kernels/README.md's ABI in JS (with the naive functions above),
// so that the parameter packing of ffi/cpu_ops/conv.ts is checked without a compiler.
function fakeSymbols(calls: string[]): CpuSymbols {
  const n = (v: bigint) => Number(v);
  const conv2d = (name: string) => (...args: CArg[]) => {
    calls.push(name);
    const [pArr, x, w, out] = args as [BigInt64Array, Float64Array, Float64Array, Float64Array];
    const p = [...pArr].map(n);
    assert.equal(p.length, 18);
    const [N, C, H, W, O, KH, KW, OH, OW, G, sh, sw, pt, pl, ldh, ldw, rdh, rdw] = p;
    // pad_bottom / pad_right are whatever makes the output OH x OW: any value that does not
    // cut the last window works; take the largest needed
    const dil = (d: number, f: number) => (d - 1) * f + 1;
    const pb = Math.max(0, (OH - 1) * sh + dil(KH, rdh) - dil(H, ldh) - pt);
    const pr = Math.max(0, (OW - 1) * sw + dil(KW, rdw) - dil(W, ldw) - pl);
    const r = naiveConv(
      x,
      [N, C, H, W],
      w,
      [O, C / G, KH, KW],
      [sh, sw],
      [[pt, pb], [pl, pr]],
      [
        ldh,
        ldw,
      ],
      [rdh, rdw],
      G,
    );
    assert.deepEqual(r.shape.slice(2, 4).map((d, i) => Math.min(d, [OH, OW][i])), [OH, OW]);
    // copy the OH x OW corner
    for (let e = 0; e < out.length; e++) {
      const [b, o, i, j] = unravel(e, [N, O, OH, OW]);
      out[e] = r.out[ravel([b, o, i, j], r.shape)];
    }
  };
  const rw = (op: "max" | "sum", name: string) => (...args: CArg[]) => {
    calls.push(name);
    const [ndB, pArr, x, out] = args as [bigint, BigInt64Array, Float64Array, Float64Array];
    const nd = n(ndB), p = [...pArr].map(n);
    assert.equal(p.length, 6 * nd);
    const part = (k: number) => p.slice(k * nd, (k + 1) * nd);
    const [inShape, outShape, win, strides, padLo, dil] = [0, 1, 2, 3, 4, 5].map(part);
    const padHi = inShape.map((d, i) =>
      Math.max(0, (outShape[i] - 1) * strides[i] + (win[i] - 1) * dil[i] + 1 - d - padLo[i])
    );
    const r = naiveReduceWindow(
      op,
      x,
      inShape,
      win,
      strides,
      padLo.map((lo, i) => [lo, padHi[i]]),
      dil,
    );
    for (let e = 0; e < out.length; e++) out[e] = r.out[ravel(unravel(e, outShape), r.shape)];
  };
  return {
    kiln_conv2d_f64: conv2d("kiln_conv2d_f64"),
    kiln_conv2d_f32: conv2d("kiln_conv2d_f32"),
    kiln_reduce_window_max_f64: rw("max", "kiln_reduce_window_max_f64"),
    kiln_reduce_window_sum_f64: rw("sum", "kiln_reduce_window_sum_f64"),
  };
}

function convCase(c: {
  xShape: number[];
  wShape: number[];
  strides: number[];
  pads: [number, number][];
  ld: number[];
  rd: number[];
  groups: number;
  seed: number;
}, dtype: "float32" | "float64") {
  const Ctor = dtype === "float32" ? Float32Array : Float64Array;
  const x = random(sizeOf(c.xShape), c.seed, Ctor), w = random(sizeOf(c.wShape), c.seed + 3, Ctor);
  const params: ConvParams = {
    windowStrides: c.strides,
    padding: c.pads,
    lhsDilation: c.ld,
    rhsDilation: c.rd,
    featureGroupCount: c.groups,
  };
  const inAvals = [{ shape: c.xShape, dtype, weak: false }, {
    shape: c.wShape,
    dtype,
    weak: false,
  }];
  const outAvals = convPrim.rules.abstractEval(inAvals, params);
  return { x, w, params, inAvals, outAvals };
}

Deno.test("cpu conv kernels", async (t) => {
  await t.step("parameter packing against a JS model of the C ABI (fast-check)", () => {
    fc.assert(
      fc.property(convConfig, (c) => {
        const calls: string[] = [];
        const sym = fakeSymbols(calls);
        const k = convCase(c, "float64");
        const [got] = convKernels.conv_general_dilated(
          sym,
          [k.x, k.w],
          k.inAvals,
          k.params as never,
          k.outAvals,
        );
        const [want] = convPrim.rules.impl([k.x, k.w], k.inAvals, k.params, k.outAvals);
        assert.ok(got instanceof Float64Array);
        assertClose(got, want, 1e-12, "conv kernel glue");
        const nd = c.xShape.length - 2;
        if (nd <= 2 && sizeOf(k.outAvals[0].shape) > 0) {
          assert.deepEqual(calls, ["kiln_conv2d_f64"]);
        }
        if (nd === 3) assert.deepEqual(calls, []); // 3-D falls back to the reference
      }),
      { numRuns: 100 },
    );
    fc.assert(
      fc.property(windowConfig, fc.constantFrom("max" as const, "sum" as const), (c, op) => {
        const sym = fakeSymbols([]);
        const x = random(sizeOf(c.shape), c.seed);
        const params: ReduceWindowParams = {
          windowDimensions: c.win,
          windowStrides: c.strides,
          padding: c.pads,
          windowDilation: c.dil,
        };
        const prim = op === "max" ? reduceWindowMax : reduceWindowSum;
        const inAvals = [{ shape: c.shape, dtype: "float64" as const, weak: false }];
        const outAvals = prim.rules.abstractEval(inAvals, params);
        const [got] = convKernels[prim.name](sym, [x], inAvals, params as never, outAvals);
        const [want] = prim.rules.impl([x], inAvals, params, outAvals);
        assertClose(got, want, 1e-12, "reduce window kernel glue");
      }),
      { numRuns: 100 },
    );
  });

  // The real C kernels, through ffi/cpu_library.ts. That module is written in parallel with
  // this one: it is imported dynamically, and while it does not exist the step is skipped
  // (TODO: make this a static import once ffi/cpu_library.ts has landed).
  const libraryUrl = new URL("../ffi/cpu_library.ts", import.meta.url);
  let haveLibrary = false;
  try {
    haveLibrary = Deno.statSync(libraryUrl).isFile;
  } catch {
    haveLibrary = false;
  }
  await t.step({
    name: "C kernels agree with the reference (f32 within 1e-4 relative)",
    ignore: !haveLibrary,
    fn: async () => {
      const mod = await import(libraryUrl.href);
      const sym = mod.loadCpuLibrary().symbols as CpuSymbols;
      fc.assert(
        fc.property(convConfig, fc.boolean(), (c, f32) => {
          const dtype = f32 ? "float32" : "float64";
          const k = convCase(c, dtype);
          const [got] = convKernels.conv_general_dilated(
            sym,
            [k.x, k.w],
            k.inAvals,
            k.params as never,
            k.outAvals,
          );
          const [want] = convPrim.rules.impl([k.x, k.w], k.inAvals, k.params, k.outAvals);
          assert.equal(got.constructor, want.constructor);
          assertClose(got, want, f32 ? 1e-4 : 1e-10, `kiln_conv2d (${dtype})`);
        }),
        { numRuns: 200 },
      );
      const ctors = {
        float32: Float32Array,
        float64: Float64Array,
        int32: Int32Array,
        uint32: Uint32Array,
      };
      fc.assert(
        fc.property(
          windowConfig,
          fc.constantFrom("max" as const, "sum" as const),
          fc.constantFrom(
            "float32" as const,
            "float64" as const,
            "int32" as const,
            "uint32" as const,
          ),
          (c, op, dtype) => {
            const src = random(sizeOf(c.shape), c.seed);
            const x = new ctors[dtype](src.length);
            for (let i = 0; i < x.length; i++) {
              x[i] = dtype.startsWith("float") ? src[i] : Math.round(src[i] * 1000);
            }
            const params: ReduceWindowParams = {
              windowDimensions: c.win,
              windowStrides: c.strides,
              padding: c.pads,
              windowDilation: c.dil,
            };
            const prim = op === "max" ? reduceWindowMax : reduceWindowSum;
            const inAvals = [{ shape: c.shape, dtype, weak: false }];
            const outAvals = prim.rules.abstractEval(inAvals, params);
            const [got] = convKernels[prim.name](sym, [x], inAvals, params as never, outAvals);
            const [want] = prim.rules.impl([x], inAvals, params, outAvals);
            assert.equal(got.constructor, want.constructor);
            assertClose(
              got,
              want,
              dtype === "float32" ? 1e-5 : 1e-12,
              `kiln_reduce_window_${op} (${dtype})`,
            );
          },
        ),
        { numRuns: 200 },
      );
    },
  });
});
