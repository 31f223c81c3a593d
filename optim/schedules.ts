/**
 * Learning-rate schedules, after Optax: functions of the step count. Each schedule evaluates
 * on a JS number (returning a number) and on a scalar count tensor (returning a float32
 * scalar tensor built from `np` operations), so the same schedule works eagerly and inside
 * `jit`, where the optimizer's step count is a traced int32 scalar.
 * @module
 */

import { np, Tensor } from "../core/index.ts";
// deno-lint-ignore no-import-prefix
import { z } from "npm:zod@4";

export { z };

/** A number or a scalar tensor: what a schedule returns. */
export type Scalar = number | Tensor;

/**
 * A schedule: maps a step count to a value. On a JS number it returns a number; on a scalar
 * (int32 or float) tensor it returns a float32 scalar tensor, so it can run under `jit`.
 */
export interface Schedule {
  (count: number): number;
  (count: Tensor): Tensor;
  (count: Scalar): Scalar;
}

/** A hyperparameter that is a constant or a {@link Schedule}, like Optax's `ScalarOrSchedule`. */
export type ScalarOrSchedule = number | Schedule;

/**
 * Parses `value` with `schema`, throwing a TypeError that names `fn` and every issue
 * (`optim.adam: invalid hyperparameters: b1: ...`).
 */
export function parseHyper<T>(fn: string, schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => {
    const path = i.path.length > 0 ? `${i.path.join(".")}: ` : "";
    return path + i.message;
  });
  throw new TypeError(`${fn}: invalid hyperparameters: ${issues.join("; ")}`);
}

/** A finite number. */
export const finite = (): z.ZodNumber => z.number().finite();

/** A learning rate: a finite non-negative number or a schedule function. */
export const learningRateSchema: z.ZodType<ScalarOrSchedule> = z.custom<ScalarOrSchedule>(
  (v) => typeof v === "function" || (typeof v === "number" && Number.isFinite(v) && v >= 0),
  { message: "must be a finite non-negative number or a schedule function" },
);

/** Parses a learning rate, naming `fn` and `learningRate` in the error. */
export function parseLearningRate(fn: string, learningRate: unknown): ScalarOrSchedule {
  return parseHyper(fn, z.object({ learningRate: learningRateSchema }), { learningRate })
    .learningRate;
}

// ---- arithmetic on numbers or scalar tensors -------------------------------------------------

const isNum = (x: Scalar): x is number => typeof x === "number";

/** The count as float32 when it is a tensor (int32 counts divide as floats). */
function asFloat(x: Scalar): Scalar {
  return isNum(x) ? x : x.dtype === "float32" || x.dtype === "float64" ? x : x.astype("float32");
}
const add = (a: Scalar, b: Scalar): Scalar => isNum(a) && isNum(b) ? a + b : np.add(a as Tensor, b);
const sub = (a: Scalar, b: Scalar): Scalar =>
  isNum(a) && isNum(b) ? a - b : np.subtract(a as Tensor, b);
const mul = (a: Scalar, b: Scalar): Scalar =>
  isNum(a) && isNum(b) ? a * b : np.multiply(a as Tensor, b);
const div = (a: Scalar, b: Scalar): Scalar =>
  isNum(a) && isNum(b) ? a / b : np.divide(a as Tensor, b);
const pow = (a: Scalar, b: Scalar): Scalar =>
  isNum(a) && isNum(b) ? a ** b : np.power(a as Tensor, b);
const minimum = (a: Scalar, b: Scalar): Scalar =>
  isNum(a) && isNum(b) ? Math.min(a, b) : np.minimum(a as Tensor, b);
const maximum = (a: Scalar, b: Scalar): Scalar =>
  isNum(a) && isNum(b) ? Math.max(a, b) : np.maximum(a as Tensor, b);
const floor = (a: Scalar): Scalar => isNum(a) ? Math.floor(a) : np.floor(a);
const cos = (a: Scalar): Scalar => isNum(a) ? Math.cos(a) : np.cos(a);
const sign = (a: Scalar): Scalar => isNum(a) ? Math.sign(a) : np.sign(a);
/** `cond ? x : y` where cond is `a <= b` or `a < b`. */
const select = (
  op: "le" | "lt",
  a: Scalar,
  b: Scalar,
  x: Scalar,
  y: Scalar,
): Scalar => {
  if (isNum(a) && isNum(b) && isNum(x) && isNum(y)) return (op === "le" ? a <= b : a < b) ? x : y;
  const c = op === "le" ? np.lessEqual(a as Tensor, b) : np.less(a as Tensor, b);
  return np.where(c, x, y);
};
/** Makes the tensor result float32 even where every input was a JS number (a constant). */
function finish(count: Scalar, v: Scalar): Scalar {
  if (isNum(count)) return v;
  return isNum(v) ? np.array(v, { dtype: "float32" }) : v.dtype === "float32" ? v : v.astype(
    "float32",
  );
}
function makeSchedule(fn: (count: Scalar) => Scalar): Schedule {
  return ((count: Scalar) => finish(count, fn(asFloat(count)))) as Schedule;
}

/** Evaluates a number-or-schedule at `count` (a number stays a number). */
export function evalScalarOrSchedule(v: ScalarOrSchedule, count: Scalar): Scalar {
  return typeof v === "number" ? v : v(count);
}

// ---- schedules -------------------------------------------------------------------------------

/** The constant schedule: `value` at every step. */
export function constantSchedule(value: number): Schedule {
  const v = parseHyper("optim.constantSchedule", finite(), value);
  return makeSchedule(() => v);
}

/** Options of {@link exponentialDecay}. */
export interface ExponentialDecayOptions {
  /** Steps before decay starts (default 0). */
  transitionBegin?: number;
  /** Decay in discrete intervals: the exponent is `floor((count - begin) / transitionSteps)`. */
  staircase?: boolean;
  /** A floor (decayRate < 1) or ceiling (decayRate > 1) on the value. */
  endValue?: number;
}

const exponentialSchema = z.object({
  initValue: finite(),
  transitionSteps: z.number().int().positive(),
  decayRate: finite().nonnegative(),
  transitionBegin: z.number().int().nonnegative().default(0),
  staircase: z.boolean().default(false),
  endValue: finite().optional(),
}).strict();

/**
 * Exponential decay (Optax's `exponential_decay`): `init * decayRate ** ((count - begin) /
 * transitionSteps)` after `transitionBegin` steps, `init` before; the exponent is floored with
 * `staircase`, and the value clipped at `endValue`. A zero `decayRate` gives a constant
 * schedule, as in Optax.
 */
export function exponentialDecay(
  initValue: number,
  transitionSteps: number,
  decayRate: number,
  options: ExponentialDecayOptions = {},
): Schedule {
  const o = parseHyper("optim.exponentialDecay", exponentialSchema, {
    initValue,
    transitionSteps,
    decayRate,
    ...options,
  });
  if (o.decayRate === 0) return constantSchedule(o.initValue);
  const clip = o.decayRate < 1 ? maximum : minimum;
  return makeSchedule((count) => {
    const decreased = sub(count, o.transitionBegin);
    let p = div(decreased, o.transitionSteps);
    if (o.staircase) p = floor(p);
    let v = select("le", decreased, 0, o.initValue, mul(o.initValue, pow(o.decayRate, p)));
    if (o.endValue !== undefined) v = clip(v, o.endValue);
    return v;
  });
}

const cosineSchema = z.object({
  initValue: finite(),
  decaySteps: z.number().int().positive(),
  alpha: finite().default(0),
  exponent: finite().default(1),
}).strict();

/**
 * Cosine decay (Optax's `cosine_decay_schedule`): `init * ((1 - alpha) * c ** exponent +
 * alpha)` with `c = (1 + cos(pi * min(count, decaySteps) / decaySteps)) / 2`; constant at
 * `init * alpha` after `decaySteps`.
 */
export function cosineDecaySchedule(
  initValue: number,
  decaySteps: number,
  alpha = 0,
  exponent = 1,
): Schedule {
  const o = parseHyper("optim.cosineDecaySchedule", cosineSchema, {
    initValue,
    decaySteps,
    alpha,
    exponent,
  });
  return makeSchedule((count) => {
    const c = minimum(count, o.decaySteps);
    const cosine = mul(0.5, add(1, cos(div(mul(Math.PI, c), o.decaySteps))));
    const decayed = add(mul(1 - o.alpha, pow(cosine, o.exponent)), o.alpha);
    return mul(o.initValue, decayed);
  });
}

const polynomialSchema = z.object({
  initValue: finite(),
  endValue: finite(),
  power: finite(),
  transitionSteps: z.number().int().nonnegative(),
  transitionBegin: z.number().int().nonnegative().default(0),
}).strict();

/**
 * Polynomial schedule (Optax's `polynomial_schedule`): from `initValue` to `endValue` over
 * `transitionSteps` steps after `transitionBegin`, as `(init - end) * (1 - t / steps) ** power
 * + end`. Zero transition steps give a constant `initValue`.
 */
export function polynomialSchedule(
  initValue: number,
  endValue: number,
  power: number,
  transitionSteps: number,
  transitionBegin = 0,
): Schedule {
  const o = parseHyper("optim.polynomialSchedule", polynomialSchema, {
    initValue,
    endValue,
    power,
    transitionSteps,
    transitionBegin,
  });
  if (o.transitionSteps === 0) return constantSchedule(o.initValue);
  return makeSchedule((count) => {
    const c = minimum(maximum(sub(count, o.transitionBegin), 0), o.transitionSteps);
    const frac = sub(1, div(c, o.transitionSteps));
    return add(mul(o.initValue - o.endValue, pow(frac, o.power)), o.endValue);
  });
}

/** Linear schedule (Optax's `linear_schedule`): {@link polynomialSchedule} with power 1. */
export function linearSchedule(
  initValue: number,
  endValue: number,
  transitionSteps: number,
  transitionBegin = 0,
): Schedule {
  return polynomialSchedule(initValue, endValue, 1, transitionSteps, transitionBegin);
}

/**
 * Joins schedules (Optax's `join_schedules`): `schedules[i + 1]` takes over at `boundaries[i]`,
 * evaluated at `count - boundaries[i]`.
 */
export function joinSchedules(schedules: Schedule[], boundaries: number[]): Schedule {
  if (schedules.length !== boundaries.length + 1) {
    throw new RangeError(
      `optim.joinSchedules: ${schedules.length} schedules need ${
        schedules.length - 1
      } boundaries, got ${boundaries.length}`,
    );
  }
  return makeSchedule((count) => {
    let out = schedules[0](count);
    boundaries.forEach((b, i) => {
      out = select("lt", count, b, out, schedules[i + 1](sub(count, b)));
    });
    return out;
  });
}

/** Options of {@link warmupCosineDecaySchedule}. */
export interface WarmupCosineDecayOptions {
  /** Value at step 0. */
  initValue: number;
  /** Value at the end of warmup. */
  peakValue: number;
  /** Linear warmup steps. */
  warmupSteps: number;
  /** Total steps, warmup included. */
  decaySteps: number;
  /** Value at `decaySteps` and after (default 0). */
  endValue?: number;
  /** Exponent of the cosine (default 1). */
  exponent?: number;
}

const warmupCosineSchema = z.object({
  initValue: finite(),
  peakValue: finite(),
  warmupSteps: z.number().int().nonnegative(),
  decaySteps: z.number().int().positive(),
  endValue: finite().default(0),
  exponent: finite().default(1),
}).strict().refine((o) => o.decaySteps > o.warmupSteps, {
  message: "decaySteps must exceed warmupSteps (decaySteps counts the warmup)",
  path: ["decaySteps"],
});

/**
 * Linear warmup from `initValue` to `peakValue` over `warmupSteps`, then cosine decay to
 * `endValue` at `decaySteps` (Optax's `warmup_cosine_decay_schedule`; `decaySteps` includes the
 * warmup).
 */
export function warmupCosineDecaySchedule(options: WarmupCosineDecayOptions): Schedule {
  const o = parseHyper("optim.warmupCosineDecaySchedule", warmupCosineSchema, options);
  const alpha = o.peakValue === 0 ? 0 : o.endValue / o.peakValue;
  return joinSchedules([
    linearSchedule(o.initValue, o.peakValue, o.warmupSteps),
    cosineDecaySchedule(o.peakValue, o.decaySteps - o.warmupSteps, alpha, o.exponent),
  ], [o.warmupSteps]);
}

const piecewiseSchema = z.object({
  initValue: finite(),
  boundaries: z.array(z.number().int()),
  scales: z.array(finite().nonnegative()),
}).strict();

/**
 * Piecewise constant (Optax's `piecewise_constant_schedule`): starts at `initValue` and is
 * multiplied by `scale` from step `boundary` on, for each `{ boundary: scale }` entry (in
 * increasing boundary order). Scales must be non-negative. Pairs may also be given as an array
 * of `[boundary, scale]`.
 */
export function piecewiseConstantSchedule(
  initValue: number,
  boundariesAndScales: Record<number, number> | [number, number][] = {},
): Schedule {
  const pairs =
    (Array.isArray(boundariesAndScales)
      ? boundariesAndScales
      : Object.entries(boundariesAndScales).map(([b, s]) => [Number(b), s])) as [number, number][];
  const o = parseHyper("optim.piecewiseConstantSchedule", piecewiseSchema, {
    initValue,
    boundaries: pairs.map((p) => p[0]),
    scales: pairs.map((p) => p[1]),
  });
  const sorted = o.boundaries.map((b, i) => [b, o.scales[i]] as const).sort((a, b) => a[0] - b[0]);
  return makeSchedule((count) => {
    let v: Scalar = o.initValue;
    for (const [threshold, scale] of sorted) {
      // Optax's formulation: the indicator is 1 strictly before the threshold
      const indicator = maximum(0, sign(sub(threshold, count)));
      v = add(mul(v, indicator), mul(mul(sub(1, indicator), scale), v));
    }
    return v;
  });
}
