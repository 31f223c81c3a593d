/**
 * Gradient transformations, after Optax: `{ init(params) → state, update(updates, state,
 * params?) → [updates, newState] }`. States are pytrees of tensors (step counts are int32
 * scalar tensors), so a whole training step — gradients, `update`, {@link applyUpdates} — can
 * be traced by `jit` and its parameters and state donated.
 * @module
 */

import { np, Tensor, tree } from "../core/index.ts";
import {
  finite,
  parseHyper,
  parseLearningRate,
  type Scalar,
  type ScalarOrSchedule,
  type Schedule,
  z,
} from "./schedules.ts";

/** An optimizer state: a pytree of tensors (plain objects and arrays of tensors). */
export type OptState = unknown;

/**
 * A gradient transformation (Optax's `GradientTransformation`): `init` builds the state from
 * the parameters, `update` maps gradients (or incoming updates) and the state to updates and
 * the new state. `params` is needed by transforms that read the parameters (weight decay).
 */
export interface GradientTransformation<S = OptState> {
  /** The initial state for these parameters. */
  init(params: unknown): S;
  /** Transforms `updates`, returning the transformed updates and the new state. */
  update<T>(updates: T, state: S, params?: T): [T, S];
}

/** A pytree of booleans shaped like the parameters. */
export type MaskTree = boolean | MaskTree[] | { [key: string]: MaskTree };

/** Parameter masks: a pytree of booleans shaped like the parameters, or a function making one. */
export type Mask = MaskTree | ((params: unknown) => MaskTree);

const INT32_MAX = 2147483647;

/** A leaf as a tensor (JS number leaves become float32 scalars). */
function asT(x: unknown): Tensor {
  return x instanceof Tensor ? x : np.array(x as number);
}

/** `tree.map` over tensor leaves. */
function mapT<T>(fn: (...xs: Tensor[]) => Tensor, first: unknown, ...rest: unknown[]): T {
  return tree.map((...ls) => fn(...ls.map(asT)), first, ...rest) as T;
}

/** The int32 scalar step counter of a fresh state. */
function zeroCount(): Tensor {
  return np.zeros([], { dtype: "int32" });
}

/** `count + 1`, saturating at the int32 maximum (Optax's `safe_increment`). */
export function safeIncrement(count: Tensor): Tensor {
  return np.where(np.less(count, INT32_MAX), count.add(1), INT32_MAX);
}

/** `t / (1 - decay ** count)`, the power computed in t's dtype. */
function biasCorrection(t: Tensor, decay: number, count: Tensor): Tensor {
  return t.div(np.subtract(1, np.power(decay, count.astype(t.dtype))));
}

/** The L2 norm of all leaves together (Optax's `global_norm`), a scalar tensor. */
export function globalNorm(updates: unknown): Tensor {
  const leaves = tree.leaves(updates).map(asT);
  if (leaves.length === 0) return np.array(0);
  let total = np.sum(np.square(leaves[0]));
  for (const l of leaves.slice(1)) total = total.add(np.sum(np.square(l)));
  return np.sqrt(total);
}

// ---- building blocks -------------------------------------------------------------------------

/** The transformation that changes nothing (Optax's `identity`). */
export function identity(): GradientTransformation<Record<string, never>> {
  return {
    init: () => ({}),
    update: (updates, state) => [updates, state],
  };
}

/** Multiplies updates by a constant (Optax's `scale`). */
export function scale(step: number): GradientTransformation<Record<string, never>> {
  const s = parseHyper("optim.scale", finite(), step);
  return {
    init: () => ({}),
    update: (updates, state) => [mapT(($) => $.mul(s), updates), state],
  };
}

/** State of {@link scaleBySchedule}. */
export interface ScheduleState {
  /** Steps taken, an int32 scalar. */
  count: Tensor;
}

/**
 * Multiplies updates by `schedule(count)`, evaluated at the count before this step (Optax's
 * `scale_by_schedule`); the value is cast to each update's dtype.
 */
export function scaleBySchedule(schedule: Schedule): GradientTransformation<ScheduleState> {
  if (typeof schedule !== "function") {
    throw new TypeError("optim.scaleBySchedule: expected a schedule function");
  }
  return {
    init: () => ({ count: zeroCount() }),
    update: (updates, state) => {
      const step: Scalar = schedule(state.count);
      const out = mapT<typeof updates>(
        (g) => g.mul(typeof step === "number" ? step : np.asarray(step).astype(g.dtype)),
        updates,
      );
      return [out, { count: safeIncrement(state.count) }];
    },
  };
}

/**
 * Scales updates by the learning rate, negated by default so that {@link applyUpdates} descends
 * (Optax's `scale_by_learning_rate`). A schedule is evaluated on the state's step count.
 */
export function scaleByLearningRate(
  learningRate: ScalarOrSchedule,
  options: { flipSign?: boolean } = {},
): GradientTransformation {
  const lr = parseLearningRate("optim.scaleByLearningRate", learningRate);
  const o = parseHyper(
    "optim.scaleByLearningRate",
    z.object({ flipSign: z.boolean().default(true) }).strict(),
    options,
  );
  const m = o.flipSign ? -1 : 1;
  if (typeof lr === "number") return scale(m * lr);
  const sched = ((count: Scalar) => {
    const v = lr(count);
    return typeof v === "number" ? m * v : np.asarray(v).mul(m);
  }) as Schedule;
  return scaleBySchedule(sched);
}

/** State of {@link trace}. */
export interface TraceState {
  /** The momentum buffer. */
  trace: unknown;
}

/**
 * Momentum (Optax's `trace`): `t ← g + decay * t`, returning `t`, or `g + decay * t` with
 * `nesterov`.
 */
export function trace(
  options: { decay: number; nesterov?: boolean },
): GradientTransformation<TraceState> {
  const o = parseHyper(
    "optim.trace",
    z.object({ decay: finite().min(0), nesterov: z.boolean().default(false) }).strict(),
    options,
  );
  return {
    init: (params) => ({ trace: mapT((p) => np.zerosLike(p), params) }),
    update: (updates, state) => {
      const newTrace = mapT((g, t) => g.add(t.mul(o.decay)), updates, state.trace);
      const out = o.nesterov ? mapT((g, t) => g.add(t.mul(o.decay)), updates, newTrace) : newTrace;
      return [out as typeof updates, { trace: newTrace }];
    },
  };
}

/** State of {@link scaleByAdam}. */
export interface AdamState {
  /** Steps taken, an int32 scalar. */
  count: Tensor;
  /** First moment. */
  mu: unknown;
  /** Second moment. */
  nu: unknown;
}

/** Options of {@link scaleByAdam}, Optax's defaults. */
export interface AdamOptions {
  /** First-moment decay (default 0.9), in [0, 1). */
  b1?: number;
  /** Second-moment decay (default 0.999), in [0, 1). */
  b2?: number;
  /** Added to the denominator outside the square root (default 1e-8). */
  eps?: number;
  /** Added inside the square root (default 0). */
  epsRoot?: number;
  /** Nesterov momentum (NAdam) (default false). */
  nesterov?: boolean;
}

/** Zod shape of {@link AdamOptions}. */
export const adamShape = {
  b1: finite().min(0).lt(1).default(0.9),
  b2: finite().min(0).lt(1).default(0.999),
  eps: finite().min(0).default(1e-8),
  epsRoot: finite().min(0).default(0),
  nesterov: z.boolean().default(false),
};

/**
 * Adam's rescaling (Optax's `scale_by_adam`): bias-corrected moments, `mû / (sqrt(nû + epsRoot)
 * + eps)`.
 */
export function scaleByAdam(
  options: AdamOptions = {},
  fn = "optim.scaleByAdam",
): GradientTransformation<AdamState> {
  const o = parseHyper(fn, z.object(adamShape).strict(), options);
  const { b1, b2 } = o;
  return {
    init: (params) => ({
      count: zeroCount(),
      mu: mapT((p) => np.zerosLike(p), params),
      nu: mapT((p) => np.zerosLike(p), params),
    }),
    update: (updates, state) => {
      const mu = mapT((g, m) => g.mul(1 - b1).add(m.mul(b1)), updates, state.mu);
      const nu = mapT((g, n) => g.square().mul(1 - b2).add(n.mul(b2)), updates, state.nu);
      const count = safeIncrement(state.count);
      const muHat = o.nesterov
        ? mapT(
          (m, g) =>
            biasCorrection(m, b1, safeIncrement(count)).mul(b1).add(
              biasCorrection(g, b1, count).mul(1 - b1),
            ),
          mu,
          updates,
        )
        : mapT((m) => biasCorrection(m, b1, count), mu);
      const out = mapT(
        (m, n) => m.div(np.sqrt(biasCorrection(n, b2, count).add(o.epsRoot)).add(o.eps)),
        muHat,
        nu,
      );
      return [out as typeof updates, { count, mu, nu }];
    },
  };
}

/** State of {@link scaleByRms}. */
export interface RmsState {
  /** Steps taken, an int32 scalar. */
  count: Tensor;
  /** Mean of squared gradients. */
  nu: unknown;
}

/** State of {@link scaleByStddev}. */
export interface StddevState extends RmsState {
  /** Mean of gradients. */
  mu: unknown;
}

/** Options of {@link scaleByRms} and {@link scaleByStddev}. */
export interface RmsOptions {
  /** Decay of the moving averages (default 0.9), in [0, 1). */
  decay?: number;
  /** Stabilizer (default 1e-8). */
  eps?: number;
  /** Initial value of the second moment (default 0). */
  initialScale?: number;
  /** Add eps inside the square root (default true), else to the root. */
  epsInSqrt?: boolean;
  /** Bias-correct the moments (default false). */
  biasCorrection?: boolean;
}

/** Zod shape of {@link RmsOptions}. */
export const rmsShape = {
  decay: finite().min(0).lt(1).default(0.9),
  eps: finite().min(0).default(1e-8),
  initialScale: finite().min(0).default(0),
  epsInSqrt: z.boolean().default(true),
  biasCorrection: z.boolean().default(false),
};

function rmsScaling(eps: number, inSqrt: boolean): (g: Tensor, n: Tensor) => Tensor {
  return inSqrt ? (g, n) => g.mul(np.rsqrt(n.add(eps))) : (g, n) => g.div(np.sqrt(n).add(eps));
}

/** RMSProp's rescaling (Optax's `scale_by_rms`): `g / sqrt(nu + eps)`, nu a moving mean of g². */
export function scaleByRms(
  options: RmsOptions = {},
  fn = "optim.scaleByRms",
): GradientTransformation<RmsState> {
  const o = parseHyper(fn, z.object(rmsShape).strict(), options);
  const scaling = rmsScaling(o.eps, o.epsInSqrt);
  return {
    init: (params) => ({
      count: zeroCount(),
      nu: mapT((p) => np.fullLike(p, o.initialScale), params),
    }),
    update: (updates, state) => {
      const nu = mapT((g, n) => g.square().mul(1 - o.decay).add(n.mul(o.decay)), updates, state.nu);
      const count = safeIncrement(state.count);
      const nuHat = o.biasCorrection ? mapT((n) => biasCorrection(n, o.decay, count), nu) : nu;
      return [mapT(scaling, updates, nuHat), { count, nu }];
    },
  };
}

/**
 * Centered RMSProp's rescaling (Optax's `scale_by_stddev`): `g / sqrt(nu - mu² + eps)`, mu and
 * nu moving means of g and g².
 */
export function scaleByStddev(
  options: RmsOptions = {},
  fn = "optim.scaleByStddev",
): GradientTransformation<StddevState> {
  const o = parseHyper(fn, z.object(rmsShape).strict(), options);
  const scaling = rmsScaling(o.eps, o.epsInSqrt);
  return {
    init: (params) => ({
      count: zeroCount(),
      mu: mapT((p) => np.zerosLike(p), params),
      nu: mapT((p) => np.fullLike(p, o.initialScale), params),
    }),
    update: (updates, state) => {
      const mu = mapT((g, m) => g.mul(1 - o.decay).add(m.mul(o.decay)), updates, state.mu);
      const nu = mapT((g, n) => g.square().mul(1 - o.decay).add(n.mul(o.decay)), updates, state.nu);
      const count = safeIncrement(state.count);
      const [muHat, nuHat] = o.biasCorrection
        ? [
          mapT((m) => biasCorrection(m, o.decay, count), mu),
          mapT((n) => biasCorrection(n, o.decay, count), nu),
        ]
        : [mu, nu];
      const out = mapT((g, m, n) => scaling(g, n.sub(m.square())), updates, muHat, nuHat);
      return [out as typeof updates, { count, mu, nu }];
    },
  };
}

/** State of {@link scaleByRss}. */
export interface RssState {
  /** Running sum of squared gradients. */
  sumOfSquares: unknown;
}

/**
 * AdaGrad's rescaling (Optax's `scale_by_rss`): `g / sqrt(Σg² + eps)`, zero where the sum is
 * zero.
 */
export function scaleByRss(
  options: { initialAccumulatorValue?: number; eps?: number } = {},
  fn = "optim.scaleByRss",
): GradientTransformation<RssState> {
  const o = parseHyper(
    fn,
    z.object({
      initialAccumulatorValue: finite().min(0).default(0.1),
      eps: finite().min(0).default(1e-7),
    }).strict(),
    options,
  );
  return {
    init: (params) => ({
      sumOfSquares: mapT((p) => np.fullLike(p, o.initialAccumulatorValue), params),
    }),
    update: (updates, state) => {
      const sos = mapT((g, s) => g.square().add(s), updates, state.sumOfSquares);
      const out = mapT(
        (g, s) => np.where(np.greater(s, 0), np.rsqrt(s.add(o.eps)), 0).mul(g),
        updates,
        sos,
      );
      return [out as typeof updates, { sumOfSquares: sos }];
    },
  };
}

/**
 * Rescales all updates together so their global L2 norm is at most `maxNorm` (Optax's
 * `clip_by_global_norm`).
 */
export function clipByGlobalNorm(maxNorm: number): GradientTransformation<Record<string, never>> {
  const m = parseHyper("optim.clipByGlobalNorm", finite().positive(), maxNorm);
  return {
    init: () => ({}),
    update: (updates, state) => {
      const norm = globalNorm(updates);
      const trigger = np.less(norm, m);
      const out = mapT<typeof updates>(
        (t) => np.where(trigger, t, t.div(norm.astype(t.dtype)).mul(m)),
        updates,
      );
      return [out, state];
    },
  };
}

/** Flattens a mask (booleans, or a function of params making them) against the params. */
function maskFlags(mask: Mask, params: unknown, fn: string): boolean[] {
  const m = typeof mask === "function" ? mask(params) : mask;
  const toNum = (x: unknown): unknown => {
    if (typeof x === "boolean") return x ? 1 : 0;
    if (Array.isArray(x)) return x.map(toNum);
    if (x !== null && typeof x === "object" && !(x instanceof Tensor)) {
      return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, toNum(v)]));
    }
    throw new TypeError(`${fn}: mask leaves must be booleans, got ${typeof x}`);
  };
  const [flags, def] = tree.flatten(toNum(m));
  const pdef = tree.structure(params);
  if (!tree.treeDefEqual(def, pdef)) {
    throw new RangeError(
      `${fn}: mask has structure ${tree.fmtTreeDef(def)}, the params ${tree.fmtTreeDef(pdef)}`,
    );
  }
  return flags.map((f) => f === 1);
}

/**
 * Adds `weightDecay * params` to the updates (Optax's `add_decayed_weights`); with `mask`, only
 * where the mask is true. Needs `params` in `update`.
 */
export function addDecayedWeights(
  weightDecay = 0,
  mask?: Mask,
  fn = "optim.addDecayedWeights",
): GradientTransformation<Record<string, never>> {
  const wd = parseHyper(fn, finite().min(0), weightDecay);
  return {
    init: () => ({}),
    update: (updates, state, params) => {
      if (params === undefined || params === null) {
        throw new TypeError(`${fn}: update needs the params (update(grads, state, params))`);
      }
      const flags = mask === undefined ? null : maskFlags(mask, params, fn);
      const [us, def] = tree.flatten(updates);
      const [ps, pdef] = tree.flatten(params);
      if (!tree.treeDefEqual(def, pdef)) {
        throw new RangeError(
          `${fn}: updates have structure ${tree.fmtTreeDef(def)}, the params ${
            tree.fmtTreeDef(pdef)
          }`,
        );
      }
      const out = us.map((u, i) =>
        flags && !flags[i] ? u : asT(u).add(asT(ps[i]).mul(wd).astype(asT(u).dtype))
      );
      return [tree.unflatten(def, out), state];
    },
  };
}

/** Applies transformations in sequence (Optax's `chain`); the state is the array of states. */
export function chain(...transforms: GradientTransformation[]): GradientTransformation<unknown[]> {
  transforms.forEach((t, i) => {
    if (typeof t?.init !== "function" || typeof t?.update !== "function") {
      throw new TypeError(`optim.chain: argument ${i} is not a gradient transformation`);
    }
  });
  return {
    init: (params) => transforms.map((t) => t.init(params)),
    update: (updates, state, params) => {
      if (!Array.isArray(state) || state.length !== transforms.length) {
        throw new RangeError(
          `optim.chain: expected a state array of ${transforms.length}, got ${
            Array.isArray(state) ? state.length : typeof state
          }`,
        );
      }
      let u = updates;
      const states = transforms.map((t, i) => {
        const [nu, ns] = t.update(u, state[i], params);
        u = nu;
        return ns;
      });
      return [u, states];
    },
  };
}

/**
 * `params + updates`, each result in its parameter's dtype (Optax's `apply_updates`).
 */
export function applyUpdates<T>(params: T, updates: T): T {
  return tree.map(
    (p, u) => {
      const pt = asT(p);
      return pt.add(asT(u)).astype(pt.dtype);
    },
    params,
    updates,
  ) as T;
}
