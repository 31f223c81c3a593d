/**
 * The Threefry-2x32 block cipher (20 rounds, Salmon et al., "Parallel random numbers: as easy
 * as 1, 2, 3") written with Kiln's elementwise uint32 operations, so it traces under `jit`,
 * `vmap` and `grad` like any other function; plus a plain-JS reference used by the tests, and
 * Giles' float32 `erfinv` polynomial as XLA evaluates it.
 * @module
 */

import { np, type Tensor, tidy } from "../core/index.ts";

const ROTATIONS: readonly (readonly number[])[] = [[13, 15, 26, 6], [17, 29, 16, 24]];
const PARITY = 0x1BD11BDA;

/** Rotate a uint32 tensor left by `r` bits: `x * 2^r` (wrapping) OR `x / 2^(32 - r)`. */
function rotl(x: Tensor, r: number): Tensor {
  return np.bitwiseOr(np.multiply(x, 2 ** r), np.floorDivide(x, 2 ** (32 - r)));
}

/**
 * Threefry-2x32 of the counter pair `(x0, x1)` under the key pair `(k0, k1)`, elementwise on
 * uint32 tensors (broadcast together). Returns the two output words.
 */
export function threefry2x32(k0: Tensor, k1: Tensor, x0: Tensor, x1: Tensor): [Tensor, Tensor] {
  for (const [name, t] of [["k0", k0], ["k1", k1], ["x0", x0], ["x1", x1]] as const) {
    if (t.dtype !== "uint32") {
      throw new TypeError(`random.threefry2x32: ${name} must be uint32, got ${t.dtype}`);
    }
  }
  const ks = [k0, k1, np.bitwiseXor(np.bitwiseXor(k0, k1), PARITY)];
  let words: [Tensor, Tensor] = [np.add(x0, ks[0]), np.add(x1, ks[1])];
  // Run eagerly, each step makes a handful of full-size temporaries: free them (and the
  // previous words, this function's own) as it goes, so a draw on a GPU peaks at a few
  // buffers instead of ~100 until garbage collection. Traced, tidy and dispose do nothing.
  const step = (f: (a: Tensor, b: Tensor) => [Tensor, Tensor]) => {
    const [a, b] = words;
    words = tidy(() => f(a, b));
    a.dispose();
    b.dispose();
  };
  for (let i = 0; i < 5; i++) {
    for (const r of ROTATIONS[i % 2]) {
      step((a, b) => {
        const sum = np.add(a, b);
        return [sum, np.bitwiseXor(rotl(b, r), sum)];
      });
    }
    step((a, b) => [np.add(a, ks[(i + 1) % 3]), np.add(np.add(b, ks[(i + 2) % 3]), i + 1)]);
  }
  ks[2].dispose();
  return words;
}

/** Plain-JS Threefry-2x32 on one counter pair: the reference the tensor version is tested on. */
export function threefry2x32Host(
  k0: number,
  k1: number,
  x0: number,
  x1: number,
): [number, number] {
  const rot = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
  const ks = [k0 >>> 0, k1 >>> 0, (k0 ^ k1 ^ PARITY) >>> 0];
  let a = (x0 + ks[0]) >>> 0;
  let b = (x1 + ks[1]) >>> 0;
  for (let i = 0; i < 5; i++) {
    for (const r of ROTATIONS[i % 2]) {
      a = (a + b) >>> 0;
      b = (rot(b, r) ^ a) >>> 0;
    }
    a = (a + ks[(i + 1) % 3]) >>> 0;
    b = (b + ks[(i + 2) % 3] + i + 1) >>> 0;
  }
  return [a, b];
}

const W_LT_5 = [
  2.81022636e-08,
  3.43273939e-07,
  -3.5233877e-06,
  -4.39150654e-06,
  0.00021858087,
  -0.00125372503,
  -0.00417768164,
  0.246640727,
  1.50140941,
].map(Math.fround);
const W_GE_5 = [
  -0.000200214257,
  0.000100950558,
  0.00134934322,
  -0.00367342844,
  0.00573950773,
  -0.0076224613,
  0.00943887047,
  1.00167406,
  2.83297682,
].map(Math.fround);

/**
 * The inverse error function by Giles' single-precision approximation ("Approximating the
 * erfinv function", GPU Computing Gems), with XLA's constants and evaluation order:
 * `w = -log1p(-x²)`, a degree-8 polynomial in `w - 2.5` (w < 5) or `sqrt(w) - 3`, times `x`;
 * `erfinv(±1) = ±∞`. Computed in float32 (relative error ~1e-7 on (-1, 1)).
 */
export function erfinv32(x: Tensor): Tensor {
  const w0 = np.negative(np.log1p(np.negative(np.multiply(x, x))));
  const lt = np.less(w0, 5);
  const w = np.where(lt, np.subtract(w0, 2.5), np.subtract(np.sqrt(w0), 3));
  let p = np.where(lt, W_LT_5[0], W_GE_5[0]);
  for (let i = 1; i < W_LT_5.length; i++) {
    p = np.add(np.where(lt, W_LT_5[i], W_GE_5[i]), np.multiply(p, w));
  }
  const result = np.multiply(p, x);
  return np.where(np.equal(np.abs(x), 1), np.multiply(x, Infinity), result);
}

/**
 * float64 inverse error function: the float32 approximation refined by two Newton steps on
 * `erf(y) = x` in float64.
 */
export function erfinv64(x: Tensor): Tensor {
  let y = erfinv32(x.astype("float32")).astype("float64");
  const c = 2 / Math.sqrt(Math.PI);
  for (let i = 0; i < 2; i++) {
    const step = np.divide(
      np.subtract(np.erf(y), x),
      np.multiply(np.exp(np.negative(np.multiply(y, y))), c),
    );
    y = np.where(np.isfinite(y), np.subtract(y, step), y);
  }
  return y;
}
