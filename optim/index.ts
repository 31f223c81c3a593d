/**
 * Optimizers after Optax: gradient transformations with pytree states of tensors, so a whole
 * training step jits (and donates its parameters and state).
 *
 * ```ts
 * import { grad, jit, np, optim } from "./mod.ts";
 * const opt = optim.adam(1e-2);
 * let params = { w: np.zeros([3]) };
 * let state = opt.init(params);
 * const step = jit((p, s, x, y) => {
 *   const [u, s2] = opt.update(grad(loss)(p, x, y), s, p);
 *   return [optim.applyUpdates(p, u), s2];
 * }, { donateArgnums: [0, 1] });
 * [params, state] = step(params, state, x, y);
 * ```
 * @module
 */

import {
  type AdamOptions,
  adamShape,
  addDecayedWeights,
  chain,
  type GradientTransformation,
  identity,
  type Mask,
  type RmsOptions,
  rmsShape,
  scaleByAdam,
  scaleByLearningRate,
  scaleByRms,
  scaleByRss,
  scaleByStddev,
  trace,
} from "./transforms.ts";
import { finite, parseHyper, parseLearningRate, type ScalarOrSchedule, z } from "./schedules.ts";

export * from "./transforms.ts";
export {
  constantSchedule,
  cosineDecaySchedule,
  evalScalarOrSchedule,
  exponentialDecay,
  joinSchedules,
  linearSchedule,
  piecewiseConstantSchedule,
  polynomialSchedule,
  warmupCosineDecaySchedule,
} from "./schedules.ts";
export type {
  ExponentialDecayOptions,
  Scalar,
  ScalarOrSchedule,
  Schedule,
  WarmupCosineDecayOptions,
} from "./schedules.ts";

const momentumSchema = finite().min(0).max(1).optional();

/** Options of {@link sgd}. */
export interface SgdOptions {
  /** Momentum decay (default none: plain SGD). */
  momentum?: number;
  /** Nesterov momentum (default false). */
  nesterov?: boolean;
}

/**
 * Stochastic gradient descent (Optax's `sgd`): optional (Nesterov) momentum, then
 * `-learningRate` scaling. `learningRate` is a number or a schedule.
 */
export function sgd(
  learningRate: ScalarOrSchedule,
  options: SgdOptions = {},
): GradientTransformation {
  const fn = "optim.sgd";
  const lr = parseLearningRate(fn, learningRate);
  const o = parseHyper(
    fn,
    z.object({ momentum: momentumSchema, nesterov: z.boolean().default(false) }).strict(),
    options,
  );
  return chain(
    o.momentum === undefined ? identity() : trace({ decay: o.momentum, nesterov: o.nesterov }),
    scaleByLearningRate(lr),
  );
}

/**
 * Adam (Optax's `adam`): `-lr * mû / (sqrt(nû + epsRoot) + eps)` with bias-corrected moments;
 * defaults `b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0`.
 */
export function adam(
  learningRate: ScalarOrSchedule,
  options: AdamOptions = {},
): GradientTransformation {
  const fn = "optim.adam";
  const lr = parseLearningRate(fn, learningRate);
  return chain(scaleByAdam(options, fn), scaleByLearningRate(lr));
}

/** Options of {@link adamw}. */
export interface AdamWOptions extends AdamOptions {
  /** Decoupled weight decay (default 1e-4). */
  weightDecay?: number;
  /** Which parameters decay: a pytree of booleans like the params, or a function making one. */
  mask?: Mask;
}

/**
 * AdamW (Optax's `adamw`): Adam's direction plus `weightDecay * params` (decoupled, optionally
 * masked), scaled by `-lr`. `update` needs the params.
 */
export function adamw(
  learningRate: ScalarOrSchedule,
  options: AdamWOptions = {},
): GradientTransformation {
  const fn = "optim.adamw";
  const lr = parseLearningRate(fn, learningRate);
  const { weightDecay, mask, ...adamOptions } = options;
  const wd = parseHyper(fn, z.object({ weightDecay: finite().min(0).default(1e-4) }), {
    weightDecay,
  }).weightDecay;
  parseHyper(fn, z.object(adamShape).strict(), adamOptions);
  return chain(
    scaleByAdam(adamOptions, fn),
    addDecayedWeights(wd, mask, fn),
    scaleByLearningRate(lr),
  );
}

/** Options of {@link rmsprop}. */
export interface RmspropOptions extends RmsOptions {
  /** Centered RMSProp: divide by the estimated standard deviation (default false). */
  centered?: boolean;
  /** Momentum applied after the learning rate (default none). */
  momentum?: number;
  /** Nesterov momentum (default false). */
  nesterov?: boolean;
}

/**
 * RMSProp (Optax's `rmsprop`): `g / sqrt(nu + eps)` (centered: `g / sqrt(nu - mu² + eps)`),
 * scaled by `-lr`, then optional momentum. Defaults `decay = 0.9, eps = 1e-8`.
 */
export function rmsprop(
  learningRate: ScalarOrSchedule,
  options: RmspropOptions = {},
): GradientTransformation {
  const fn = "optim.rmsprop";
  const lr = parseLearningRate(fn, learningRate);
  const rmsOptions = Object.fromEntries(
    Object.entries(options).filter(([k]) => k in rmsShape),
  ) as RmsOptions;
  const o = parseHyper(
    fn,
    z.object({
      centered: z.boolean().default(false),
      momentum: momentumSchema,
      nesterov: z.boolean().default(false),
      ...rmsShape,
    }).strict(),
    options,
  );
  return chain(
    o.centered ? scaleByStddev(rmsOptions, fn) : scaleByRms(rmsOptions, fn),
    scaleByLearningRate(lr),
    o.momentum === undefined ? identity() : trace({ decay: o.momentum, nesterov: o.nesterov }),
  );
}

/** Options of {@link adagrad}. */
export interface AdagradOptions {
  /** Initial value of the sum of squares (default 0.1). */
  initialAccumulatorValue?: number;
  /** Stabilizer inside the square root (default 1e-7). */
  eps?: number;
}

/** AdaGrad (Optax's `adagrad`): `-lr * g / sqrt(Σg² + eps)`. */
export function adagrad(
  learningRate: ScalarOrSchedule,
  options: AdagradOptions = {},
): GradientTransformation {
  const fn = "optim.adagrad";
  const lr = parseLearningRate(fn, learningRate);
  return chain(scaleByRss(options, fn), scaleByLearningRate(lr));
}
