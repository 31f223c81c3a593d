/**
 * One equation run by the cpu device on host arrays: the CPU back end's eager steps (what it
 * cannot compile) and the CUDA back end's host steps (what has no CUDA kernel yet, run between
 * a download and an upload) share it.
 * @module
 */

import { getDevice } from "../core/device.ts";
import type { TypedArray } from "../core/dtype.ts";
import type { Eqn } from "../core/graph.ts";
import type { Primitive } from "../core/primitive.ts";
import { fromHostData } from "../core/trace.ts";

/**
 * Runs `eqn` on the cpu device: `inputs` hold its operands (as their avals say), the result
 * holds one array per output. Primitives with their own `run` rule (control flow) get tensors.
 */
export function runEquationOnHost(eqn: Eqn, inputs: TypedArray[]): TypedArray[] {
  const device = getDevice("cpu");
  const inAvals = eqn.inputs.map((a) => a.aval);
  if (eqn.prim.rules.run) {
    const tensors = inputs.map((x, i) =>
      fromHostData(x.slice(), inAvals[i].shape, inAvals[i].dtype, inAvals[i].weak, device)
    );
    return eqn.prim.rules.run(tensors, eqn.params).map((t) => t.storageSync());
  }
  const outAvals = eqn.outputs.map((o) => o.aval);
  return device.execute(
    eqn.prim as Primitive,
    inputs,
    inAvals,
    eqn.params,
    outAvals,
  ) as TypedArray[];
}
