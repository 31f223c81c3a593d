/**
 * Scoped disposal, as TensorFlow.js's `tidy`: every concrete tensor made while `fn` runs is
 * disposed when it returns, except the tensors it returns (anywhere in a pytree) and those
 * passed to {@linkcode keep}. On `cpu` this only ends the tensors' use; on `cuda` it returns
 * their device memory at once instead of at garbage collection.
 *
 * Only a scope opened outside every transformation collects: under `jit` tracing, tensors
 * made become the graph's constants and must outlive the scope; under `vmap` or `grad`, the
 * concrete values inside the tracers a scope returns are not themselves returned tensors.
 * @module
 */

import { setTensorCreationHook, Tensor } from "./tensor.ts";
import { evalTraceRoot, getCurrentTrace } from "./trace.ts";

/**
 * The open scopes, innermost last: the tensors each has seen made, or null for a scope
 * opened inside a transformation (which collects nothing).
 */
const scopes: (Set<Tensor> | null)[] = [];
/** Tensors that no scope may dispose. */
const kept = new WeakSet<Tensor>();

function collect(tensor: Tensor): void {
  if (getCurrentTrace() === evalTraceRoot()) scopes[scopes.length - 1]?.add(tensor);
}

/**
 * Runs `fn` and disposes the tensors it made, except those in its result and those kept.
 * Returned tensors belong to the enclosing scope, if any. Scopes nest.
 *
 * @example
 * ```ts
 * const loss = tidy(() => np.mean(model(x).sub(y).square())); // intermediates freed
 * ```
 * @throws TypeError when `fn` returns a Promise (a scope cannot span an await).
 */
export function tidy<T>(fn: () => T): T {
  const scope = getCurrentTrace() === evalTraceRoot() ? new Set<Tensor>() : null;
  scopes.push(scope);
  if (scopes.length === 1) setTensorCreationHook(collect);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    end(scope, new Set());
    throw error;
  }
  if (result instanceof Promise) {
    end(scope, new Set());
    throw new TypeError(
      "tidy: fn returned a Promise; a scope cannot span an await (tidy the synchronous parts)",
    );
  }
  const returned = new Set<Tensor>();
  tensorsIn(result, returned);
  end(scope, returned);
  for (const t of returned) scopes[scopes.length - 1]?.add(t);
  return result;
}

/** Adds the tensors in `value` (arrays and objects, walked like pytrees) to `into`. */
function tensorsIn(value: unknown, into: Set<Tensor>): void {
  if (value instanceof Tensor) into.add(value);
  else if (Array.isArray(value)) { for (const v of value) tensorsIn(v, into); }
  else if (value !== null && typeof value === "object" && !ArrayBuffer.isView(value)) {
    for (const v of Object.values(value)) tensorsIn(v, into);
  }
}

/** Closes the innermost scope, disposing what it collected but `spared` and kept tensors. */
function end(scope: Set<Tensor> | null, spared: Set<Tensor>): void {
  scopes.pop();
  if (scopes.length === 0) setTensorCreationHook(null);
  for (const t of scope ?? []) if (!spared.has(t) && !kept.has(t)) t.dispose();
}

/** Exempts `tensor` from every `tidy` scope (it lives until `dispose()` or collection). */
export function keep<T extends Tensor>(tensor: T): T {
  kept.add(tensor);
  return tensor;
}
