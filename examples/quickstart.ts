/**
 * The quick start, and the lecture's first examples in Kiln's idiom: elementwise math,
 * reductions, and `relu(Wx + b)` on an embedded default input.
 *
 *     deno run --allow-all examples/quickstart.ts
 */

import { np } from "../mod.ts";

const x = np.array([[1, 2, 3], [4, 5, 6]]); // float32 by default
const y = np.tanh(x.mul(2).add(1)).mul(x).sub(np.exp(x.neg()));
console.log("y =", y.toString());
console.log("shape", y.shape, "dtype", y.dtype, "row sums", Array.from(np.sum(y, 1).dataSync()));

// the lecture's layer: relu(W x + b), on a batch of 4 inputs of size 3
const W = np.array([[0.5, -1, 0.25], [1, 0.5, -0.5]]);
const b = np.array([0.1, -0.2]);
const inputs = np.linspace(-1, 1, 12).reshape([4, 3]);
const layer = np.maximum(np.matmul(inputs, W.T).add(b), 0);
console.log("relu(Wx + b) =", layer.toString());

// the lecture's f(x, y) = x*y^3 + x + 1 at (4, 2)
const fx = np.array(4), fy = np.array(2);
console.log("f(4, 2) =", fx.mul(fy.pow(3)).add(fx).add(1).item());
