/**
 * Data types, their storage, and JAX's type-promotion rules (with weak types).
 * @module
 */

import { bf16BitsToNumber, decodeBf16, encodeBf16, numberToBf16Bits } from "./float16.ts";

/**
 * The element types Kiln stores. `bool` is stored one byte per element; `float16` in a
 * `Float16Array`, `bfloat16` as its bit patterns in a `Uint16Array`.
 */
export type DType =
  | "float16"
  | "bfloat16"
  | "float32"
  | "float64"
  | "int32"
  | "uint32"
  | "bool";

/** All dtypes, in promotion-lattice order from least to most general (the 16-bit floats are siblings). */
export const DTYPES: readonly DType[] = [
  "bool",
  "uint32",
  "int32",
  "bfloat16",
  "float16",
  "float32",
  "float64",
];

/** The TypedArray that stores each dtype. */
export type TypedArray =
  | Float16Array
  | Float32Array
  | Float64Array
  | Int32Array
  | Uint32Array
  | Uint16Array
  | Uint8Array;

/** Storage constructor per dtype. */
export const STORAGE = {
  float16: Float16Array,
  bfloat16: Uint16Array,
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  uint32: Uint32Array,
  bool: Uint8Array,
} as const;

/** Bytes per element of each dtype. */
export const ITEMSIZE: Record<DType, number> = {
  float16: 2,
  bfloat16: 2,
  float32: 4,
  float64: 8,
  int32: 4,
  uint32: 4,
  bool: 1,
};

/** Short type codes used by native kernel names (`kiln_add_f32`). */
export const TYPE_CODE: Record<DType, string> = {
  float16: "f16",
  bfloat16: "bf16",
  float32: "f32",
  float64: "f64",
  int32: "i32",
  uint32: "u32",
  bool: "b8",
};

/** The default floating dtype (JAX without x64). */
export const DEFAULT_FLOAT: DType = "float32";

/** True for the floating dtypes: float16, bfloat16, float32 and float64. */
export function isFloat(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float64" || dtype === "float16" ||
    dtype === "bfloat16";
}

/**
 * True for float16 and bfloat16. Like XLA on CPU, Kiln stores them in 16 bits but computes
 * every operation on them in float32 and rounds the result (see `core/float16.ts`).
 */
export function isHalfFloat(dtype: DType): boolean {
  return dtype === "float16" || dtype === "bfloat16";
}

/** The dtype arithmetic on `dtype` runs in: float32 for the 16-bit floats, else itself. */
export function computeDType(dtype: DType): DType {
  return isHalfFloat(dtype) ? "float32" : dtype;
}

/** True for int32 and uint32. */
export function isInteger(dtype: DType): boolean {
  return dtype === "int32" || dtype === "uint32";
}

/** Validates a user-supplied dtype name, naming the operation in the error. */
export function checkDType(dtype: unknown, op: string): DType {
  if (typeof dtype === "string" && (DTYPES as readonly string[]).includes(dtype)) {
    return dtype as DType;
  }
  throw new TypeError(
    `${op}: unknown dtype ${JSON.stringify(dtype)}; expected one of ${DTYPES.join(", ")}`,
  );
}

/**
 * The dtype a TypedArray stores (a Uint8Array is taken as bool, a Uint16Array as bfloat16 bit
 * patterns). Prefer passing the dtype along: storage alone cannot say what the user meant.
 */
export function dtypeOfStorage(data: TypedArray): DType {
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Float16Array) return "float16";
  if (data instanceof Uint16Array) return "bfloat16";
  if (data instanceof Float64Array) return "float64";
  if (data instanceof Int32Array) return "int32";
  if (data instanceof Uint32Array) return "uint32";
  return "bool";
}

/**
 * Storage of `dtype` holding JS numbers: floats round to nearest even (bfloat16 is encoded to
 * its bit patterns), integers truncate and saturate, bool is `x != 0` (as {@link castScalar}).
 */
export function storageFromNumbers(dtype: DType, values: ArrayLike<number>): TypedArray {
  if (dtype === "bfloat16") return encodeBf16(values);
  const storage = new STORAGE[dtype](values.length);
  if (isFloat(dtype)) storage.set(values as ArrayLike<number>);
  else for (let i = 0; i < values.length; i++) storage[i] = castScalar(values[i], dtype);
  return storage;
}

/**
 * The values of storage as JS numbers: bfloat16 bit patterns are decoded (to a new
 * Float32Array); every other dtype's storage already reads as numbers and is returned as is.
 */
export function storageToNumbers(data: TypedArray, dtype: DType): TypedArray {
  return dtype === "bfloat16" ? decodeBf16(data as Uint16Array) : data;
}

/** Writes the JS number `value` into element `i` of `dtype` storage (bfloat16 as its bits). */
export function storeNumber(storage: TypedArray, i: number, value: number, dtype: DType): void {
  storage[i] = dtype === "bfloat16" ? numberToBf16Bits(value) : castScalar(value, dtype);
}

/** Allocates zeroed storage for `size` elements of `dtype`. */
export function allocate(dtype: DType, size: number): TypedArray {
  return new STORAGE[dtype](size);
}

/**
 * Allocates storage for a user-requested shape, turning the engine's bare "allocation failed"
 * into an error that names the operation and the size asked for.
 */
export function allocateFor(op: string, dtype: DType, size: number): TypedArray {
  try {
    return new STORAGE[dtype](size);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    const bytes = size * ITEMSIZE[dtype];
    throw new RangeError(
      `${op}: cannot allocate ${size} elements of ${dtype} (${(bytes / 2 ** 30).toFixed(1)} GiB)`,
    );
  }
}

/** A dtype with JAX's weak-type flag (a JS number is weakly typed). */
export interface TypeInfo {
  dtype: DType;
  weak: boolean;
}

// JAX's lattice restricted to Kiln's dtypes: bool < weak int < {uint32, int32} < weak float <
// {bfloat16, float16} < float32 < float64. Strong types win over weak ones of the same kind.
function rank(dtype: DType): number {
  switch (dtype) {
    case "bool":
      return 0;
    case "uint32":
    case "int32":
      return 1;
    case "float16":
    case "bfloat16":
      return 2;
    case "float32":
      return 3;
    case "float64":
      return 4;
  }
}

// bool, integer or float: a weak value yields to a strong one of its own kind or a higher one
function kind(dtype: DType): number {
  return dtype === "bool" ? 0 : isFloat(dtype) ? 2 : 1;
}

/**
 * The result type of combining two typed values, following JAX (`jnp.promote_types`): weak
 * types take the other operand's dtype within the same kind (a JS float with a float16 gives
 * float16), int32 with uint32 gives int32 (JAX's int64 truncated to 32 bits without x64),
 * integers with floats give the float, and float16 with bfloat16 gives float32 (their least
 * upper bound in the lattice).
 */
export function promoteTypes(a: TypeInfo, b: TypeInfo): TypeInfo {
  if (a.dtype === b.dtype) return { dtype: a.dtype, weak: a.weak && b.weak };
  if (a.weak && !b.weak) return promoteWeak(a.dtype, b.dtype);
  if (b.weak && !a.weak) return promoteWeak(b.dtype, a.dtype);
  // both strong, or both weak
  const weak = a.weak && b.weak;
  const ra = rank(a.dtype), rb = rank(b.dtype);
  if (ra !== rb) return { dtype: ra > rb ? a.dtype : b.dtype, weak };
  // siblings: int32 with uint32, float16 with bfloat16
  return { dtype: isFloat(a.dtype) ? "float32" : "int32", weak };
}

// weak `w` combined with strong `s`: the strong dtype wins unless `w` is of a higher kind.
function promoteWeak(w: DType, s: DType): TypeInfo {
  if (kind(w) <= kind(s)) return { dtype: s, weak: false };
  // weak float with a strong int/bool gives the default float, weak int with bool gives int32;
  // both stay weak, as JAX's lattice (i32 ∨ f* = f*), so a later float16 operand still wins
  return { dtype: isFloat(w) ? DEFAULT_FLOAT : "int32", weak: true };
}

/** The result dtype of combining many typed values. */
export function resultType(...infos: TypeInfo[]): TypeInfo {
  if (infos.length === 0) throw new TypeError("resultType: needs at least one argument");
  return infos.reduce(promoteTypes);
}

/** The dtype a reduction such as `sum` accumulates into (bool sums count as int32). */
export function sumDType(dtype: DType): DType {
  return dtype === "bool" ? "int32" : dtype;
}

/** The dtype of float-valued results of `dtype` (ints become the default float). */
export function floatDType(dtype: DType): DType {
  return isFloat(dtype) ? dtype : DEFAULT_FLOAT;
}

/** Converts a JS number to what storing it in `dtype` yields (NaN to int gives 0, ints saturate). */
export function castScalar(value: number, dtype: DType): number {
  switch (dtype) {
    case "float16":
      return Math.f16round(value);
    case "bfloat16":
      return bf16BitsToNumber(numberToBf16Bits(value));
    case "float32":
      return Math.fround(value);
    case "float64":
      return value;
    case "bool":
      return value !== 0 ? 1 : 0; // NaN is truthy, as in NumPy
    case "int32":
      return saturate(value, -2147483648, 2147483647);
    case "uint32":
      return saturate(value, 0, 4294967295);
  }
}

function saturate(value: number, lo: number, hi: number): number {
  if (Number.isNaN(value)) return 0;
  const t = Math.trunc(value);
  return t < lo ? lo : t > hi ? hi : t;
}
