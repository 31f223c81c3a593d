/**
 * Batching of `Dataset` elements (`dataset.ts`): `stackElements` stacks same-structure elements
 * leaf by leaf; `gatherRows` makes one batch of a tensor-slice source from row indices with one
 * op per leaf (a slice for a contiguous run, a gather otherwise).
 * @module
 */

import { lax, np, Tensor } from "../core/index.ts";
import type { Indexed } from "./dataset.ts";

/** True for plain objects (`{...}` or `Object.create(null)`), the dict nodes of a pytree. */
export function isPlain(x: unknown): x is Record<string, unknown> {
  if (typeof x !== "object" || x === null) return false;
  const p = Object.getPrototypeOf(x);
  return p === Object.prototype || p === null;
}

/** Stacks a list of same-structure elements leaf by leaf (np.stack for tensors). */
export function stackElements(elems: unknown[], path = ""): unknown {
  const first = elems[0];
  const where = path || "the element";
  if (first instanceof Tensor) {
    if (!elems.every((e) => e instanceof Tensor)) {
      throw new TypeError(`Dataset.batch: ${where} mixes tensors and other values`);
    }
    const shapes = elems.map((e) => (e as Tensor).shape.join(","));
    if (shapes.some((s) => s !== shapes[0])) {
      throw new RangeError(
        `Dataset.batch: ${where} has different shapes [${[...new Set(shapes)].join("], [")}]`,
      );
    }
    return np.stack(elems as Tensor[]);
  }
  if (typeof first === "number" && elems.every((e) => typeof e === "number")) {
    const ints = (elems as number[]).every((v) => Number.isInteger(v) && Math.abs(v) < 2 ** 31);
    return np.array(elems as number[], { dtype: ints ? "int32" : "float32" });
  }
  if (typeof first === "boolean" && elems.every((e) => typeof e === "boolean")) {
    return np.array(elems as boolean[]);
  }
  if (Array.isArray(first)) {
    if (!elems.every((e) => Array.isArray(e) && e.length === first.length)) {
      throw new TypeError(`Dataset.batch: ${where} has arrays of different lengths`);
    }
    return first.map((_, i) =>
      stackElements(elems.map((e) => (e as unknown[])[i]), `${path}[${i}]`)
    );
  }
  if (isPlain(first)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(first)) {
      out[k] = stackElements(
        elems.map((e) => {
          if (!isPlain(e) || !(k in e)) throw new TypeError(`Dataset.batch: ${path}.${k} missing`);
          return e[k];
        }),
        `${path}.${k}`,
      );
    }
    return out;
  }
  return elems; // strings, byte records, ...: a JS array
}

/** One batch of a tensor-slice source: its rows `idx`, leaf by leaf. */
export function gatherRows(src: Indexed, idx: Int32Array): unknown {
  const b = idx.length;
  let contiguous = true;
  for (let i = 1; i < b && contiguous; i++) contiguous = idx[i] === idx[0] + i;
  if (contiguous) {
    return src.build(
      src.leaves.map((l) =>
        lax.slice(l, [idx[0], ...l.shape.slice(1).map(() => 0)], [idx[0] + b, ...l.shape.slice(1)])
      ),
    );
  }
  const it = np.array(idx, { dtype: "int32" });
  return src.build(src.leaves.map((l) => np.take(l, it, 0)));
}
