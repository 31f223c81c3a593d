/**
 * Rule conformance over the whole primitive registry: every primitive on `cpu` agrees with
 * its reference implementation on `js`, for random shapes (size-0 and size-1 axes included),
 * random parameters and every dtype it accepts. A primitive without a sampler here fails the
 * test, so a new primitive cannot skip conformance.
 */

import { getDevice, primitives, type Tensor } from "../mod.ts";
import type { DType } from "../core/dtype.ts";
import { bind } from "../core/trace.ts";
import { binaryDefs, unaryDefs } from "../core/prims/elementwise.ts";
import { fromHostData } from "../core/trace.ts";
import { STORAGE } from "../core/dtype.ts";
import { sizeOf } from "../core/shape.ts";
import { assert, assertClose, fc, rng } from "./helpers.ts";

type Rand = () => number;

/** One input: data as numbers, shape and dtype. */
interface Input {
  data: number[];
  shape: number[];
  dtype: DType;
}
/** A sampled call of a primitive. */
interface Case {
  inputs: Input[];
  params: Record<string, unknown>;
  dtype: DType;
}
type Sampler = (r: Rand) => Case;

const NUMERIC: DType[] = ["float32", "float64", "int32", "uint32"];
const ALL: DType[] = [...NUMERIC, "bool"];

const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const int = (r: Rand, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
const randShape = (r: Rand, maxRank = 3, maxDim = 4) =>
  Array.from({ length: int(r, 0, maxRank) }, () => int(r, 0, maxDim));
const nonEmptyShape = (r: Rand, minRank = 1, maxRank = 3, maxDim = 4) =>
  Array.from({ length: int(r, minRank, maxRank) }, () => int(r, 1, maxDim));

function values(
  r: Rand,
  n: number,
  dtype: DType,
  domain: "any" | "positive" | "unit" = "any",
): number[] {
  return Array.from({ length: n }, () => {
    switch (dtype) {
      case "bool":
        return r() < 0.5 ? 0 : 1;
      case "int32":
        return int(r, -20, 20);
      case "uint32":
        return int(r, 0, 40);
      default:
        if (domain === "positive") return 0.05 + 4 * r();
        if (domain === "unit") return 1.8 * r() - 0.9;
        return 8 * r() - 4;
    }
  });
}

const input = (
  r: Rand,
  shape: number[],
  dtype: DType,
  domain?: "any" | "positive" | "unit",
): Input => ({
  data: values(r, sizeOf(shape), dtype, domain),
  shape,
  dtype,
});

const POSITIVE = new Set(["log", "log2", "log10", "sqrt", "rsqrt", "acosh"]);
const UNIT = new Set(["asin", "acos", "atanh", "log1p"]);

function unarySampler(name: string): Sampler {
  return (r) => {
    const dtype = pick(r, Object.keys(unaryDefs[name].fns) as DType[]);
    const domain = POSITIVE.has(name) ? "positive" : UNIT.has(name) ? "unit" : "any";
    const x = input(r, randShape(r), dtype, domain);
    if (name === "acosh") x.data = x.data.map((v) => v + 1);
    return { inputs: [x], params: {}, dtype };
  };
}

function binarySampler(name: string): Sampler {
  return (r) => {
    const dtype = pick(r, Object.keys(binaryDefs[name].fns) as DType[]);
    const shape = randShape(r);
    const a = input(r, shape, dtype, name === "pow" ? "positive" : "any");
    const b = input(r, shape, dtype);
    if (name === "pow" && dtype !== "float32" && dtype !== "float64") {
      b.data = b.data.map((v) => v % 6);
    }
    return { inputs: [a, b], params: {}, dtype };
  };
}

// all input axes sorted, a random subset
const randAxes = (r: Rand, ndim: number) => [...Array(ndim).keys()].filter(() => r() < 0.5);

const samplers: Record<string, Sampler> = {
  select: (r) => {
    const dtype = pick(r, ALL), shape = randShape(r);
    return {
      inputs: [input(r, shape, "bool"), input(r, shape, dtype), input(r, shape, dtype)],
      params: {},
      dtype,
    };
  },
  convert_element_type: (r) => {
    const from = pick(r, ALL), to = pick(r, ALL);
    const x = input(r, randShape(r), from);
    if (from === "float32" || from === "float64") x.data = x.data.map((v) => v * 3);
    return { inputs: [x], params: { dtype: to, weak: false }, dtype: to };
  },
  reshape: (r) => {
    const dtype = pick(r, ALL), shape = randShape(r);
    const n = sizeOf(shape);
    const out = n === 0 ? [0, int(r, 1, 3)] : [n];
    return { inputs: [input(r, shape, dtype)], params: { shape: out }, dtype };
  },
  transpose: (r) => {
    const dtype = pick(r, ALL), shape = randShape(r, 4);
    const perm = [...shape.keys()].sort(() => r() - 0.5);
    return { inputs: [input(r, shape, dtype)], params: { perm }, dtype };
  },
  broadcast_in_dim: (r) => {
    const dtype = pick(r, ALL), shape = randShape(r, 2);
    const extra = int(r, 0, 2);
    const out = [...Array(extra).keys()].map(() => int(r, 0, 3));
    const dims: number[] = [];
    shape.forEach((d) => {
      dims.push(out.length);
      out.push(d === 1 ? int(r, 0, 3) : d);
    });
    return {
      inputs: [input(r, shape, dtype)],
      params: { shape: out, broadcastDimensions: dims },
      dtype,
    };
  },
  slice: (r) => {
    const dtype = pick(r, ALL), shape = randShape(r);
    const start = shape.map((d) => int(r, 0, d));
    const limit = shape.map((d, i) => int(r, start[i], d));
    return {
      inputs: [input(r, shape, dtype)],
      params: { start, limit, strides: shape.map(() => int(r, 1, 3)) },
      dtype,
    };
  },
  rev: (r) => {
    const dtype = pick(r, ALL), shape = randShape(r);
    return { inputs: [input(r, shape, dtype)], params: { axes: randAxes(r, shape.length) }, dtype };
  },
  pad: (r) => {
    const dtype = pick(r, ALL), shape = randShape(r);
    const lo = shape.map(() => int(r, -1, 2)), hi = shape.map(() => int(r, -1, 2));
    const interior = shape.map(() => int(r, 0, 2));
    // keep the output non-negative
    shape.forEach((d, i) => {
      const size = lo[i] + hi[i] + d + Math.max(0, d - 1) * interior[i];
      if (size < 0) lo[i] = hi[i] = 0;
    });
    return {
      inputs: [input(r, shape, dtype), input(r, [], dtype)],
      params: { lo, hi, interior },
      dtype,
    };
  },
  concatenate: (r) => {
    const dtype = pick(r, ALL), shape = nonEmptyShape(r);
    const axis = int(r, 0, shape.length - 1);
    const inputs = Array.from({ length: int(r, 1, 3) }, () => {
      const s = [...shape];
      s[axis] = int(r, 0, 3);
      return input(r, s, dtype);
    });
    return { inputs, params: { axis }, dtype };
  },
  iota: (r) => {
    const dtype = pick(r, NUMERIC), shape = nonEmptyShape(r);
    return { inputs: [], params: { shape, dimension: int(r, 0, shape.length - 1), dtype }, dtype };
  },
  argmax: (r) => argSample(r),
  argmin: (r) => argSample(r),
  dot_general: (r) => {
    const dtype = pick(r, NUMERIC);
    const [b, m, n, k] = [int(r, 1, 3), int(r, 0, 5), int(r, 0, 5), int(r, 0, 6)];
    // random layouts: lhs (b, m, k) permuted, rhs (b, k, n) permuted
    const lhsPerm = [0, 1, 2].sort(() => r() - 0.5), rhsPerm = [0, 1, 2].sort(() => r() - 0.5);
    const lhsShape = lhsPerm.map((p) => [b, m, k][p]), rhsShape = rhsPerm.map((p) => [b, k, n][p]);
    const batch = r() < 0.5;
    const params = {
      lhsContracting: [lhsPerm.indexOf(2)],
      rhsContracting: [rhsPerm.indexOf(1)],
      lhsBatch: batch ? [lhsPerm.indexOf(0)] : [],
      rhsBatch: batch ? [rhsPerm.indexOf(0)] : [],
    };
    return { inputs: [input(r, lhsShape, dtype), input(r, rhsShape, dtype)], params, dtype };
  },
};

function argSample(r: Rand): Case {
  const dtype = pick(r, ALL), shape = nonEmptyShape(r);
  return { inputs: [input(r, shape, dtype)], params: { axis: int(r, 0, shape.length - 1) }, dtype };
}

for (const name of Object.keys(unaryDefs)) samplers[name] = unarySampler(name);
for (const name of Object.keys(binaryDefs)) samplers[name] = binarySampler(name);
for (const name of ["reduce_sum", "reduce_prod", "reduce_max", "reduce_min"]) {
  samplers[name] = (r) => {
    const dtype = pick(r, name === "reduce_max" || name === "reduce_min" ? ALL : NUMERIC);
    const shape = randShape(r, 4);
    const x = input(r, shape, dtype);
    if (name === "reduce_prod" && (dtype === "float32" || dtype === "float64")) {
      x.data = x.data.map((v) => v / 3);
    }
    return { inputs: [x], params: { axes: randAxes(r, shape.length) }, dtype };
  };
}
for (const name of ["cumsum", "cumprod", "cummax", "cummin"]) {
  samplers[name] = (r) => {
    const dtype = pick(r, NUMERIC), shape = nonEmptyShape(r);
    const x = input(r, shape, dtype);
    if (name === "cumprod" && (dtype === "float32" || dtype === "float64")) {
      x.data = x.data.map((v) => v / 3);
    }
    return {
      inputs: [x],
      params: { axis: int(r, 0, shape.length - 1), reverse: r() < 0.5 },
      dtype,
    };
  };
}

// Samplers for primitives defined by the conv/indexing families, registered by name so the
// registry check below still catches any primitive left without one.
import { extraSamplers } from "./conformance_samplers.ts";
Object.assign(samplers, extraSamplers);

function toTensor(inp: Input, deviceName: string): Tensor {
  const storage = new STORAGE[inp.dtype](inp.data.length);
  storage.set(inp.data);
  return fromHostData(storage, inp.shape, inp.dtype, false, getDevice(deviceName));
}

function tolerance(dtype: DType, name: string) {
  if (dtype === "float64") return { rtol: 1e-9, atol: 1e-9 };
  if (dtype === "float32") {
    const loose = [
      "dot_general",
      "conv_general_dilated",
      "reduce_sum",
      "reduce_prod",
      "cumsum",
      "cumprod",
      "pow",
    ];
    return loose.includes(name) ? { rtol: 2e-4, atol: 2e-4 } : { rtol: 1e-5, atol: 1e-6 };
  }
  return { rtol: 0, atol: 0 };
}

Deno.test("every primitive has a conformance sampler", () => {
  const missing = [...primitives.keys()].filter((n) => !(n in samplers));
  assert.deepEqual(missing, [], `primitives without a sampler: ${missing.join(", ")}`);
});

Deno.test("every primitive on cpu agrees with js", async (t) => {
  const cpu = getDevice("cpu") as unknown as { hasKernel(p: unknown): boolean };
  for (const [name, prim] of primitives) {
    const sampler = samplers[name];
    if (!sampler) continue;
    await t.step(name, () => {
      assert.ok(cpu.hasKernel(prim), `cpu has no kernel for ${name}`);
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 2 ** 30 }), (seed) => {
          const c = sampler(rng(seed));
          const ref = bind(prim, c.inputs.map((i) => toTensor(i, "js")), c.params);
          const got = bind(prim, c.inputs.map((i) => toTensor(i, "cpu")), c.params);
          assert.equal(got.length, ref.length);
          got.forEach((g, i) => {
            assert.equal(g.dtype, ref[i].dtype);
            assertClose(
              g,
              ref[i],
              tolerance(ref[i].dtype, name),
              `${name} seed ${seed} output ${i}`,
            );
          });
        }),
        { numRuns: 40 },
      );
    });
  }
});
