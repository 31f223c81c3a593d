/**
 * Rule conformance over the whole primitive registry: every primitive on `cpu` agrees with
 * its reference implementation on `js`, for random shapes (size-0 and size-1 axes included),
 * random parameters and every dtype it accepts. A primitive without a sampler here fails the
 * test, so a new primitive cannot skip conformance.
 */

import { getDevice, primitives } from "../mod.ts";
import { bind } from "../core/trace.ts";
import { samplers, tolerance, toTensor } from "./conformance_samplers.ts";
import { assert, assertClose, fc, rng } from "./helpers.ts";

/** Primitives evaluated by binding others (closures, control flow): no kernel to compare. */
const HIGHER_ORDER = new Set(
  [...primitives.values()].filter((p) => p.rules.run).map((p) => p.name),
);

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
