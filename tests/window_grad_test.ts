/**
 * The derivatives of max pooling: `select_and_gather_add` (the jvp of reduce_window_max) and
 * `select_and_scatter_add` (its transpose). Gradients against central finite differences in
 * float64, the transpose identity, the tap chosen on ties, NaN and padding, vmap of grad, jit
 * against eager (with the pools' derivatives running as library calls), the C kernels' fast
 * and general paths against the js reference on larger shapes, and errors.
 */

import { getDevice, grad, jit, lax, nn, np, type Tensor, vmap } from "../mod.ts";
import { type DType, STORAGE } from "../core/dtype.ts";
import {
  reduceWindowMax,
  type ReduceWindowParams,
  reduceWindowShape,
  reduceWindowSum,
  selectAndGatherAdd,
  selectAndScatterAdd,
} from "../core/prims/window.ts";
import { bind1, fromHostData } from "../core/trace.ts";
import { assert, assertClose, rng } from "./helpers.ts";

/** Distinct values (no ties), so max pooling is differentiable at the point. */
function distinct(seed: number, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const r = rng(seed);
  const values = Array.from({ length: n }, (_, i) => i + 0.5 * r());
  for (let i = n - 1; i > 0; i--) { // shuffle
    const j = Math.floor(r() * (i + 1));
    [values[i], values[j]] = [values[j], values[i]];
  }
  return np.array(values, { dtype: "float64" }).reshape(shape).div(n);
}

function randomTensor(seed: number, shape: number[], dtype: DType = "float64", device = "cpu") {
  const n = shape.reduce((a, b) => a * b, 1);
  const r = rng(seed);
  const data = new STORAGE[dtype](n);
  for (let i = 0; i < n; i++) {
    data[i] = dtype === "int32" || dtype === "uint32" ? Math.floor(r() * 6) : 2 * r() - 1;
  }
  return fromHostData(data, shape, dtype, false, getDevice(device));
}

/** Params of a window reduction with `pad` [lo, hi] pairs and window dilation `dil`. */
function params(
  window: number[],
  strides: number[],
  pad?: [number, number][],
  dil?: number[],
): ReduceWindowParams {
  return {
    windowDimensions: window,
    windowStrides: strides,
    padding: pad ?? window.map(() => [0, 0] as [number, number]),
    windowDilation: dil ?? window.map(() => 1),
  };
}

function dot(a: Tensor, b: Tensor): number {
  const x = a.dataSync(), y = b.dataSync();
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  return s;
}

// [shape, window, strides, padding, dilation]: tiled and overlapping 2-D pools, padding,
// dilation, a gap between windows, 1-D and 3-D
const CASES: [number[], number[], number[], [number, number][] | undefined, number[]?][] = [
  [[2, 3, 6, 6], [1, 1, 2, 2], [1, 1, 2, 2], undefined],
  [[2, 2, 7, 7], [1, 1, 2, 2], [1, 1, 2, 2], undefined], // last row/column in no window
  [[1, 2, 7, 6], [1, 1, 3, 3], [1, 1, 2, 2], undefined], // overlapping
  [[1, 2, 5, 5], [1, 1, 3, 3], [1, 1, 1, 1], [[0, 0], [0, 0], [1, 1], [1, 1]]], // "SAME"
  [[2, 7, 7], [1, 2, 2], [1, 3, 3], undefined], // gaps between windows
  [[9], [3], [2], [[1, 2]], [2]], // 1-D, dilated and padded
  [[3, 4, 5], [2, 2, 2], [1, 2, 1], [[1, 0], [0, 1], [1, 1]]], // every axis windowed
];

Deno.test("grad of reduce_window_max agrees with central finite differences (float64)", () => {
  for (const [c, [shape, window, strides, pad, dil]] of CASES.entries()) {
    const p = params(window, strides, pad, dil);
    const x = distinct(c + 1, shape);
    const outShape = reduceWindowShape("test", shape, p);
    const w = randomTensor(c + 50, outShape);
    const f = (t: Tensor) =>
      lax.reduceWindow(t, -Infinity, "max", window, strides, p.padding, {
        windowDilation: p.windowDilation,
      }).mul(w).sum();
    const g = (grad(f)(x) as Tensor).dataSync();
    const xs = x.dataSync(), eps = 1e-7;
    for (let i = 0; i < xs.length; i++) {
      const bump = (d: number) => {
        const moved = Float64Array.from(xs);
        moved[i] += d;
        return (f(np.array(moved).reshape(shape)) as Tensor).item() as number;
      };
      const fd = (bump(eps) - bump(-eps)) / (2 * eps);
      assert.ok(Math.abs(g[i] - fd) < 1e-6, `case ${c} [${i}]: grad ${g[i]} vs fd ${fd}`);
    }
  }
});

Deno.test("grad of nn.maxPool2d agrees with finite differences and jit", () => {
  const x = distinct(7, [2, 3, 8, 8]);
  const w = randomTensor(8, [2, 3, 4, 4]);
  const f = (t: Tensor) => nn.maxPool2d(t, 2).mul(w).sum();
  const g = grad(f)(x) as Tensor;
  // each window sends its weight to its maximal element, and nothing elsewhere
  const xs = x.dataSync(), ws = w.dataSync(), want = new Float64Array(xs.length);
  for (let nc = 0; nc < 6; nc++) {
    for (let oh = 0; oh < 4; oh++) {
      for (let ow = 0; ow < 4; ow++) {
        let best = -1;
        for (const [dh, dw] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
          const at = nc * 64 + (2 * oh + dh) * 8 + 2 * ow + dw;
          if (best < 0 || xs[at] > xs[best]) best = at;
        }
        want[best] += ws[nc * 16 + oh * 4 + ow];
      }
    }
  }
  assertClose(g, want, { rtol: 0, atol: 0 }, "maxPool2d grad");
  assertClose(jit(grad(f))(x) as Tensor, want, { rtol: 0, atol: 0 }, "jit(grad) maxPool2d");
});

Deno.test("transpose identity <gather(t), c> = <t, scatter(c)>, ties and NaN included", () => {
  for (const device of ["cpu", "js"]) {
    for (const [c, [shape, window, strides, pad, dil]] of CASES.entries()) {
      const p = params(window, strides, pad, dil);
      // values on a coarse grid: many ties; one NaN
      const x = randomTensor(c + 10, shape, "float64", device).mul(2).round();
      const xd = Float64Array.from(x.dataSync());
      xd[3 % xd.length] = NaN;
      const xt = fromHostData(xd, shape, "float64", false, getDevice(device));
      const t = randomTensor(c + 20, shape, "float64", device);
      const outShape = reduceWindowShape("test", shape, p);
      const ct = randomTensor(c + 30, outShape, "float64", device);
      const gathered = bind1(selectAndGatherAdd, [t, xt], p);
      const scattered = bind1(selectAndScatterAdd, [ct, xt], p);
      assert.deepEqual(scattered.shape, shape);
      const lhs = dot(gathered, ct), rhs = dot(t, scattered);
      assert.ok(Math.abs(lhs - rhs) < 1e-12 * (1 + Math.abs(lhs)), `${device} case ${c}`);
    }
  }
});

Deno.test("ties, NaN and padding: the first maximal tap in row-major order is selected", () => {
  const p = params([2, 2], [2, 2]);
  const g = (x: number[][]) =>
    Array.from(
      (grad((t: Tensor) => lax.reduceWindow(t, -Infinity, "max", [2, 2], [2, 2], "VALID").sum())(
        np.array(x, { dtype: "float64" }),
      ) as Tensor).dataSync(),
    );
  assert.deepEqual(g([[1, 1], [1, 1]]), [1, 0, 0, 0], "all tied: the first tap");
  assert.deepEqual(g([[0, 2], [2, 1]]), [0, 1, 0, 0], "tie for the max: the first of them");
  assert.deepEqual(g([[0, NaN], [2, NaN]]), [0, 1, 0, 0], "NaN counts as the maximum, first wins");
  // a window whose real taps are all -inf still selects one of them, never the padding
  const padded = params([2], [1], [[1, 1]]);
  const x = np.array([-Infinity, -Infinity], { dtype: "float64" });
  const ct = np.array([1, 10, 100], { dtype: "float64" });
  assert.deepEqual(
    Array.from(bind1(selectAndScatterAdd, [ct, x], padded).dataSync()),
    [11, 100],
    "padding taps are never selected",
  );
  for (const device of ["cpu", "js"]) {
    const tie = fromHostData(
      new Int32Array([5, 5, 5, 5]),
      [2, 2],
      "int32",
      false,
      getDevice(device),
    );
    const tan = fromHostData(
      new Int32Array([1, 2, 3, 4]),
      [2, 2],
      "int32",
      false,
      getDevice(device),
    );
    assert.deepEqual(Array.from(bind1(selectAndGatherAdd, [tan, tie], p).dataSync()), [1], device);
  }
});

Deno.test("vmap of grad of a max pool equals a loop of grads", () => {
  const xs = randomTensor(3, [4, 2, 6, 6]);
  const f = (t: Tensor) => nn.maxPool2d(t, 3, { strides: 2, padding: "SAME" }).square().sum();
  const batched = vmap(grad(f))(xs) as Tensor;
  const loop = np.stack(Array.from({ length: 4 }, (_, i) => grad(f)(xs.slice(i)) as Tensor));
  assertClose(batched, loop, { rtol: 1e-12, atol: 1e-12 }, "vmap(grad)");
  // batched along another axis, and with an unbatched operand
  const p = params([2, 2], [1, 1]);
  const x = randomTensor(4, [5, 5]), ts = randomTensor(5, [3, 5, 5]);
  const moved = np.moveaxis(ts, 0, 2);
  const got = vmap((t: Tensor) => bind1(selectAndGatherAdd, [t, x], p), { inAxes: 2 })(moved);
  const want = np.stack(
    Array.from({ length: 3 }, (_, i) => bind1(selectAndGatherAdd, [ts.slice(i), x], p)),
  );
  assertClose(got as Tensor, want, { rtol: 0, atol: 0 }, "vmap over the tangent only");
});

Deno.test("jit: the pools' derivatives run as library calls and agree with eager", () => {
  const x = randomTensor(6, [4, 3, 12, 12], "float32");
  const f = (t: Tensor) => {
    const a = nn.maxPool2d(t, 2);
    const b = nn.maxPool2d(t, 3, { strides: 2, padding: "SAME" });
    return a.square().sum().add(b.sum());
  };
  const eager = grad(f)(x) as Tensor;
  const jitted = jit(grad(f));
  assertClose(jitted(x) as Tensor, eager, { rtol: 1e-6, atol: 1e-6 }, "jit(grad) vs grad");
  const groups = jitted.lower(x).groups();
  assert.equal(groups.filter((g) => g.includes("select_and_scatter_add")).length, 2);
  assert.deepEqual(groups.filter((g) => g.startsWith("eager")), [], groups.join("\n"));
  // forward mode: the jvp gathers
  const jf = jit((t: Tensor, v: Tensor) =>
    bind1(selectAndGatherAdd, [v, t], params([1, 1, 2, 2], [1, 1, 2, 2]))
  );
  const v = randomTensor(9, [4, 3, 12, 12], "float32");
  assert.ok(jf.lower(x, v).groups().some((g) => g.startsWith("call select_and_gather_add")));
});

Deno.test("C kernels on larger shapes agree with the js reference", () => {
  // [shape, window, strides, padding]: the 2x2 pool, chunked rows (OW > 256), tiled and
  // overlapping 2-D windows, gaps between windows, a padded general case
  const cases: [number[], number[], number[], [number, number][] | undefined][] = [
    [[2, 3, 30, 600], [1, 1, 2, 2], [1, 1, 2, 2], undefined],
    [[2, 2, 9, 800], [1, 1, 3, 3], [1, 1, 3, 3], undefined],
    [[2, 2, 9, 700], [1, 1, 3, 3], [1, 1, 2, 2], undefined],
    [[2, 2, 12, 300], [1, 1, 2, 2], [1, 1, 5, 5], undefined], // gaps, a stride of 5
    [[3, 40, 50], [1, 3, 3], [1, 1, 2], [[0, 0], [1, 1], [1, 1]]],
  ];
  for (const dtype of ["float32", "float64", "int32"] as DType[]) {
    for (const [c, [shape, window, strides, pad]] of cases.entries()) {
      const p = params(window, strides, pad);
      const outShape = reduceWindowShape("test", shape, p);
      const run = (device: string) => {
        const x = randomTensor(c + 1, shape, dtype, device);
        const round = dtype === "float32" ? x.mul(4).round() : x; // ties
        const t = randomTensor(c + 2, shape, dtype, device);
        const ct = randomTensor(c + 3, outShape, dtype, device);
        return [
          bind1(selectAndGatherAdd, [t, round], p),
          bind1(selectAndScatterAdd, [ct, round], p),
        ];
      };
      const [cg, cs] = run("cpu"), [jg, js] = run("js");
      assertClose(cg.dataSync(), jg.dataSync(), { rtol: 0, atol: 0 }, `gather ${dtype} ${c}`);
      assertClose(
        cs.dataSync(),
        js.dataSync(),
        { rtol: 1e-6, atol: 1e-6 },
        `scatter ${dtype} ${c}`,
      );
    }
  }
});

Deno.test("2x2 stride-2 pooling kernels (16-lane rows) are bit-identical to the reference", () => {
  // odd sizes (a row or column left over), rows of 14 (one short block), 20 (a full block and a
  // tail) and 7, NaN and signed zeros; the last rows of the buffer take the scalar path
  const shapes = [[2, 3, 28, 28], [1, 2, 15, 41], [3, 1, 14, 14], [1, 1, 2, 2], [5, 7, 3]];
  for (const dtype of ["float32", "float64", "int32", "uint32"] as DType[]) {
    for (const [c, shape] of shapes.entries()) {
      const nd = shape.length;
      const p = params(
        shape.map((_, i) => (i < nd - 2 ? 1 : 2)),
        shape.map((_, i) => (i < nd - 2 ? 1 : 2)),
      );
      const run = (device: string, op: "max" | "sum") => {
        let x = randomTensor(c + 11, shape, dtype, device);
        if (dtype.startsWith("float")) {
          const data = x.dataSync().slice() as Float64Array;
          for (let i = 0; i < data.length; i += 17) data[i] = NaN;
          for (let i = 5; i < data.length; i += 13) data[i] = i % 2 ? -0 : 0;
          x = fromHostData(data, shape, dtype, false, getDevice(device));
        }
        return bind1(op === "max" ? reduceWindowMax : reduceWindowSum, [x], p).dataSync();
      };
      for (const op of ["max", "sum"] as const) {
        const got = run("cpu", op), want = run("js", op);
        const tol = op === "sum" && dtype === "float32" ? 1e-6 : 0;
        assertClose(got, want, { rtol: tol, atol: tol }, `${op} ${dtype} ${shape}`);
        if (op === "max" && dtype.startsWith("float")) {
          // signed zeros: the first of equal taps wins, in both
          got.forEach((v, i) => assert.equal(Object.is(v, -0), Object.is(want[i], -0), `-0 ${i}`));
        }
      }
    }
  }
});

Deno.test("select primitives reject mismatched operands with clear errors", () => {
  const p = params([2], [2]);
  const x = np.zeros([4]), t64 = np.zeros([4], { dtype: "float64" });
  assert.throws(
    () => bind1(selectAndGatherAdd, [t64, x], p),
    /select_and_gather_add: .*same numeric dtype/,
  );
  assert.throws(
    () => bind1(selectAndGatherAdd, [np.zeros([3]), x], p),
    /select_and_gather_add: the tangent \(3\)|select_and_gather_add: the tangent/,
  );
  assert.throws(
    () => bind1(selectAndScatterAdd, [np.zeros([3]), x], p),
    /select_and_scatter_add: the cotangent/,
  );
  assert.throws(
    () =>
      bind1(selectAndScatterAdd, [
        np.zeros([2], { dtype: "bool" }),
        np.zeros([4], { dtype: "bool" }),
      ], p),
    /select_and_scatter_add: .*numeric/,
  );
  assert.throws(
    () => bind1(selectAndGatherAdd, [x, x], params([2, 2], [1, 1])),
    /select_and_gather_add: windowDimensions must have 1 entries/,
  );
});
