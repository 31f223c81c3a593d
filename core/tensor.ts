/**
 * `Tensor`, the user-facing array. A concrete tensor owns a buffer on a device; a tracer (a
 * subclass, see `trace.ts`) stands for a value inside a transform. Both share the chaining
 * methods (`x.add(y).sum(0)`), which `core/numpy/methods.ts` installs.
 * @module
 */

import { type DType, isHalfFloat, storageToNumbers, type TypedArray } from "./dtype.ts";
import { bf16BitsToNumber, numberToBf16Bits } from "./float16.ts";
import type { Device } from "./device.ts";
import type { Aval } from "./primitive.ts";
import { fmtShape, type Shape, sizeOf } from "./shape.ts";

/** Nested JS arrays as `toArray()` returns them. */
export type NestedArray = number | boolean | NestedArray[];

/** An n-dimensional array: concrete, or a tracer inside a transform. */
/** Sees every concrete tensor made ({@linkcode setTensorCreationHook}). */
let creationHook: ((tensor: Tensor) => void) | null = null;

/**
 * @internal Installs the hook that sees every concrete tensor as it is made (`tidy` scopes
 * collect them), or removes it with null.
 */
export function setTensorCreationHook(hook: ((tensor: Tensor) => void) | null): void {
  creationHook = hook;
}

export class Tensor {
  /** Shape, dtype and weak-type flag. */
  readonly aval: Aval;
  #buffer: unknown;
  #device: Device | null;
  #disposed = false;

  /** @internal Use `np.array` and friends to make tensors. */
  constructor(aval: Aval, buffer: unknown, device: Device | null) {
    this.aval = aval;
    this.#buffer = buffer;
    this.#device = device;
    if (device !== null && creationHook !== null) creationHook(this);
  }

  /** The extent of each axis. */
  get shape(): number[] {
    return this.aval.shape as number[];
  }
  /** The element type. */
  get dtype(): DType {
    return this.aval.dtype;
  }
  /** Number of axes. */
  get ndim(): number {
    return this.aval.shape.length;
  }
  /** Number of elements. */
  get size(): number {
    return sizeOf(this.aval.shape);
  }
  /** True when the tensor holds a value (not a tracer inside a transform). */
  get isConcrete(): boolean {
    return this.#device !== null;
  }
  /** The name of the device holding the data. */
  get device(): string {
    return this.concreteDevice("device").name;
  }

  /** @internal The device object, checking the tensor is concrete and alive. */
  concreteDevice(op: string): Device {
    if (this.#device === null) throw this.concretizationError(op);
    if (this.#disposed) {
      throw new Error(`${op}: the tensor ${fmtShape(this.shape)} ${this.dtype} was disposed`);
    }
    return this.#device;
  }

  /** @internal The device buffer, checking the tensor is concrete and alive. */
  buffer(op: string): unknown {
    this.concreteDevice(op);
    return this.#buffer;
  }

  /** @internal The error for reading the value of something without one. */
  concretizationError(op: string): Error {
    return new Error(`${op}: this tensor has no concrete value`);
  }

  /**
   * The data as a fresh TypedArray of JS numbers (row-major): a `Float16Array` for float16, a
   * `Float32Array` holding the exact values for bfloat16.
   */
  dataSync(): TypedArray {
    return storageToNumbers(this.storageSync(), this.dtype);
  }

  /** The data, asynchronously (lets an accelerator finish first); as {@link dataSync}. */
  async data(): Promise<TypedArray> {
    const device = this.concreteDevice("data");
    const storage = await device.toHostAsync(this.#buffer, this.dtype, this.size);
    return storageToNumbers(storage, this.dtype);
  }

  /**
   * @internal The data as the device stores it (a fresh copy): bfloat16 as its bit patterns in a
   * Uint16Array. For moving data between devices, files and compiled code without decoding.
   */
  storageSync(): TypedArray {
    const device = this.concreteDevice("dataSync");
    return device.toHost(this.#buffer, this.dtype, this.size);
  }

  /** The data as nested JS arrays (booleans for bool tensors); a number for a 0-d tensor. */
  toArray(): NestedArray {
    const flat = this.dataSync();
    const isBool = this.dtype === "bool";
    const shape = this.shape;
    let pos = 0;
    const build = (axis: number): NestedArray => {
      if (axis === shape.length) {
        const v = flat[pos++];
        return isBool ? v !== 0 : v;
      }
      const out: NestedArray[] = new Array(shape[axis]);
      for (let i = 0; i < shape[axis]; i++) out[i] = build(axis + 1);
      return out;
    };
    return build(0);
  }

  /** The single element of a size-1 tensor, as a JS number (or boolean for bool). */
  item(): number | boolean {
    if (this.size !== 1) {
      throw new RangeError(
        `item: only a tensor of size 1 converts to a scalar, got shape ${fmtShape(this.shape)}`,
      );
    }
    const v = this.dataSync()[0];
    return this.dtype === "bool" ? v !== 0 : v;
  }

  /** Releases the data now. Safe to call twice; using the tensor afterwards throws. */
  dispose(): void {
    if (this.#disposed || this.#device === null) return;
    this.#disposed = true;
    this.#device.dispose(this.#buffer);
    this.#buffer = null;
  }

  /** True once `dispose()` was called. */
  get isDisposed(): boolean {
    return this.#disposed;
  }

  /** Lets `using x = ...` dispose the tensor at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** JS coercion (`+x`, `` `${x}` ``, `x > 0`): only for concrete size-1 tensors. */
  [Symbol.toPrimitive](hint: string): number | string | boolean {
    if (hint === "string") return this.toString();
    if (!this.isConcrete) throw this.concretizationError("converting a tensor to a JS value");
    return this.item();
  }

  /** A readable rendering, NumPy style: `Tensor([[1, 2], [3, 4]], float32)`. */
  toString(): string {
    if (!this.isConcrete) return `Tracer<${this.dtype}${fmtShape(this.shape)}>`;
    if (this.#disposed) return `Tensor<disposed ${this.dtype}${fmtShape(this.shape)}>`;
    return `Tensor(${formatData(this.dataSync(), this.shape, this.dtype)}, ${this.dtype})`;
  }

  /** Deno's console.log uses this. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }
}

const MAX_PRINTED = 1000;

function formatScalar(v: number, dtype: DType): string {
  if (dtype === "bool") return v ? "true" : "false";
  if (dtype === "float32" || dtype === "float64" || isHalfFloat(dtype)) {
    if (Number.isNaN(v)) return "nan";
    if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
    const s = dtype === "float32"
      ? Number(v.toPrecision(7)).toString()
      : isHalfFloat(dtype)
      ? shortestHalf(v, dtype)
      : v.toString();
    return Number.isInteger(v) && !s.includes("e") ? `${s}.` : s;
  }
  return v.toString();
}

// the fewest significant digits that read back as the same 16-bit float (NumPy's repr)
function shortestHalf(v: number, dtype: DType): string {
  const round = dtype === "float16"
    ? Math.f16round
    : (x: number) => bf16BitsToNumber(numberToBf16Bits(x));
  for (let p = 1; p < 6; p++) {
    const s = Number(v.toPrecision(p));
    if (round(s) === v) return s.toString();
  }
  return v.toString();
}

function formatData(data: TypedArray, shape: Shape, dtype: DType): string {
  const n = data.length;
  const summarize = n > MAX_PRINTED;
  let pos = 0;
  const rec = (axis: number, indent: string): string => {
    if (axis === shape.length) return formatScalar(data[pos++], dtype);
    const len = shape[axis];
    const parts: string[] = [];
    const inner = sizeOf(shape.slice(axis + 1));
    for (let i = 0; i < len; i++) {
      if (summarize && len > 6 && i === 3) {
        parts.push("...");
        pos += (len - 6) * inner;
        i = len - 4;
        continue;
      }
      parts.push(rec(axis + 1, indent + " "));
    }
    const sep = axis === shape.length - 1 ? ", " : ",\n" + indent + " ";
    return `[${parts.join(sep)}]`;
  };
  return rec(0, "       ");
}
