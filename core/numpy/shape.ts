/**
 * Shape manipulation: reshape, transpose, axis moves, squeeze/expandDims, joining and
 * splitting, tile/repeat, pad, flip, roll, tril/triu.
 * @module
 */

import * as S from "../prims/structure.ts";
import {
  broadcastShapes,
  checkPermutation,
  describe,
  fmtShape,
  normalizeAxes,
  normalizeAxis,
  shapeEqual,
  sizeOf,
} from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { type ArrayLike, asTensor, broadcastTo, promote } from "./convert.ts";
import { add, greaterEqual, where } from "./elementwise.ts";
import { zeros } from "./creation.ts";
import { repeatEach } from "./data_dependent.ts";
import { type GatherPadMode, padWithMode } from "./padding.ts";

/** Gives `x` a new shape of the same size; one entry may be -1 (inferred). */
export function reshape(x: ArrayLike, shape: number | readonly number[]): Tensor {
  const t = asTensor(x);
  const dims = typeof shape === "number" ? [shape] : [...shape];
  const unknown = dims.filter((d) => d === -1).length;
  if (unknown > 1 || dims.some((d) => !Number.isInteger(d) || d < -1)) {
    throw new RangeError(`np.reshape: invalid shape ${JSON.stringify(dims)}`);
  }
  if (unknown === 1) {
    const known = sizeOf(dims.filter((d) => d !== -1));
    const inferred = known === 0 ? -1 : t.size / known;
    if (!Number.isInteger(inferred) || inferred < 0) {
      throw new RangeError(
        `np.reshape: cannot reshape an array of size ${t.size} into shape ${JSON.stringify(dims)}`,
      );
    }
    dims[dims.indexOf(-1)] = inferred;
  }
  if (sizeOf(dims) !== t.size) {
    throw new RangeError(
      `np.reshape: cannot reshape an array of shape ${
        fmtShape(t.shape)
      } (size ${t.size}) into shape ${fmtShape(dims)}`,
    );
  }
  return shapeEqual(dims, t.shape) ? t : bind1(S.reshape, [t], { shape: dims });
}

/** Flattens to one axis. */
export function ravel(x: ArrayLike): Tensor {
  const t = asTensor(x);
  return reshape(t, [t.size]);
}

/** Permutes axes (reverses them when `axes` is omitted). */
export function transpose(x: ArrayLike, axes?: readonly number[]): Tensor {
  const t = asTensor(x);
  const perm = axes === undefined
    ? [...Array(t.ndim).keys()].reverse()
    : checkPermutation(axes, t.ndim, "np.transpose");
  if (perm.every((p, i) => p === i)) return t;
  return bind1(S.transpose, [t], { perm });
}

/** Swaps two axes. */
export function swapaxes(x: ArrayLike, axis1: number, axis2: number): Tensor {
  const t = asTensor(x);
  const a = normalizeAxis(axis1, t.ndim, "np.swapaxes");
  const b = normalizeAxis(axis2, t.ndim, "np.swapaxes");
  const perm = [...Array(t.ndim).keys()];
  [perm[a], perm[b]] = [perm[b], perm[a]];
  return transpose(t, perm);
}

/** Moves axes to new positions, keeping the order of the others. */
export function moveaxis(
  x: ArrayLike,
  source: number | readonly number[],
  destination: number | readonly number[],
): Tensor {
  const t = asTensor(x);
  const src = (typeof source === "number" ? [source] : [...source]).map((a) =>
    normalizeAxis(a, t.ndim, "np.moveaxis")
  );
  const dst = (typeof destination === "number" ? [destination] : [...destination]).map((a) =>
    normalizeAxis(a, t.ndim, "np.moveaxis")
  );
  if (src.length !== dst.length) {
    throw new RangeError("np.moveaxis: source and destination must have the same number of axes");
  }
  const rest = [...Array(t.ndim).keys()].filter((a) => !src.includes(a));
  const perm = new Array<number>(t.ndim);
  dst.forEach((d, i) => (perm[d] = src[i]));
  for (let i = 0, r = 0; i < t.ndim; i++) if (perm[i] === undefined) perm[i] = rest[r++];
  return transpose(t, perm);
}

/** Inserts size-1 axes at the given positions of the result. */
export function expandDims(x: ArrayLike, axis: number | readonly number[]): Tensor {
  const t = asTensor(x);
  const list = typeof axis === "number" ? [axis] : [...axis];
  const outNdim = t.ndim + list.length;
  const axes = normalizeAxes(list, outNdim, "np.expandDims");
  const shape: number[] = [];
  for (let i = 0, j = 0; i < outNdim; i++) shape.push(axes.includes(i) ? 1 : t.shape[j++]);
  return bind1(S.reshape, [t], { shape });
}

/** Removes size-1 axes (all of them, or those named). */
export function squeeze(x: ArrayLike, axis?: number | readonly number[] | null): Tensor {
  const t = asTensor(x);
  const axes = axis === undefined || axis === null
    ? t.shape.flatMap((d, i) => (d === 1 ? [i] : []))
    : normalizeAxes(axis, t.ndim, "np.squeeze");
  for (const a of axes) {
    if (t.shape[a] !== 1) {
      throw new RangeError(
        `np.squeeze: cannot select axis ${a} of shape ${fmtShape(t.shape)}: its size is not 1`,
      );
    }
  }
  if (axes.length === 0) return t;
  return bind1(S.reshape, [t], { shape: t.shape.filter((_, i) => !axes.includes(i)) });
}

/** Broadcasts arrays against each other. */
export function broadcastArrays(...xs: ArrayLike[]): Tensor[] {
  const ts = xs.map((x) => asTensor(x));
  const shape = broadcastShapes("np.broadcastArrays", ...ts.map((t) => t.shape));
  return ts.map((t) => broadcastTo(t, shape));
}

function checkList(xs: unknown, op: string): ArrayLike[] {
  if (!Array.isArray(xs) || xs.length === 0) {
    throw new RangeError(`${op}: needs a non-empty list of arrays, got ${describe(xs)}`);
  }
  return xs;
}

/** Joins arrays along an existing axis (dtypes promote); `axis` null flattens them first. */
export function concatenate(xs: readonly ArrayLike[], axis: number | null = 0): Tensor {
  if (axis === null) {
    return concatenate(checkList(xs, "np.concatenate").map((x) => ravel(x)), 0);
  }
  const ts = promote("np.concatenate", ...checkList(xs, "np.concatenate"));
  const first = ts[0];
  if (first.ndim === 0) {
    throw new RangeError("np.concatenate: zero-dimensional arrays cannot be concatenated");
  }
  const ax = normalizeAxis(axis, first.ndim, "np.concatenate");
  if (ts.length === 1) return first;
  return bind1(S.concatenate, ts, { axis: ax });
}

/** Joins arrays along a new axis. */
export function stack(xs: readonly ArrayLike[], axis = 0): Tensor {
  const ts = promote("np.stack", ...checkList(xs, "np.stack"));
  for (const t of ts) {
    if (!shapeEqual(t.shape, ts[0].shape)) {
      throw new RangeError(
        `np.stack: all arrays must have the same shape, got ${
          ts.map((u) => fmtShape(u.shape)).join(", ")
        }`,
      );
    }
  }
  const ax = normalizeAxis(axis, ts[0].ndim + 1, "np.stack");
  const expanded = ts.map((t) => expandDims(t, ax));
  return expanded.length === 1 ? expanded[0] : bind1(S.concatenate, expanded, { axis: ax });
}

/** Stacks along axis 0 after making arrays at least 2-D. */
export function vstack(xs: readonly ArrayLike[]): Tensor {
  return concatenate(
    checkList(xs, "np.vstack").map((x) => {
      const t = asTensor(x);
      return t.ndim < 2 ? reshape(t, [1, t.size]) : t;
    }),
    0,
  );
}

/** Stacks along axis 1 (axis 0 for 1-D arrays; scalars count as 1-D). */
export function hstack(xs: readonly ArrayLike[]): Tensor {
  const ts = checkList(xs, "np.hstack").map((x) => {
    const t = asTensor(x);
    return t.ndim === 0 ? reshape(t, [1]) : t;
  });
  return concatenate(ts, ts[0].ndim <= 1 ? 0 : 1);
}

function sliceAxis(t: Tensor, axis: number, start: number, stop: number): Tensor {
  const startIdx = t.shape.map(() => 0), limit = [...t.shape];
  startIdx[axis] = start;
  limit[axis] = stop;
  return bind1(S.slice, [t], { start: startIdx, limit, strides: t.shape.map(() => 1) });
}

/** Splits into equal sections (a count) or at indices (a list) along `axis`. */
export function split(
  x: ArrayLike,
  indicesOrSections: number | readonly number[],
  axis = 0,
): Tensor[] {
  const t = asTensor(x);
  const ax = normalizeAxis(axis, t.ndim, "np.split");
  const len = t.shape[ax];
  let bounds: number[];
  if (typeof indicesOrSections === "number") {
    const n = indicesOrSections;
    if (!Number.isInteger(n) || n <= 0 || len % n !== 0) {
      throw new RangeError(
        `np.split: array split along axis ${ax} of size ${len} does not result in ${n} equal sections`,
      );
    }
    bounds = [...Array(n + 1).keys()].map((i) => (i * len) / n);
  } else {
    const clamp = (i: number) => Math.min(len, Math.max(0, i < 0 ? i + len : i));
    bounds = [0, ...indicesOrSections.map(clamp), len];
  }
  const out: Tensor[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    out.push(sliceAxis(t, ax, bounds[i], Math.max(bounds[i], bounds[i + 1])));
  }
  return out;
}

/** Repeats the whole array `reps` times along each axis. */
export function tile(x: ArrayLike, reps: number | readonly number[]): Tensor {
  let t = asTensor(x);
  const r = typeof reps === "number" ? [reps] : [...reps];
  if (r.some((v) => !Number.isInteger(v) || v < 0)) {
    throw new RangeError(
      `np.tile: reps must be non-negative integers, got ${JSON.stringify(reps)}`,
    );
  }
  const nd = Math.max(t.ndim, r.length);
  while (r.length < nd) r.unshift(1);
  t = reshape(t, [...Array(nd - t.ndim).fill(1), ...t.shape]);
  // broadcast to (r0, d0, r1, d1, …) then merge pairs
  const interleaved = t.shape.flatMap((d, i) => [r[i], d]);
  const expanded = bind1(S.broadcastInDim, [t], {
    shape: interleaved,
    broadcastDimensions: t.shape.map((_, i) => 2 * i + 1),
  });
  return reshape(expanded, t.shape.map((d, i) => d * r[i]));
}

/** Options of {@link repeat}. */
export interface RepeatOptions {
  /** The static length of the result along `axis` (needed under jit for array repeats). */
  totalRepeatLength?: number;
}

/**
 * Repeats each element `repeats` times along `axis` (flattened when omitted); `repeats` may
 * be one count per element (see {@link repeatEach}).
 */
export function repeat(
  x: ArrayLike,
  repeats: number | ArrayLike,
  axis?: number,
  options: RepeatOptions = {},
): Tensor {
  if (typeof repeats !== "number" || options.totalRepeatLength !== undefined) {
    return repeatEach(x, repeats, axis, options.totalRepeatLength);
  }
  let t = asTensor(x);
  if (!Number.isInteger(repeats) || repeats < 0) {
    throw new RangeError(`np.repeat: repeats must be a non-negative integer, got ${repeats}`);
  }
  if (axis === undefined) {
    t = ravel(t);
    axis = 0;
  }
  const ax = normalizeAxis(axis, t.ndim, "np.repeat");
  const shape = [...t.shape.slice(0, ax + 1), repeats, ...t.shape.slice(ax + 1)];
  const dims = t.shape.map((_, i) => (i <= ax ? i : i + 1));
  const expanded = bind1(S.broadcastInDim, [t], { shape, broadcastDimensions: dims });
  const out = [...t.shape];
  out[ax] *= repeats;
  return reshape(expanded, out);
}

/** Options of {@link pad}. */
export interface PadOptions {
  /** "constant" (default), or "edge", "reflect", "symmetric", "wrap", "linear_ramp". */
  mode?: "constant" | GatherPadMode;
  /** The fill value of "constant" (default 0). */
  constantValues?: number;
  /** The outer values of "linear_ramp": one value, [before, after], or a pair per axis. */
  endValues?: number | readonly number[] | readonly (readonly number[])[];
}

const PAD_MODES = ["constant", "edge", "reflect", "symmetric", "wrap", "linear_ramp"];

/** NumPy's broadcasting of a pad width (or end values): n, [before, after], or a pair per axis. */
function perAxisPairs(
  op: string,
  what: string,
  value: number | readonly number[] | readonly (readonly number[])[],
  shape: readonly number[],
): number[][] {
  let pairs: number[][];
  if (typeof value === "number") pairs = shape.map(() => [value, value]);
  else if (value.length > 0 && typeof value[0] === "number") {
    const pw = value as readonly number[];
    const pair = pw.length === 1 ? [pw[0], pw[0]] : [pw[0], pw[1]];
    pairs = shape.map(() => pair);
  } else pairs = (value as readonly (readonly number[])[]).map((p) => [...p]);
  if (pairs.length !== shape.length || pairs.some((p) => p.length !== 2)) {
    throw new RangeError(
      `${op}: ${what} ${JSON.stringify(value)} does not fit shape ${fmtShape(shape)}`,
    );
  }
  return pairs;
}

/**
 * Pads `x`: `padWidth` is n, [before, after], or one pair per axis. Modes as NumPy: a
 * constant (default 0), or values from the array itself (see {@link PadOptions}).
 */
export function pad(
  x: ArrayLike,
  padWidth: number | readonly number[] | readonly (readonly number[])[],
  options: PadOptions = {},
): Tensor {
  const t = asTensor(x);
  const mode = options.mode ?? "constant";
  if (!PAD_MODES.includes(mode)) {
    throw new RangeError(
      `np.pad: mode ${JSON.stringify(options.mode)} is not supported; expected one of ${
        PAD_MODES.join(", ")
      }`,
    );
  }
  const pairs = perAxisPairs("np.pad", "pad width", padWidth, t.shape);
  if (pairs.some((p) => p.some((v) => !Number.isInteger(v) || v < 0))) {
    throw new RangeError(
      `np.pad: pad width ${JSON.stringify(padWidth)} must hold non-negative integers`,
    );
  }
  if (mode !== "constant") {
    const ends = perAxisPairs("np.pad", "end values", options.endValues ?? 0, t.shape);
    return padWithMode(t, pairs, mode, ends);
  }
  const value = asTensor(options.constantValues ?? 0, t.dtype);
  return bind1(S.pad, [t, value], {
    lo: pairs.map((p) => p[0]),
    hi: pairs.map((p) => p[1]),
    interior: pairs.map(() => 0),
  });
}

/** Reverses the order of elements along `axis` (all axes when omitted). */
export function flip(x: ArrayLike, axis?: number | readonly number[] | null): Tensor {
  const t = asTensor(x);
  const axes = normalizeAxes(axis, t.ndim, "np.flip");
  return axes.length === 0 ? t : bind1(S.rev, [t], { axes });
}

/** Rolls elements along `axis` (flattened when omitted) by `shift`. */
export function roll(
  x: ArrayLike,
  shift: number | readonly number[],
  axis?: number | readonly number[],
): Tensor {
  const t = asTensor(x);
  if (axis === undefined) return reshape(roll(ravel(t), shift, 0), t.shape);
  const shifts = typeof shift === "number" ? [shift] : [...shift];
  const axes = typeof axis === "number" ? [axis] : [...axis];
  if (shifts.length !== axes.length) {
    throw new RangeError("np.roll: shift and axis must have the same length");
  }
  let out = t;
  axes.forEach((a, i) => {
    const ax = normalizeAxis(a, t.ndim, "np.roll");
    const len = t.shape[ax];
    if (len === 0) return;
    const s = ((shifts[i] % len) + len) % len;
    if (s === 0) return;
    out = bind1(S.concatenate, [sliceAxis(out, ax, len - s, len), sliceAxis(out, ax, 0, len - s)], {
      axis: ax,
    });
  });
  return out;
}

function triangle(x: ArrayLike, k: number, lower: boolean, op: string): Tensor {
  const t = asTensor(x);
  if (t.ndim < 2) {
    throw new RangeError(`${op}: input must be at least 2-D, got shape ${fmtShape(t.shape)}`);
  }
  const [n, m] = t.shape.slice(-2);
  const rows = bind1(S.iota, [], { shape: [n, m], dimension: 0, dtype: "int32" });
  const cols = bind1(S.iota, [], { shape: [n, m], dimension: 1, dtype: "int32" });
  // lower keeps col - row <= k; upper keeps col - row >= k
  const keep = lower ? greaterEqual(add(rows, k), cols) : greaterEqual(cols, add(rows, k));
  return where(keep, t, zeros([], { dtype: t.dtype }));
}

/** Lower triangle (elements above diagonal `k` zeroed). */
export const tril = (x: ArrayLike, k = 0): Tensor => triangle(x, k, true, "np.tril");
/** Upper triangle (elements below diagonal `k` zeroed). */
export const triu = (x: ArrayLike, k = 0): Tensor => triangle(x, k, false, "np.triu");

/** Number of axes. */
export const ndim = (x: ArrayLike): number => asTensor(x).ndim;
/** Shape as a list. */
export const shape = (x: ArrayLike): number[] => asTensor(x).shape;
/** Number of elements. */
export const size = (x: ArrayLike): number => asTensor(x).size;
