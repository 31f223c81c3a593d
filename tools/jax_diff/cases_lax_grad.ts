/**
 * Differential cases: `lax` operations, dtype promotion (weak types included) and gradients
 * (at kinks too) against `jax.grad`.
 * @module
 */

import { grad, lax, nn, np, vmap } from "../../mod.ts";
import type { Tensor } from "../../mod.ts";
import { c } from "./harness.ts";
import type { Case, Input } from "./harness.ts";

const f32 = (d: unknown): Input => [d, "float32"];
const i32 = (d: unknown): Input => [d, "int32"];
const u32 = (d: unknown): Input => [d, "uint32"];
const b = (d: unknown): Input => [d, "bool"];
const f16 = (d: unknown): Input => [d, "float16"];
const bf16 = (d: unknown): Input => [d, "bfloat16"];

const X44 = f32([[[[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]]]]);
const K22 = f32([[[[1, 0], [0, -1]]]]);

const laxCases: Case[] = [
  c(
    "conv_valid",
    { x: X44, k: K22 },
    ({ x, k }) => lax.conv(x, k, [1, 1], "VALID"),
    "lax.conv(x, k, (1, 1), 'VALID')",
  ),
  c(
    "conv_same_stride",
    { x: X44, k: K22 },
    ({ x, k }) => lax.conv(x, k, [2, 2], "SAME"),
    "lax.conv(x, k, (2, 2), 'SAME')",
  ),
  c(
    "conv_same_lower",
    { x: X44, k: K22 },
    ({ x, k }) => lax.conv(x, k, [1, 1], "SAME_LOWER"),
    "lax.conv_general_dilated(x, k, (1, 1), 'SAME_LOWER')",
  ),
  c(
    "conv_explicit_pad",
    { x: X44, k: K22 },
    ({ x, k }) => lax.conv(x, k, [1, 2], [[1, 0], [2, 1]]),
    "lax.conv(x, k, (1, 2), ((1, 0), (2, 1)))",
  ),
  c(
    "conv_dilated",
    { x: X44, k: K22 },
    ({ x, k }) =>
      lax.convGeneralDilated(x, k, [1, 1], "VALID", { rhsDilation: [2, 2], lhsDilation: [1, 1] }),
    "lax.conv_general_dilated(x, k, (1, 1), 'VALID', rhs_dilation=(2, 2))",
  ),
  c(
    "reduce_window_max",
    { x: X44 },
    ({ x }) => lax.reduceWindow(x, -Infinity, "max", [1, 1, 2, 2], [1, 1, 2, 2], "VALID"),
    "lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), 'VALID')",
  ),
  c(
    "reduce_window_sum_same",
    { x: X44 },
    ({ x }) => lax.reduceWindow(x, 0, "sum", [1, 1, 3, 3], [1, 1, 1, 1], "SAME"),
    "lax.reduce_window(x, 0., lax.add, (1, 1, 3, 3), (1, 1, 1, 1), 'SAME')",
  ),
  c(
    "reduce_window_init",
    { x: f32([1, 2, 3]) },
    ({ x }) => lax.reduceWindow(x, 10, "sum", [2], [1], "VALID"),
    "lax.reduce_window(x, 10., lax.add, (2,), (1,), 'VALID')",
  ),
  c(
    "dynamic_slice_clamp",
    { x: f32([0, 1, 2, 3, 4]) },
    ({ x }) => lax.dynamicSlice(x, [4], [3]),
    "lax.dynamic_slice(x, (4,), (3,))",
  ),
  c(
    "dynamic_slice_neg",
    { x: f32([0, 1, 2, 3, 4]) },
    ({ x }) => lax.dynamicSlice(x, [-2], [2]),
    "lax.dynamic_slice(x, (-2,), (2,))",
  ),
  c(
    "dynamic_slice_neg_big",
    { x: f32([0, 1, 2, 3, 4]) },
    ({ x }) => lax.dynamicSlice(x, [-9], [2]),
    "lax.dynamic_slice(x, (-9,), (2,))",
  ),
  c(
    "dynamic_slice_tensor_start",
    { x: f32([0, 1, 2, 3, 4]) },
    ({ x }) => lax.dynamicSlice(x, [np.array(3, { dtype: "int32" })], [3]),
    "lax.dynamic_slice(x, (jnp.int32(3),), (3,))",
  ),
  c(
    "dynamic_update_clamp",
    { x: f32([0, 1, 2, 3, 4]) },
    ({ x }) => lax.dynamicUpdateSlice(x, np.array([9, 9]), [4]),
    "lax.dynamic_update_slice(x, jnp.array([9., 9.]), (4,))",
  ),
  c(
    "dynamic_update_neg",
    { x: f32([0, 1, 2, 3, 4]) },
    ({ x }) => lax.dynamicUpdateSlice(x, np.array([9, 9]), [-1]),
    "lax.dynamic_update_slice(x, jnp.array([9., 9.]), (-1,))",
  ),
  c(
    "dynamic_index_in_dim",
    { x: f32([[0, 1], [2, 3]]) },
    ({ x }) => lax.dynamicIndexInDim(x, 1, 1, false),
    "lax.dynamic_index_in_dim(x, 1, 1, False)",
  ),
  c(
    "cond_basic",
    { x: f32([1, 2]) },
    ({ x }) => lax.cond(np.sum(x).gt(2), (v: Tensor) => v.mul(2), (v: Tensor) => v.neg(), x),
    "lax.cond(jnp.sum(x) > 2, lambda v: v * 2, lambda v: -v, x)",
  ),
  c(
    "scan_cumsum",
    { x: f32([1, 2, 3]) },
    ({ x }) => lax.scan((cr: Tensor, v: Tensor) => [cr.add(v), cr.mul(v)], np.array(0), x),
    "lax.scan(lambda cr, v: (cr + v, cr * v), jnp.float32(0), x)",
  ),
  c(
    "scan_reverse",
    { x: f32([1, 2, 3]) },
    ({ x }) =>
      lax.scan((cr: Tensor, v: Tensor) => [cr.add(v), cr], np.array(0), x, { reverse: true }),
    "lax.scan(lambda cr, v: (cr + v, cr), jnp.float32(0), x, reverse=True)",
  ),
  c(
    "fori_loop",
    { x: f32([1, 2]) },
    ({ x }) => lax.forLoop(0, 3, (i: Tensor, v: Tensor) => v.mul(2).add(i), x),
    "lax.fori_loop(0, 3, lambda i, v: v * 2 + i, x)",
  ),
  c(
    "while_loop",
    {},
    () =>
      lax.whileLoop(
        (v: Tensor) => v.lt(10),
        (v: Tensor) => v.mul(3),
        np.array(1, { dtype: "int32" }),
      ),
    "lax.while_loop(lambda v: v < 10, lambda v: v * 3, jnp.int32(1))",
  ),
  c(
    "switch_clamp",
    {},
    () => lax.switchCase(5, [() => np.array(1), () => np.array(2)]),
    "lax.switch(5, [lambda: jnp.float32(1), lambda: jnp.float32(2)])",
  ),
  c(
    "lax_sort_multi",
    { k: f32([2, 1, 2]), v: f32([0, 1, 2]) },
    ({ k, v }) => lax.sort([k, v], { numKeys: 1 }),
    "lax.sort((k, v), num_keys=1)",
  ),
];

const promotion: Case[] = [
  c("i32_f32", { x: i32([1]), y: f32([1.5]) }, ({ x, y }) => np.add(x, y), "x + y"),
  c("u32_i32", { x: u32([1]), y: i32([-2]) }, ({ x, y }) => np.add(x, y), "x + y"),
  c("u32_f32", { x: u32([1]), y: f32([2]) }, ({ x, y }) => np.add(x, y), "x + y"),
  c("bool_bool", { x: b([true]), y: b([true]) }, ({ x, y }) => np.add(x, y), "x + y"),
  c("bool_i32", { x: b([true]), y: i32([2]) }, ({ x, y }) => np.add(x, y), "x + y"),
  c("bool_weak_int", { x: b([true]) }, ({ x }) => np.add(x, 1), "x + 1"),
  c("bool_weak_float", { x: b([true]) }, ({ x }) => np.add(x, 1.5), "x + 1.5"),
  c("i32_weak_float", { x: i32([1]) }, ({ x }) => np.add(x, 1.5), "x + 1.5"),
  c(
    "i32_weak_float_then_f16",
    { x: i32([1]), h: f16([2]) },
    ({ x, h }) => np.add(np.add(x, 1.5), h),
    "(x + 1.5) + h",
  ),
  c("u32_weak_neg", { x: u32([5]) }, ({ x }) => np.add(x, -1), "x + -1"),
  c("u32_cmp_neg", { x: u32([5, 0]) }, ({ x }) => np.greater(x, -1), "x > -1"),
  c("f16_weak_float", { x: f16([1.5]) }, ({ x }) => np.multiply(x, 2.5), "x * 2.5"),
  c("f16_i32", { x: f16([1.5]), y: i32([3]) }, ({ x, y }) => np.add(x, y), "x + y"),
  c("f16_bf16", { x: f16([1.5]), y: bf16([2]) }, ({ x, y }) => np.add(x, y), "x + y"),
  c("bf16_f32", { x: bf16([1.5]), y: f32([2]) }, ({ x, y }) => np.add(x, y), "x + y"),
  c("bf16_weak", { x: bf16([1.5]) }, ({ x }) => np.add(x, 1), "x + 1"),
  c("bf16_sum", { x: bf16([1.5, 2.25, 3]) }, ({ x }) => np.sum(x), "jnp.sum(x)"),
  c("bf16_mean", { x: bf16([1.5, 2.25, 3]) }, ({ x }) => np.mean(x), "jnp.mean(x)"),
  c("f16_exp", { x: f16([1, 2]) }, ({ x }) => np.exp(x), "jnp.exp(x)"),
  c("f16_int_div", { x: f16([7]) }, ({ x }) => np.floorDivide(x, 2), "x // 2"),
  c("f16_overflow", { x: f16([60000]) }, ({ x }) => np.multiply(x, 2), "x * 2"),
  c(
    "astype_f_to_i",
    { x: f32([3e9, -1.7, 2.7, NaN, -3e9]) },
    ({ x }) => x.astype("int32"),
    "x.astype(jnp.int32)",
  ),
  c(
    "astype_f_to_u",
    { x: f32([-1, 3e9, 5e9, 2.9]) },
    ({ x }) => x.astype("uint32"),
    "x.astype(jnp.uint32)",
  ),
  c(
    "astype_i_to_u",
    { x: i32([-1, -2147483648, 5]) },
    ({ x }) => x.astype("uint32"),
    "x.astype(jnp.uint32)",
  ),
  c(
    "astype_u_to_i",
    { x: u32([4294967295, 2147483648]) },
    ({ x }) => x.astype("int32"),
    "x.astype(jnp.int32)",
  ),
  c(
    "astype_f_to_bool",
    { x: f32([0, -0, NaN, 0.1]) },
    ({ x }) => x.astype("bool"),
    "x.astype(bool)",
  ),
  c(
    "astype_f32_f16",
    { x: f32([65520, 1e-8, 0.1]) },
    ({ x }) => x.astype("float16"),
    "x.astype(jnp.float16)",
  ),
  c(
    "astype_f32_bf16",
    { x: f32([3.14159, 1e38, 1.00390625]) },
    ({ x }) => x.astype("bfloat16"),
    "x.astype(jnp.bfloat16)",
  ),
  c("i32_overflow_add", { x: i32([2147483647]) }, ({ x }) => np.add(x, 1), "x + 1"),
  c("i32_overflow_mul", { x: i32([65536]) }, ({ x }) => np.multiply(x, 65536), "x * 65536"),
  c("scalar_weak_result", {}, () => np.add(np.asarray(2), 3), "jnp.asarray(2) + 3"),
  c("f64_input", { x: [[1.5], "float64"] as Input }, ({ x }) => x, "x", {
    known:
      "JAX without x64 has no float64 (it becomes float32); Kiln keeps float64 arrays that are asked for",
  }),
];

// grad cases: f written once in Kiln and once in JAX
const g = (name: string, xs: unknown, f: (x: Tensor) => Tensor, jf: string): Case =>
  c(`grad_${name}`, { x: f32(xs) }, ({ x }) => vmap(grad(f))(x), `jax.vmap(jax.grad(${jf}))(x)`);

const grads: Case[] = [
  g("relu", [-1, 0, 2], (x) => nn.relu(x), "nn.relu"),
  g("abs", [-1, 0, -0, 2], (x) => np.abs(x), "jnp.abs"),
  g("sqrt", [0, 4], (x) => np.sqrt(x), "jnp.sqrt"),
  g("max_tie", [1, 2], (x) => np.maximum(x, 1), "lambda x: jnp.maximum(x, 1.)"),
  g("min_tie", [1, 2], (x) => np.minimum(x, 1), "lambda x: jnp.minimum(x, 1.)"),
  g(
    "reduce_max_tie",
    [1, 2],
    (x) => np.max(np.stack([x, x, np.multiply(x, 0.5)])),
    "lambda x: jnp.max(jnp.stack([x, x, x * 0.5]))",
  ),
  g("clip_edge", [0, 0.5, 1, 2], (x) => np.clip(x, 0, 1), "lambda x: jnp.clip(x, 0., 1.)"),
  g("relu6_edge", [0, 6, 3], (x) => nn.relu6(x), "nn.relu6"),
  g("sign", [-1, 0, 1], (x) => np.sign(x), "jnp.sign"),
  g("round", [0.4, 1.5], (x) => np.round(x), "jnp.round"),
  g("floor", [0.4, 1.5], (x) => np.floor(x), "jnp.floor"),
  g("pow_zero_base", [0, 2], (x) => np.power(x, 2), "lambda x: x ** 2"),
  g("pow_half_zero", [0, 4], (x) => np.power(x, 0.5), "lambda x: x ** 0.5"),
  g("pow_x_x", [0.5, 2], (x) => np.power(x, x), "lambda x: x ** x"),
  g("pow_zero_exp", [0, 1], (x) => np.power(x, 0), "lambda x: x ** 0"),
  g("pow_base_zero", [0, 1], (x) => np.power(0, x), "lambda x: 0. ** x"),
  g("log1p", [0, 1], (x) => np.log1p(x), "jnp.log1p"),
  g("hypot0", [0, 1], (x) => np.hypot(x, 0), "lambda x: jnp.hypot(x, 0.)"),
  g("hypot00", [0], (x) => np.hypot(x, x), "lambda x: jnp.hypot(x, x)"),
  g(
    "logaddexp_inf",
    [0, -Infinity],
    (x) => np.logaddexp(x, -Infinity),
    "lambda x: jnp.logaddexp(x, -jnp.inf)",
  ),
  g("softplus", [0, 50], (x) => nn.softplus(x), "nn.softplus"),
  g("gelu", [0, 1], (x) => nn.gelu(x), "nn.gelu"),
  g("silu", [0, 1], (x) => nn.silu(x), "nn.silu"),
  g(
    "where_nan",
    [0, 1],
    (x) => np.where(x.gt(0), np.log(x), 0),
    "lambda x: jnp.where(x > 0, jnp.log(x), 0.)",
  ),
  g("remainder", [5.5, -1.5], (x) => np.remainder(x, 2), "lambda x: x % 2."),
  g("arctan2", [0, 1], (x) => np.arctan2(x, 1), "lambda x: jnp.arctan2(x, 1.)"),
  g(
    "logsumexp",
    [0, 1],
    (x) => np.logsumexp(np.stack([x, np.multiply(x, 2)])),
    "lambda x: jax.scipy.special.logsumexp(jnp.stack([x, x * 2]))",
  ),
  g(
    "norm_zero",
    [0, 3],
    (x) => np.sqrt(np.sum(np.square(np.stack([x, x])))),
    "lambda x: jnp.sqrt(jnp.sum(jnp.stack([x, x]) ** 2))",
  ),
  g(
    "var",
    [1, 2],
    (x) => np.var(np.stack([x, np.multiply(x, 3)])),
    "lambda x: jnp.var(jnp.stack([x, x * 3]))",
  ),
  g(
    "prod_zero",
    [0, 2],
    (x) => np.prod(np.stack([x, x, np.add(x, 1)])),
    "lambda x: jnp.prod(jnp.stack([x, x, x + 1]))",
  ),
  g(
    "cumprod",
    [0, 2],
    (x) => np.sum(np.cumprod(np.stack([x, x, np.add(x, 1)]))),
    "lambda x: jnp.sum(jnp.cumprod(jnp.stack([x, x, x + 1])))",
  ),
  g(
    "sort",
    [3, 0],
    (x) => np.sum(np.multiply(np.sort(np.stack([x, np.array(1)])), np.array([1, 10]))),
    "lambda x: jnp.sum(jnp.sort(jnp.stack([x, 1.])) * jnp.array([1., 10.]))",
  ),
  g("tanh_big", [20, -20], (x) => np.tanh(x), "jnp.tanh"),
  g("sigmoid_big", [-100, 100], (x) => nn.sigmoid(x), "nn.sigmoid"),
  g("expm1", [0, -30], (x) => np.expm1(x), "jnp.expm1"),
  g("cbrt_zero", [0, 8], (x) => np.cbrt(x), "jnp.cbrt"),
  g("arcsin_one", [1, 0], (x) => np.arcsin(x), "jnp.arcsin"),
];

/** lax, promotion and gradient cases. */
export const LAX_GRAD_PROMOTION: Case[] = [...laxCases, ...promotion, ...grads];
