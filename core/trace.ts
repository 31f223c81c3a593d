/**
 * Stackless trace dispatch, after JAX's Autodidax 2: there is one current trace; each trace
 * knows its parent and runs primitive rules by binding on that parent. `bind` is how every
 * operation reaches a trace. A trace is invalidated when its transform returns, so a tracer
 * that escapes it is caught in `bind` with a clear error.
 * @module
 */

import { allocate, type DType, storeNumber } from "./dtype.ts";
import { defaultDevice, type Device } from "./device.ts";
import type { Aval, Primitive } from "./primitive.ts";
import { fmtShape } from "./shape.ts";
import { Tensor } from "./tensor.ts";

/** A transform's interpreter of primitives. */
export abstract class Trace {
  /** The trace that this one's rules bind on (null for the eval trace). */
  readonly parent: Trace | null;
  /** The transform's name, for errors ("grad", "vmap", "jit"). */
  readonly transform: string;
  /** False once the transform that created this trace has returned. */
  valid = true;

  constructor(parent: Trace | null, transform: string) {
    this.parent = parent;
    this.transform = transform;
  }

  /** Applies `prim` to `args` (tensors of this trace or of enclosing ones). */
  abstract processPrimitive(
    prim: Primitive,
    args: Tensor[],
    params: Record<string, unknown>,
  ): Tensor[];
}

/** A tensor standing for a value inside a transform. */
export class Tracer extends Tensor {
  /** The trace this tracer belongs to. */
  readonly trace: Trace;

  constructor(trace: Trace, aval: Aval) {
    super(aval, null, null);
    this.trace = trace;
  }

  override concretizationError(op: string): Error {
    const where = this.trace.valid
      ? `inside ${this.trace.transform}`
      : `that escaped from ${this.trace.transform} (it was created inside the transform and used after it returned)`;
    return new Error(
      `${op}: a traced ${this.dtype}${fmtShape(this.shape)} value ${where} has no concrete ` +
        `value; JS control flow (if, ?:, comparisons) cannot depend on traced values: use ` +
        `np.where or lax.cond, or mark the argument static`,
    );
  }
}

/** Evaluates primitives on concrete tensors, on their device. */
export class EvalTrace extends Trace {
  constructor() {
    super(null, "eval");
  }

  processPrimitive(prim: Primitive, args: Tensor[], params: Record<string, unknown>): Tensor[] {
    if (prim.rules.run !== undefined) return prim.rules.run(args, params);
    const n = args.length;
    const inAvals = new Array<Aval>(n);
    const device = n > 0 ? args[0].concreteDevice(prim.name) : defaultDevice();
    const buffers = new Array<unknown>(n);
    for (let i = 0; i < n; i++) {
      const arg = args[i];
      inAvals[i] = arg.aval;
      const argDevice = i === 0 ? device : arg.concreteDevice(prim.name);
      buffers[i] = argDevice === device
        ? arg.buffer(prim.name)
        : device.fromHost(argDevice.toHost(arg.buffer(prim.name), arg.dtype, arg.size));
    }
    const outAvals = prim.rules.abstractEval(inAvals, params);
    let outBuffers: unknown[];
    try {
      outBuffers = device.execute(prim, buffers, inAvals, params, outAvals);
    } catch (error) {
      throw executionError(prim, inAvals, outAvals, error);
    }
    const out = new Array<Tensor>(outAvals.length);
    for (let i = 0; i < outAvals.length; i++) {
      out[i] = new Tensor(outAvals[i], outBuffers[i], device);
    }
    return out;
  }
}

// An allocation failure inside a device names the primitive and the shapes involved.
function executionError(
  prim: Primitive,
  inAvals: Aval[],
  outAvals: Aval[],
  error: unknown,
): unknown {
  if (
    !(error instanceof RangeError) ||
    !/allocation failed|Invalid typed array length/.test(error.message)
  ) {
    return error;
  }
  const fmt = (a: Aval) => `${a.dtype}${fmtShape(a.shape)}`;
  return new RangeError(
    `${prim.name}: out of memory computing ${outAvals.map(fmt).join(", ")} from ${
      inAvals.map(fmt).join(", ")
    }`,
    { cause: error },
  );
}

const evalTrace = new EvalTrace();
let currentTrace: Trace = evalTrace;
let bindLogger: ((prim: Primitive, args: Tensor[]) => void) | null = null;

/** The eval trace at the bottom of every trace stack (concrete evaluation). */
export function evalTraceRoot(): Trace {
  return evalTrace;
}

/** The trace that `bind` dispatches to now. */
export function getCurrentTrace(): Trace {
  return currentTrace;
}

/** Runs `fn` with `trace` as the current trace, restoring the previous one afterwards. */
export function withTrace<T>(trace: Trace, fn: () => T): T {
  const saved = currentTrace;
  currentTrace = trace;
  try {
    return fn();
  } finally {
    currentTrace = saved;
  }
}

/** Installs a hook that sees every bind (KILN_DEBUG=5), or removes it with null. */
export function setBindLogger(logger: ((prim: Primitive, args: Tensor[]) => void) | null): void {
  bindLogger = logger;
}

/** Applies a primitive to tensors through the current trace; returns all outputs. */
export function bind<P = Record<string, unknown>>(
  prim: Primitive<P>,
  args: Tensor[],
  params: P,
): Tensor[] {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg instanceof Tracer && !arg.trace.valid) {
      throw new Error(
        `${prim.name}: escaped tracer: a ${arg.dtype}${fmtShape(arg.shape)} value created ` +
          `inside ${arg.trace.transform} was used after ${arg.trace.transform} returned. ` +
          `Return it from the transformed function instead of storing it outside.`,
      );
    }
  }
  const p = prim as unknown as Primitive;
  if (bindLogger !== null) bindLogger(p, args);
  return currentTrace.processPrimitive(p, args, params as Record<string, unknown>);
}

/** Applies a primitive with exactly one output. */
export function bind1<P>(prim: Primitive<P>, args: Tensor[], params: P): Tensor {
  return bind(prim, args, params)[0];
}

/** Makes a concrete tensor from host data on `device` (default: the default device). */
export function fromHostData(
  data: import("./dtype.ts").TypedArray,
  shape: readonly number[],
  dtype: DType,
  weak = false,
  device: Device = defaultDevice(),
): Tensor {
  return new Tensor({ shape, dtype, weak }, device.fromHost(data), device);
}

/** A concrete 0-d tensor holding `value`, weakly typed when it came from a JS number. */
export function scalarTensor(value: number, dtype: DType, weak: boolean, device?: Device): Tensor {
  const storage = allocate(dtype, 1);
  storeNumber(storage, 0, value, dtype);
  return fromHostData(storage, [], dtype, weak, device);
}
