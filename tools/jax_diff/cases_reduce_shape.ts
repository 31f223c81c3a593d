// deno-lint-ignore-file no-explicit-any -- cases probe APIs Kiln may lack
/**
 * Differential cases: reductions (dtypes, ddof, empty inputs, NaN) and shape manipulation.
 * @module
 */

import { jit, np } from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import { c } from "./harness.ts";
import type { Case, Input } from "./harness.ts";

const f32 = (d: unknown): Input => [d, "float32"];
const i32 = (d: unknown): Input => [d, "int32"];
const u32 = (d: unknown): Input => [d, "uint32"];
const b = (d: unknown): Input => [d, "bool"];
const NaN_ = NaN, Inf = Infinity;

const npx = np as any;

const M = f32([[1, 2, 3], [4, 5, 6]]);
const MI = i32([[1, 2, 3], [4, 5, 6]]);
const T3 = f32([[[1, 2], [3, 4]], [[5, 6], [7, 8]], [[9, 10], [11, 12]]]);

const reductions: Case[] = [
  c("sum_all", { x: M }, ({ x }) => np.sum(x), "jnp.sum(x)"),
  c("sum_axis_list", { x: T3 }, ({ x }) => np.sum(x, [0, 2]), "jnp.sum(x, axis=(0, 2))"),
  c(
    "sum_keepdims",
    { x: T3 },
    ({ x }) => np.sum(x, [-1, 0], { keepdims: true }),
    "jnp.sum(x, axis=(-1, 0), keepdims=True)",
  ),
  c("sum_int", { x: MI }, ({ x }) => np.sum(x, 0), "jnp.sum(x, 0)"),
  c("sum_uint", { x: u32([1, 2]) }, ({ x }) => np.sum(x), "jnp.sum(x)"),
  c("sum_bool", { x: b([true, true, false]) }, ({ x }) => np.sum(x), "jnp.sum(x)"),
  c("sum_empty", { x: f32([]) }, ({ x }) => np.sum(x), "jnp.sum(x)"),
  c("sum_empty_axis", {}, () => np.sum(np.zeros([0, 3]), 0), "jnp.sum(jnp.zeros((0, 3)), 0)"),
  c(
    "sum_dtype",
    { x: i32([1, 2]) },
    ({ x }) => np.sum(x, null, { dtype: "float32" }),
    "jnp.sum(x, dtype=jnp.float32)",
  ),
  c("sum_scalar_axis_empty_list", { x: M }, ({ x }) => np.sum(x, []), "jnp.sum(x, axis=())"),
  c("prod_int", { x: MI }, ({ x }) => np.prod(x, 1), "jnp.prod(x, 1)"),
  c("prod_bool", { x: b([true, false]) }, ({ x }) => np.prod(x), "jnp.prod(x)"),
  c("prod_empty", { x: f32([]) }, ({ x }) => np.prod(x), "jnp.prod(x)"),
  c("mean_int", { x: MI }, ({ x }) => np.mean(x, 1), "jnp.mean(x, 1)"),
  c("mean_bool", { x: b([true, false, true]) }, ({ x }) => np.mean(x), "jnp.mean(x)"),
  c("mean_empty", { x: f32([]) }, ({ x }) => np.mean(x), "jnp.mean(x)"),
  c(
    "mean_keepdims",
    { x: T3 },
    ({ x }) => np.mean(x, [1], { keepdims: true }),
    "jnp.mean(x, 1, keepdims=True)",
  ),
  c("var_ddof", { x: M }, ({ x }) => np.var(x, 1, { ddof: 1 }), "jnp.var(x, 1, ddof=1)"),
  c("var_int", { x: MI }, ({ x }) => np.var(x), "jnp.var(x)"),
  c(
    "var_ddof_eq_n",
    { x: f32([1, 2]) },
    ({ x }) => np.var(x, null, { ddof: 2 }),
    "jnp.var(x, ddof=2)",
  ),
  c(
    "var_ddof_gt_n",
    { x: f32([1, 2]) },
    ({ x }) => np.var(x, null, { ddof: 3 }),
    "jnp.var(x, ddof=3)",
  ),
  c(
    "std_ddof",
    { x: T3 },
    ({ x }) => np.std(x, [0, 1], { ddof: 1, keepdims: true }),
    "jnp.std(x, (0, 1), ddof=1, keepdims=True)",
  ),
  c("std_bool", { x: b([true, false]) }, ({ x }) => np.std(x), "jnp.std(x)"),
  c(
    "max_nan",
    { x: f32([1, NaN_, 3]) },
    ({ x }) => [np.max(x), np.min(x)],
    "(jnp.max(x), jnp.min(x))",
  ),
  c("max_int", { x: MI }, ({ x }) => np.max(x, 1), "jnp.max(x, 1)"),
  c("max_bool", { x: b([false, true]) }, ({ x }) => np.max(x), "jnp.max(x)"),
  c("max_empty", { x: f32([]) }, ({ x }) => np.max(x), "jnp.max(x)"),
  c(
    "max_empty_initial",
    { x: f32([]) },
    ({ x }) => npx.max(x, null, { initial: -5 }),
    "jnp.max(x, initial=-5)",
  ),
  c(
    "max_initial",
    { x: f32([1, 2]) },
    ({ x }) => npx.max(x, null, { initial: 5 }),
    "jnp.max(x, initial=5)",
  ),
  c(
    "min_where",
    { x: f32([1, 2, 3]), w: b([false, true, true]) },
    ({ x, w }) => npx.min(x, null, { where: w, initial: 10 }),
    "jnp.min(x, where=w, initial=10)",
  ),
  c(
    "sum_where",
    { x: f32([1, 2, 3]), w: b([false, true, true]) },
    ({ x, w }) => npx.sum(x, null, { where: w }),
    "jnp.sum(x, where=w)",
  ),
  c(
    "argmax_nan",
    { x: f32([1, NaN_, 3, NaN_]) },
    ({ x }) => [np.argmax(x), np.argmin(x)],
    "(jnp.argmax(x), jnp.argmin(x))",
  ),
  c(
    "argmax_ties",
    { x: f32([3, 1, 3, 1]) },
    ({ x }) => [np.argmax(x), np.argmin(x)],
    "(jnp.argmax(x), jnp.argmin(x))",
  ),
  c("argmax_axis", { x: M }, ({ x }) => np.argmax(x, 0), "jnp.argmax(x, 0)"),
  c(
    "argmax_keepdims",
    { x: M },
    ({ x }) => np.argmax(x, null, { keepdims: true }),
    "jnp.argmax(x, keepdims=True)",
  ),
  c("argmin_neg_axis", { x: M }, ({ x }) => np.argmin(x, -1), "jnp.argmin(x, -1)"),
  c("argmax_bool", { x: b([false, true, true]) }, ({ x }) => np.argmax(x), "jnp.argmax(x)"),
  c("argmax_inf", { x: f32([-Inf, -Inf]) }, ({ x }) => np.argmax(x), "jnp.argmax(x)"),
  c("argmax_empty", { x: f32([]) }, ({ x }) => np.argmax(x), "jnp.argmax(x)"),
  c(
    "any_all",
    { x: f32([[0, 1], [0, 0]]) },
    ({ x }) => [np.any(x, 1), np.all(x, 0)],
    "(jnp.any(x, 1), jnp.all(x, 0))",
  ),
  c("all_empty", { x: f32([]) }, ({ x }) => [np.all(x), np.any(x)], "(jnp.all(x), jnp.any(x))"),
  c("any_nan", { x: f32([NaN_]) }, ({ x }) => np.any(x), "jnp.any(x)"),
  c("cumsum_int", { x: MI }, ({ x }) => np.cumsum(x, 1), "jnp.cumsum(x, 1)"),
  c("cumsum_bool", { x: b([true, true, false]) }, ({ x }) => np.cumsum(x), "jnp.cumsum(x)"),
  c("cumsum_flat", { x: M }, ({ x }) => np.cumsum(x), "jnp.cumsum(x)"),
  c("cumprod_uint", { x: u32([1, 2, 3]) }, ({ x }) => np.cumprod(x), "jnp.cumprod(x)"),
  c(
    "cumsum_dtype",
    { x: i32([1, 2]) },
    ({ x }) => np.cumsum(x, 0, { dtype: "float32" }),
    "jnp.cumsum(x, 0, dtype=jnp.float32)",
  ),
  c("nansum", { x: f32([1, NaN_, 3]) }, ({ x }) => npx.nansum(x), "jnp.nansum(x)"),
  c(
    "nanmean",
    { x: f32([[1, NaN_], [NaN_, NaN_]]) },
    ({ x }) => npx.nanmean(x, 1),
    "jnp.nanmean(x, 1)",
  ),
  c(
    "nanmax",
    { x: f32([1, NaN_, 3]) },
    ({ x }) => [npx.nanmax(x), npx.nanmin(x)],
    "(jnp.nanmax(x), jnp.nanmin(x))",
  ),
  c(
    "median",
    { x: f32([[3, 1, 2, 10], [4, NaN_, 1, 0]]) },
    ({ x }) => npx.median(x, 1),
    "jnp.median(x, 1)",
  ),
  c("median_all", { x: f32([5, 3, 1, 4]) }, ({ x }) => npx.median(x), "jnp.median(x)"),
  c(
    "quantile",
    { x: f32([1, 2, 3, 4, 5]) },
    ({ x }) => npx.quantile(x, 0.3),
    "jnp.quantile(x, 0.3)",
  ),
  c(
    "percentile",
    { x: f32([1, 2, 3, 4]) },
    ({ x }) => npx.percentile(x, [25, 50]),
    "jnp.percentile(x, jnp.array([25., 50.]))",
  ),
  c(
    "logsumexp_neg_inf",
    { x: f32([[-Inf, -Inf], [0, 0]]) },
    ({ x }) => np.logsumexp(x, 1),
    "jax.scipy.special.logsumexp(x, 1)",
  ),
  c(
    "sum_inf",
    { x: f32([[Inf, 1], [1, -Inf], [Inf, Inf], [Inf, -Inf]]) },
    ({ x }) => np.sum(x, 1),
    "jnp.sum(x, 1)",
  ),
  c("mean_inf", { x: f32([[Inf, 1], [2, 3]]) }, ({ x }) => np.mean(x, 1), "jnp.mean(x, 1)"),
  c(
    "jit_sum_inf",
    { x: f32([[Inf, 1], [1, -Inf]]) },
    ({ x }) => jit((v: Tensor) => np.sum(v, 1))(x),
    "jnp.sum(x, 1)",
  ),
  c(
    "nanmin_allnan",
    { x: f32([[NaN_, NaN_], [1, NaN_]]) },
    ({ x }) => npx.nanmin(x, 1),
    "jnp.nanmin(x, 1)",
  ),
  c(
    "quantile_list_axis",
    { x: f32([[1, 5, 2], [4, 3, 9]]) },
    ({ x }) => npx.quantile(x, [0.1, 0.9], 1),
    "jnp.quantile(x, jnp.array([0.1, 0.9]), 1)",
  ),
  c(
    "median_keepdims",
    { x: f32([[1, 5, 2], [4, 3, 9]]) },
    ({ x }) => npx.median(x, 0, { keepdims: true }),
    "jnp.median(x, 0, keepdims=True)",
  ),
  c("nanmean_int", { x: i32([1, 2]) }, ({ x }) => npx.nanmean(x), "jnp.nanmean(x)"),
  c("count_nonzero", { x: f32([0, 1, 2]) }, ({ x }) => npx.countNonzero(x), "jnp.count_nonzero(x)"),
  c("ptp", { x: M }, ({ x }) => npx.ptp(x, 1), "jnp.ptp(x, 1)"),
  c(
    "average_w",
    { x: f32([1, 2, 3]), w: f32([3, 1, 0]) },
    ({ x, w }) => npx.average(x, null, w),
    "jnp.average(x, weights=w)",
  ),
];

const shape: Case[] = [
  c("reshape_neg1", { x: T3 }, ({ x }) => np.reshape(x, [-1, 3]), "jnp.reshape(x, (-1, 3))"),
  c("reshape_bad", { x: T3 }, ({ x }) => np.reshape(x, [5, -1]), "jnp.reshape(x, (5, -1))"),
  c("reshape_two_neg", { x: T3 }, ({ x }) => np.reshape(x, [-1, -1]), "jnp.reshape(x, (-1, -1))"),
  c("squeeze_all", { x: f32([[[1], [2]]]) }, ({ x }) => np.squeeze(x), "jnp.squeeze(x)"),
  c("squeeze_bad_axis", { x: f32([[1, 2]]) }, ({ x }) => np.squeeze(x, 1), "jnp.squeeze(x, 1)"),
  c("squeeze_neg", { x: f32([[1], [2]]) }, ({ x }) => np.squeeze(x, -1), "jnp.squeeze(x, -1)"),
  c("expand_dims_neg", { x: M }, ({ x }) => np.expandDims(x, -1), "jnp.expand_dims(x, -1)"),
  c(
    "expand_dims_list",
    { x: M },
    ({ x }) => np.expandDims(x, [0, -1]),
    "jnp.expand_dims(x, (0, -1))",
  ),
  c("expand_dims_oob", { x: M }, ({ x }) => np.expandDims(x, 4), "jnp.expand_dims(x, 4)"),
  c(
    "concat_promote",
    { x: i32([1, 2]), y: f32([3]) },
    ({ x, y }) => np.concatenate([x, y]),
    "jnp.concatenate([x, y])",
  ),
  c(
    "concat_axis_neg",
    { x: M },
    ({ x }) => np.concatenate([x, x], -1),
    "jnp.concatenate([x, x], -1)",
  ),
  c(
    "concat_axis_null",
    { x: M },
    ({ x }) => (np.concatenate as any)([x, x], null),
    "jnp.concatenate([x, x], axis=None)",
  ),
  c("stack_neg", { x: M }, ({ x }) => np.stack([x, x], -1), "jnp.stack([x, x], -1)"),
  c("hstack_1d", { x: f32([1, 2]) }, ({ x }) => np.hstack([x, x]), "jnp.hstack([x, x])"),
  c("vstack_1d", { x: f32([1, 2]) }, ({ x }) => np.vstack([x, x]), "jnp.vstack([x, x])"),
  c(
    "hstack_scalar",
    {},
    () => np.hstack([np.array(1), np.array(2)]),
    "jnp.hstack([jnp.float32(1), jnp.float32(2)])",
  ),
  c("dstack", { x: f32([1, 2]) }, ({ x }) => npx.dstack([x, x]), "jnp.dstack([x, x])"),
  c(
    "column_stack",
    { x: f32([1, 2]) },
    ({ x }) => npx.columnStack([x, x]),
    "jnp.column_stack([x, x])",
  ),
  c("split_sections", { x: f32([1, 2, 3, 4, 5, 6]) }, ({ x }) => np.split(x, 3), "jnp.split(x, 3)"),
  c(
    "split_indices",
    { x: f32([1, 2, 3, 4, 5, 6]) },
    ({ x }) => np.split(x, [2, 10]),
    "jnp.split(x, [2, 10])",
    {
      known: "Kiln follows NumPy (out-of-range split indices clamp); JAX 0.10.2 raises",
    },
  ),
  c("split_unequal", { x: f32([1, 2, 3, 4, 5]) }, ({ x }) => np.split(x, 2), "jnp.split(x, 2)"),
  c(
    "split_decreasing",
    { x: f32([1, 2, 3, 4, 5]) },
    ({ x }) => np.split(x, [3, 1]),
    "jnp.split(x, [3, 1])",
    {
      known: "Kiln follows NumPy (decreasing indices give an empty part); JAX 0.10.2 raises",
    },
  ),
  c(
    "array_split",
    { x: f32([1, 2, 3, 4, 5]) },
    ({ x }) => npx.arraySplit(x, 3),
    "jnp.array_split(x, 3)",
  ),
  c("tile_more_reps", { x: f32([1, 2]) }, ({ x }) => np.tile(x, [2, 2]), "jnp.tile(x, (2, 2))"),
  c("tile_fewer_reps", { x: M }, ({ x }) => np.tile(x, 2), "jnp.tile(x, 2)"),
  c("repeat_flat", { x: M }, ({ x }) => np.repeat(x, 2), "jnp.repeat(x, 2)"),
  c("repeat_axis", { x: M }, ({ x }) => np.repeat(x, 2, 1), "jnp.repeat(x, 2, 1)"),
  c(
    "repeat_array",
    { x: f32([1, 2, 3]) },
    ({ x }) => (np.repeat as any)(x, [1, 0, 2]),
    "jnp.repeat(x, jnp.array([1, 0, 2]))",
  ),
  c("moveaxis", { x: T3 }, ({ x }) => np.moveaxis(x, 0, -1), "jnp.moveaxis(x, 0, -1)"),
  c(
    "moveaxis_list",
    { x: T3 },
    ({ x }) => np.moveaxis(x, [0, 1], [2, 0]),
    "jnp.moveaxis(x, (0, 1), (2, 0))",
  ),
  c("swapaxes", { x: T3 }, ({ x }) => np.swapaxes(x, 0, -1), "jnp.swapaxes(x, 0, -1)"),
  c(
    "transpose_axes",
    { x: T3 },
    ({ x }) => np.transpose(x, [1, 2, 0]),
    "jnp.transpose(x, (1, 2, 0))",
  ),
  c(
    "transpose_neg_axes",
    { x: T3 },
    ({ x }) => np.transpose(x, [-1, 0, 1]),
    "jnp.transpose(x, (-1, 0, 1))",
  ),
  c("flip_all", { x: M }, ({ x }) => np.flip(x), "jnp.flip(x)"),
  c("flip_axis", { x: M }, ({ x }) => np.flip(x, -1), "jnp.flip(x, -1)"),
  c("roll_flat", { x: M }, ({ x }) => np.roll(x, 2), "jnp.roll(x, 2)"),
  c("roll_axis_neg", { x: M }, ({ x }) => np.roll(x, -1, 1), "jnp.roll(x, -1, 1)"),
  c("roll_big", { x: M }, ({ x }) => np.roll(x, 7, 1), "jnp.roll(x, 7, 1)"),
  c(
    "roll_multi",
    { x: M },
    ({ x }) => (np.roll as any)(x, [1, 1], [0, 1]),
    "jnp.roll(x, (1, 1), (0, 1))",
  ),
  c("pad_int", { x: M }, ({ x }) => np.pad(x, 1), "jnp.pad(x, 1)"),
  c(
    "pad_pairs",
    { x: M },
    ({ x }) => np.pad(x, [[0, 1], [2, 0]], { constantValues: 9 }),
    "jnp.pad(x, ((0, 1), (2, 0)), constant_values=9)",
  ),
  c("pad_pair", { x: M }, ({ x }) => np.pad(x, [1, 2]), "jnp.pad(x, (1, 2))"),
  c(
    "pad_edge",
    { x: f32([1, 2, 3]) },
    ({ x }) => np.pad(x, 2, { mode: "edge" as any }),
    "jnp.pad(x, 2, mode='edge')",
  ),
  c(
    "pad_reflect",
    { x: f32([1, 2, 3]) },
    ({ x }) => np.pad(x, 2, { mode: "reflect" as any }),
    "jnp.pad(x, 2, mode='reflect')",
  ),
  c(
    "pad_wrap",
    { x: f32([1, 2, 3]) },
    ({ x }) => np.pad(x, [1, 2], { mode: "wrap" as any }),
    "jnp.pad(x, (1, 2), mode='wrap')",
  ),
  c(
    "pad_symmetric",
    { x: f32([1, 2, 3]) },
    ({ x }) => np.pad(x, 2, { mode: "symmetric" as any }),
    "jnp.pad(x, 2, mode='symmetric')",
  ),
  c(
    "broadcast_to",
    { x: f32([1, 2]) },
    ({ x }) => np.broadcastTo(x, [3, 2]),
    "jnp.broadcast_to(x, (3, 2))",
  ),
  c(
    "broadcast_arrays",
    { x: f32([1, 2]), y: f32([[1], [2], [3]]) },
    ({ x, y }) => np.broadcastArrays(x, y),
    "jnp.broadcast_arrays(x, y)",
  ),
  c("ravel", { x: T3 }, ({ x }) => np.ravel(x), "jnp.ravel(x)"),
  c("atleast_2d", { x: f32([1, 2]) }, ({ x }) => npx.atleast2d(x), "jnp.atleast_2d(x)"),
  c("diag", { x: M }, ({ x }) => npx.diag(x), "jnp.diag(x)"),
  c("diagonal", { x: T3 }, ({ x }) => npx.diagonal(x), "jnp.diagonal(x)"),
  c("diag_1d_k", { x: f32([1, 2]) }, ({ x }) => npx.diag(x, 1), "jnp.diag(x, 1)"),
  c("diag_1d_kneg", { x: f32([1, NaN_]) }, ({ x }) => npx.diag(x, -2), "jnp.diag(x, -2)"),
  c("diagonal_offset", { x: T3 }, ({ x }) => npx.diagonal(x, 1, 1, 2), "jnp.diagonal(x, 1, 1, 2)"),
  c("trace_offset", { x: M }, ({ x }) => npx.trace(x, -1), "jnp.trace(x, -1)"),
  c("tri_k", {}, () => npx.tri(3, 2, -1), "jnp.tri(3, 2, -1)"),
  c("trace", { x: M }, ({ x }) => npx.trace(x), "jnp.trace(x)"),
];

/** Reduction and shape cases. */
export const REDUCTION_SHAPE: Case[] = [...reductions, ...shape];
