/**
 * CUDA kernels for the convolution and its two gradients (`conv_general_dilated`,
 * `conv_grad_lhs`, `conv_grad_rhs`), on the canonical layouts of `core/prims/conv.ts`: lhs
 * (N, C, *spatial), rhs (O, C/G, *window), output (N, O, *spatial_out), with strides,
 * padding, lhs and rhs dilation and feature groups. Direct convolutions, one thread per
 * element written, accumulating in the dtype (float32 as cuBLAS-based im2col would; float64
 * in double):
 *
 * - forward: each output element sums its window over the group's input channels;
 * - lhs gradient: each input element sums the cotangent over the (output position, tap) pairs
 *   that read it, found by inverting the stride instead of scattering (no atomics);
 * - rhs gradient: each weight sums over images and output positions; the images are split
 *   into chunks whose partial sums meet with `atomicAdd` when the weights alone are too few
 *   threads to fill the device.
 *
 * Direct convolutions read each input many times through the cache: correct everywhere,
 * far from cuDNN's implicit GEMMs on large layers (the next step would be im2col into the
 * arena and a cuBLAS gemm, as on the CPU).
 * @module
 */

import type { Eqn } from "../../core/graph.ts";
import type { ConvParams } from "../../core/prims/conv.ts";
import { sizeOf } from "../../core/shape.ts";
import { flatCode, type FlatKernelCode, nest, offsetIn, unravel } from "./flat_kernel.ts";
import { cudaType } from "./prelude.ts";

const CONV_OPS = new Set(["conv_general_dilated", "conv_grad_lhs", "conv_grad_rhs"]);
/** Threads the rhs gradient aims for before it splits the images into chunks. */
const RHS_GRAD_THREADS = 1 << 16;

/** Whether this file renders the equation (float32 and float64; others run on the host). */
export function hasConvKernel(eqn: Eqn): boolean {
  const dtype = eqn.outputs[0].aval.dtype;
  return CONV_OPS.has(eqn.prim.name) && (dtype === "float32" || dtype === "float64");
}

/** The shapes and parameters of the convolution an equation belongs to. */
function convolutionOf(eqn: Eqn) {
  const p = eqn.params as unknown as ConvParams;
  const shapes = [...eqn.inputs.map((a) => a.aval.shape), eqn.outputs[0].aval.shape];
  // conv(lhs, rhs) -> out; conv_grad_lhs(ct, rhs) -> lhs; conv_grad_rhs(lhs, ct) -> rhs
  const [lhs, rhs, out] = eqn.prim.name === "conv_general_dilated"
    ? shapes
    : eqn.prim.name === "conv_grad_lhs"
    ? [shapes[2], shapes[1], shapes[0]]
    : [shapes[0], shapes[2], shapes[1]];
  const groups = p.featureGroupCount;
  return {
    p,
    lhs,
    rhs,
    out,
    inSpatial: lhs.slice(2),
    window: rhs.slice(2),
    outSpatial: out.slice(2),
    // channels per group of the input and the output (at least 1 where the loop is empty)
    cg: rhs[1],
    og: Math.max(1, rhs[0] / groups),
  };
}

/** The kernels of a convolution equation: `inputs` are its operands' C names. */
export function renderConvKernels(
  prefix: string,
  eqn: Eqn,
  inputs: string[],
  out: string,
): FlatKernelCode[] {
  const c = convolutionOf(eqn);
  const dtype = eqn.outputs[0].aval.dtype;
  const T = cudaType(dtype, eqn.prim.name);
  const acc = dtype === "float64" ? "double" : "float";
  if (eqn.prim.name === "conv_general_dilated") {
    return [flatCode(prefix, sizeOf(c.out), forwardBody(c, inputs, out, acc, T))];
  }
  if (eqn.prim.name === "conv_grad_lhs") {
    return [flatCode(prefix, sizeOf(c.lhs), lhsGradBody(c, inputs, out, acc, T))];
  }
  const weights = sizeOf(c.rhs);
  const images = c.lhs[0];
  const chunks = Math.max(1, Math.min(images, Math.ceil(RHS_GRAD_THREADS / Math.max(1, weights))));
  const body = rhsGradBody(c, inputs, out, acc, T, chunks);
  if (chunks === 1) return [flatCode(prefix, weights, body)];
  return [
    flatCode(`${prefix}_zero`, weights, `    ${out}[e] = 0;`, { reads: [], part: "zeros" }),
    flatCode(`${prefix}_sum`, weights * chunks, body, {
      reads: [0, 1, "out"],
      part: "partial sums",
    }),
  ];
}

type Convolution = ReturnType<typeof convolutionOf>;

/** `pos_d`: the input position that output position `y` and tap `k` read, or continue. */
function inputPosition(c: Convolution, d: number, y: string, k: string): string {
  const { windowStrides, padding, lhsDilation, rhsDilation } = c.p;
  const ld = lhsDilation[d];
  return `const long long pos${d} = ${y} * ${windowStrides[d]} - (${padding[d][0]}) + ` +
    `${k} * ${rhsDilation[d]};\n` +
    `      if (pos${d} < 0 || pos${d} % ${ld} != 0 || pos${d} / ${ld} >= ${
      c.inSpatial[d]
    }) continue;`;
}

function forwardBody(c: Convolution, [x, w]: string[], out: string, acc: string, T: string) {
  const inSize = sizeOf(c.inSpatial), winSize = sizeOf(c.window);
  const xOffset = offsetIn(c.inSpatial, (d) => `(pos${d} / ${c.p.lhsDilation[d]})`);
  const tap = offsetIn(c.window, (d) => `k${d}`);
  const inner = `const long long at = ${xOffset}, tap = ${tap};
      for (long long ci = 0; ci < ${c.cg}; ci++) {
        sum += (${acc})${x}[(idx0 * ${c.lhs[1]}LL + group * ${c.cg}LL + ci) * ${inSize}LL + at] *
          (${acc})${w}[(idx1 * ${c.cg}LL + ci) * ${winSize}LL + tap];
      }`;
  const loops = nest(c.window, "k", (d) => inputPosition(c, d, `idx${d + 2}`, `k${d}`), inner);
  return `    ${unravel(c.out)}
    const long long group = idx1 / ${c.og};
    ${acc} sum = 0;
    ${loops}
    ${out}[e] = (${T})sum;`;
}

function lhsGradBody(c: Convolution, [ct, w]: string[], out: string, acc: string, T: string) {
  const { windowStrides, padding, lhsDilation, rhsDilation } = c.p;
  const outSize = sizeOf(c.outSpatial), winSize = sizeOf(c.window);
  // the output position whose tap k reads input position s: (s·ld + lo − k·rd) / stride
  const check = (d: number) =>
    `const long long q${d} = idx${d + 2} * ${lhsDilation[d]} + (${padding[d][0]}) - ` +
    `k${d} * ${rhsDilation[d]};\n` +
    `      if (q${d} < 0 || q${d} % ${windowStrides[d]} != 0 || ` +
    `q${d} / ${windowStrides[d]} >= ${c.outSpatial[d]}) continue;`;
  const yOffset = offsetIn(c.outSpatial, (d) => `(q${d} / ${windowStrides[d]})`);
  const tap = offsetIn(c.window, (d) => `k${d}`);
  const inner = `sum += (${acc})${ct}[(idx0 * ${c.out[1]}LL + oc) * ${outSize}LL + ${yOffset}] *
        (${acc})${w}[(oc * ${c.cg}LL + ci) * ${winSize}LL + ${tap}];`;
  return `    ${unravel(c.lhs)}
    const long long group = idx1 / ${Math.max(1, c.cg)}, ci = idx1 % ${Math.max(1, c.cg)};
    ${acc} sum = 0;
    for (long long oc = group * ${c.og}; oc < (group + 1) * ${c.og} && oc < ${c.out[1]}; oc++) {
      ${nest(c.window, "k", check, inner)}
    }
    ${out}[e] = (${T})sum;`;
}

function rhsGradBody(
  c: Convolution,
  [x, ct]: string[],
  out: string,
  acc: string,
  T: string,
  chunks: number,
) {
  const inSize = sizeOf(c.inSpatial), outSize = sizeOf(c.outSpatial);
  const weights = sizeOf(c.rhs), images = c.lhs[0];
  const perChunk = Math.ceil(images / chunks);
  const xOffset = offsetIn(c.inSpatial, (d) => `(pos${d} / ${c.p.lhsDilation[d]})`);
  const yOffset = offsetIn(c.outSpatial, (d) => `y${d}`);
  const inner = `sum += (${acc})${ct}[(n * ${c.out[1]}LL + idx0) * ${outSize}LL + ${yOffset}] *
        (${acc})${x}[(n * ${c.lhs[1]}LL + channel) * ${inSize}LL + ${xOffset}];`;
  const loops = nest(c.outSpatial, "y", (d) => inputPosition(c, d, `y${d}`, `idx${d + 2}`), inner);
  const store = chunks === 1 ? `${out}[r] = (${T})sum;` : `atomicAdd(&${out}[r], (${T})sum);`;
  return `    const long long r = e % ${weights}, chunk = e / ${weights};
    ${unravel(c.rhs, "r")}
    const long long channel = (idx0 / ${c.og}) * ${c.cg} + idx1;
    const long long first = chunk * ${perChunk}, last = first + ${perChunk} < ${images} ? first + ${perChunk} : ${images};
    ${acc} sum = 0;
    for (long long n = first; n < last; n++) {
      ${loops}
    }
    ${store}`;
}
