/**
 * Turning user input (JS numbers, booleans, nested arrays, TypedArrays, tensors) into tensors,
 * and the two steps every NumPy function takes before binding primitives: dtype promotion
 * (JAX's rules, weak types included) and explicit broadcasting.
 * @module
 */

import {
  checkDType,
  DEFAULT_FLOAT,
  type DType,
  promoteTypes,
  STORAGE,
  storageFromNumbers,
  type TypedArray,
  type TypeInfo,
} from "../dtype.ts";
import { getDevice } from "../device.ts";
import { broadcastShapes, describe, fmtShape, type Shape, shapeEqual } from "../shape.ts";
import { Tensor } from "../tensor.ts";
import { bind1, fromHostData, scalarTensor } from "../trace.ts";
import { broadcastInDim } from "../prims/structure.ts";
import { convertElementType } from "../prims/elementwise.ts";

/** Anything Kiln accepts where a tensor is expected. */
export type ArrayLike = Tensor | number | boolean | TypedArray | NestedInput;
/** Nested JS arrays of numbers or booleans. */
export type NestedInput = readonly (number | boolean | NestedInput)[];

/** Options of `np.array` and the creation functions. */
export interface ArrayOptions {
  /** Element type; default float32 for numbers, bool for booleans. */
  dtype?: DType;
  /** Device name; default the default device. */
  device?: string;
}

/** Nested JS data flattened: row-major values (booleans as 0/1), shape, and leaf counts. */
export interface FlatNested {
  values: number[];
  shape: number[];
  numbers: number;
  booleans: number;
}

/**
 * Walks nested arrays once: the shape from the first element of each level, then checks that
 * every level is rectangular and every leaf is a number or boolean (errors name `op`).
 */
export function flattenNested(data: NestedInput, op: string): FlatNested {
  const shape: number[] = [];
  let level: unknown = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    if (level.length === 0) break;
    level = level[0];
  }
  const values: number[] = [];
  let numbers = 0, booleans = 0;
  const walk = (node: unknown, depth: number) => {
    if (depth === shape.length) {
      if (typeof node === "number") {
        numbers++;
        values.push(node);
      } else if (typeof node === "boolean") {
        booleans++;
        values.push(node ? 1 : 0);
      } else {
        throw new TypeError(
          `${op}: expected numbers or booleans, got ${describe(node)} at depth ${depth}`,
        );
      }
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw new RangeError(
        `${op}: ragged nested array: expected length ${shape[depth]} at depth ${depth}, got ${
          describe(node)
        } (shape so far ${fmtShape(shape)})`,
      );
    }
    for (const child of node) walk(child, depth + 1);
  };
  walk(data, 0);
  return { values, shape, numbers, booleans };
}

/**
 * Creates a tensor from JS data. Numbers default to float32 (as jax-js), booleans to bool;
 * TypedArrays keep their dtype; tensors are converted (or returned as they are).
 */
export function array(data: ArrayLike, options: ArrayOptions = {}): Tensor {
  const op = "np.array";
  const dtype = options.dtype === undefined ? undefined : checkDType(options.dtype, op);
  const device = options.device === undefined ? undefined : getDevice(options.device);
  if (data instanceof Tensor) {
    const t = dtype && dtype !== data.dtype ? astype(data, dtype) : data;
    return device && t.isConcrete && t.device !== device.name
      ? fromHostData(t.storageSync(), t.shape, t.dtype, false, device)
      : t;
  }
  if (typeof data === "number" || typeof data === "boolean") {
    const dt = dtype ?? (typeof data === "boolean" ? "bool" : DEFAULT_FLOAT);
    return scalarTensor(Number(data), dt, false, device);
  }
  if (ArrayBuffer.isView(data)) {
    const src = data as TypedArray;
    const own = dtypeOfUserArray(src, op);
    const dt = dtype ?? own;
    // the values are numbers (a Uint16Array holds integers here, never bfloat16 bits)
    let storage: TypedArray;
    if (dt === own && src.constructor === STORAGE[dt]) storage = src.slice();
    else storage = storageFromNumbers(dt, src);
    return fromHostData(storage, [src.length], dt, false, device);
  }
  if (!Array.isArray(data)) {
    throw new TypeError(`${op}: cannot make a tensor from ${describe(data)}`);
  }
  const { values, shape, numbers, booleans } = flattenNested(data, op);
  const allBool = numbers === 0 && booleans > 0;
  const dt = dtype ?? (allBool ? "bool" : DEFAULT_FLOAT);
  return fromHostData(storageFromNumbers(dt, values), shape, dt, false, device);
}

/**
 * The dtype of a user's TypedArray: Float16/32/64Array, Int32Array and Uint32Array keep theirs,
 * a Uint8Array is bool (as before), the other small integer arrays hold int32 values.
 */
function dtypeOfUserArray(src: ArrayBufferView, op: string): DType {
  if (src instanceof Float16Array) return "float16";
  if (src instanceof Float32Array) return "float32";
  if (src instanceof Float64Array) return "float64";
  if (src instanceof Int32Array) return "int32";
  if (src instanceof Uint32Array) return "uint32";
  if (src instanceof Uint8Array) return "bool";
  if (
    src instanceof Int8Array || src instanceof Uint8ClampedArray || src instanceof Int16Array ||
    src instanceof Uint16Array
  ) return "int32";
  throw new TypeError(`${op}: cannot make a tensor from a ${src.constructor.name}`);
}

/** The type information of an operand before it becomes a tensor (JS numbers are weak). */
export function typeInfoOf(x: ArrayLike): TypeInfo {
  if (x instanceof Tensor) return { dtype: x.dtype, weak: x.aval.weak };
  if (typeof x === "number") {
    return { dtype: Number.isInteger(x) ? "int32" : DEFAULT_FLOAT, weak: true };
  }
  if (typeof x === "boolean") return { dtype: "bool", weak: false };
  return { dtype: array(x).dtype, weak: false };
}

/** Converts an operand to a tensor, JS numbers as weak-typed scalars of `dtype`. */
export function asTensor(x: ArrayLike, dtype?: DType): Tensor {
  if (x instanceof Tensor) {
    return dtype === undefined || x.dtype === dtype ? x : astype(x, dtype, x.aval.weak);
  }
  if (typeof x === "number") {
    const dt = dtype ?? (Number.isInteger(x) ? "int32" : DEFAULT_FLOAT);
    // a negative weak int meeting uint32 wraps (two's complement), as JAX: u32 + -1 is u32 - 1
    const v = dt === "uint32" && Number.isInteger(x) && x < 0 && x >= -2147483648 ? x >>> 0 : x;
    return scalarTensor(v, dt, true);
  }
  return array(x, dtype ? { dtype } : {});
}

/** Casts to `dtype` (a no-op when it already has it). */
export function astype(x: Tensor, dtype: DType, weak = false): Tensor {
  checkDType(dtype, "astype");
  if (x.dtype === dtype && x.aval.weak === weak) return x;
  return bind1(convertElementType, [x], { dtype, weak });
}

/** Converts operands to tensors of their promoted dtype (JAX's rules). */
export function promote(op: string, ...xs: ArrayLike[]): Tensor[] {
  void op;
  let info = typeInfoOf(xs[0]);
  for (let i = 1; i < xs.length; i++) info = promoteTypes(info, typeInfoOf(xs[i]));
  // an operand whose dtype changes takes the result's weakness (JAX: i32 + 1.5 is a weak f32)
  return xs.map((x) => {
    if (!(x instanceof Tensor)) return asTensor(x, info.dtype); // JS data: made in the dtype
    return x.dtype === info.dtype ? x : astype(x, info.dtype, info.weak);
  });
}

/** Broadcasts a tensor to `shape` (NumPy rules), as an explicit broadcast_in_dim. */
export function broadcastTo(x: Tensor, shape: Shape, op = "np.broadcastTo"): Tensor {
  if (shapeEqual(x.shape, shape)) return x;
  const target = broadcastShapes(op, x.shape, shape);
  if (!shapeEqual(target, shape)) {
    throw new RangeError(
      `${op}: cannot broadcast shape ${fmtShape(x.shape)} to ${fmtShape(shape)}`,
    );
  }
  const offset = shape.length - x.ndim;
  const dims = x.shape.map((_, i) => offset + i);
  return bind1(broadcastInDim, [x], { shape: [...shape], broadcastDimensions: dims });
}

/** Promotes dtypes and broadcasts shapes of the operands of an elementwise op. */
export function promoteAndBroadcast(op: string, ...xs: ArrayLike[]): Tensor[] {
  const ts = promote(op, ...xs);
  let same = true;
  for (let i = 1; i < ts.length; i++) if (!shapeEqual(ts[i].shape, ts[0].shape)) same = false;
  if (same) return ts;
  const shape = broadcastShapes(op, ...ts.map((t) => t.shape));
  return ts.map((t) => broadcastTo(t, shape, op));
}
