/**
 * Shared helpers of the `nn` library: operand conversion and option parsing with errors that
 * name the function.
 * @module
 */

import { np, type Tensor } from "../core/index.ts";
import type { ArrayLike } from "../core/numpy/convert.ts";
import { isFloat } from "../core/dtype.ts";
import { fmtShape, normalizeAxis } from "../core/shape.ts";
// deno-lint-ignore no-import-prefix
import { z } from "npm:zod@4";

export { fmtShape, isFloat, normalizeAxis, z };
export type { ArrayLike };

/** A tensor from any array-like input. */
export function tensor(x: ArrayLike): Tensor {
  return np.asarray(x);
}

/** A float tensor (integers and bools become float32, as JAX's nn functions do). */
export function floatTensor(x: ArrayLike): Tensor {
  const t = np.asarray(x);
  return isFloat(t.dtype) ? t : t.astype("float32");
}

/** Parses `options` with `schema`, throwing a TypeError that names `op` and every issue. */
export function parseOptions<T>(op: string, schema: z.ZodType<T>, options: unknown): T {
  const r = schema.safeParse(options ?? {});
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => {
    const path = i.path.length > 0 ? `${i.path.join(".")}: ` : "";
    return path + i.message;
  });
  throw new TypeError(`${op}: invalid options: ${issues.join("; ")}`);
}

/** Describes a tensor as `dtype[d0,d1]` for error messages. */
export function desc(t: Tensor): string {
  return `${t.dtype}${fmtShape(t.shape)}`;
}
