/**
 * Property tests of the NumPy layer: the same call on `cpu` and on `js` agrees, for random
 * broadcastable shapes (size-0 and size-1 axes included), negative axes, keepdims and every
 * dtype; and broadcasting matches an independent index computation.
 */

import { np, setDefaultDevice, type Tensor } from "../mod.ts";
import type { DType } from "../core/dtype.ts";
import { assert, assertClose, fc, rng } from "./helpers.ts";

const DTYPES: DType[] = ["float32", "float64", "int32", "uint32", "bool"];

/** Two shapes that broadcast: a random result shape, each operand dropping or 1-ing axes. */
const arbBroadcastPair = fc
  .array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 })
  .chain((out) =>
    fc.tuple(
      fc.constant(out),
      fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
      fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
      fc.integer({ min: 0, max: out.length }),
      fc.integer({ min: 0, max: out.length }),
    )
  )
  .map(([out, ones1, ones2, drop1, drop2]) => {
    const a = out.map((d, i) => (ones1[i] ? 1 : d)).slice(drop1);
    const b = out.map((d, i) => (ones2[i] ? 1 : d)).slice(drop2);
    return [a, b] as const;
  });

function data(seed: number, shape: readonly number[], dtype: DType): number[] {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, () => {
    if (dtype === "bool") return r() < 0.5 ? 0 : 1;
    if (dtype === "int32") return Math.floor(r() * 21) - 10;
    if (dtype === "uint32") return Math.floor(r() * 20) + 1;
    return 6 * r() - 3;
  });
}

function make(values: number[], shape: readonly number[], dtype: DType, device: string): Tensor {
  return np.array(values, { dtype, device }).reshape(shape);
}

function onBoth(fn: (device: string) => Tensor): [Tensor, Tensor] {
  return [fn("cpu"), fn("js")];
}

const BINARY: [string, (a: Tensor, b: Tensor) => Tensor][] = [
  ["add", np.add],
  ["subtract", np.subtract],
  ["multiply", np.multiply],
  ["divide", np.divide],
  ["maximum", np.maximum],
  ["minimum", np.minimum],
  ["less", np.less],
  ["equal", np.equal],
  ["floorDivide", np.floorDivide],
  ["remainder", np.remainder],
  ["where", (a, b) => np.where(np.greater(a, b), a, b)],
];

Deno.test("binary np functions broadcast identically on cpu and js", async (t) => {
  for (const [name, fn] of BINARY) {
    await t.step(name, () => {
      fc.assert(
        fc.property(
          arbBroadcastPair,
          fc.constantFrom(...DTYPES),
          fc.integer(),
          ([sa, sb], dtype, seed) => {
            if (
              dtype === "bool" && ["subtract", "divide", "floorDivide", "remainder"].includes(name)
            ) return;
            const da = data(seed, sa, dtype), db = data(seed + 1, sb, dtype);
            const [cpu, js] = onBoth((dev) =>
              fn(make(da, sa, dtype, dev), make(db, sb, dtype, dev))
            );
            assert.equal(cpu.dtype, js.dtype);
            assertClose(cpu, js, { rtol: 1e-6, atol: 1e-6 }, name);
          },
        ),
        { numRuns: 60 },
      );
    });
  }
});

Deno.test("broadcasting matches an independent index computation", () => {
  fc.assert(
    fc.property(arbBroadcastPair, fc.integer(), ([sa, sb], seed) => {
      const da = data(seed, sa, "float64"), db = data(seed + 1, sb, "float64");
      setDefaultDevice("cpu");
      const out = np.add(
        np.array(da, { dtype: "float64" }).reshape(sa),
        np.array(db, { dtype: "float64" }).reshape(sb),
      );
      const shape = out.shape;
      const flatIndex = (s: readonly number[], idx: number[]) => {
        let f = 0;
        const off = idx.length - s.length;
        s.forEach((d, i) => (f = f * d + (d === 1 ? 0 : idx[off + i])));
        return f;
      };
      const got = out.dataSync();
      const idx = shape.map(() => 0);
      for (let e = 0; e < got.length; e++) {
        assert.equal(got[e], da[flatIndex(sa, idx)] + db[flatIndex(sb, idx)]);
        for (let k = shape.length - 1; k >= 0; k--) {
          if (++idx[k] < shape[k]) break;
          idx[k] = 0;
        }
      }
    }),
    { numRuns: 100 },
  );
});

const REDUCTIONS: [string, (x: Tensor, axis: number[], keepdims: boolean) => Tensor][] = [
  ["sum", (x, axis, keepdims) => np.sum(x, axis, { keepdims })],
  ["mean", (x, axis, keepdims) => np.mean(x, axis, { keepdims })],
  ["prod", (x, axis, keepdims) => np.prod(x, axis, { keepdims })],
  ["max", (x, axis, keepdims) => np.max(x, axis, { keepdims })],
  ["any", (x, axis, keepdims) => np.any(x, axis, { keepdims })],
  ["var", (x, axis, keepdims) => np.var(x, axis, { keepdims })],
  ["logsumexp", (x, axis, keepdims) => np.logsumexp(x, axis, { keepdims })],
];

Deno.test("reductions with negative axes and keepdims agree on cpu and js", async (t) => {
  for (const [name, fn] of REDUCTIONS) {
    await t.step(name, () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: name === "max" ? 1 : 0, max: 4 }), {
            minLength: 1,
            maxLength: 4,
          }),
          fc.constantFrom(...DTYPES),
          fc.integer(),
          fc.boolean(),
          (shape, dtype, seed, keepdims) => {
            const r = rng(seed);
            // a random subset of axes, each written negative or positive
            const axes = shape.flatMap((
              _,
              i,
            ) => (r() < 0.5 ? [r() < 0.5 ? i - shape.length : i] : []));
            const values = data(seed, shape, dtype).map((v) => (name === "prod" ? v / 2 : v));
            const [cpu, js] = onBoth((dev) => fn(make(values, shape, dtype, dev), axes, keepdims));
            assert.deepEqual(cpu.shape, js.shape);
            assert.equal(cpu.dtype, js.dtype);
            assertClose(cpu, js, { rtol: 1e-4, atol: 1e-5 }, `${name} ${dtype} axes ${axes}`);
          },
        ),
        { numRuns: 60 },
      );
    });
  }
});
