/**
 * Moving tensors between devices (JAX's `device_put`).
 * @module
 */

import { getDevice } from "./device.ts";
import { Tensor } from "./tensor.ts";
import { map } from "./tree.ts";

/**
 * Copies every tensor of a pytree to device `device` (`"cpu"`, `"cuda"`, …); tensors already
 * there are returned as they are, numbers stay numbers. Dtypes and weak types are kept.
 *
 * @throws Error when the device cannot start (for `cuda`: "CUDA is unavailable: <reason>").
 */
export function devicePut<T>(tree: T, device: string): T {
  const target = getDevice(device);
  return map<T>((leaf) => {
    if (!(leaf instanceof Tensor) || leaf.device === target.name) return leaf;
    const data = leaf.storageSync();
    return new Tensor(leaf.aval, target.fromHost(data), target);
  }, tree);
}
