/**
 * The `js` device: every primitive's reference implementation on TypedArrays. It needs no
 * compiler and no FFI permission, and it is the oracle the other devices are tested against.
 * float16 and bfloat16 run the float32 implementations on widened operands and round each
 * result once (`core/half_compute.ts`), as the cpu device and XLA do.
 * @module
 */

import { STORAGE, type TypedArray } from "./dtype.ts";
import type { Device } from "./device.ts";
import { computeHalfInFloat32, JS_HALF_CONVERSIONS } from "./half_compute.ts";

/** Creates the reference device. */
export function createJsDevice(): Device {
  const execute = computeHalfInFloat32(
    (prim, inputs, inAvals, params, outAvals) => prim.rules.impl(inputs, inAvals, params, outAvals),
    JS_HALF_CONVERSIONS,
  );
  return {
    name: "js",
    fromHost: (data) => data,
    toHost: (buffer) => (buffer as TypedArray).slice(),
    toHostAsync: (buffer) => Promise.resolve((buffer as TypedArray).slice()),
    execute: (prim, inputs, inAvals, params, outAvals) =>
      execute(prim, inputs as TypedArray[], inAvals, params, outAvals),
    dispose: () => {},
  };
}

/** True when `buffer` is host storage of the right type and length (for devices sharing it). */
export function isHostBuffer(buffer: unknown, dtype: keyof typeof STORAGE, size: number): boolean {
  return buffer instanceof STORAGE[dtype] && (buffer as TypedArray).length === size;
}
