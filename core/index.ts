/**
 * Kiln's core: tensors, dtypes, primitives, the trace machinery and the array APIs. It imports
 * nothing outside `core/`; `mod.ts` wires devices and re-exports the public API.
 * @module
 */

import "./numpy/methods.ts";
import { registerDevice } from "./device.ts";
import { createJsDevice } from "./js_device.ts";
import { debugLevel } from "./debug.ts";
import { setBindLogger } from "./trace.ts";

registerDevice("js", createJsDevice);

// KILN_DEBUG=5 logs every bind
if (debugLevel() >= 5) {
  setBindLogger((prim, args) =>
    console.error(
      `kiln: bind ${prim.name}(${args.map((a) => `${a.dtype}[${a.shape.join(",")}]`).join(", ")})`,
    )
  );
}

export * as np from "./numpy/index.ts";
export * as tree from "./tree.ts";
export * from "./autodiff/index.ts";
export { vmap } from "./vmap.ts";
export type { AxisSpec, VmapOptions } from "./vmap.ts";
export { Graph } from "./graph.ts";
export * as lax from "./lax/index.ts";
export { Tensor } from "./tensor.ts";
export { keep, tidy } from "./tidy.ts";
export type { NestedArray } from "./tensor.ts";
export type { DType, TypedArray } from "./dtype.ts";
export { DTYPES, promoteTypes, resultType } from "./dtype.ts";
export {
  defaultDevice,
  getDevice,
  listDevices,
  registerDevice,
  setDefaultDevice,
} from "./device.ts";
export type { Device } from "./device.ts";
export { defaultMatmulPrecision, setDefaultMatmulPrecision } from "./prims/dot.ts";
export type { MatmulPrecision } from "./prims/dot.ts";
export { registry as primitives } from "./primitive.ts";
export type { Aval, Primitive } from "./primitive.ts";
