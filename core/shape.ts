/**
 * Shape arithmetic shared by the primitives and the NumPy layer: sizes, strides, axis
 * normalization and broadcasting, each failing with an error that names the operation.
 * @module
 */

/** A tensor's shape: non-negative integer extents, outermost first. */
export type Shape = readonly number[];

/** Formats a shape as NumPy prints it: `(2, 3)`, `(4,)`, `()`. */
export function fmtShape(shape: Shape): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}

/** Number of elements of a shape. */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i];
  return n;
}

/** Row-major strides, in elements. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** True when two shapes are equal. */
export function shapeEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Validates a user-supplied shape (non-negative safe integers). */
export function checkShape(shape: unknown, op: string): number[] {
  const list = typeof shape === "number" ? [shape] : shape;
  if (!Array.isArray(list)) {
    throw new TypeError(`${op}: shape must be an array of integers, got ${describe(shape)}`);
  }
  for (const d of list) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new RangeError(
        `${op}: shape ${JSON.stringify(list)} must hold non-negative integers`,
      );
    }
  }
  return list as number[];
}

/** Normalizes a possibly negative axis against `ndim`, naming the op on error. */
export function normalizeAxis(axis: number, ndim: number, op: string): number {
  if (!Number.isInteger(axis)) {
    throw new TypeError(`${op}: axis must be an integer, got ${describe(axis)}`);
  }
  if (axis < -ndim || axis >= ndim) {
    throw new RangeError(
      `${op}: axis ${axis} is out of bounds for an array of dimension ${ndim}`,
    );
  }
  return axis < 0 ? axis + ndim : axis;
}

/**
 * Normalizes an `axis` argument (undefined/null = all axes, a number, or a list) to sorted,
 * unique, non-negative axes.
 */
export function normalizeAxes(
  axis: number | readonly number[] | null | undefined,
  ndim: number,
  op: string,
): number[] {
  // plain loops: this runs on every eager reduction, where iterator spreads and Sets showed
  if (axis === undefined || axis === null) {
    const all = new Array<number>(ndim);
    for (let i = 0; i < ndim; i++) all[i] = i;
    return all;
  }
  if (typeof axis === "number") return [normalizeAxis(axis, ndim, op)];
  const list = axis;
  if (!Array.isArray(list)) {
    throw new TypeError(`${op}: axis must be a number or a list of numbers`);
  }
  const out = list.map((a) => normalizeAxis(a, ndim, op));
  for (let i = 1; i < out.length; i++) {
    for (let j = 0; j < i; j++) {
      if (out[i] === out[j]) {
        throw new RangeError(`${op}: repeated axis in ${JSON.stringify(list)}`);
      }
    }
  }
  return out.sort((a, b) => a - b);
}

/** NumPy broadcasting of several shapes; throws naming the op and the shapes. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  let ndim = 0;
  for (const s of shapes) if (s.length > ndim) ndim = s.length;
  const out = new Array<number>(ndim).fill(1);
  for (const s of shapes) {
    const off = ndim - s.length;
    for (let i = 0; i < s.length; i++) {
      const d = s[i];
      if (d === out[off + i] || d === 1) continue;
      if (out[off + i] === 1) out[off + i] = d;
      else {
        throw new RangeError(
          `${op}: shapes ${shapes.map(fmtShape).join(", ")} cannot be broadcast together`,
        );
      }
    }
  }
  return out;
}

/** Validates a permutation of `ndim` axes (negative entries allowed). */
export function checkPermutation(perm: readonly number[], ndim: number, op: string): number[] {
  if (perm.length !== ndim) {
    throw new RangeError(
      `${op}: axes ${JSON.stringify(perm)} do not match an array of dimension ${ndim}`,
    );
  }
  const out = perm.map((a) => normalizeAxis(a, ndim, op));
  if (new Set(out).size !== ndim) {
    throw new RangeError(`${op}: axes ${JSON.stringify(perm)} repeat an axis`);
  }
  return out;
}

/** A short description of an arbitrary value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `array of length ${value.length}`;
  if (typeof value === "object") return (value as object).constructor?.name ?? "object";
  if (typeof value === "string") return JSON.stringify(value);
  return `${typeof value} ${String(value)}`;
}
