/**
 * `np.pad`'s non-constant modes: "edge", "reflect", "symmetric", "wrap" (each a gather along
 * one axis at indices computed here, since the shapes are static) and "linear_ramp". Axes are
 * padded one after another, so corners come from the already padded axes, as NumPy does.
 * @module
 */

import * as IP from "../prims/indexing.ts";
import { fmtShape } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind1, fromHostData } from "../trace.ts";
import { asTensor, astype, broadcastTo } from "./convert.ts";
import { add, multiply, subtract } from "./elementwise.ts";
import { concatenate } from "./shape.ts";
import { isFloat } from "../dtype.ts";

/** The pad modes besides "constant". */
export type GatherPadMode = "edge" | "reflect" | "symmetric" | "wrap" | "linear_ramp";

const mod = (a: number, n: number) => ((a % n) + n) % n;

/** Where padded position `i` (relative to the first original element) reads from. */
function sourceIndex(mode: GatherPadMode, i: number, n: number): number {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case "reflect": {
      if (n === 1) return 0;
      const m = mod(i, 2 * (n - 1));
      return m < n ? m : 2 * (n - 1) - m;
    }
    case "symmetric": {
      const m = mod(i, 2 * n);
      return m < n ? m : 2 * n - 1 - m;
    }
    case "wrap":
      return mod(i, n);
    default: // edge (linear_ramp starts from the edge too)
      return i < 0 ? 0 : n - 1;
  }
}

/** Gathers `indices` along `axis`. */
function gather(t: Tensor, indices: number[], axis: number): Tensor {
  const idx = fromHostData(Int32Array.from(indices), [indices.length], "int32");
  return bind1(IP.take, [t, idx], { axis });
}

/** A ramp from `end` (at the outside) toward `edge` over `width` steps along `axis`. */
function ramp(edge: Tensor, end: number, width: number, axis: number, before: boolean): Tensor {
  const shape = [...edge.shape];
  shape[axis] = width;
  const steps = Array.from({ length: width }, (_, k) => (before ? k : width - 1 - k) / width);
  const wShape = edge.shape.map((_, i) => (i === axis ? width : 1));
  const w = fromHostData(Float32Array.from(steps), wShape, "float32");
  const e = broadcastTo(edge, shape);
  const start = broadcastTo(asTensor(end, e.dtype), shape);
  return add(start, multiply(subtract(e, start), broadcastTo(astype(w, e.dtype), shape)));
}

/**
 * Pads `t` by `pairs[axis] = [before, after]` in `mode`. `endValues` are linear_ramp's
 * outermost values per axis (default 0).
 */
export function padWithMode(
  t: Tensor,
  pairs: number[][],
  mode: GatherPadMode,
  endValues: readonly (readonly number[])[],
): Tensor {
  let out = t;
  pairs.forEach(([lo, hi], axis) => {
    if (lo === 0 && hi === 0) return;
    const n = out.shape[axis];
    if (n === 0) {
      throw new RangeError(
        `np.pad: cannot apply ${JSON.stringify(mode)} padding to the empty axis ${axis} of ${
          fmtShape(t.shape)
        }`,
      );
    }
    if (mode === "linear_ramp") {
      const compute = isFloat(out.dtype) ? out : astype(out, "float32");
      const parts = [
        ramp(gather(compute, [0], axis), endValues[axis][0], lo, axis, true),
        compute,
        ramp(gather(compute, [n - 1], axis), endValues[axis][1], hi, axis, false),
      ].filter((p) => p.shape[axis] > 0);
      const joined = concatenate(parts, axis);
      out = isFloat(out.dtype) ? joined : astype(joined, out.dtype);
      return;
    }
    const indices = Array.from({ length: lo + n + hi }, (_, k) => sourceIndex(mode, k - lo, n));
    out = gather(out, indices, axis);
  });
  return out;
}
