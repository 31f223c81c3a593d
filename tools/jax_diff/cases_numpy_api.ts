/**
 * Differential cases for the filled API gaps: shifts and bit counts, nonzero / where /
 * argwhere / flatnonzero, unique, bincount, repeat with counts, pad modes, norms, cross,
 * histogram, accumulating `at[]` updates with repeated indices, and the added `nn` functions
 * (values and gradients).
 * @module
 */

import { grad, jit, nn, np, type Tensor, vmap } from "../../mod.ts";
import { c } from "./harness.ts";
import type { Case, Input } from "./harness.ts";

const f32 = (d: unknown): Input => [d, "float32"];
const i32 = (d: unknown): Input => [d, "int32"];
const u32 = (d: unknown): Input => [d, "uint32"];
const b = (d: unknown): Input => [d, "bool"];

const M = i32([[0, 3, 0], [1, 0, 2]]);
const IDX = i32([0, 0, 1, 0]);

const bits: Case[] = [
  c(
    "shl_int_range",
    { x: i32([5, -8, 7, 1, 3]), s: i32([1, 31, 32, -1, 0]) },
    ({ x, s }) => np.leftShift(x, s),
    "jnp.left_shift(x, s)",
  ),
  c(
    "shr_int_range",
    { x: i32([5, -8, 7, 1, -3, -2147483648]), s: i32([1, 31, 32, -1, 40, 30]) },
    ({ x, s }) => np.rightShift(x, s),
    "jnp.right_shift(x, s)",
  ),
  c(
    "shl_uint_range",
    { x: u32([5, 2147483648, 7, 1, 4294967295]), s: u32([1, 31, 32, 33, 4]) },
    ({ x, s }) => np.leftShift(x, s),
    "jnp.left_shift(x, s)",
  ),
  c(
    "shr_uint_range",
    { x: u32([5, 2147483648, 7, 1, 4294967295]), s: u32([1, 31, 32, 33, 4]) },
    ({ x, s }) => np.rightShift(x, s),
    "jnp.right_shift(x, s)",
  ),
  c("shl_scalar", { x: i32([1, 2, 3]) }, ({ x }) => np.leftShift(x, 3), "jnp.left_shift(x, 3)"),
  c(
    "shr_neg_odd",
    { x: i32([-7, -1, 7, -9]) },
    ({ x }) => np.rightShift(x, 1),
    "jnp.right_shift(x, 1)",
  ),
  c(
    "shr_jit",
    { x: i32([-7, 100, 7]), s: i32([1, 33, 2]) },
    ({ x, s }) => jit(np.rightShift)(x, s),
    "jnp.right_shift(x, s)",
  ),
  c(
    "bitwise_count",
    { x: i32([-2147483648, -5, 2147483647, 6, 0]) },
    ({ x }) => np.bitwiseCount(x),
    "jnp.bitwise_count(x)",
    { known: "JAX returns uint8, which Kiln lacks; Kiln returns int32 (same values)" },
  ),
  c(
    "bitwise_count_values",
    { x: u32([4294967295, 5, 0]) },
    ({ x }) => np.bitwiseCount(x),
    "jnp.bitwise_count(x).astype(jnp.int32)",
  ),
];

const dataDependent: Case[] = [
  c("nonzero_2d", { x: M }, ({ x }) => np.nonzero(x), "jnp.nonzero(x)"),
  c("nonzero_size", { x: M }, ({ x }) => np.nonzero(x, { size: 5 }), "jnp.nonzero(x, size=5)"),
  c(
    "nonzero_size_fill",
    { x: M },
    ({ x }) => np.nonzero(x, { size: 4, fillValue: -1 }),
    "jnp.nonzero(x, size=4, fill_value=-1)",
  ),
  c("nonzero_truncate", { x: M }, ({ x }) => np.nonzero(x, { size: 2 }), "jnp.nonzero(x, size=2)"),
  c("nonzero_float_nan", { x: f32([0, NaN, -0, 2]) }, ({ x }) => np.nonzero(x), "jnp.nonzero(x)"),
  c("nonzero_bool", { x: b([true, false, true]) }, ({ x }) => np.nonzero(x), "jnp.nonzero(x)"),
  c("nonzero_empty", { x: f32([0, 0]) }, ({ x }) => np.nonzero(x), "jnp.nonzero(x)"),
  c(
    "nonzero_jit",
    { x: M },
    ({ x }) => jit((t: Tensor) => np.nonzero(t, { size: 4 }))(x),
    "jax.jit(lambda t: jnp.nonzero(t, size=4))(x)",
  ),
  c("where_one_arg_2d", { x: M }, ({ x }) => np.where(x), "jnp.where(x)"),
  c(
    "where_one_arg_size",
    { x: M },
    ({ x }) => np.where(x, { size: 4, fillValue: 9 }),
    "jnp.where(x, size=4, fill_value=9)",
  ),
  c("argwhere_2d", { x: M }, ({ x }) => np.argwhere(x), "jnp.argwhere(x)"),
  c(
    "argwhere_size",
    { x: M },
    ({ x }) => np.argwhere(x, { size: 5 }),
    "jnp.argwhere(x, size=5)",
  ),
  c("flatnonzero_2d", { x: M }, ({ x }) => np.flatnonzero(x), "jnp.flatnonzero(x)"),
  c("unique_f32", { x: f32([3, 1, 3, 2, 1]) }, ({ x }) => np.unique(x), "jnp.unique(x)"),
  c(
    "unique_all",
    { x: f32([3, 1, 3, 2, 1]) },
    ({ x }) => np.unique(x, { returnIndex: true, returnInverse: true, returnCounts: true }),
    "jnp.unique(x, return_index=True, return_inverse=True, return_counts=True)",
  ),
  c(
    "unique_all_size",
    { x: f32([3, 1, 3, 2, 1]) },
    ({ x }) =>
      np.unique(x, { returnIndex: true, returnInverse: true, returnCounts: true, size: 5 }),
    "jnp.unique(x, return_index=True, return_inverse=True, return_counts=True, size=5)",
  ),
  c(
    "unique_size_fill",
    { x: i32([4, 2, 4, 9]) },
    ({ x }) => np.unique(x, { size: 5, fillValue: -1 }),
    "jnp.unique(x, size=5, fill_value=-1)",
  ),
  c(
    "unique_truncate",
    { x: i32([4, 2, 4, 9]) },
    ({ x }) => np.unique(x, { size: 2, returnCounts: true }),
    "jnp.unique(x, size=2, return_counts=True)",
  ),
  c("unique_nan", { x: f32([NaN, 1, NaN, -0, 0]) }, ({ x }) => np.unique(x), "jnp.unique(x)"),
  c(
    "unique_inverse_2d",
    { x: i32([[1, 2], [2, 3]]) },
    ({ x }) => np.unique(x, { returnInverse: true }),
    "jnp.unique(x, return_inverse=True)",
  ),
  c(
    "unique_jit",
    { x: i32([5, 1, 5, 5, 0]) },
    ({ x }) => jit((t: Tensor) => np.unique(t, { size: 4, returnCounts: true }))(x),
    "jax.jit(lambda t: jnp.unique(t, size=4, return_counts=True))(x)",
  ),
  c("bincount", { x: i32([0, 1, 1, 3]) }, ({ x }) => np.bincount(x), "jnp.bincount(x)"),
  c(
    "bincount_length",
    { x: i32([0, 1, 1, 5, -1]) },
    ({ x }) => np.bincount(x, null, { length: 4 }),
    "jnp.bincount(x, length=4)",
  ),
  c(
    "bincount_weights",
    { x: i32([0, 1, 1]), w: f32([0.5, 1, 2]) },
    ({ x, w }) => np.bincount(x, w),
    "jnp.bincount(x, weights=w)",
  ),
  c(
    "bincount_minlength",
    { x: i32([0, 1, 1]) },
    ({ x }) => np.bincount(x, null, { minlength: 5 }),
    "jnp.bincount(x, minlength=5)",
  ),
  c(
    "repeat_counts",
    { x: i32([1, 2, 3]), r: i32([2, 0, 3]) },
    ({ x, r }) => np.repeat(x, r),
    "jnp.repeat(x, r)",
  ),
  c(
    "repeat_counts_axis",
    { x: f32([[1, 2], [3, 4]]), r: i32([1, 2]) },
    ({ x, r }) => np.repeat(x, r, 1),
    "jnp.repeat(x, r, axis=1)",
  ),
  c(
    "repeat_total_long",
    { x: i32([1, 2, 3]), r: i32([2, 0, 3]) },
    ({ x, r }) => np.repeat(x, r, undefined, { totalRepeatLength: 7 }),
    "jnp.repeat(x, r, total_repeat_length=7)",
  ),
  c(
    "repeat_total_short",
    { x: i32([1, 2, 3]), r: i32([2, 0, 3]) },
    ({ x, r }) => np.repeat(x, r, undefined, { totalRepeatLength: 3 }),
    "jnp.repeat(x, r, total_repeat_length=3)",
  ),
  c(
    "repeat_jit",
    { x: f32([[1, 2], [3, 4]]), r: i32([3, 1]) },
    ({ x, r }) => jit((t: Tensor, k: Tensor) => np.repeat(t, k, 0, { totalRepeatLength: 4 }))(x, r),
    "jax.jit(lambda t, k: jnp.repeat(t, k, axis=0, total_repeat_length=4))(x, r)",
  ),
];

const X3 = f32([1, 2, 3]);
const X23 = f32([[0, 1, 2], [3, 4, 5]]);

const padding: Case[] = [
  ...(["edge", "reflect", "symmetric", "wrap"] as const).flatMap((mode) => [
    c(
      `pad_${mode}_long`,
      { x: X3 },
      ({ x }) => np.pad(x, [5, 4], { mode }),
      `jnp.pad(x, (5, 4), mode="${mode}")`,
    ),
    c(
      `pad_${mode}_2d`,
      { x: X23 },
      ({ x }) => np.pad(x, [[1, 0], [2, 3]], { mode }),
      `jnp.pad(x, ((1, 0), (2, 3)), mode="${mode}")`,
    ),
    c(
      `pad_${mode}_one`,
      { x: f32([7]) },
      ({ x }) => np.pad(x, 2, { mode }),
      `jnp.pad(x, 2, mode="${mode}")`,
    ),
  ]),
  c(
    "pad_linear_ramp",
    { x: X3 },
    ({ x }) => np.pad(x, [2, 3], { mode: "linear_ramp", endValues: [5, -1] }),
    'jnp.pad(x, (2, 3), mode="linear_ramp", end_values=(5, -1))',
  ),
  c(
    "pad_linear_ramp_2d",
    { x: X23 },
    ({ x }) => np.pad(x, [[1, 1], [0, 2]], { mode: "linear_ramp" }),
    'jnp.pad(x, ((1, 1), (0, 2)), mode="linear_ramp")',
  ),
  c(
    "pad_reflect_int",
    { x: i32([[1, 2, 3]]) },
    ({ x }) => np.pad(x, [[0, 0], [2, 2]], { mode: "reflect" }),
    'jnp.pad(x, ((0, 0), (2, 2)), mode="reflect")',
  ),
];

const A = f32([[1, -2, 3], [4, 5, -6]]);

const norms: Case[] = [
  ...([2, 1, Infinity, -Infinity, 0, 3, -1] as const).map((ord) =>
    c(
      `norm_vec_ord_${ord}`,
      { a: A },
      ({ a }) => np.linalg.norm(a, ord, 1),
      `jnp.linalg.norm(a, ${
        ord === Infinity ? "jnp.inf" : ord === -Infinity ? "-jnp.inf" : ord
      }, 1)`,
    )
  ),
  ...(["fro", 1, -1, Infinity, -Infinity] as const).map((ord) =>
    c(
      `norm_mat_ord_${ord}`,
      { a: A },
      ({ a }) => np.linalg.norm(a, ord),
      `jnp.linalg.norm(a, ${
        ord === "fro"
          ? "'fro'"
          : ord === Infinity
          ? "jnp.inf"
          : ord === -Infinity
          ? "-jnp.inf"
          : ord
      })`,
    )
  ),
  c(
    "norm_default_3d",
    {},
    () => np.linalg.norm(np.ones([2, 3, 4])),
    "jnp.linalg.norm(jnp.ones((2, 3, 4)))",
  ),
  c(
    "norm_keepdims",
    { a: A },
    ({ a }) => np.linalg.norm(a, null, 0, { keepdims: true }),
    "jnp.linalg.norm(a, None, 0, keepdims=True)",
  ),
  c(
    "norm_axes_pair",
    {},
    () => np.linalg.norm(np.arange(24).reshape([2, 3, 4]), 1, [2, 0]),
    "jnp.linalg.norm(jnp.arange(24.).reshape(2, 3, 4), 1, (2, 0))",
  ),
  c(
    "cross_3",
    { a: f32([[1, 2, 3], [0, 1, 0]]), b: f32([4, 5, 6]) },
    ({ a, b }) => np.cross(a, b),
    "jnp.cross(a, b)",
  ),
  c(
    "cross_2",
    { a: f32([[1, 2]]), b: f32([3, 4]) },
    ({ a, b }) => np.cross(a, b),
    "jnp.cross(a, b)",
  ),
  c(
    "histogram_auto",
    { x: f32([1, 2, 2, 3, 5]) },
    ({ x }) => np.histogram(x, 4),
    "jnp.histogram(x, bins=4)",
  ),
  c(
    "histogram_range",
    { x: f32([-1, 1, 2, 2, 3, 4, 5]) },
    ({ x }) => np.histogram(x, 2, { range: [0, 4] }),
    "jnp.histogram(x, bins=2, range=(0, 4))",
  ),
  c(
    "histogram_weights_density",
    { x: f32([1, 2, 2, 3, 5]), w: f32([1, 0.5, 2, 1, 1]) },
    ({ x, w }) => np.histogram(x, 3, { weights: w, density: true }),
    "jnp.histogram(x, bins=3, weights=w, density=True)",
  ),
  c(
    "histogram_constant",
    { x: f32([2, 2]) },
    ({ x }) => np.histogram(x, 2),
    "jnp.histogram(x, bins=2)",
  ),
];

const atUpdates: Case[] = [
  c(
    "at_mul_dup",
    { x: f32([2, 3, 4]), i: IDX, v: f32([2, 5, 3, 0.5]) },
    ({ x, i, v }) => x.at(i).multiply(v),
    "x.at[i].multiply(v)",
  ),
  c(
    "at_div_dup",
    { x: f32([2, 3, 4]), i: IDX, v: f32([2, 5, 3, 0.5]) },
    ({ x, i, v }) => x.at(i).divide(v),
    "x.at[i].divide(v)",
  ),
  c(
    "at_div_int",
    { x: i32([7, 9, 4]), i: IDX, v: i32([2, 3, 2, 2]) },
    ({ x, i, v }) => x.at(i).divide(v),
    "x.at[i].divide(v)",
  ),
  c(
    "at_pow_dup",
    { x: f32([2, 3, 4]), i: IDX, v: f32([2, 3, 3, 0.5]) },
    ({ x, i, v }) => x.at(i).power(v),
    "x.at[i].power(v)",
  ),
  c(
    "at_min_dup",
    { x: f32([2, 3, 4]), i: IDX, v: f32([1, 0.5, 7, 3]) },
    ({ x, i, v }) => x.at(i).min(v),
    "x.at[i].min(v)",
  ),
  c(
    "at_max_dup",
    { x: f32([2, 3, 4]), i: IDX, v: f32([5, 6, 1, 9]) },
    ({ x, i, v }) => x.at(i).max(v),
    "x.at[i].max(v)",
  ),
  c(
    "at_max_int_dup",
    { x: i32([2, 3, 4]), i: IDX, v: i32([5, -6, 1, 9]) },
    ({ x, i, v }) => x.at(i).max(v),
    "x.at[i].max(v)",
  ),
  c(
    "at_min_nan",
    { x: f32([2, 3, 4]), i: IDX, v: f32([NaN, 0.5, 7, 3]) },
    ({ x, i, v }) => x.at(i).min(v),
    "x.at[i].min(v)",
  ),
  c(
    "at_mul_2d_rows",
    { x: f32([[1, 2], [3, 4]]) },
    ({ x }) => x.at([0, 0, 1]).multiply(np.array([[2, 3], [4, 5], [6, 7]])),
    "x.at[jnp.array([0, 0, 1])].multiply(jnp.array([[2., 3.], [4., 5.], [6., 7.]]))",
  ),
  c(
    "at_mul_jit",
    { x: f32([2, 3, 4]), i: IDX, v: f32([2, 5, 3, 0.5]) },
    ({ x, i, v }) => jit((a: Tensor, k: Tensor, u: Tensor) => a.at(k).multiply(u))(x, i, v),
    "x.at[i].multiply(v)",
  ),
  c(
    "grad_at_min_dup_x",
    { x: f32([2, 3, 4]), i: IDX, v: f32([2, 0.5, 7, 2]) },
    ({ x, i, v }) => grad((a: Tensor) => a.at(i).min(v).sum())(x),
    "jax.grad(lambda a: a.at[i].min(v).sum())(x)",
  ),
  c(
    "grad_at_max_dup_v",
    { x: f32([2, 3, 4]), i: IDX, v: f32([2, 2, 3, 2]) },
    ({ x, i, v }) => grad((u: Tensor) => x.at(i).max(u).sum())(v),
    "jax.grad(lambda u: x.at[i].max(u).sum())(v)",
  ),
  c(
    "grad_at_mul_x",
    { x: f32([2, 3, 4]), i: IDX, v: f32([2, 5, 3, 0.5]) },
    ({ x, i, v }) => grad((a: Tensor) => a.at(i).multiply(v).sum())(x),
    "jax.grad(lambda a: a.at[i].multiply(v).sum())(x)",
  ),
  c(
    "grad_at_mul_unique_v",
    { x: f32([2, 3, 4]), v: f32([2, 5]) },
    ({ x, v }) => grad((u: Tensor) => x.at([0, 2]).multiply(u).sum())(v),
    "jax.grad(lambda u: x.at[jnp.array([0, 2])].multiply(u, unique_indices=True).sum())(v)",
  ),
  c(
    "vmap_at_max",
    { x: f32([[2, 3, 4], [5, 1, 0]]), v: f32([[5, 6, 1, 9], [0, 7, 2, 1]]) },
    ({ x, v }) => vmap((a: Tensor, u: Tensor) => a.at([0, 0, 1, 0]).max(u))(x, v),
    "jax.vmap(lambda a, u: a.at[jnp.array([0, 0, 1, 0])].max(u))(x, v)",
  ),
];

const V = f32([-3, -1, -0.5, 0, 0.5, 1, 3]);
const LX = f32([[1, 2, 3], [-1, 0.5, 2]]);
const LW = f32([[1, -2, 0.5], [0, 1, 1]]);

// value and gradient of each added activation, JAX's function by name
const activation = (name: string, f: (x: Tensor) => Tensor, jf: string): Case[] => [
  c(`nn_${name}`, { x: V }, ({ x }) => f(x), `(${jf})(x)`),
  c(
    `nn_grad_${name}`,
    { x: V },
    ({ x }) => vmap(grad(f))(x),
    `jax.vmap(jax.grad(${jf}))(x)`,
  ),
];

const nnCases: Case[] = [
  ...activation("hard_tanh", nn.hardTanh, "nn.hard_tanh"),
  ...activation("celu", (x) => nn.celu(x), "nn.celu"),
  ...activation("celu_alpha", (x) => nn.celu(x, 0.5), "lambda x: nn.celu(x, 0.5)"),
  ...activation("selu", nn.selu, "nn.selu"),
  ...activation("elu", (x) => nn.elu(x), "nn.elu"),
  ...activation("leaky_relu", (x) => nn.leakyRelu(x), "nn.leaky_relu"),
  ...activation("log_sigmoid", nn.logSigmoid, "nn.log_sigmoid"),
  ...activation("soft_sign", nn.softSign, "nn.soft_sign"),
  ...activation("hard_sigmoid", nn.hardSigmoid, "nn.hard_sigmoid"),
  ...activation("hard_silu", nn.hardSilu, "nn.hard_silu"),
  c("nn_glu_axis0", { x: LX }, ({ x }) => nn.glu(x, 0), "nn.glu(x, axis=0)"),
  c("nn_glu_last", { x: f32([[1, 2, 3, 4]]) }, ({ x }) => nn.glu(x), "nn.glu(x)"),
  c("nn_standardize", { x: LX }, ({ x }) => nn.standardize(x), "nn.standardize(x)"),
  c(
    "nn_standardize_axis0_eps",
    { x: LX },
    ({ x }) => nn.standardize(x, { axis: 0, epsilon: 0.1 }),
    "nn.standardize(x, axis=0, epsilon=0.1)",
  ),
  c(
    "nn_grad_standardize",
    { x: LX },
    ({ x }) => grad((t: Tensor) => nn.standardize(t).mul(t).sum())(x),
    "jax.grad(lambda t: (nn.standardize(t) * t).sum())(x)",
  ),
  c("nn_lse_b", { x: LX, w: LW }, ({ x, w }) => nn.logsumexp(x, { b: w }), "nn.logsumexp(x, b=w)"),
  c(
    "nn_lse_b_axis_neg",
    { x: LX, w: LW },
    ({ x, w }) => nn.logsumexp(x, { b: w, axis: 1, keepdims: true }),
    "nn.logsumexp(x, b=w, axis=1, keepdims=True)",
  ),
  c(
    "nn_lse_sign",
    { x: LX, w: LW },
    ({ x, w }) => nn.logsumexp(x, { b: w, axis: 1, returnSign: true }),
    "nn.logsumexp(x, b=w, axis=1, return_sign=True)",
  ),
  c(
    "nn_lse_zero_weight_inf",
    { x: f32([1, Infinity]), w: f32([1, 0]) },
    ({ x, w }) => nn.logsumexp(x, { b: w }),
    "nn.logsumexp(x, b=w)",
  ),
  c(
    "nn_grad_lse_b",
    { x: LX, w: f32([[1, 2, 0.5], [0, 1, 1]]) },
    ({ x, w }) => grad((t: Tensor) => nn.logsumexp(t, { b: w }))(x),
    "jax.grad(lambda t: nn.logsumexp(t, b=w))(x)",
  ),
];

/** The API-gap cases. */
export const NUMPY_API: Case[] = [
  ...bits,
  ...dataDependent,
  ...padding,
  ...norms,
  ...atUpdates,
  ...nnCases,
];
