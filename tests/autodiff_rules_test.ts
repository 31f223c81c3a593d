/**
 * Registry-driven checks of every primitive's differentiation rules, in float64 on random
 * points drawn by the conformance samplers:
 * - jvp against central finite differences;
 * - transpose rules by the dot-product identity ⟨Aᵀu, v⟩ = ⟨u, Av⟩;
 * - vjp against jvp through the whole machinery: ⟨u, J v⟩ = ⟨Jᵀ u, v⟩.
 */

import { jvp, linearize, np, primitives, type Tensor, vjp } from "../mod.ts";
import { type DType, isFloat, STORAGE } from "../core/dtype.ts";
import { type Primitive, UndefinedPrimal } from "../core/primitive.ts";
import { bind, fromHostData } from "../core/trace.ts";
import { type Case, type Input, samplers } from "./conformance_samplers.ts";
import { assert, rng } from "./helpers.ts";

/**
 * Primitives whose float outputs are piecewise constant, that have no float inputs, or whose
 * derivative is zero by definition (stop_gradient).
 */
const NO_DERIVATIVE = new Set([
  "floor",
  "ceil",
  "round",
  "trunc",
  "sign",
  "argmax",
  "argmin",
  "iota",
  "stop_gradient",
  "not",
  "and",
  "or",
  "xor",
]);
/** Bilinear primitives: transpose one operand at a time, the other held constant. */
const BILINEAR = new Set([
  "mul",
  "dot_general",
  "conv_general_dilated",
  "conv_grad_lhs",
  "conv_grad_rhs",
]);
/** Primitives linear only in some float inputs. */
const LINEAR_INPUTS: Record<string, number[]> = {
  div: [0],
  // the operand only selects the window taps
  select_and_gather_add: [0],
  select_and_scatter_add: [0],
  // x · (product of the updates at each target): linear in the operand alone
  scatter_mul: [0],
};

function tensorOf(inp: Input): Tensor {
  const storage = new STORAGE[inp.dtype](inp.data.length);
  storage.set(inp.data);
  return fromHostData(storage, inp.shape, inp.dtype, false);
}

// A sampled case with float32 promoted to float64 and float data nudged off ties.
function float64Case(name: string, seed: number): Case | null {
  for (let attempt = 0; attempt < 60; attempt++) {
    const r = rng(seed * 7919 + attempt);
    const c = samplers[name](r);
    const inputs = c.inputs.map((inp) =>
      isFloat(inp.dtype)
        ? {
          ...inp,
          dtype: "float64" as DType,
          data: inp.data.map((v) => (Number.isNaN(v) ? r() : v + 1e-3 * (r() - 0.5))),
        }
        : inp
    );
    if (!inputs.some((i) => i.dtype === "float64")) continue;
    const params = { ...c.params };
    if (params.dtype === "float32") params.dtype = "float64";
    if (params.dtype !== undefined && !isFloat(params.dtype as DType)) continue;
    return { inputs, params, dtype: "float64" };
  }
  return null;
}

function randomLike(r: () => number, t: Tensor): Tensor {
  return np.array(Array.from({ length: t.size }, () => 2 * r() - 1), { dtype: t.dtype }).reshape(
    t.shape,
  );
}

function dot(a: Tensor, b: Tensor): number {
  const x = a.dataSync(), y = b.dataSync();
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  return s;
}

function differentiablePrims(): Primitive[] {
  return [...primitives.values()].filter((p) => p.name in samplers && !NO_DERIVATIVE.has(p.name));
}

Deno.test("jvp rules agree with central finite differences (float64)", async (t) => {
  for (const prim of differentiablePrims()) {
    await t.step(prim.name, () => {
      let checked = 0;
      for (let seed = 1; seed <= 8; seed++) {
        const c = float64Case(prim.name, seed);
        if (c === null) continue;
        const args = c.inputs.map(tensorOf);
        const floatIdx = args.flatMap((a, i) => (a.dtype === "float64" ? [i] : []));
        const r = rng(seed);
        const dirs = args.map((a) => (a.dtype === "float64" ? randomLike(r, a) : a));
        const f = (...xs: Tensor[]) => {
          const full = [...args];
          floatIdx.forEach((i, k) => (full[i] = xs[k]));
          return bind(prim, full, c.params);
        };
        const primals = floatIdx.map((i) => args[i]);
        const tangents = floatIdx.map((i) => dirs[i]);
        assert.ok(prim.rules.jvp, `${prim.name} has no jvp rule`);
        const [outs, tOuts] = jvp(f, primals, tangents);
        const eps = 1e-6;
        const plus = f(...primals.map((p, k) => p.add(tangents[k].mul(eps))));
        const minus = f(...primals.map((p, k) => p.sub(tangents[k].mul(eps))));
        outs.forEach((o: Tensor, j: number) => {
          if (!isFloat(o.dtype)) return;
          const fd = plus[j].sub(minus[j]).div(2 * eps).dataSync();
          const got = (tOuts as Tensor[])[j].dataSync();
          for (let e = 0; e < fd.length; e++) {
            if (!Number.isFinite(fd[e])) continue; // e.g. a max-pool window wholly in the padding
            const tol = 1e-5 + 1e-4 * Math.abs(fd[e]);
            assert.ok(
              Math.abs(got[e] - fd[e]) <= tol,
              `${prim.name} seed ${seed} output ${j}[${e}]: jvp ${got[e]} vs finite difference ${
                fd[e]
              }`,
            );
          }
        });
        checked++;
      }
      assert.ok(checked > 0, `${prim.name}: no float64 case could be sampled`);
    });
  }
});

Deno.test("transpose rules satisfy the dot-product identity", async (t) => {
  const linear = [...primitives.values()].filter((p) => p.rules.transpose && p.name in samplers);
  for (const prim of linear) {
    await t.step(prim.name, () => {
      for (let seed = 1; seed <= 8; seed++) {
        const c = float64Case(prim.name, seed);
        if (c === null) continue;
        const args = c.inputs.map(tensorOf);
        const floatIdx = args.flatMap((a, i) => (a.dtype === "float64" ? [i] : []));
        const groups = BILINEAR.has(prim.name)
          ? floatIdx.map((i) => [i])
          : [LINEAR_INPUTS[prim.name] ?? floatIdx];
        const r = rng(seed + 100);
        for (const linearIdx of groups) {
          const v = args.map((a, i) => (linearIdx.includes(i) ? randomLike(r, a) : a));
          const outs = bind(prim, v, c.params);
          const cts = outs.map((o) => randomLike(r, o));
          const inputs = args.map((
            a,
            i,
          ) => (linearIdx.includes(i) ? new UndefinedPrimal(a.aval) : a));
          const ctIn = prim.rules.transpose!(cts, inputs, c.params);
          const lhs = outs.reduce((s, o, j) => s + dot(cts[j], o), 0);
          const rhs = linearIdx.reduce((s, i) => s + (ctIn[i] ? dot(ctIn[i]!, v[i]) : 0), 0);
          assert.ok(
            Math.abs(lhs - rhs) <= 1e-8 * (1 + Math.abs(lhs)),
            `${prim.name} seed ${seed} inputs ${linearIdx}: <u, Av> = ${lhs} but <A^T u, v> = ${rhs}`,
          );
          linearIdx.forEach((i) => {
            if (ctIn[i]) {
              assert.deepEqual(ctIn[i]!.shape, args[i].shape, `${prim.name}: cotangent ${i} shape`);
              assert.equal(ctIn[i]!.dtype, args[i].dtype, `${prim.name}: cotangent ${i} dtype`);
            }
          });
        }
      }
    });
  }
});

Deno.test("vjp agrees with jvp: <u, J v> = <J^T u, v>", async (t) => {
  for (const prim of differentiablePrims()) {
    await t.step(prim.name, () => {
      for (let seed = 1; seed <= 4; seed++) {
        const c = float64Case(prim.name, seed);
        if (c === null) continue;
        const args = c.inputs.map(tensorOf);
        const floatIdx = args.flatMap((a, i) => (a.dtype === "float64" ? [i] : []));
        const f = (...xs: Tensor[]) => {
          const full = [...args];
          floatIdx.forEach((i, k) => (full[i] = xs[k]));
          return bind(prim, full, c.params).filter((o) => isFloat(o.dtype));
        };
        const primals = floatIdx.map((i) => args[i]);
        const r = rng(seed + 200);
        const vs = primals.map((p) => randomLike(r, p));
        const [outs, fLin] = linearize(f, ...primals);
        const jv = fLin(...vs) as Tensor[];
        const us = (outs as Tensor[]).map((o) => randomLike(r, o));
        const [, pull] = vjp(f, ...primals);
        const jtu = pull(us) as Tensor[];
        const lhs = us.reduce((s, u, j) => s + dot(u, jv[j]), 0);
        const rhs = vs.reduce((s, v, k) => s + dot(jtu[k], v), 0);
        assert.ok(
          Math.abs(lhs - rhs) <= 1e-8 * (1 + Math.abs(lhs)),
          `${prim.name} seed ${seed}: <u, Jv> = ${lhs} but <J^T u, v> = ${rhs}`,
        );
      }
    });
  }
});
