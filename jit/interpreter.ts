/**
 * The fallback back end: runs a graph by evaluating its equations one by one on the device.
 * Devices without a compiler (the `js` reference device) use it, so `jit` works everywhere.
 * @module
 */

import type { Device } from "../core/device.ts";
import { evalGraph, type Graph } from "../core/graph.ts";
import { Tensor } from "../core/tensor.ts";
import type { Backend, CompiledGraph } from "./backend.ts";

/** An interpreting back end for `device`. */
export function interpreterFor(device: Device): Backend {
  return {
    compile(graph: Graph): CompiledGraph {
      return {
        kernelCount: graph.eqns.length,
        source: () => `// ${device.name}: interpreted, no generated source\n${graph}`,
        groups: () => graph.eqns.map((e) => `eager ${e.prim.name}`),
        run(inputs) {
          const args = inputs.map((b, i) => new Tensor(graph.inputs[i].aval, b, device));
          return evalGraph(graph, args).map((t) => t.buffer("jit") as never);
        },
      };
    },
  };
}
