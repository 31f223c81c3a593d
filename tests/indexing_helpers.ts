/**
 * Shared helpers of the indexing tests (`indexing_*_test.ts`): `test` on the js device, naive
 * JS index arithmetic (ravel/unravel, basic-index evaluation, argsort) to check against, and
 * the CPU library's indexing symbols when present (null otherwise).
 * @module
 */

import assert from "node:assert/strict";
import { registerDevice, setDefaultDevice } from "../core/device.ts";
import type { DType } from "../core/dtype.ts";
import { createJsDevice } from "../core/js_device.ts";
import { type IndexItem, s } from "../core/numpy/indexing.ts";
import { sizeOf } from "../core/shape.ts";
import type { Tensor } from "../core/tensor.ts";
import { fromHostData } from "../core/trace.ts";
import type { CpuSymbols } from "../ffi/cpu_ops/types.ts";

registerDevice("js", createJsDevice);

/** A test on the js device (other test files may change the default device). */
export function test(name: string, fn: (t: Deno.TestContext) => void | Promise<void>): void {
  Deno.test(name, async (t) => {
    setDefaultDevice("js");
    await fn(t);
  });
}

// ---- naive helpers ------------------------------------------------------------------------

/** A plain row-major array: flat data and shape. */
export interface Arr {
  data: number[];
  shape: number[];
}

/** 0, 1, 2, … in `shape`. */
export function iotaArr(shape: number[]): Arr {
  return { data: [...Array(sizeOf(shape)).keys()], shape };
}

/** A tensor of `a` on the js device (float32, float64 or int32). */
export function tensorOf(a: Arr, dtype: DType = "float32"): Tensor {
  const data = dtype === "float64"
    ? Float64Array.from(a.data)
    : dtype === "int32"
    ? Int32Array.from(a.data)
    : Float32Array.from(a.data);
  return fromHostData(data, a.shape, dtype);
}

/** Asserts a tensor equals `expected` exactly (shape and values; NaN matches NaN). */
export function check(t: Tensor, expected: Arr, msg = ""): void {
  assert.deepEqual(t.shape, expected.shape, `${msg} shape`);
  const got = Array.from(t.dataSync());
  assert.equal(got.length, expected.data.length, msg);
  for (let i = 0; i < got.length; i++) {
    if (Number.isNaN(expected.data[i])) assert.ok(Number.isNaN(got[i]), `${msg} [${i}] NaN`);
    else assert.equal(got[i], expected.data[i], `${msg} [${i}]`);
  }
}

/** Maps any integer into [-n, n). */
export function wrapIn(v: number, n: number): number {
  return ((v % (2 * n)) + 2 * n) % (2 * n) - n;
}

/** The multi-index of flat row-major position `i` in `shape`. */
export function unravel(i: number, shape: number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let k = shape.length - 1; k >= 0; k--) {
    out[k] = i % shape[k];
    i = Math.floor(i / shape[k]);
  }
  return out;
}

/** The flat row-major position of multi-index `idx` in `shape`. */
export function ravel(idx: number[], shape: number[]): number {
  let f = 0;
  for (let k = 0; k < shape.length; k++) f = f * shape[k] + idx[k];
  return f;
}

/** Python's range for a slice, enumerated element by element. */
function sliceRange(
  n: number,
  start: number | null,
  stop: number | null,
  step: number | null,
): number[] {
  const st = step ?? 1;
  const out: number[] = [];
  if (st > 0) {
    let a = start ?? 0, b = stop ?? n;
    if (a < 0) a = Math.max(0, a + n);
    if (b < 0) b = Math.max(0, b + n);
    a = Math.min(a, n);
    b = Math.min(b, n);
    for (let i = a; i < b; i += st) out.push(i);
  } else {
    let a = start ?? n - 1, b = stop ?? -n - 1;
    if (a < 0) a = a + n;
    if (b < 0) b = b + n;
    a = Math.min(a, n - 1);
    for (let i = a; i > b && i >= 0; i += st) out.push(i);
  }
  return out;
}

/** A basic index item in a form the naive evaluator reads. */
export type BasicItem =
  | { k: "int"; v: number }
  | { k: "slice"; a: number | null; b: number | null; c: number | null }
  | { k: "new" }
  | { k: "ell" };

/** Naive NumPy basic indexing: per-axis index lists, cartesian product. */
export function naiveBasic(x: Arr, items: BasicItem[]): Arr {
  const used = items.filter((it) => it.k === "int" || it.k === "slice").length;
  const expanded: BasicItem[] = [];
  let sawEll = false;
  for (const it of items) {
    if (it.k === "ell") {
      sawEll = true;
      for (let i = 0; i < x.shape.length - used; i++) {
        expanded.push({ k: "slice", a: null, b: null, c: null });
      }
    } else expanded.push(it);
  }
  if (!sawEll) {
    for (let i = 0; i < x.shape.length - used; i++) {
      expanded.push({ k: "slice", a: null, b: null, c: null });
    }
  }
  const lists: number[][] = [];
  const outShape: number[] = [];
  // axis plan: for each out axis, which x axis (or -1 for new axis)
  const plan: number[] = [];
  let d = 0;
  for (const it of expanded) {
    if (it.k === "new") {
      outShape.push(1);
      plan.push(-1);
    } else if (it.k === "int") {
      const n = x.shape[d];
      lists[d] = [it.v < 0 ? it.v + n : it.v];
      d++;
    } else if (it.k === "slice") {
      lists[d] = sliceRange(x.shape[d], it.a, it.b, it.c);
      outShape.push(lists[d].length);
      plan.push(d);
      d++;
    }
  }
  const data: number[] = [];
  for (let o = 0; o < sizeOf(outShape); o++) {
    const oi = unravel(o, outShape);
    const xi = lists.map((l) => l[0]);
    plan.forEach((axis, k) => {
      if (axis >= 0) xi[axis] = lists[axis][oi[k]];
    });
    data.push(x.data[ravel(xi, x.shape)]);
  }
  return { data, shape: outShape };
}

/** The Kiln index item for a {@link BasicItem} (slices as `s(...)` or as strings). */
export function toIndexItem(it: BasicItem): IndexItem {
  switch (it.k) {
    case "int":
      return it.v;
    case "new":
      return null;
    case "ell":
      return "...";
    case "slice":
      // alternate between the helper and the string form
      return (it.a ?? 0) % 2 === 0
        ? s(it.a, it.b, it.c)
        : `${it.a ?? ""}:${it.b ?? ""}${it.c === null ? "" : ":" + it.c}`;
  }
}

/** Naive stable sort of one row: NaN last. */
export function naiveArgsort(row: number[]): number[] {
  const order = row.map((_, i) => i);
  return order.sort((p, q) => {
    const a = row[p], b = row[q];
    const an = Number.isNaN(a), bn = Number.isNaN(b);
    if (an || bn) return an === bn ? p - q : an ? 1 : -1;
    return a < b ? -1 : a > b ? 1 : p - q;
  });
}

// ---- CPU library, when present ----------------------------------------------------------------

async function loadCpuSymbols(): Promise<CpuSymbols | null> {
  try {
    const spec = "../ffi/cpu_library.ts";
    const mod = await import(spec);
    const sym = mod.loadCpuLibrary().symbols as CpuSymbols;
    for (
      const name of ["kiln_take_4", "kiln_scatter_add_f32", "kiln_scatter_set_4", "kiln_sort_f32"]
    ) {
      if (!(name in sym) || sym[name] === undefined) return null;
    }
    return sym;
  } catch {
    return null;
  }
}
/** The CPU library's symbols when it loads with the indexing kernels, else null. */
export const cpuSymbols = await loadCpuSymbols();
