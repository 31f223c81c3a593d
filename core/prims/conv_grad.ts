/**
 * The gradients of `conv_general_dilated` as primitives of their own, so that a backend can run
 * them with kernels made for them (the CPU runs them by im2col / col2im + matmul) instead of
 * as convolutions with the cotangent as the window:
 *
 * - `conv_grad_lhs(ct, rhs)`: the cotangent of the lhs, lhs-shaped (N, C, *spatial):
 *   dx[n, c, s] = Σ ct[n, o, p] · rhs[o, c', t] over the output positions p, channels o of c's
 *   group and taps t that read input position s (c' is c within its group).
 * - `conv_grad_rhs(lhs, ct)`: the cotangent of the rhs, rhs-shaped (O, C/G, *window):
 *   dw[o, c', t] = Σ ct[n, o, p] · lhs[n, c, s] over images n and output positions p (s, c as
 *   above).
 *
 * Both carry the convolution's parameters and the shape of the operand they give a cotangent
 * for (which the output size alone does not determine). With y = conv(x, w), all three are
 * one trilinear form ⟨conv(x, w), ct⟩ = ⟨x, conv_grad_lhs(ct, w)⟩ = ⟨w, conv_grad_rhs(x, ct)⟩,
 * which gives every transpose rule below; each is bilinear, so its jvp is the product rule.
 * @module
 */

import { allocate, isFloat, type TypedArray } from "../dtype.ts";
import { type Aval, Primitive, type PrimitiveRules, UndefinedPrimal } from "../primitive.ts";
import { fmtShape, type Shape, shapeEqual, sizeOf } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { moveAxis } from "../vmap.ts";
import { add } from "./elementwise.ts";
import { reshape } from "./structure.ts";
import {
  conv,
  convOutputShape,
  type ConvParams,
  convParamsOf,
  convTapOffsets,
  mergeAxes,
  splitAxis,
  swapAdjacent,
} from "./conv.ts";

/** Parameters of {@link convGradLhs}: the convolution's, and the shape of its lhs. */
export interface ConvGradLhsParams extends ConvParams {
  /** The convolution's lhs shape (N, C, *spatial): the output shape. */
  lhsShape: number[];
}

/** Parameters of {@link convGradRhs}: the convolution's, and the shape of its rhs. */
export interface ConvGradRhsParams extends ConvParams {
  /** The convolution's rhs shape (O, C/groups, *window): the output shape. */
  rhsShape: number[];
}

// ---- shapes and the reference ---------------------------------------------------------

/**
 * Validates a gradient's operands: a shared float dtype, the missing operand's shape, and a
 * cotangent of the convolution's output shape. Returns the output aval (`missing`-shaped).
 */
function gradAval(
  op: string,
  known: Aval,
  ct: Aval,
  missing: unknown,
  which: "lhs" | "rhs",
  params: ConvParams,
): Aval {
  if (known === undefined || ct === undefined) {
    throw new TypeError(`${op}: takes two operands`);
  }
  if (known.dtype !== ct.dtype || !isFloat(ct.dtype)) {
    throw new TypeError(
      `${op}: operands must share a float dtype, got ${known.dtype}${fmtShape(known.shape)} ` +
        `and ct ${ct.dtype}${fmtShape(ct.shape)}`,
    );
  }
  const name = `${which}Shape`;
  if (
    !Array.isArray(missing) || missing.length !== known.shape.length ||
    !missing.every((d) => Number.isSafeInteger(d) && d >= 0)
  ) {
    throw new RangeError(
      `${op}: ${name} must list ${known.shape.length} non-negative integers, got ${
        JSON.stringify(missing)
      }`,
    );
  }
  const shape = missing as number[];
  const [lhs, rhs] = which === "lhs" ? [shape, known.shape] : [known.shape, shape];
  const out = convOutputShape(lhs, rhs, params, op);
  if (!shapeEqual(out, ct.shape)) {
    throw new RangeError(
      `${op}: the cotangent ct${fmtShape(ct.shape)} must have the convolution's output shape ` +
        `${fmtShape(out)} (lhs ${fmtShape(lhs)}, rhs ${fmtShape(rhs)})`,
    );
  }
  return { shape: [...shape], dtype: ct.dtype, weak: known.weak && ct.weak };
}

/**
 * Reference gradients, accumulating in float64: the convolution's sum over (image, output
 * channel, output position, tap, input channel) with the product added into `dx` (the lhs
 * gradient, when `which` is "lhs": ct · w) or `dw` (ct · x).
 */
function gradReference(
  which: "lhs" | "rhs",
  operand: TypedArray,
  ct: TypedArray,
  lhs: Shape,
  rhs: Shape,
  params: ConvParams,
  outShape: Shape,
): Float64Array {
  const [n, c] = lhs, [o, cg] = rhs;
  const og = o / params.featureGroupCount;
  const inSize = sizeOf(lhs.slice(2)), winSize = sizeOf(rhs.slice(2));
  const outSize = sizeOf(outShape.slice(2));
  const taps = convTapOffsets(lhs, rhs, params, outShape);
  const acc = new Float64Array(sizeOf(which === "lhs" ? lhs : rhs));
  for (let b = 0; b < n; b++) {
    for (let oc = 0; oc < o; oc++) {
      const group = Math.floor(oc / og);
      for (let e = 0; e < outSize; e++) {
        const g = ct[(b * o + oc) * outSize + e];
        for (let t = 0; t < winSize; t++) {
          const offset = taps[e * winSize + t];
          if (offset < 0) continue;
          for (let ci = 0; ci < cg; ci++) {
            const xi = (b * c + group * cg + ci) * inSize + offset;
            const wi = (oc * cg + ci) * winSize + t;
            if (which === "lhs") acc[xi] += g * operand[wi];
            else acc[wi] += g * operand[xi];
          }
        }
      }
    }
  }
  return acc;
}

// Copies a float64 accumulator into a fresh array of the output dtype.
function asDtype(acc: Float64Array, out: Aval): TypedArray {
  const y = allocate(out.dtype, acc.length);
  y.set(acc);
  return y;
}

// Bilinear jvp: d(f(a, b)) = f(da, b) + f(a, db), skipping the terms of zero (null) tangents.
function bilinearJvp<P>(prim: () => Primitive<P>): Pick<
  PrimitiveRules<P>,
  "jvp" | "jvpAcceptsZeros"
> {
  return {
    jvpAcceptsZeros: true,
    jvp([a, b], [da, db], params) {
      const y = bind1(prim(), [a, b], params);
      const t1 = da === null ? null : bind1(prim(), [da, b], params);
      const t2 = db === null ? null : bind1(prim(), [a, db], params);
      return [[y], [t1 !== null && t2 !== null ? bind1(add, [t1, t2], {}) : t1 ?? t2]];
    },
  };
}

// Which operand of a bilinear primitive is being transposed (exactly one must be).
function linearOperand(op: string, inputs: (Tensor | UndefinedPrimal)[]): 0 | 1 {
  const first = inputs[0] instanceof UndefinedPrimal, second = inputs[1] instanceof UndefinedPrimal;
  if (first === second) {
    throw new Error(`${op}: transpose needs exactly one linear operand (it is bilinear)`);
  }
  return first ? 0 : 1;
}

// ---- batching ---------------------------------------------------------------------------
// The batch axis B is folded into the image axis N where one operand carries it alone, and
// otherwise into the feature groups (B·G groups, example b's channels next to each other),
// as `conv_general_dilated`'s own batch rule does.

// A batched operand moved to axis 0 with its (B, *shape) reshaped to (0, *result): the empty
// result of an empty batch.
function emptyBatch(x: Tensor, dim: number, result: number[]): [Tensor[], number[]] {
  return [[bind1(reshape, [moveAxis(x, dim, 0)], { shape: [0, ...result] })], [0]];
}

// (…, C, …) at `axis` with C = G·k: (B, …) moved to `axis`, then per group g example b's k
// channels: (…, G·B·k, …). Used to put an example's channels inside each feature group.
function interleaveGroups(x: Tensor, dim: number, axis: number, g: number): Tensor {
  const moved = moveAxis(x, dim, axis); // (…, B, C, …)
  const k = moved.shape[axis + 1] / g;
  const split = splitAxis(moved, axis + 1, g, k); // (…, B, G, k, …)
  return mergeAxes(mergeAxes(swapAdjacent(split, axis), axis), axis); // (…, G·B·k, …)
}

// (…, G·B·k, …) at `axis` back to (…, B, G·k, …): the inverse of interleaveGroups.
function deinterleaveGroups(y: Tensor, axis: number, g: number, size: number): Tensor {
  const k = y.shape[axis] / (g * size);
  const split = splitAxis(splitAxis(y, axis, g, size * k), axis + 1, size, k); // (…, G, B, k, …)
  return mergeAxes(swapAdjacent(split, axis), axis + 1); // (…, B, G·k, …)
}

function convGradLhsBatch(
  [ct, w]: Tensor[],
  [cd, wd]: (number | null)[],
  p: ConvGradLhsParams,
  size: number,
): [Tensor[], (number | null)[]] {
  const g = p.featureGroupCount, cp = convParamsOf(p);
  const [n, c, ...spatial] = p.lhsShape;
  if (size === 0) return emptyBatch(cd !== null ? ct : w, (cd ?? wd)!, p.lhsShape);
  if (wd === null) {
    // (B, N, O, *out) -> (B·N, O, *out); dx (B·N, C, *sp) -> (B, N, C, *sp)
    const lhsShape = [size * n, c, ...spatial];
    const y = bind1(convGradLhs, [mergeAxes(moveAxis(ct, cd!, 0), 0), w], { ...cp, lhsShape });
    return [[splitAxis(y, 0, size, n)], [0]];
  }
  if (cd === null) {
    // w (B, O, C/G, *win) -> (O, B·C/G, *win): example b's channels inside each group
    const r = mergeAxes(moveAxis(w, wd, 1), 1);
    const lhsShape = [n, size * c, ...spatial];
    const y = bind1(convGradLhs, [ct, r], { ...cp, lhsShape }); // (N, G·B·C/G, *sp)
    return [[deinterleaveGroups(y, 1, g, size)], [1]];
  }
  // both: ct (N, B·O, *out), w (B·O, C/G, *win) with B·G groups; dx (N, B·C, *sp)
  const l = mergeAxes(moveAxis(ct, cd, 1), 1);
  const r = mergeAxes(moveAxis(w, wd, 0), 0);
  const lhsShape = [n, size * c, ...spatial];
  const y = bind1(convGradLhs, [l, r], { ...cp, featureGroupCount: size * g, lhsShape });
  return [[splitAxis(y, 1, size, c)], [1]];
}

function convGradRhsBatch(
  [x, ct]: Tensor[],
  [xd, cd]: (number | null)[],
  p: ConvGradRhsParams,
  size: number,
): [Tensor[], (number | null)[]] {
  const g = p.featureGroupCount, cp = convParamsOf(p);
  const [o, cg, ...window] = p.rhsShape;
  if (size === 0) return emptyBatch(xd !== null ? x : ct, (xd ?? cd)!, p.rhsShape);
  if (xd !== null && cd !== null) {
    // x (N, B·C, *sp), ct (N, B·O, *out) with B·G groups; dw (B·O, C/G, *win)
    const l = mergeAxes(moveAxis(x, xd, 1), 1), r = mergeAxes(moveAxis(ct, cd, 1), 1);
    const rhsShape = [size * o, cg, ...window];
    const y = bind1(convGradRhs, [l, r], { ...cp, featureGroupCount: size * g, rhsShape });
    return [[splitAxis(y, 0, size, o)], [0]];
  }
  if (xd !== null) {
    // x (N, G·B·C/G, *sp): dw (O, B·C/G, *win) holds example b's channels side by side
    const rhsShape = [o, size * cg, ...window];
    const y = bind1(convGradRhs, [interleaveGroups(x, xd, 1, g), ct], {
      ...cp,
      rhsShape,
    });
    return [[splitAxis(y, 1, size, cg)], [1]];
  }
  // ct (N, G·B·O/G, *out): dw (G·B·O/G, C/G, *win) -> (B, O, C/G, *win)
  const rhsShape = [size * o, cg, ...window];
  const y = bind1(convGradRhs, [x, interleaveGroups(ct, cd!, 1, g)], {
    ...cp,
    rhsShape,
  });
  return [[deinterleaveGroups(y, 0, g, size)], [0]];
}

// ---- the primitives ---------------------------------------------------------------------

/**
 * The cotangent of `conv_general_dilated`'s lhs: operands (ct, rhs), ct of the convolution's
 * output shape (N, O, *out), rhs (O, C/groups, *window); output `lhsShape` (N, C, *spatial).
 * Transposes: wrt ct, the convolution of the cotangent with rhs; wrt rhs, `conv_grad_rhs`.
 */
export const convGradLhs: Primitive<ConvGradLhsParams> = new Primitive<ConvGradLhsParams>(
  "conv_grad_lhs",
  {
    abstractEval([ct, rhs], params) {
      return [gradAval("conv_grad_lhs", rhs, ct, params.lhsShape, "lhs", params)];
    },
    impl([ct, w], [cta, ra], params, [out]) {
      const conv = convParamsOf(params);
      return [asDtype(gradReference("lhs", w, ct, out.shape, ra.shape, conv, cta.shape), out)];
    },
    ...bilinearJvp(() => convGradLhs),
    transpose([u], inputs, params) {
      const linear = linearOperand("conv_grad_lhs", inputs);
      if (sizeOf(u.shape) === 0) return [null, null];
      const p = convParamsOf(params);
      if (linear === 0) return [bind1(conv, [u, inputs[1] as Tensor], p), null];
      const rhsShape = [...(inputs[1] as UndefinedPrimal).aval.shape];
      return [null, bind1(convGradRhs, [u, inputs[0] as Tensor], { ...p, rhsShape })];
    },
    batch: convGradLhsBatch,
  },
);

/**
 * The cotangent of `conv_general_dilated`'s rhs: operands (lhs, ct), lhs (N, C, *spatial), ct
 * of the convolution's output shape (N, O, *out); output `rhsShape` (O, C/groups, *window).
 * Transposes: wrt lhs, `conv_grad_lhs`; wrt ct, the convolution of lhs with the cotangent.
 */
export const convGradRhs: Primitive<ConvGradRhsParams> = new Primitive<ConvGradRhsParams>(
  "conv_grad_rhs",
  {
    abstractEval([lhs, ct], params) {
      return [gradAval("conv_grad_rhs", lhs, ct, params.rhsShape, "rhs", params)];
    },
    impl([x, ct], [la, cta], params, [out]) {
      const conv = convParamsOf(params);
      return [asDtype(gradReference("rhs", x, ct, la.shape, out.shape, conv, cta.shape), out)];
    },
    ...bilinearJvp(() => convGradRhs),
    transpose([v], inputs, params) {
      const linear = linearOperand("conv_grad_rhs", inputs);
      if (sizeOf(v.shape) === 0) return [null, null];
      const p = convParamsOf(params);
      if (linear === 1) return [null, bind1(conv, [inputs[0] as Tensor, v], p)];
      const lhsShape = [...(inputs[0] as UndefinedPrimal).aval.shape];
      return [bind1(convGradLhs, [inputs[1] as Tensor, v], { ...p, lhsShape }), null];
    },
    batch: convGradRhsBatch,
  },
);
