/**
 * The CPU JIT back end against eager evaluation: every primitive of the registry, random
 * elementwise chains with broadcasts, reductions, softmax, logsumexp, an MLP training step;
 * pinned kernel counts and donation.
 */

import { np, primitives, valueAndGrad } from "../mod.ts";
import type { Tensor } from "../core/tensor.ts";
import {
  type DType,
  STORAGE,
  storageFromNumbers,
  storageToNumbers,
  type TypedArray,
} from "../core/dtype.ts";
import { evalGraph, type Graph } from "../core/graph.ts";
import { StagingTrace } from "../core/staging.ts";
import { bind, fromHostData, getCurrentTrace, withTrace } from "../core/trace.ts";
import { cpuBackend } from "../jit/cpu/backend.ts";
import { type Input, samplers } from "./conformance_samplers.ts";
import { assert, assertClose, fc, rng } from "./helpers.ts";

type Aval = { shape: readonly number[]; dtype: DType };

function traceGraph(f: (...xs: Tensor[]) => Tensor[], avals: Aval[]): Graph {
  const st = new StagingTrace(getCurrentTrace(), "jit");
  const ins = avals.map((a) => st.newInput({ shape: [...a.shape], dtype: a.dtype, weak: false }));
  const outs = withTrace(st, () => f(...ins));
  st.valid = false;
  return st.toGraph(ins, outs);
}

function toTensor(data: TypedArray, a: Aval): Tensor {
  return fromHostData(data.slice(), a.shape, a.dtype);
}

function randomData(r: () => number, a: Aval): TypedArray {
  const size = a.shape.reduce((x, y) => x * y, 1);
  const out = new STORAGE[a.dtype](size);
  for (let i = 0; i < size; i++) out[i] = a.dtype === "bool" ? (r() < 0.5 ? 1 : 0) : 4 * r() - 2;
  return out;
}

function tolerance(dtype: DType) {
  if (dtype === "float64") return { rtol: 1e-9, atol: 1e-9 };
  if (dtype === "float16") return { rtol: 2e-3, atol: 1e-3 };
  if (dtype === "bfloat16") return { rtol: 1.6e-2, atol: 8e-3 };
  if (dtype === "float32") return { rtol: 2e-4, atol: 2e-4 };
  return { rtol: 0, atol: 0 };
}

/** Compiles `graph`, runs it on `data` and compares with eager evaluation. */
function checkAgainstEager(graph: Graph, data: TypedArray[], message = ""): TypedArray[] {
  const compiled = cpuBackend.compile(graph, { donated: graph.inputs.map(() => false) });
  const got = compiled.run(data.map((d) => d.slice()));
  const want = evalGraph(graph, data.map((d, i) => toTensor(d, graph.inputs[i].aval as Aval)));
  assert.equal(got.length, want.length);
  want.forEach((w, i) => {
    const values = storageToNumbers(got[i], w.dtype); // bfloat16 comes back as its bits
    assertClose(values, w.dataSync(), tolerance(w.dtype), `${message} output ${i}`);
  });
  return got;
}

function storage(inp: Input): TypedArray {
  return storageFromNumbers(inp.dtype, inp.data);
}

Deno.test("jit cpu: every primitive agrees with eager", async (t) => {
  for (const [name, prim] of primitives) {
    const sampler = samplers[name];
    if (!sampler || prim.rules.run) continue;
    await t.step(name, () => {
      for (let seed = 1; seed <= 12; seed++) {
        const c = sampler(rng(seed * 7919 + name.length));
        const avals = c.inputs.map((i) => ({ shape: i.shape, dtype: i.dtype }));
        const graph = traceGraph((...xs) => bind(prim, xs, c.params), avals);
        checkAgainstEager(graph, c.inputs.map(storage), `${name} seed ${seed}`);
      }
    });
  }
});

Deno.test("jit cpu: random elementwise chains with broadcasts", () => {
  // exp is bounded so chains cannot reach magnitudes where libm's sin/cos argument reduction
  // legitimately differs between the scalar and vector variants
  const boundedExp = (x: Tensor) => np.exp(np.tanh(x));
  const unary = [
    boundedExp,
    np.tanh,
    np.sin,
    np.negative,
    np.abs,
    (x: Tensor) => np.multiply(x, 0.5),
  ];
  const binary = [np.add, np.subtract, np.multiply, np.maximum, np.minimum];
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 1, maxLength: 8 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 1000 }),
      (ops, rows, cols, seed) => {
        const avals: Aval[] = [
          { shape: [rows, cols], dtype: "float32" },
          { shape: [cols], dtype: "float32" },
          { shape: [rows, 1], dtype: "float32" },
        ];
        const graph = traceGraph((a, b, c) => {
          let x = a;
          ops.forEach((op, i) => {
            const other = [a, b, c][i % 3];
            x = op % 2 === 0 ? unary[op % unary.length](x) : binary[op % binary.length](x, other);
          });
          return [x];
        }, avals);
        const r = rng(seed);
        checkAgainstEager(graph, avals.map((a) => randomData(r, a)));
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("jit cpu: reductions with keepdims, softmax, logsumexp", async (t) => {
  const r = rng(5);
  const x: Aval = { shape: [6, 7, 5], dtype: "float32" };
  for (const axis of [0, 1, 2]) {
    await t.step(`sum/max/min/prod axis ${axis}`, () => {
      const graph = traceGraph((a) => [
        np.sum(a, axis, { keepdims: true }),
        np.max(np.exp(a), axis),
        np.subtract(a, np.min(a, axis, { keepdims: true })),
        np.prod(np.multiply(a, 0.5), axis),
      ], [x]);
      checkAgainstEager(graph, [randomData(r, x)]);
    });
  }
  await t.step("softmax is one kernel", () => {
    const graph = traceGraph((a) => {
      const e = np.exp(np.subtract(a, np.max(a, -1, { keepdims: true })));
      return [np.divide(e, np.sum(e, -1, { keepdims: true }))];
    }, [{ shape: [33, 65], dtype: "float32" }]);
    checkAgainstEager(graph, [randomData(r, { shape: [33, 65], dtype: "float32" })]);
    const compiled = cpuBackend.compile(graph, { donated: [false] });
    assert.ok(compiled.kernelCount <= 2, compiled.groups().join("; "));
  });
  await t.step("logsumexp cross-entropy is at most two kernels", () => {
    const graph = traceGraph((a) => {
      const m = np.max(a, -1, { keepdims: true });
      const lse = np.add(np.log(np.sum(np.exp(np.subtract(a, m)), -1, { keepdims: true })), m);
      return [np.mean(np.subtract(lse, a))];
    }, [{ shape: [16, 10], dtype: "float32" }]);
    checkAgainstEager(graph, [randomData(r, { shape: [16, 10], dtype: "float32" })]);
    const compiled = cpuBackend.compile(graph, { donated: [false] });
    assert.ok(compiled.kernelCount <= 2, compiled.groups().join("; "));
  });
});

Deno.test("jit cpu: kernel counts and donation", async (t) => {
  const r = rng(17);
  await t.step("five elementwise ops with a broadcast are one kernel", () => {
    const graph = traceGraph((a, b) => [
      np.exp(np.tanh(np.add(np.multiply(np.subtract(a, b), 2), a))),
    ], [{ shape: [8, 16], dtype: "float32" }, { shape: [16], dtype: "float32" }]);
    const compiled = cpuBackend.compile(graph, { donated: [false, false] });
    assert.equal(compiled.kernelCount, 1, compiled.groups().join("; "));
  });
  await t.step("a matmul read only through its transpose writes it directly", () => {
    // weight gradients: dot(x^T, g) transposed back; batched too
    for (const [lhs, rhs] of [[[7, 5], [7, 3]], [[2, 7, 5], [2, 7, 3]]]) {
      const avals: Aval[] = [{ shape: lhs, dtype: "float32" }, { shape: rhs, dtype: "float32" }];
      const graph = traceGraph((a, b) => {
        const p = np.matmul(np.swapaxes(a, -1, -2), b);
        return [np.subtract(np.swapaxes(p, -1, -2), 1)];
      }, avals);
      const compiled = cpuBackend.compile(graph, { donated: [false, false] });
      // the product is computed as (3, 5) = b^T a, not as (5, 3) then transposed
      const groups = compiled.groups().join("; ");
      assert.ok(groups.includes(lhs.length === 3 ? "2x3x5x7" : "f32 3x5x7"), groups);
      checkAgainstEager(graph, avals.map((a) => randomData(r, a)));
    }
  });
  await t.step("siblings reading one value run as one loop (relu mask and output)", () => {
    // h = x + b is read by the mask (kept for a backward pass) and by the relu output (read
    // by a matmul): one loop stores both, h itself is never written
    const avals: Aval[] = [
      { shape: [6, 5], dtype: "float32" },
      { shape: [5], dtype: "float32" },
      { shape: [5, 3], dtype: "float32" },
    ];
    const graph = traceGraph((x, b, w) => {
      const h = np.add(x, b);
      const mask = np.greater(h, 0);
      return [mask, np.matmul(np.where(mask, h, 0), w)];
    }, avals);
    const compiled = cpuBackend.compile(graph, { donated: [false, false, false] });
    const groups = compiled.groups();
    assert.equal(compiled.kernelCount, 2, groups.join("; "));
    assert.ok(groups.some((g) => /add, gt, select/.test(g)), groups.join("; "));
    checkAgainstEager(graph, avals.map((a) => randomData(r, a)));
    // a root read between the siblings (by a call) keeps them apart, and stays correct
    const apart = traceGraph((x, b, w) => {
      const h = np.add(x, b);
      const mask = np.greater(h, 0);
      const m = np.matmul(np.where(mask, 1, 0).astype("float32"), w);
      return [np.add(np.where(mask, h, 0), np.sum(m)), m];
    }, avals);
    checkAgainstEager(apart, avals.map((a) => randomData(r, a)));
  });
  await t.step("a kept value and its elementwise consumer run as one loop", () => {
    // h = x·W + b is kept (an output, as for a relu's backward pass) and relu(h) feeds a
    // matmul: one loop stores both, instead of writing h and reading it back
    const avals: Aval[] = [
      { shape: [6, 5], dtype: "float32" },
      { shape: [5, 4], dtype: "float32" },
      { shape: [4], dtype: "float32" },
      { shape: [4, 3], dtype: "float32" },
    ];
    const graph = traceGraph((x, w, b, v) => {
      const h = np.add(np.matmul(x, w), b);
      return [np.matmul(np.maximum(h, 0), v), h];
    }, avals);
    const compiled = cpuBackend.compile(graph, { donated: avals.map(() => false) });
    const groups = compiled.groups();
    assert.equal(compiled.kernelCount, 3, groups.join("; "));
    assert.ok(groups.some((g) => /add, max/.test(g)), groups.join("; "));
    checkAgainstEager(graph, avals.map((a) => randomData(r, a)));
    // read between the two (here by a matmul): they stay apart, and stay correct
    const apart = traceGraph((x, w, b, v) => {
      const h = np.add(np.matmul(x, w), b);
      const early = np.matmul(h, v);
      return [np.add(np.matmul(np.maximum(h, 0), v), early), h];
    }, avals);
    checkAgainstEager(apart, avals.map((a) => randomData(r, a)));
  });
  await t.step("column sums read rows contiguously", () => {
    for (const shape of [[9, 37], [4, 6, 37], [1, 37]]) {
      const x: Aval = { shape, dtype: "float32" };
      const graph = traceGraph((a, b) => [
        np.subtract(b, np.multiply(np.sum(a, 0), 0.5)),
        np.prod(np.sum(a, [0, 1].slice(0, shape.length - 1)), -1),
      ], [x, { shape: shape.slice(1), dtype: "float32" }]);
      const compiled = cpuBackend.compile(graph, { donated: [false, false] });
      if (shape[0] > 1) assert.match(compiled.source(), /\ba\d+\[37\];/);
      checkAgainstEager(graph, [
        randomData(r, x),
        randomData(r, { shape: shape.slice(1), dtype: "float32" }),
      ]);
    }
  });
  await t.step("a donated input is updated in place", () => {
    const a: Aval = { shape: [1000], dtype: "float32" };
    const graph = traceGraph((w, g) => [np.subtract(w, np.multiply(g, 0.1))], [a, a]);
    const compiled = cpuBackend.compile(graph, { donated: [true, false] });
    const w = new Float32Array(1000).fill(1), g = new Float32Array(1000).fill(2);
    const [out] = compiled.run([w, g]);
    assert.equal(out, w);
    assertClose(out, new Float32Array(1000).fill(0.8));
  });
});

/** An MLP training step: returns the loss and the updated parameters. */
export function mlpStep(sizes: number[], batch: number) {
  const avals: Aval[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    avals.push({ shape: [sizes[i], sizes[i + 1]], dtype: "float32" });
    avals.push({ shape: [sizes[i + 1]], dtype: "float32" });
  }
  avals.push({ shape: [batch, sizes[0]], dtype: "float32" });
  avals.push({ shape: [batch, sizes[sizes.length - 1]], dtype: "float32" });
  const loss = (params: Tensor[], x: Tensor, y: Tensor) => {
    let h = x;
    for (let i = 0; i < params.length; i += 2) {
      h = np.add(np.matmul(h, params[i]), params[i + 1]);
      if (i + 2 < params.length) h = np.maximum(h, 0);
    }
    const m = np.max(h, -1, { keepdims: true });
    const lse = np.add(np.log(np.sum(np.exp(np.subtract(h, m)), -1, { keepdims: true })), m);
    return np.mean(np.sum(np.multiply(np.subtract(lse, h), y), -1));
  };
  const np2 = avals.length - 2;
  const graph = traceGraph((...xs) => {
    const params = xs.slice(0, np2);
    const [l, grads] = valueAndGrad(loss)(params, xs[np2], xs[np2 + 1]) as [Tensor, Tensor[]];
    return [l, ...params.map((p, i) => np.subtract(p, np.multiply(grads[i], 0.01)))];
  }, avals);
  return { graph, avals };
}

Deno.test("jit cpu: MLP training step matches eager", () => {
  const { graph, avals } = mlpStep([20, 16, 12, 5], 8);
  const r = rng(11);
  const data = avals.map((a) => randomData(r, a));
  checkAgainstEager(graph, data);
});
