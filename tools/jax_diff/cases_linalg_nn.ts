// deno-lint-ignore-file no-explicit-any -- cases probe APIs Kiln may lack
/**
 * Differential cases: linear algebra, indexing, sorting and `nn` activations.
 * @module
 */

import { nn, np } from "../../mod.ts";
import { c } from "./harness.ts";
import type { Case, Input } from "./harness.ts";

const f32 = (d: unknown): Input => [d, "float32"];
const i32 = (d: unknown): Input => [d, "int32"];
const NaN_ = NaN, Inf = Infinity;

const npx = np as any;

const nnx = nn as any;

const A = f32([[1, 2, 3], [4, 5, 6]]);
const B = f32([[1, 0], [2, 1], [0, 3]]);
const V3 = f32([1, -2, 3]);
const T3 = f32([[[1, 2], [3, 4]], [[5, 6], [7, 8]], [[9, 10], [11, 12]]]);

const linalg: Case[] = [
  c("matmul_2d", { a: A, b: B }, ({ a, b }) => np.matmul(a, b), "a @ b"),
  c("matmul_1d_2d", { a: V3, b: B }, ({ a, b }) => np.matmul(a, b), "a @ b"),
  c("matmul_2d_1d", { a: A, b: V3 }, ({ a, b }) => np.matmul(a, b), "a @ b"),
  c("matmul_1d_1d", { a: V3 }, ({ a }) => np.matmul(a, a), "a @ a"),
  c(
    "matmul_batch_bcast",
    {},
    () => np.matmul(np.ones([2, 1, 3, 4]), np.ones([5, 4, 6])),
    "jnp.ones((2,1,3,4)) @ jnp.ones((5,4,6))",
  ),
  c(
    "matmul_1d_batch",
    { b: T3 },
    ({ b }) => np.matmul(np.array([1, 2]), b),
    "jnp.array([1., 2.]) @ b",
  ),
  c(
    "matmul_int",
    {},
    () => np.matmul(np.arange(6).reshape([2, 3]), np.arange(3)),
    "jnp.arange(6).reshape(2, 3) @ jnp.arange(3)",
  ),
  c(
    "matmul_int_float",
    {},
    () => np.matmul(np.arange(6).reshape([2, 3]), np.ones([3])),
    "jnp.arange(6).reshape(2, 3) @ jnp.ones(3)",
  ),
  c("matmul_scalar_err", { a: A }, ({ a }) => np.matmul(a, 2), "jnp.matmul(a, 2)"),
  c("dot_scalar", { a: A }, ({ a }) => np.dot(a, 2), "jnp.dot(a, 2)"),
  c("dot_nd", { a: T3, b: B }, ({ a, b }) => np.dot(a, np.transpose(b)), "jnp.dot(a, b.T)"),
  c("vdot", { a: A }, ({ a }) => np.vdot(a, a), "jnp.vdot(a, a)"),
  c("outer", { a: V3, b: A }, ({ a, b }) => np.outer(a, b), "jnp.outer(a, b)"),
  c("inner", { a: A, b: V3 }, ({ a, b }) => np.inner(a, b), "jnp.inner(a, b)"),
  c("inner_scalar", { a: A }, ({ a }) => np.inner(a, 3), "jnp.inner(a, 3)"),
  c(
    "tensordot_int",
    { a: T3, b: f32([[1, 2], [3, 4]]) },
    ({ a, b }) => np.tensordot(a, b, 2),
    "jnp.tensordot(a, b, 2)",
  ),
  c("tensordot_0", { a: V3 }, ({ a }) => np.tensordot(a, a, 0), "jnp.tensordot(a, a, 0)"),
  c(
    "tensordot_lists",
    { a: T3, b: A },
    ({ a, b }) => np.tensordot(a, b, [[0], [1]]),
    "jnp.tensordot(a, b, ((0,), (1,)))",
  ),
  c(
    "tensordot_pair_ints",
    { a: T3, b: B },
    ({ a, b }) => (np.tensordot as any)(a, b, [2, 1]),
    "jnp.tensordot(a, b, (2, 1))",
  ),
  c(
    "einsum_trace",
    { x: f32([[1, 2], [3, 4]]) },
    ({ x }) => np.einsum("ii", x),
    "jnp.einsum('ii', x)",
  ),
  c(
    "einsum_diag",
    { x: f32([[1, 2], [3, 4]]) },
    ({ x }) => np.einsum("ii->i", x),
    "jnp.einsum('ii->i', x)",
  ),
  c(
    "einsum_implicit",
    { a: A, b: B },
    ({ a, b }) => np.einsum("ij,jk", a, b),
    "jnp.einsum('ij,jk', a, b)",
  ),
  c("einsum_implicit_order", { a: A }, ({ a }) => np.einsum("ji", a), "jnp.einsum('ji', a)"),
  c(
    "einsum_outer",
    { a: V3 },
    ({ a }) => np.einsum("i,j->ij", a, a),
    "jnp.einsum('i,j->ij', a, a)",
  ),
  c(
    "einsum_ellipsis",
    { a: T3 },
    ({ a }) => np.einsum("...ij->...ji", a),
    "jnp.einsum('...ij->...ji', a)",
  ),
  c("einsum_sum_all", { a: T3 }, ({ a }) => np.einsum("ijk->", a), "jnp.einsum('ijk->', a)"),
  c(
    "einsum_batch",
    { a: T3 },
    ({ a }) => np.einsum("bij,bjk->bik", a, a),
    "jnp.einsum('bij,bjk->bik', a, a)",
  ),
  c(
    "einsum_repeat_3",
    { a: V3 },
    ({ a }) => np.einsum("i,i,i->", a, a, a),
    "jnp.einsum('i,i,i->', a, a, a)",
  ),
  c(
    "einsum_int",
    {},
    () => np.einsum("i,i", np.arange(3), np.arange(3)),
    "jnp.einsum('i,i', jnp.arange(3), jnp.arange(3))",
  ),
  c("norm_fro", { a: A }, ({ a }) => npx.linalg.norm(a), "jnp.linalg.norm(a)"),
  c("norm_ord1_axis", { a: A }, ({ a }) => npx.linalg.norm(a, 1, 1), "jnp.linalg.norm(a, 1, 1)"),
];

const indexing: Case[] = [
  c("index_neg", { x: A }, ({ x }) => np.getIndex(x, -1, -2), "x[-1, -2]"),
  c(
    "index_neg_step",
    { x: f32([0, 1, 2, 3, 4, 5]) },
    ({ x }) => np.getIndex(x, np.s(null, null, -2)),
    "x[::-2]",
  ),
  c(
    "index_neg_step_bounds",
    { x: f32([0, 1, 2, 3, 4, 5]) },
    ({ x }) => np.getIndex(x, np.s(4, 0, -3)),
    "x[4:0:-3]",
  ),
  c(
    "index_slice_oob",
    { x: f32([0, 1, 2]) },
    ({ x }) => np.getIndex(x, np.s(-10, 10)),
    "x[-10:10]",
  ),
  c("index_string_slice", { x: A }, ({ x }) => np.getIndex(x, ":", "::-1"), "x[:, ::-1]"),
  c(
    "index_adv_basic",
    { x: T3 },
    ({ x }) => np.getIndex(x, [0, 2], ":", 1),
    "x[jnp.array([0, 2]), :, 1]",
  ),
  c(
    "index_adv_separated",
    { x: T3 },
    ({ x }) => np.getIndex(x, [0, 2], np.s(), [1, 0]),
    "x[jnp.array([0, 2]), :, jnp.array([1, 0])]",
  ),
  c("index_adv_neg", { x: A }, ({ x }) => np.getIndex(x, [-1, 0]), "x[jnp.array([-1, 0])]"),
  c(
    "index_bool_mask",
    { x: f32([1, 2, 3]) },
    ({ x }) => np.getIndex(x, np.array([true, false, true])),
    "x[jnp.array([True, False, True])]",
  ),
  c(
    "index_newaxis_ellipsis",
    { x: T3 },
    ({ x }) => np.getIndex(x, "...", null, 0),
    "x[..., None, 0]",
  ),
  c("index_oob", { x: f32([1, 2]) }, ({ x }) => np.getIndex(x, 5), "x[5]", {
    known: "JAX clamps an out-of-range static index; Kiln raises, as NumPy",
  }),
  c(
    "take_clip",
    { x: f32([1, 2, 3]) },
    ({ x }) => np.take(x, [-1, 5], 0, { mode: "clip" }),
    "jnp.take(x, jnp.array([-1, 5]), 0, mode='clip')",
  ),
  c(
    "take_wrap",
    { x: f32([1, 2, 3]) },
    ({ x }) => np.take(x, [-1, 5], 0, { mode: "wrap" }),
    "jnp.take(x, jnp.array([-1, 5]), 0, mode='wrap')",
  ),
  c(
    "take_fill_default",
    { x: f32([1, 2, 3]) },
    ({ x }) => np.take(x, np.array([-1, 5], { dtype: "int32" })),
    "jnp.take(x, jnp.array([-1, 5]))",
    {
      known: "JAX's default take mode is 'fill' (NaN for out of range); Kiln's is NumPy's 'raise'",
    },
  ),
  c("take_2d_flat", { x: A }, ({ x }) => np.take(x, [[0, 5]]), "jnp.take(x, jnp.array([[0, 5]]))"),
  c(
    "take_along_axis",
    { x: A },
    ({ x }) => np.takeAlongAxis(x, np.argsort(x, 1), 1),
    "jnp.take_along_axis(x, jnp.argsort(x, 1), 1)",
  ),
  c(
    "at_add_dup",
    { x: f32([0, 0, 0]) },
    ({ x }) => np.at(x, [0, 0, 2]).add(1),
    "x.at[jnp.array([0, 0, 2])].add(1)",
  ),
  c("at_set_dup_slice", { x: A }, ({ x }) => np.at(x, ":", 1).set(9), "x.at[:, 1].set(9)"),
  c(
    "at_mul",
    { x: f32([1, 2, 3]) },
    ({ x }) => np.at(x, [1, 1]).multiply(3),
    "x.at[jnp.array([1, 1])].multiply(3)",
  ),
  c("at_min_neg", { x: f32([1, 2, 3]) }, ({ x }) => np.at(x, -1).min(0), "x.at[-1].min(0)"),
  c("at_add_int_float", { x: i32([1, 2]) }, ({ x }) => np.at(x, 0).add(1.7), "x.at[0].add(1.7)"),
  c(
    "at_oob_add",
    { x: f32([1, 2]) },
    ({ x }) => np.at(x, [5]).add(1),
    "x.at[jnp.array([5])].add(1)",
    {
      known:
        "JAX drops out-of-bounds scatter updates; Kiln raises on concrete out-of-range indices (NumPy)",
    },
  ),
];

const sorting: Case[] = [
  c("sort_nan", { x: f32([3, NaN_, -Inf, 1, NaN_, -0, 0]) }, ({ x }) => np.sort(x), "jnp.sort(x)"),
  c("sort_axis0", { x: A }, ({ x }) => np.sort(x, 0), "jnp.sort(x, 0)"),
  c("sort_none", { x: A }, ({ x }) => np.sort(x, null), "jnp.sort(x, None)"),
  c(
    "argsort_stable",
    { x: f32([2, 1, 2, 1, NaN_, 1]) },
    ({ x }) => np.argsort(x),
    "jnp.argsort(x)",
  ),
  c("argsort_int", { x: i32([3, -1, 3, 0]) }, ({ x }) => np.argsort(x), "jnp.argsort(x)"),
  c(
    "searchsorted",
    { a: f32([1, 2, 2, 3]), v: f32([2, 0, 4, 2.5]) },
    ({ a, v }) => npx.searchsorted(a, v),
    "jnp.searchsorted(a, v)",
  ),
  c(
    "searchsorted_right",
    { a: f32([1, 2, 2, 3]), v: f32([2]) },
    ({ a, v }) => npx.searchsorted(a, v, { side: "right" }),
    "jnp.searchsorted(a, v, side='right')",
  ),
  c("unique", { x: f32([3, 1, 3, 2, 1]) }, ({ x }) => npx.unique(x), "jnp.unique(x)"),
  c(
    "unique_size",
    { x: f32([3, 1, 3]) },
    ({ x }) => npx.unique(x, { size: 4, fillValue: 0 }),
    "jnp.unique(x, size=4, fill_value=0)",
  ),
];

const activations: Case[] = [
  c("relu", { x: f32([-1, 0, -0, 2, NaN_]) }, ({ x }) => nn.relu(x), "nn.relu(x)"),
  c("relu_int", { x: i32([-1, 2]) }, ({ x }) => nn.relu(x), "nn.relu(x)"),
  c("relu6", { x: f32([-1, 3, 7]) }, ({ x }) => nn.relu6(x), "nn.relu6(x)"),
  c("gelu_default", { x: f32([-3, -1, 0, 0.5, 2]) }, ({ x }) => nn.gelu(x), "nn.gelu(x)"),
  c(
    "gelu_exact",
    { x: f32([-3, -1, 0, 0.5, 2]) },
    ({ x }) => nn.gelu(x, { approximate: false }),
    "nn.gelu(x, approximate=False)",
  ),
  c("silu", { x: f32([-100, -1, 0, 3]) }, ({ x }) => nn.silu(x), "nn.silu(x)"),
  c("sigmoid_ext", { x: f32([-100, 100, 0]) }, ({ x }) => nn.sigmoid(x), "nn.sigmoid(x)"),
  c(
    "softplus",
    { x: f32([-100, -1, 0, 30, 100, -Inf, Inf]) },
    ({ x }) => nn.softplus(x),
    "nn.softplus(x)",
  ),
  c("log_sigmoid", { x: f32([-100, 0, 100]) }, ({ x }) => nn.logSigmoid(x), "nn.log_sigmoid(x)"),
  c("elu", { x: f32([-2, 0, 2]) }, ({ x }) => nn.elu(x, 0.5), "nn.elu(x, 0.5)"),
  c("leaky_relu", { x: f32([-2, 0, 2]) }, ({ x }) => nn.leakyRelu(x), "nn.leaky_relu(x)"),
  c("softmax_axis0", { x: A }, ({ x }) => nn.softmax(x, { axis: 0 }), "nn.softmax(x, axis=0)"),
  c(
    "softmax_axes",
    { x: T3 },
    ({ x }) => nn.softmax(x, { axis: [0, 2] }),
    "nn.softmax(x, axis=(0, 2))",
  ),
  c(
    "softmax_neg_inf",
    { x: f32([[-Inf, 0], [-Inf, -Inf]]) },
    ({ x }) => nn.softmax(x),
    "nn.softmax(x)",
  ),
  c("softmax_large", { x: f32([1000, 1000, -1000]) }, ({ x }) => nn.softmax(x), "nn.softmax(x)"),
  c(
    "log_softmax_neg_inf",
    { x: f32([[-Inf, 0], [-Inf, -Inf]]) },
    ({ x }) => nn.logSoftmax(x),
    "nn.log_softmax(x)",
  ),
  c(
    "logsumexp_rows",
    { x: f32([[-Inf, -Inf], [1, 2], [Inf, 1]]) },
    ({ x }) => nn.logsumexp(x, { axis: 1 }),
    "nn.logsumexp(x, axis=1)",
  ),
  c(
    "logsumexp_b",
    { x: f32([1, 2, 3]), w: f32([1, -1, 0.5]) },
    ({ x, w }) => nnx.logsumexp(x, { b: w }),
    "nn.logsumexp(x, b=w)",
  ),
  c(
    "logsumexp_sign",
    { x: f32([1, 2]), w: f32([1, -1]) },
    ({ x, w }) => nnx.logsumexp(x, { b: w, returnSign: true }),
    "nn.logsumexp(x, b=w, return_sign=True)",
  ),
  c("one_hot_oob", { x: i32([0, 2, -1, 3]) }, ({ x }) => nn.oneHot(x, 3), "nn.one_hot(x, 3)"),
  c(
    "one_hot_axis0",
    { x: i32([0, 1]) },
    ({ x }) => nn.oneHot(x, 3, { axis: 0 }),
    "nn.one_hot(x, 3, axis=0)",
  ),
  c("one_hot_float_ids", { x: f32([0, 1.5, 2]) }, ({ x }) => nn.oneHot(x, 3), "nn.one_hot(x, 3)"),
  c("hard_tanh", { x: f32([-2, 0.5, 2]) }, ({ x }) => nnx.hardTanh(x), "nn.hard_tanh(x)"),
  c("celu", { x: f32([-2, 0.5]) }, ({ x }) => nnx.celu(x), "nn.celu(x)"),
  c("selu", { x: f32([-2, 0.5]) }, ({ x }) => nnx.selu(x), "nn.selu(x)"),
  c("standardize", { x: A }, ({ x }) => nnx.standardize(x), "nn.standardize(x)"),
  c("glu", { x: f32([[1, 2, 3, 4]]) }, ({ x }) => nnx.glu(x), "nn.glu(x)"),
];

/** Linear algebra, indexing, sorting and activation cases. */
export const LINALG_INDEXING_NN: Case[] = [...linalg, ...indexing, ...sorting, ...activations];
