/**
 * The device interface and the device registry. `core/` only defines the interface and asks
 * the current device to run things; `ffi/` implements devices and `mod.ts` registers them.
 * @module
 */

import type { DType, TypedArray } from "./dtype.ts";
import type { Aval, Primitive } from "./primitive.ts";

/** A place where tensors live and primitives run. */
export interface Device {
  /** The device's name, e.g. `"cpu"`, `"js"`. */
  readonly name: string;
  /** Takes ownership of host data and returns this device's buffer for it. */
  fromHost(data: TypedArray): unknown;
  /** Reads a buffer back as host data (a fresh copy the caller may mutate). */
  toHost(buffer: unknown, dtype: DType, size: number): TypedArray;
  /** Reads a buffer back asynchronously. */
  toHostAsync(buffer: unknown, dtype: DType, size: number): Promise<TypedArray>;
  /** Runs one primitive on buffers of this device. */
  execute(
    prim: Primitive,
    inputs: unknown[],
    inAvals: Aval[],
    params: Record<string, unknown>,
    outAvals: Aval[],
  ): unknown[];
  /** Releases a buffer now (host-memory devices may leave this to the garbage collector). */
  dispose(buffer: unknown): void;
}

type DeviceFactory = () => Device;

const factories = new Map<string, DeviceFactory>();
const instances = new Map<string, Device>();
let defaultName: string | null = null;
let warnedFallback = false;

/** Makes a device available under `name`; it is created on first use. */
export function registerDevice(name: string, factory: DeviceFactory): void {
  factories.set(name, factory);
  instances.delete(name);
}

/** Names of the registered devices. */
export function listDevices(): string[] {
  return [...factories.keys()];
}

/** The device registered under `name`, created now if it was not yet. */
export function getDevice(name: string): Device {
  const existing = instances.get(name);
  if (existing) return existing;
  const factory = factories.get(name);
  if (!factory) {
    throw new Error(
      `unknown device ${JSON.stringify(name)}; available: ${listDevices().join(", ")}`,
    );
  }
  const device = factory();
  instances.set(name, device);
  return device;
}

/** Chooses the device new tensors go to (`"cpu"`, `"js"`, …). */
export function setDefaultDevice(name: string): void {
  getDevice(name); // fail now, not at the next op
  defaultName = name;
}

function envDevice(): string | undefined {
  try {
    return Deno.env.get("KILN_DEVICE") || undefined;
  } catch {
    return undefined; // no --allow-env: fall through to the default
  }
}

/**
 * The default device: `setDefaultDevice`'s choice, else `KILN_DEVICE`, else `cpu`. When `cpu`
 * cannot start (no compiler, no FFI permission) Kiln says so once and uses `js`.
 */
export function defaultDevice(): Device {
  if (defaultName !== null) return getDevice(defaultName);
  const requested = envDevice();
  if (requested !== undefined) {
    defaultName = requested;
    return getDevice(requested);
  }
  try {
    const device = getDevice("cpu");
    defaultName = "cpu";
    return device;
  } catch (err) {
    if (!warnedFallback) {
      warnedFallback = true;
      console.warn(`kiln: the cpu device is unavailable (${(err as Error).message}); using js`);
    }
    defaultName = "js";
    return getDevice("js");
  }
}
