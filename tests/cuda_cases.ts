/**
 * The functions the CUDA tests render, compile and run (`cuda_test.ts`): each with its
 * arguments, the launch shapes of its kernels, and whether its plan is the CPU's.
 * @module
 */

import { lax, nn, np, valueAndGrad } from "../mod.ts";
import type { Tensor } from "../core/tensor.ts";
import { rng } from "./helpers.ts";

const softmax = (x: Tensor) => {
  const e = np.exp(x.sub(np.max(x, 1, { keepdims: true })));
  return e.div(np.sum(e, 1, { keepdims: true }));
};
const logSoftmax = (x: Tensor) => x.sub(np.logsumexp(x, 1, { keepdims: true }));
const chain = (x: Tensor, b: Tensor) => np.tanh(x.mul(2).add(b)).mul(x).sub(np.exp(x.neg()));
const mixed = (x: Tensor, n: Tensor) => {
  const k = n.floorDiv(3).add(n.mod(5)).maximum(n.neg());
  return [np.where(n.gt(2), x.mul(k.astype("float32")), x.neg()), k, n.astype("uint32").mul(7)];
};
const views = (x: Tensor) => np.flip(x.T, 0).add(np.arange(8, undefined, 1)).mul(x.T);
const columnSum = (x: Tensor) => np.sum(x, 0);
const meanSquare = (x: Tensor) => np.mean(x.mul(x));
const centered = (x: Tensor) => x.sub(np.mean(x)); // a global reduction under a 2-D epilogue
const f64Stats = (x: Tensor) => [np.sum(x, 1), np.max(x, 1), np.min(x.abs(), 0)];
/** A dense layer with ReLU. */
export const layer = (x: Tensor, w: Tensor, b: Tensor) => np.maximum(np.matmul(x, w).add(b), 0);

/** Uniform values in [-2, 2) of `dtype`. */
export function randomTensor(
  shape: number[],
  seed: number,
  dtype: "float32" | "float64" = "float32",
) {
  const r = rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return np.array(Array.from({ length: size }, () => 4 * r() - 2), { dtype }).reshape(shape);
}
/** Integers in [-10, 10) as int32. */
export function randomInts(shape: number[], seed: number) {
  const r = rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const data = Array.from({ length: size }, () => Math.floor(20 * r()) - 10);
  return np.array(data, { dtype: "int32" }).reshape(shape);
}

/** A function rendered for CUDA, with its arguments and expected kernel shapes. */
export interface Case {
  name: string;
  fn: (...xs: Tensor[]) => Tensor | Tensor[];
  args: () => Tensor[];
  /** Expected kernel shapes, in order. */
  shapes: ("flat" | "block")[];
  /** Whether the CUDA plan has the CPU plan's steps (false where CUDA refuses more). */
  sameAsCpu: boolean;
}

/** An embedding lookup's loss and gradient: a take, and a scatter_add in the gradient. */
const embedding = (table: Tensor, ids: Tensor) =>
  valueAndGrad((w: Tensor) => np.sum(np.tanh(np.take(w, ids, 0)).mul(np.take(w, ids, 0))))(table);
const someIds = (n: number, rows: number, seed: number) => {
  const r = rng(seed);
  return np.array(Array.from({ length: n }, () => Math.floor(r() * rows)), { dtype: "int32" });
};

/** Library calls with hand-written CUDA kernels (`index_kernels.ts`, `structure_kernels.ts`). */
const libraryCalls = (x: Tensor, start: Tensor) => {
  const padded = lax.pad(x, -1, [[1, -2, 1], [2, 0, 0]]);
  const joined = np.concatenate([x, x.mul(2), np.zeros([2, 5])], 0);
  const box = lax.dynamicSlice(x, [start, 1], [3, 2]);
  const written = lax.dynamicUpdateSlice(x, box.mul(10), [1, start]);
  const ids = np.array([4, 0, 4, 2], { dtype: "int32" });
  const scattered = lax.scatter(x, ids, x.slice(np.s(0, 4)).mul(-1), 0);
  return [
    scattered,
    np.argmax(x, 1),
    np.argmin(x, 0),
    np.cumsum(x, 0),
    np.cumprod(x, 1, { reverse: true }),
    padded,
    joined,
    written,
  ];
};

/** A CNN layer's loss and its gradients: convolutions, pools and their derivatives. */
const cnnLayer = (x: Tensor, w: Tensor) => {
  const [value, [dx, dw]] = valueAndGrad((xs: Tensor, ws: Tensor) => {
    const h = np.maximum(lax.conv(xs, ws, [1, 1], "SAME"), 0);
    return np.sum(nn.maxPool2d(h, 2).add(nn.avgPool2d(h, 2)));
  }, { argnums: [0, 1] })(x, w) as [Tensor, Tensor[]];
  return [value, dx, dw];
};

/** The rendered cases. */
export const CASES: Case[] = [
  {
    name: "elementwise chain with a broadcast",
    fn: chain,
    args: () => [randomTensor([64, 100], 1), randomTensor([100], 2)],
    shapes: ["flat"],
    sameAsCpu: true,
  },
  {
    name: "softmax",
    fn: softmax,
    args: () => [randomTensor([64, 1000], 3)],
    shapes: ["block"],
    sameAsCpu: true,
  },
  {
    name: "log-softmax",
    fn: logSoftmax,
    args: () => [randomTensor([33, 70], 4)],
    shapes: ["block"],
    sameAsCpu: true,
  },
  {
    name: "mixed dtypes",
    fn: mixed as never,
    args: () => [randomTensor([8, 16], 5), randomInts([8, 16], 6)],
    shapes: ["flat", "flat", "flat"],
    sameAsCpu: true,
  },
  {
    name: "transpose, flip, iota",
    fn: views,
    args: () => [randomTensor([8, 12], 7)],
    shapes: ["flat"],
    sameAsCpu: true,
  },
  {
    name: "column sum (many columns: flat)",
    fn: columnSum,
    args: () => [randomTensor([50, 2048], 8)],
    shapes: ["flat"],
    sameAsCpu: true,
  },
  {
    name: "column sum (few columns: block)",
    fn: columnSum,
    args: () => [randomTensor([3000, 7], 9)],
    shapes: ["block"],
    sameAsCpu: true,
  },
  {
    name: "mean of squares (a scalar)",
    fn: meanSquare,
    args: () => [randomTensor([300, 41], 10)],
    shapes: ["block"],
    sameAsCpu: true,
  },
  {
    name: "float64 row and column reductions",
    fn: f64Stats as never,
    args: () => [randomTensor([40, 30], 11, "float64")],
    shapes: ["block", "block", "block"],
    sameAsCpu: true,
  },
  {
    name: "global mean under a large epilogue",
    fn: centered,
    args: () => [randomTensor([300, 300], 12)],
    // the mean's 90,000 terms: a grid reduction (launched flat), then the epilogue
    shapes: ["flat", "flat"],
    sameAsCpu: false,
  },
  {
    name: "take and scatter_add (an embedding and its gradient)",
    fn: embedding as never,
    args: () => [randomTensor([7, 5], 21), someIds(12, 7, 22)],
    // index normalization, take, tanh (twice over: one per np.take), the loss, then two
    // scatter_adds of two kernels each (a copy, then the atomic adds)
    shapes: [...Array(5).fill("flat"), "block", ...Array(7).fill("flat")],
    sameAsCpu: false,
  },
  {
    name: "argmax, scans, pad, concatenate, dynamic slices, scatter (library calls)",
    fn: libraryCalls as never,
    args: () => [randomTensor([6, 5], 23), np.array(2, { dtype: "int32" })],
    // a dynamic update slice is a copy then a write; lax.scatter pads a row for dropped
    // indices, scatters (a copy, then the updates in order) and slices it off
    shapes: Array(19).fill("flat"),
    sameAsCpu: false,
  },
  {
    name: "convolution, pools and their gradients (library calls)",
    fn: cnnLayer as never,
    args: () => [randomTensor([2, 3, 6, 6], 24), randomTensor([4, 3, 3, 3], 25)],
    // conv, relu, two pools, the loss (a block reduction), the max pool's scatter, the relu's
    // and avg pool's cotangent, the weight gradient (zeros, then partial sums), the input's
    shapes: ["flat", "flat", "flat", "flat", "block", ...Array(5).fill("flat")],
    sameAsCpu: false,
  },
];
