/**
 * Losses as Optax defines them, per example (reduce with `.mean()`):
 * {@link softmaxCrossEntropy} (one-hot or integer labels),
 * {@link softmaxCrossEntropyWithIntegerLabels}, {@link sigmoidBinaryCrossEntropy},
 * {@link l2Loss}, {@link squaredError}; plus the scalar {@link mse} and {@link accuracy}.
 * @module
 */

import { np, type Tensor } from "../core/index.ts";
import { logSigmoid, logSoftmax } from "./activations.ts";
import { type ArrayLike, desc, floatTensor, tensor } from "./_util.ts";

function sameShape(op: string, a: Tensor, b: Tensor, an: string, bn: string): void {
  if (a.ndim !== b.ndim || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new RangeError(`${op}: ${an} ${desc(a)} and ${bn} ${desc(b)} must have the same shape`);
  }
}

const isInt = (t: Tensor) => t.dtype === "int32" || t.dtype === "uint32";

/**
 * Cross entropy between `softmax(logits)` and `labels` over the last axis, per example
 * (Optax's `softmax_cross_entropy`): `-sum(labels * logSoftmax(logits), -1)`. Labels are a
 * probability distribution of the logits' shape; integer labels of the batch shape
 * (`logits.shape[:-1]`) dispatch to {@link softmaxCrossEntropyWithIntegerLabels}.
 */
export function softmaxCrossEntropy(logits: ArrayLike, labels: ArrayLike): Tensor {
  const op = "nn.softmaxCrossEntropy";
  const l = floatTensor(logits);
  const y = tensor(labels);
  if (isInt(y)) return integerCe(op, l, y);
  if (l.ndim === 0) throw new RangeError(`${op}: logits must have a class axis, got ${desc(l)}`);
  sameShape(op, l, y, "logits", "labels");
  return np.sum(y.mul(logSoftmax(l)), -1).neg();
}

function integerCe(op: string, logits: Tensor, labels: Tensor): Tensor {
  if (!isInt(labels)) {
    throw new TypeError(`${op}: labels must be integer class ids, got ${desc(labels)}`);
  }
  const batch = logits.shape.slice(0, -1);
  if (
    logits.ndim === 0 || labels.ndim !== batch.length || labels.shape.some((d, i) => d !== batch[i])
  ) {
    throw new RangeError(
      `${op}: integer labels ${desc(labels)} must have the batch shape of logits ${desc(logits)} ` +
        `(all axes but the last)`,
    );
  }
  const lse = np.logsumexp(logits, -1);
  const picked = np.takeAlongAxis(logits, np.expandDims(labels.astype("int32"), -1), -1);
  return lse.sub(np.squeeze(picked, -1));
}

/**
 * Cross entropy with integer class ids (Optax's
 * `softmax_cross_entropy_with_integer_labels`): `logsumexp(logits, -1) - logits[..., label]`,
 * per example. `labels` has the shape of `logits` without its last axis.
 */
export function softmaxCrossEntropyWithIntegerLabels(
  logits: ArrayLike,
  labels: ArrayLike,
): Tensor {
  return integerCe("nn.softmaxCrossEntropyWithIntegerLabels", floatTensor(logits), tensor(labels));
}

/**
 * Binary cross entropy on logits, elementwise (Optax's `sigmoid_binary_cross_entropy`):
 * `-labels log σ(logits) - (1 - labels) log(1 - σ(logits))`, computed stably with log-sigmoid.
 */
export function sigmoidBinaryCrossEntropy(logits: ArrayLike, labels: ArrayLike): Tensor {
  const op = "nn.sigmoidBinaryCrossEntropy";
  const l = floatTensor(logits), y = floatTensor(labels);
  sameShape(op, l, y, "logits", "labels");
  const logP = logSigmoid(l), logNotP = logSigmoid(l.neg());
  return y.mul(logP).neg().sub(y.neg().add(1).mul(logNotP));
}

function residual(op: string, predictions: ArrayLike, targets?: ArrayLike): Tensor {
  const p = floatTensor(predictions);
  if (targets === undefined || targets === null) return p;
  const t = floatTensor(targets);
  sameShape(op, p, t, "predictions", "targets");
  return p.sub(t);
}

/** `(predictions - targets)²` elementwise (Optax's `squared_error`); targets default to 0. */
export function squaredError(predictions: ArrayLike, targets?: ArrayLike): Tensor {
  return residual("nn.squaredError", predictions, targets).square();
}

/** `0.5 (predictions - targets)²` elementwise (Optax's `l2_loss`); targets default to 0. */
export function l2Loss(predictions: ArrayLike, targets?: ArrayLike): Tensor {
  return residual("nn.l2Loss", predictions, targets).square().mul(0.5);
}

/** Mean squared error over all elements: a scalar (PyTorch's `MSELoss`). */
export function mse(predictions: ArrayLike, targets: ArrayLike): Tensor {
  return np.mean(residual("nn.mse", predictions, targets).square());
}

/**
 * Fraction of examples whose arg-max logit is the label: a float32 scalar. `labels` are integer
 * ids of the batch shape, or one-hot / probability rows of the logits' shape (their arg-max).
 */
export function accuracy(logits: ArrayLike, labels: ArrayLike): Tensor {
  const op = "nn.accuracy";
  const l = tensor(logits);
  let y = tensor(labels);
  if (l.ndim === 0) throw new RangeError(`${op}: logits must have a class axis, got ${desc(l)}`);
  if (!isInt(y)) {
    sameShape(op, l, y, "logits", "one-hot labels");
    y = np.argmax(y, -1);
  } else if (
    y.ndim !== l.ndim - 1 || y.shape.some((d, i) => d !== l.shape[i])
  ) {
    throw new RangeError(
      `${op}: integer labels ${desc(y)} must have the batch shape of logits ${desc(l)}`,
    );
  }
  return np.mean(np.equal(np.argmax(l, -1), y.astype("int32")).astype("float32"));
}
