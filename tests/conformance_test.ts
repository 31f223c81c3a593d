/**
 * Rule conformance over the whole primitive registry: every primitive on `cpu` agrees with
 * its reference implementation on `js`, for random shapes (size-0 and size-1 axes included),
 * random parameters and every dtype it accepts. A primitive without a sampler here fails the
 * test, so a new primitive cannot skip conformance.
 */

import { getDevice, primitives, type Tensor } from "../mod.ts";
import { type DType, storageFromNumbers } from "../core/dtype.ts";
import { bind, fromHostData } from "../core/trace.ts";
import { type Input, samplers } from "./conformance_samplers.ts";
import { assert, assertClose, fc, rng } from "./helpers.ts";

/** Primitives evaluated by binding others (closures, control flow): no kernel to compare. */
const HIGHER_ORDER = new Set(
  [...primitives.values()].filter((p) => p.rules.run).map((p) => p.name),
);

function toTensor(inp: Input, deviceName: string): Tensor {
  const storage = storageFromNumbers(inp.dtype, inp.data);
  return fromHostData(storage, inp.shape, inp.dtype, false, getDevice(deviceName));
}

function tolerance(dtype: DType, name: string) {
  if (dtype === "float64") return { rtol: 1e-9, atol: 1e-9 };
  // both devices compute in float32 and round once: results differ by at most one 16-bit ulp
  if (dtype === "float16") return { rtol: 2e-3, atol: 1e-3 };
  if (dtype === "bfloat16") return { rtol: 1.6e-2, atol: 8e-3 };
  if (dtype === "float32") {
    const loose = [
      "dot_general",
      "conv_general_dilated",
      "conv_grad_lhs",
      "conv_grad_rhs",
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
  const missing = [...primitives.keys()].filter((n) => !(n in samplers) && !HIGHER_ORDER.has(n));
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
