/**
 * The `js` device: every primitive's reference implementation on TypedArrays. It needs no
 * compiler and no FFI permission, and it is the oracle the other devices are tested against.
 * @module
 */

import { STORAGE, type TypedArray } from "./dtype.ts";
import type { Device } from "./device.ts";

/** Creates the reference device. */
export function createJsDevice(): Device {
  return {
    name: "js",
    fromHost: (data) => data,
    toHost: (buffer) => (buffer as TypedArray).slice(),
    toHostAsync: (buffer) => Promise.resolve((buffer as TypedArray).slice()),
    execute: (prim, inputs, inAvals, params, outAvals) =>
      prim.rules.impl(inputs as TypedArray[], inAvals, params, outAvals),
    dispose: () => {},
  };
}

/** True when `buffer` is host storage of the right type and length (for devices sharing it). */
export function isHostBuffer(buffer: unknown, dtype: keyof typeof STORAGE, size: number): boolean {
  return buffer instanceof STORAGE[dtype] && (buffer as TypedArray).length === size;
}
