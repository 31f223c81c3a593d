// The convolution's gradient primitives (conv_grad_lhs, conv_grad_rhs): against a naive
// convolution written independently of the library (through the adjoint identity), gradients
// against finite differences in float64, per-example gradients under vmap, the C kernels
// against the reference, and the jitted backward pass running them as library calls.

import { getDevice, grad, jit, lax, np, setDefaultDevice, type Tensor, vmap } from "../mod.ts";
import type { DType, TypedArray } from "../core/dtype.ts";
import type { Graph } from "../core/graph.ts";
import { convGradLhs, convGradRhs } from "../core/prims/conv_grad.ts";
import { conv, type ConvParams } from "../core/prims/conv.ts";
import { sizeOf, stridesOf } from "../core/shape.ts";
import { StagingTrace } from "../core/staging.ts";
import { bind1, fromHostData, getCurrentTrace, withTrace } from "../core/trace.ts";
import { cpuBackend } from "../jit/cpu/backend.ts";
import { assert, assertClose, fc, rng } from "./helpers.ts";

// ---- an independent naive convolution -------------------------------------------------

interface Config {
  xShape: number[];
  wShape: number[];
  params: ConvParams;
}

// The convolution by its definition: materialize the lhs-dilated, padded input, then
// correlate it with the rhs-dilated kernel at the window strides.
function naiveConv(x: ArrayLike<number>, w: ArrayLike<number>, c: Config) {
  const { windowStrides: st, padding, lhsDilation: ld, rhsDilation: rd } = c.params;
  const [n, ch, ...sp] = c.xShape, [o, cg, ...ks] = c.wShape;
  const g = c.params.featureGroupCount, og = o / g;
  const dil = (d: number, f: number) => (d === 0 ? 0 : (d - 1) * f + 1);
  const padded = sp.map((d, i) => dil(d, ld[i]) + padding[i][0] + padding[i][1]);
  const span = ks.map((d, i) => dil(d, rd[i]));
  const outSp = padded.map((p, i) => (p < span[i] ? 0 : Math.floor((p - span[i]) / st[i]) + 1));
  const unravel = (e: number, shape: number[]) => {
    const strides = stridesOf(shape);
    return shape.map((d, k) => Math.floor(e / strides[k]) % d);
  };
  // the padded input, one plane per (image, channel)
  const plane = sizeOf(padded), planeStrides = stridesOf(padded);
  const xp = new Float64Array(n * ch * plane);
  for (let e = 0; e < x.length; e++) {
    const [b, ci, ...pos] = unravel(e, c.xShape);
    const q = pos.map((v, i) => padding[i][0] + v * ld[i]);
    if (q.every((v, i) => v >= 0 && v < padded[i])) {
      xp[(b * ch + ci) * plane + q.reduce((s, v, i) => s + v * planeStrides[i], 0)] = x[e];
    }
  }
  const shape = [n, o, ...outSp];
  const out = new Float64Array(sizeOf(shape));
  for (let e = 0; e < out.length; e++) {
    const [b, oc, ...op] = unravel(e, shape);
    const group = Math.floor(oc / og);
    let acc = 0;
    for (let t = 0; t < sizeOf(ks); t++) {
      const k = unravel(t, ks);
      const q = op.map((v, i) => v * st[i] + k[i] * rd[i]);
      const off = q.reduce((s, v, i) => s + v * planeStrides[i], 0);
      for (let ci = 0; ci < cg; ci++) {
        acc += xp[(b * ch + group * cg + ci) * plane + off] * w[(oc * cg + ci) * sizeOf(ks) + t];
      }
    }
    out[e] = acc;
  }
  return { out, shape };
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

function randomArray(r: () => number, n: number, dtype: DType = "float64"): TypedArray {
  const a = dtype === "float32" ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = 2 * r() - 1;
  return a;
}

// A float64 tensor of `data` on the default device.
const f64 = (data: TypedArray, shape: number[]) =>
  np.array(Array.from(data), { dtype: "float64" }).reshape(shape);

function tensorOn(data: TypedArray, shape: number[], dtype: DType, device: string): Tensor {
  return fromHostData(data, shape, dtype, false, getDevice(device));
}

// A random 1-D or 2-D convolution (a 3-D one now and then: the reference path), with size-0
// and size-1 axes, strides, negative and positive padding, both dilations and groups.
const configArb = fc.record({
  nd: fc.integer({ min: 1, max: 3 }),
  n: fc.integer({ min: 0, max: 3 }),
  groups: fc.integer({ min: 1, max: 3 }),
  cg: fc.integer({ min: 1, max: 3 }),
  og: fc.integer({ min: 0, max: 3 }),
  sizes: fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 3, maxLength: 3 }),
  ks: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }),
  strides: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 3, maxLength: 3 }),
  ld: fc.array(fc.integer({ min: 1, max: 2 }), { minLength: 3, maxLength: 3 }),
  rd: fc.array(fc.integer({ min: 1, max: 2 }), { minLength: 3, maxLength: 3 }),
  pads: fc.array(fc.tuple(fc.integer({ min: -1, max: 2 }), fc.integer({ min: -1, max: 2 })), {
    minLength: 3,
    maxLength: 3,
  }),
  seed: fc.integer({ min: 1, max: 1 << 30 }),
}).map((r) => {
  const nd = r.nd === 3 && r.seed % 4 !== 0 ? 2 : r.nd; // mostly the C kernels' ranks
  const sp = r.sizes.slice(0, nd);
  const params: ConvParams = {
    windowStrides: r.strides.slice(0, nd),
    padding: r.pads.slice(0, nd).map(([lo, hi]) => [lo, hi] as [number, number]),
    lhsDilation: r.ld.slice(0, nd),
    rhsDilation: r.rd.slice(0, nd),
    featureGroupCount: r.groups,
  };
  const ks = r.ks.slice(0, nd);
  if (r.seed % 3 === 0) {
    // a SAME stride-1 convolution (output as large as the input): the kernels' shifted path
    params.windowStrides = sp.map(() => 1);
    params.lhsDilation = sp.map(() => 1);
    params.padding = ks.map((k, i) => {
      const total = (k - 1) * params.rhsDilation[i], lo = r.pads[i][0] < 0 ? 0 : r.pads[i][0];
      return [Math.min(lo, total), total - Math.min(lo, total)];
    });
  }
  // no padding that crops more than the whole axis
  sp.forEach((d, i) => {
    if ((d - 1) * params.lhsDilation[i] + 1 + params.padding[i][0] + params.padding[i][1] < 0) {
      params.padding[i] = [0, 0];
    }
  });
  const config: Config = {
    xShape: [r.n, r.groups * r.cg, ...sp],
    wShape: [r.groups * r.og, r.cg, ...ks],
    params,
  };
  return { config, seed: r.seed };
});

// ---- tests --------------------------------------------------------------------------------

Deno.test("conv_grad primitives are the adjoints of a naive convolution", async (t) => {
  for (const device of ["js", "cpu"]) {
    for (const dtype of ["float64", "float32"] as const) {
      await t.step(`${device} ${dtype}`, () => {
        fc.assert(
          fc.property(configArb, ({ config: c, seed }) => {
            const r = rng(seed);
            const x = randomArray(r, sizeOf(c.xShape), dtype);
            const w = randomArray(r, sizeOf(c.wShape), dtype);
            const outShape = naiveConv(x, w, c).shape;
            const ct = randomArray(r, sizeOf(outShape), dtype);
            const on = (data: TypedArray, shape: number[]) => tensorOn(data, shape, dtype, device);
            const dx = bind1(convGradLhs, [on(ct, outShape), on(w, c.wShape)], {
              ...c.params,
              lhsShape: c.xShape,
            });
            const dw = bind1(convGradRhs, [on(x, c.xShape), on(ct, outShape)], {
              ...c.params,
              rhsShape: c.wShape,
            });
            assert.deepEqual(dx.shape, c.xShape);
            assert.deepEqual(dw.shape, c.wShape);
            assert.equal(dx.dtype, dtype);
            // the forward convolution on this device, too
            const y = bind1(conv, [on(x, c.xShape), on(w, c.wShape)], c.params);
            const tolY = dtype === "float64" ? 1e-12 : 1e-5;
            assertClose(y.dataSync(), naiveConv(x, w, c).out, { rtol: tolY, atol: tolY }, "conv");
            // <dx, v> = <conv(v, w), ct> and <dw, v> = <conv(x, v), ct> for random v (exact
            // in float64 up to rounding; float32 accumulates in float32 on cpu)
            const tol = dtype === "float64" ? 1e-10 : 2e-4;
            for (let k = 0; k < 2; k++) {
              const vx = randomArray(r, sizeOf(c.xShape)), vw = randomArray(r, sizeOf(c.wShape));
              const pairs: [number, number][] = [
                [dot(dx.dataSync(), vx), dot(naiveConv(vx, w, c).out, ct)],
                [dot(dw.dataSync(), vw), dot(naiveConv(x, vw, c).out, ct)],
              ];
              for (const [got, want] of pairs) {
                assert.ok(
                  Math.abs(got - want) <= tol * (1 + Math.abs(want)),
                  `${JSON.stringify(c)}: ${got} vs ${want}`,
                );
              }
            }
          }),
          { numRuns: 120 },
        );
      });
    }
  }
});

// Named cases for the gradient checks: [x shape, w shape, strides, padding, options].
const CASES: {
  name: string;
  x: number[];
  w: number[];
  strides: number[];
  padding: [number, number][];
  lhsDilation?: number[];
  rhsDilation?: number[];
  featureGroupCount?: number;
}[] = [
  {
    name: "3x3 same",
    x: [2, 3, 6, 5],
    w: [4, 3, 3, 3],
    strides: [1, 1],
    padding: [[1, 1], [1, 1]],
  },
  { name: "strided", x: [2, 2, 7, 8], w: [3, 2, 3, 2], strides: [2, 3], padding: [[1, 0], [0, 1]] },
  {
    name: "rhs-dilated",
    x: [1, 2, 7, 7],
    w: [2, 2, 2, 3],
    strides: [1, 2],
    padding: [[2, 2], [1, 0]],
    rhsDilation: [2, 2],
  },
  {
    name: "lhs-dilated (transposed conv)",
    x: [2, 2, 4, 3],
    w: [3, 2, 3, 3],
    strides: [1, 1],
    padding: [[2, 1], [1, 2]],
    lhsDilation: [2, 3],
  },
  {
    name: "grouped",
    x: [2, 6, 5, 5],
    w: [4, 3, 3, 3],
    strides: [1, 2],
    padding: [[1, 1], [0, 0]],
    featureGroupCount: 2,
  },
  {
    name: "depthwise, negative padding",
    x: [3, 4, 6, 6],
    w: [8, 1, 2, 2],
    strides: [1, 1],
    padding: [[-1, 0], [0, -1]],
    featureGroupCount: 4,
  },
  { name: "1-D", x: [2, 3, 9], w: [2, 3, 4], strides: [2], padding: [[1, 2]], rhsDilation: [2] },
  {
    name: "3-D (reference)",
    x: [1, 2, 4, 3, 3],
    w: [2, 2, 2, 2, 2],
    strides: [1, 1, 1],
    padding: [[1, 0], [0, 0], [0, 1]],
  },
];

Deno.test("grad of conv agrees with finite differences (float64)", async (t) => {
  for (const device of ["cpu", "js"]) {
    setDefaultDevice(device);
    try {
      for (const c of CASES) {
        await t.step(`${device}: ${c.name}`, () => {
          const r = rng(c.x.reduce((a, b) => a * 7 + b, 3));
          const x = f64(randomArray(r, sizeOf(c.x)), c.x);
          const w = f64(randomArray(r, sizeOf(c.w)), c.w);
          const convolve = (a: Tensor, b: Tensor) =>
            lax.convGeneralDilated(a, b, c.strides, c.padding, {
              lhsDilation: c.lhsDilation,
              rhsDilation: c.rhsDilation,
              featureGroupCount: c.featureGroupCount,
            });
          const outShape = [...convolve(x, w).shape];
          const R = f64(randomArray(r, sizeOf(outShape)), outShape);
          const loss = (a: Tensor, b: Tensor) => np.sum(np.multiply(np.tanh(convolve(a, b)), R));
          const [gx, gw] = grad(loss, { argnums: [0, 1] })(x, w) as Tensor[];
          const [jx, jw] = jit(grad(loss, { argnums: [0, 1] }))(x, w) as Tensor[];
          assertClose(jx, gx, { rtol: 1e-10, atol: 1e-12 }, "jit grad x");
          assertClose(jw, gw, { rtol: 1e-10, atol: 1e-12 }, "jit grad w");
          // directional derivatives by central differences
          const eps = 1e-6;
          for (let k = 0; k < 3; k++) {
            const vx = f64(randomArray(r, sizeOf(c.x)), c.x);
            const vw = f64(randomArray(r, sizeOf(c.w)), c.w);
            const value = (t: Tensor) => Number(t.item());
            const fd = (value(loss(x.add(vx.mul(eps)), w.add(vw.mul(eps)))) -
              value(loss(x.sub(vx.mul(eps)), w.sub(vw.mul(eps))))) / (2 * eps);
            const analytic = value(np.sum(gx.mul(vx))) + value(np.sum(gw.mul(vw)));
            assert.ok(
              Math.abs(fd - analytic) <= 1e-6 * (1 + Math.abs(fd)),
              `${c.name}: finite difference ${fd} vs gradient ${analytic}`,
            );
          }
        });
      }
    } finally {
      setDefaultDevice("cpu");
    }
  }
});

Deno.test("vmap of grad of conv gives per-example gradients", async (t) => {
  for (const c of CASES.filter((c) => c.x.length === 4)) {
    await t.step(c.name, () => {
      const r = rng(c.w.reduce((a, b) => a * 5 + b, 1));
      const batch = 3;
      const xs = f64(randomArray(r, batch * sizeOf(c.x)), [batch, ...c.x]);
      const w = f64(randomArray(r, sizeOf(c.w)), c.w);
      const loss = (b: Tensor, a: Tensor) =>
        np.sum(np.square(lax.convGeneralDilated(a, b, c.strides, c.padding, {
          lhsDilation: c.lhsDilation,
          rhsDilation: c.rhsDilation,
          featureGroupCount: c.featureGroupCount,
        })));
      // gradients wrt both: the weights (per example) and the inputs
      const both = grad(loss, { argnums: [0, 1] });
      const perExample = vmap(both, { inAxes: [null, 0] })(w, xs) as Tensor[];
      const jitted = jit(vmap(both, { inAxes: [null, 0] }))(w, xs) as Tensor[];
      for (let b = 0; b < batch; b++) {
        const [gw, gx] = both(w, xs.slice(b)) as Tensor[];
        assertClose(perExample[0].slice(b), gw, { rtol: 1e-10, atol: 1e-10 }, `dw ${b}`);
        assertClose(perExample[1].slice(b), gx, { rtol: 1e-10, atol: 1e-10 }, `dx ${b}`);
        assertClose(jitted[0].slice(b), gw, { rtol: 1e-10, atol: 1e-10 }, `jit dw ${b}`);
      }
      // per-example kernels too (w batched, x shared), the other batch rule
      const ws = np.stack([w, w.mul(-0.5), w.add(0.25)], 0);
      const x0 = xs.slice(0);
      const perKernel = vmap(both, { inAxes: [0, null] })(ws, x0) as Tensor[];
      for (let b = 0; b < batch; b++) {
        const [gw, gx] = both(ws.slice(b), x0) as Tensor[];
        assertClose(perKernel[0].slice(b), gw, { rtol: 1e-10, atol: 1e-10 }, `kernel dw ${b}`);
        assertClose(perKernel[1].slice(b), gx, { rtol: 1e-10, atol: 1e-10 }, `kernel dx ${b}`);
      }
    });
  }
});

Deno.test("errors of the gradient primitives name the op and the shapes", () => {
  const params: ConvParams = {
    windowStrides: [1, 1],
    padding: [[0, 0], [0, 0]],
    lhsDilation: [1, 1],
    rhsDilation: [1, 1],
    featureGroupCount: 1,
  };
  const f = (shape: number[]) => ({ shape, dtype: "float32" as DType, weak: false });
  assert.throws(
    () =>
      convGradLhs.rules.abstractEval([f([2, 4, 3, 3]), f([4, 3, 3, 3])], {
        ...params,
        lhsShape: [2, 3, 6, 6],
      }),
    /conv_grad_lhs: the cotangent ct\(2, 4, 3, 3\) must have the convolution's output shape \(2, 4, 4, 4\)/,
  );
  assert.throws(
    () =>
      convGradRhs.rules.abstractEval([f([2, 3, 6, 6]), f([2, 4, 4, 4])], {
        ...params,
        rhsShape: [4, 2, 3, 3],
      }),
    /conv_grad_rhs: .*3 \/ 1 != 2/,
  );
  assert.throws(
    () =>
      convGradRhs.rules.abstractEval([f([2, 3, 6, 6]), f([2, 4, 4, 4])], {
        ...params,
        rhsShape: [4, 3, -3, 3],
      }),
    /conv_grad_rhs: rhsShape must list 4 non-negative integers/,
  );
  assert.throws(
    () =>
      convGradLhs.rules.abstractEval([f([2, 4, 4, 4]), { ...f([4, 3, 3, 3]), dtype: "int32" }], {
        ...params,
        lhsShape: [2, 3, 6, 6],
      }),
    /conv_grad_lhs: operands must share a float dtype/,
  );
});

// The graph of a function of abstract inputs, as `jit` stages it.
function traceGraph(f: (...xs: Tensor[]) => Tensor[], shapes: number[][]): Graph {
  const st = new StagingTrace(getCurrentTrace(), "jit");
  const ins = shapes.map((shape) => st.newInput({ shape, dtype: "float32", weak: false }));
  const outs = withTrace(st, () => f(...ins));
  st.valid = false;
  return st.toGraph(ins, outs);
}

Deno.test("jit cpu: a conv layer's backward pass is two library calls, no transposes", () => {
  // conv2 of the MNIST CNN, smaller: the weight and input gradients of a 3x3 SAME conv
  const shapes = [[4, 8, 6, 6], [16, 8, 3, 3], [4, 16, 6, 6]];
  const graph = traceGraph((x, w, r) => {
    const loss = (a: Tensor, b: Tensor) =>
      np.sum(np.multiply(lax.conv(a, b, [1, 1], [[1, 1], [1, 1]]), r));
    return grad(loss, { argnums: [0, 1] })(x, w) as Tensor[];
  }, shapes);
  const compiled = cpuBackend.compile(graph, { donated: [false, false, false] });
  const groups = compiled.groups();
  const text = groups.join("; ");
  assert.ok(text.includes("call conv_grad_lhs -> float32[4,8,6,6]"), text);
  assert.ok(text.includes("call conv_grad_rhs -> float32[16,8,3,3]"), text);
  // nothing else but the cotangent (r times the sum's seed of 1)
  assert.deepEqual(groups.filter((g) => !g.startsWith("call conv_grad")), [
    "loop f32[4,16,6,6]: mul",
  ]);
  // and it computes the gradients (against the js device's reference)
  const r = rng(5);
  const data = shapes.map((s) => randomArray(r, sizeOf(s), "float32"));
  const [dx, dw] = compiled.run(data.map((d) => d.slice()));
  const js = (d: TypedArray, s: number[]) => tensorOn(d, s, "float32", "js");
  const params: ConvParams = {
    windowStrides: [1, 1],
    padding: [[1, 1], [1, 1]],
    lhsDilation: [1, 1],
    rhsDilation: [1, 1],
    featureGroupCount: 1,
  };
  const wantDx = bind1(convGradLhs, [js(data[2], shapes[2]), js(data[1], shapes[1])], {
    ...params,
    lhsShape: shapes[0],
  });
  const wantDw = bind1(convGradRhs, [js(data[0], shapes[0]), js(data[2], shapes[2])], {
    ...params,
    rhsShape: shapes[1],
  });
  assertClose(dx, wantDx.dataSync(), { rtol: 1e-4, atol: 1e-4 }, "dx");
  assertClose(dw, wantDw.dataSync(), { rtol: 1e-4, atol: 1e-4 }, "dw");
});
