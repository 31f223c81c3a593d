// deno-lint-ignore-file no-explicit-any -- cases probe APIs Kiln may lack
/**
 * Differential cases: creation functions, elementwise arithmetic and their dtype rules.
 * @module
 */

import { np } from "../../mod.ts";
import { c } from "./harness.ts";
import type { Case, Input } from "./harness.ts";

const f32 = (d: unknown): Input => [d, "float32"];
const i32 = (d: unknown): Input => [d, "int32"];
const u32 = (d: unknown): Input => [d, "uint32"];
const b = (d: unknown): Input => [d, "bool"];
const NaN_ = NaN, Inf = Infinity;

const INTS = i32([-7, -7, 7, 7, -6, 6, 0, 5, -5, 0]);
const INT_DIVS = i32([2, -2, 2, -2, 3, -3, 3, 0, 0, 0]);
const FLTS = f32([-7.5, -7.5, 7.5, 7.5, -6, 6, 0, 5, -5, 0, -0, 1, Inf, -Inf, NaN_]);
const FLT_DIVS = f32([2, -2, 2, -2, 3, -3, 3, 0, 0, 0, 1, -0, 2, 3, 1]);

const creation: Case[] = [
  c("arange_int", {}, () => np.arange(5), "jnp.arange(5)"),
  c("arange_start_stop", {}, () => np.arange(2, 9, 3), "jnp.arange(2, 9, 3)"),
  c("arange_neg_step", {}, () => np.arange(5, -3, -2), "jnp.arange(5, -3, -2)"),
  c("arange_float_step", {}, () => np.arange(0, 1, 0.1), "jnp.arange(0, 1, 0.1)"),
  c("arange_float_neg", {}, () => np.arange(1.5, -1, -0.5), "jnp.arange(1.5, -1, -0.5)"),
  c("arange_empty", {}, () => np.arange(5, 2), "jnp.arange(5, 2)"),
  c("arange_float_stop", {}, () => np.arange(3.5), "jnp.arange(3.5)"),
  c("linspace_default", {}, () => np.linspace(0, 1, 5), "jnp.linspace(0, 1, 5)"),
  c("linspace_50", {}, () => np.linspace(-3, 7), "jnp.linspace(-3, 7)"),
  c(
    "linspace_no_endpoint",
    {},
    () => np.linspace(0, 1, 4, { endpoint: false }),
    "jnp.linspace(0, 1, 4, endpoint=False)",
  ),
  c("linspace_num0", {}, () => np.linspace(0, 1, 0), "jnp.linspace(0, 1, 0)"),
  c("linspace_num1", {}, () => np.linspace(2, 5, 1), "jnp.linspace(2, 5, 1)"),
  c(
    "linspace_num1_noend",
    {},
    () => np.linspace(2, 5, 1, { endpoint: false }),
    "jnp.linspace(2, 5, 1, endpoint=False)",
  ),
  c(
    "linspace_int_dtype",
    {},
    () => np.linspace(0, 10, 4, { dtype: "int32" }),
    "jnp.linspace(0, 10, 4, dtype=jnp.int32)",
  ),
  c("eye_3", {}, () => np.eye(3), "jnp.eye(3)"),
  c("eye_k1_M4", {}, () => np.eye(3, 4, { k: 1 }), "jnp.eye(3, 4, k=1)"),
  c("eye_kneg", {}, () => np.eye(4, 3, { k: -2 }), "jnp.eye(4, 3, k=-2)"),
  c("eye_k_big", {}, () => np.eye(2, 2, { k: 5 }), "jnp.eye(2, 2, k=5)"),
  c(
    "identity_int",
    {},
    () => np.identity(2, { dtype: "int32" }),
    "jnp.identity(2, dtype=jnp.int32)",
  ),
  c("full_float", {}, () => np.full([2], 1.5), "jnp.full((2,), 1.5)"),
  c(
    "full_int_then_f16",
    {},
    () => np.add(np.full([2], 3), np.array([1], { dtype: "float16" })),
    "jnp.full((2,), 3) + jnp.array([1], jnp.float16)",
  ),
  c("full_int", {}, () => np.full([2, 2], 3), "jnp.full((2, 2), 3)"),
  c("full_bool", {}, () => np.full([2], true), "jnp.full((2,), True)"),
  c("zeros", {}, () => np.zeros([2, 3]), "jnp.zeros((2, 3))"),
  c("ones_int", {}, () => np.ones(3, { dtype: "int32" }), "jnp.ones(3, dtype=jnp.int32)"),
  c("zeros_like_int", { x: i32([1, 2]) }, ({ x }) => np.zerosLike(x), "jnp.zeros_like(x)"),
  c("full_like", { x: i32([1, 2]) }, ({ x }) => np.fullLike(x, 2.7), "jnp.full_like(x, 2.7)"),
  c("ones_like_bool", { x: b([true]) }, ({ x }) => np.onesLike(x), "jnp.ones_like(x)"),
  c("tri", {}, () => np.tri(3, 4, 1), "jnp.tri(3, 4, 1)"),
  c(
    "tril_k",
    { x: f32([[1, 2, 3], [4, 5, 6], [7, 8, 9]]) },
    ({ x }) => np.tril(x, -1),
    "jnp.tril(x, -1)",
  ),
  c("triu_k", { x: f32([[1, 2, 3], [4, 5, 6]]) }, ({ x }) => np.triu(x, 1), "jnp.triu(x, 1)"),
  c("array_ints_default", {}, () => np.array([1, 2, 3]), "jnp.array([1., 2., 3.])", {
    known: "np.array of JS numbers is float32 (JS has no int literal), as jax-js",
  }),
];

const arith: Case[] = [
  c("int_true_divide", { x: i32([1, 2, 7, -7]) }, ({ x }) => np.divide(x, 2), "x / 2"),
  c("int_int_divide", { x: INTS, y: INT_DIVS }, ({ x, y }) => np.divide(x, y), "x / y"),
  c("floor_divide_int", { x: INTS, y: INT_DIVS }, ({ x, y }) => np.floorDivide(x, y), "x // y"),
  c("floor_divide_flt", { x: FLTS, y: FLT_DIVS }, ({ x, y }) => np.floorDivide(x, y), "x // y"),
  c("remainder_int", { x: INTS, y: INT_DIVS }, ({ x, y }) => np.remainder(x, y), "x % y"),
  c("remainder_flt", { x: FLTS, y: FLT_DIVS }, ({ x, y }) => np.remainder(x, y), "x % y"),
  c("fmod_int", { x: INTS, y: INT_DIVS }, ({ x, y }) => np.fmod(x, y), "jnp.fmod(x, y)"),
  c("fmod_flt", { x: FLTS, y: FLT_DIVS }, ({ x, y }) => np.fmod(x, y), "jnp.fmod(x, y)"),
  c(
    "floor_divide_uint",
    { x: u32([7, 0, 5]), y: u32([2, 3, 0]) },
    ({ x, y }) => np.floorDivide(x, y),
    "x // y",
  ),
  c(
    "remainder_uint",
    { x: u32([7, 0, 5]), y: u32([2, 3, 0]) },
    ({ x, y }) => np.remainder(x, y),
    "x % y",
  ),
  c("int_min_div_neg1", { x: i32([-2147483648]) }, ({ x }) => np.floorDivide(x, -1), "x // -1"),
  c("power_int_int", { x: i32([2, -3, 0, 5]) }, ({ x }) => np.power(x, 3), "x ** 3"),
  c("power_int_neg_exp", { x: i32([2, 1, -1, 0]) }, ({ x }) => np.power(x, -1), "x ** -1"),
  c(
    "power_int_int_arr",
    { x: i32([2, 2, -2, 0, 3]), y: i32([0, 10, 3, 0, 2]) },
    ({ x, y }) => np.power(x, y),
    "x ** y",
  ),
  c("power_float", { x: f32([-8, 0, 2, -0, Inf]) }, ({ x }) => np.power(x, 0.5), "x ** 0.5"),
  c("power_float_neg", { x: f32([-2, 0, 2, -0]) }, ({ x }) => np.power(x, -2), "x ** -2"),
  c("power_float_int", { x: f32([-2, 0.5, 3]) }, ({ x }) => np.power(x, 3), "x ** 3"),
  c(
    "power_float_arr",
    { x: f32([-2, -2, 2, NaN_, 1]), y: f32([3, 2.5, -1, 0, NaN_]) },
    ({ x, y }) => np.power(x, y),
    "x ** y",
  ),
  c("power_int_float", { x: i32([2, 3]) }, ({ x }) => np.power(x, 0.5), "x ** 0.5"),
  c(
    "round_half_even",
    { x: f32([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997]) },
    ({ x }) => np.round(x),
    "jnp.round(x)",
  ),
  c(
    "round_decimals",
    { x: f32([1.25, 1.35, -2.675, 123.456]) },
    ({ x }) => np.round(x, 1),
    "jnp.round(x, 1)",
  ),
  c(
    "round_neg_decimals",
    { x: f32([1250, 1350, -2675]) },
    ({ x }) => np.round(x, -2),
    "jnp.round(x, -2)",
  ),
  c(
    "round_int_neg_decimals",
    { x: i32([1250, 1351, -2675]) },
    ({ x }) => np.round(x, -2),
    "jnp.round(x, -2)",
  ),
  c("sign_float", { x: f32([-3, 0, -0, 2, NaN_, -Inf]) }, ({ x }) => np.sign(x), "jnp.sign(x)"),
  c("sign_int", { x: i32([-3, 0, 2]) }, ({ x }) => np.sign(x), "jnp.sign(x)"),
  c("sign_uint", { x: u32([0, 3]) }, ({ x }) => np.sign(x), "jnp.sign(x)"),
  c("abs_int_min", { x: i32([-2147483648, -1]) }, ({ x }) => np.abs(x), "jnp.abs(x)"),
  c("clip_lo_gt_hi", { x: f32([-1, 0.5, 3]) }, ({ x }) => np.clip(x, 2, 1), "jnp.clip(x, 2, 1)"),
  c(
    "clip_int_float_bounds",
    { x: i32([-1, 2, 9]) },
    ({ x }) => np.clip(x, 0.5, 5),
    "jnp.clip(x, 0.5, 5)",
  ),
  c("clip_nan", { x: f32([NaN_, 1]) }, ({ x }) => np.clip(x, 0, 0.5), "jnp.clip(x, 0, 0.5)"),
  c(
    "maximum_nan",
    { x: f32([NaN_, 1, NaN_]), y: f32([1, NaN_, NaN_]) },
    ({ x, y }) => np.maximum(x, y),
    "jnp.maximum(x, y)",
  ),
  c(
    "minimum_nan",
    { x: f32([NaN_, 1]), y: f32([1, NaN_]) },
    ({ x, y }) => np.minimum(x, y),
    "jnp.minimum(x, y)",
  ),
  c(
    "minimum_signed_zero",
    { x: f32([-0, 0]), y: f32([0, -0]) },
    ({ x, y }) => [np.minimum(x, y), np.maximum(x, y)],
    "(jnp.minimum(x, y), jnp.maximum(x, y))",
    {
      known:
        "XLA orders -0 below +0 in min/max; Kiln returns the first operand on equality (values compare equal)",
    },
  ),
  c(
    "fmax",
    { x: f32([NaN_, 1, NaN_, 2]), y: f32([1, NaN_, NaN_, 3]) },
    ({ x, y }) => (np as any).fmax(x, y),
    "jnp.fmax(x, y)",
  ),
  c(
    "fmin",
    { x: f32([NaN_, 1, NaN_, 2]), y: f32([1, NaN_, NaN_, 3]) },
    ({ x, y }) => (np as any).fmin(x, y),
    "jnp.fmin(x, y)",
  ),
  c(
    "arctan2",
    { x: f32([0, -0, 0, -0, 1, -1, Inf, -Inf]), y: f32([0, 0, -0, -0, -1, -1, Inf, 2]) },
    ({ x, y }) => np.arctan2(x, y),
    "jnp.arctan2(x, y)",
  ),
  c(
    "arctan2_int",
    { x: i32([1, -1]), y: i32([2, 0]) },
    ({ x, y }) => np.arctan2(x, y),
    "jnp.arctan2(x, y)",
  ),
  c(
    "hypot",
    { x: f32([3, 0, Inf, NaN_, 1e30, -5]), y: f32([4, 0, NaN_, Inf, 1e30, 12]) },
    ({ x, y }) => np.hypot(x, y),
    "jnp.hypot(x, y)",
  ),
  c(
    "logaddexp",
    { x: f32([0, -Inf, Inf, 1000, -Inf, NaN_]), y: f32([0, -Inf, Inf, 1000, 3, 1]) },
    ({ x, y }) => np.logaddexp(x, y),
    "jnp.logaddexp(x, y)",
  ),
  c(
    "expm1_log1p",
    { x: f32([1e-10, -1e-7, 0, -1, 3]) },
    ({ x }) => [np.expm1(x), np.log1p(x)],
    "(jnp.expm1(x), jnp.log1p(x))",
    { rtol: 1e-5 },
  ),
  c("sqrt_neg", { x: f32([-1, 0, -0, 4]) }, ({ x }) => np.sqrt(x), "jnp.sqrt(x)"),
  c("log_edge", { x: f32([-1, 0, -0, Inf]) }, ({ x }) => np.log(x), "jnp.log(x)"),
  c("exp_int", { x: i32([0, 1]) }, ({ x }) => np.exp(x), "jnp.exp(x)"),
  c("reciprocal_int", { x: i32([1, 2, 0]) }, ({ x }) => np.reciprocal(x), "jnp.reciprocal(x)"),
  c("square_int", { x: i32([-3, 46341]) }, ({ x }) => np.square(x), "jnp.square(x)"),
  c("cbrt", { x: f32([-8, 27, 0]) }, ({ x }) => np.cbrt(x), "jnp.cbrt(x)"),
  c("floor_int", { x: i32([-3, 2]) }, ({ x }) => np.floor(x), "jnp.floor(x)"),
  c("ceil_bool", { x: b([true, false]) }, ({ x }) => np.ceil(x), "jnp.ceil(x)"),
  c("trunc_flt", { x: f32([-2.5, 2.5, -0.2]) }, ({ x }) => np.trunc(x), "jnp.trunc(x)"),
  c("negative_uint", { x: u32([1, 0]) }, ({ x }) => np.negative(x), "jnp.negative(x)"),
  c("negative_bool", { x: b([true]) }, ({ x }) => np.negative(x), "jnp.negative(x)"),
  c("sub_bool", { x: b([true]), y: b([false]) }, ({ x, y }) => np.subtract(x, y), "x - y"),
  c("add_bool", { x: b([true, false]), y: b([true, false]) }, ({ x, y }) => np.add(x, y), "x + y"),
  c(
    "mul_bool",
    { x: b([true, false]), y: b([true, true]) },
    ({ x, y }) => np.multiply(x, y),
    "x * y",
  ),
  c("abs_bool", { x: b([true, false]) }, ({ x }) => np.abs(x), "jnp.abs(x)"),
  c("sqrt_bool", { x: b([true, false]) }, ({ x }) => np.sqrt(x), "jnp.sqrt(x)"),
  c("bool_sum_div", { x: b([true, false]) }, ({ x }) => np.divide(x, x), "x / x"),
  c("deg2rad", { x: i32([180]) }, ({ x }) => np.deg2rad(x), "jnp.deg2rad(x)"),
];

const bits: Case[] = [
  c(
    "bitand_int",
    { x: i32([12, -1, -8]), y: i32([10, 255, 3]) },
    ({ x, y }) => np.bitwiseAnd(x, y),
    "x & y",
  ),
  c(
    "bitor_uint",
    { x: u32([12, 4294967295]), y: u32([3, 1]) },
    ({ x, y }) => np.bitwiseOr(x, y),
    "x | y",
  ),
  c(
    "bitxor_bool",
    { x: b([true, false]), y: b([true, true]) },
    ({ x, y }) => np.bitwiseXor(x, y),
    "x ^ y",
  ),
  c("invert_int", { x: i32([0, -1, 5]) }, ({ x }) => np.invert(x), "~x"),
  c("invert_uint", { x: u32([0, 5]) }, ({ x }) => np.invert(x), "~x"),
  c("invert_bool", { x: b([true, false]) }, ({ x }) => np.invert(x), "~x"),
  c(
    "left_shift",
    { x: i32([1, -1, 3, 1]), y: i32([3, 4, 31, 32]) },
    ({ x, y }) => (np as any).leftShift(x, y),
    "jnp.left_shift(x, y)",
  ),
  c(
    "right_shift_int",
    { x: i32([16, -16, -1, 5]), y: i32([2, 2, 40, 0]) },
    ({ x, y }) => (np as any).rightShift(x, y),
    "jnp.right_shift(x, y)",
  ),
  c(
    "right_shift_uint",
    { x: u32([4294967295, 16]), y: u32([4, 33]) },
    ({ x, y }) => (np as any).rightShift(x, y),
    "jnp.right_shift(x, y)",
  ),
  c(
    "eq_nan",
    { x: f32([NaN_, 1, 0]), y: f32([NaN_, 1, -0]) },
    ({ x, y }) => [np.equal(x, y), np.notEqual(x, y), np.less(x, y), np.greaterEqual(x, y)],
    "(x == y, x != y, x < y, x >= y)",
  ),
  c("cmp_int_float", { x: i32([1, 2]) }, ({ x }) => np.less(x, 1.5), "x < 1.5"),
  c("cmp_uint_neg", { x: u32([0, 5]) }, ({ x }) => np.greater(x, -1), "x > -1"),
  c(
    "isclose",
    { x: f32([1, NaN_, Inf, 1e-9, 1.00001]), y: f32([1.000001, NaN_, Inf, 0, 1]) },
    ({ x, y }) => (np as any).isclose(x, y),
    "jnp.isclose(x, y)",
  ),
  c(
    "isclose_equal_nan",
    { x: f32([NaN_, 1]), y: f32([NaN_, 2]) },
    ({ x, y }) => (np as any).isclose(x, y, { equalNan: true }),
    "jnp.isclose(x, y, equal_nan=True)",
  ),
  c(
    "allclose",
    { x: f32([1, 2]), y: f32([1, 2.0000001]) },
    ({ x, y }) => (np as any).allclose(x, y),
    "jnp.allclose(x, y)",
    { valuesOnly: true },
  ),
  c("isnan_int", { x: i32([1]) }, ({ x }) => np.isnan(x), "jnp.isnan(x)"),
  c("isfinite_f", { x: f32([NaN_, Inf, -Inf, 0]) }, ({ x }) => np.isfinite(x), "jnp.isfinite(x)"),
  c(
    "logical_and_num",
    { x: f32([0, 1, NaN_]), y: i32([2, 0, 1]) },
    ({ x, y }) => np.logicalAnd(x, y),
    "jnp.logical_and(x, y)",
  ),
  c(
    "logical_not_f",
    { x: f32([0, -0, NaN_, 2]) },
    ({ x }) => np.logicalNot(x),
    "jnp.logical_not(x)",
  ),
  c(
    "where_mixed",
    { c: b([true, false]), x: i32([1, 2]) },
    ({ c: k, x }) => np.where(k, x, 2.5),
    "jnp.where(c, x, 2.5)",
  ),
  c(
    "where_scalars",
    { c: b([true, false]) },
    ({ c: k }) => np.where(k, 1, 0),
    "jnp.where(c, 1, 0)",
  ),
  c("where_one_arg", { x: i32([0, 3, 0, 2]) }, ({ x }) => (np.where as any)(x), "jnp.where(x)"),
  c("nonzero", { x: i32([[0, 3], [1, 0]]) }, ({ x }) => (np as any).nonzero(x), "jnp.nonzero(x)"),
];

/** Creation and elementwise cases. */
export const CREATION_ELEMENTWISE: Case[] = [...creation, ...arith, ...bits];
