/**
 * `dot_general`: XLA's general tensor contraction. Output axes are the batch axes, then the
 * lhs free axes, then the rhs free axes. Devices run it as a batched matmul after moving the
 * axes into (batch, m, k) × (batch, k, n) order; `dotGeneralPlan` says how.
 * @module
 */

import { allocate, dtypeOfStorage, type TypedArray } from "../dtype.ts";
import { add } from "../numpy/elementwise.ts";
import { type Aval, Primitive, UndefinedPrimal } from "../primitive.ts";
import { fmtShape, type Shape, sizeOf, stridesOf } from "../shape.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { shiftAxes, transpose as transposePrim } from "./structure.ts";

/**
 * How precisely float32 matmuls may compute where a device has a faster, less precise way
 * (JAX's `precision`): `"highest"` is float32 throughout (Kiln's default, and PyTorch's);
 * `"high"` and `"default"` let cuBLAS use TF32 tensor cores (inputs rounded to a 10-bit
 * mantissa, float32 accumulation), as JAX does on GPUs by default. The CPU always computes in
 * float32.
 */
export type MatmulPrecision = "default" | "high" | "highest";

/** The precisions {@link MatmulPrecision} names. */
export const MATMUL_PRECISIONS: readonly MatmulPrecision[] = ["default", "high", "highest"];

/** Parameters of {@link dotGeneral}: contracting and batch axes of each operand. */
export interface DotGeneralParams {
  lhsContracting: number[];
  rhsContracting: number[];
  lhsBatch: number[];
  rhsBatch: number[];
  /** Absent: `"highest"`. Derived products (gradients, batching) keep it. */
  precision?: MatmulPrecision;
}

let defaultPrecision: MatmulPrecision | undefined;

/**
 * The precision of matmuls that do not name one: `setDefaultMatmulPrecision`, else
 * `KILN_MATMUL_PRECISION`, else `"highest"`.
 *
 * @throws RangeError when `KILN_MATMUL_PRECISION` names no precision.
 */
export function defaultMatmulPrecision(): MatmulPrecision {
  if (defaultPrecision === undefined) {
    let raw: string | undefined;
    try {
      raw = Deno.env.get("KILN_MATMUL_PRECISION") || undefined;
    } catch {
      raw = undefined; // no --allow-env
    }
    defaultPrecision = checkPrecision("KILN_MATMUL_PRECISION", raw ?? "highest");
  }
  return defaultPrecision;
}

/** Sets the precision of matmuls that do not name one (JAX's `jax_default_matmul_precision`). */
export function setDefaultMatmulPrecision(precision: MatmulPrecision): void {
  defaultPrecision = checkPrecision("setDefaultMatmulPrecision", precision);
}

/** `precision` when it is one, else a RangeError naming `where` and the choices. */
export function checkPrecision(where: string, precision: unknown): MatmulPrecision {
  if (!MATMUL_PRECISIONS.includes(precision as MatmulPrecision)) {
    throw new RangeError(
      `${where}: matmul precision must be one of ${MATMUL_PRECISIONS.join(", ")}, got ${
        JSON.stringify(precision)
      }`,
    );
  }
  return precision as MatmulPrecision;
}

/**
 * The precision entry of a new product's params: `precision` (or the default) unless it is
 * `"highest"`, which params leave implicit (so graphs without a setting stay as they were).
 */
export function precisionParam(
  precision: MatmulPrecision | undefined,
  where: string,
): { precision?: MatmulPrecision } {
  const p = precision === undefined ? defaultMatmulPrecision() : checkPrecision(where, precision);
  return p === "highest" ? {} : { precision: p };
}

/** `dims` with the precision of `from`, for a product derived from another. */
function samePrecision(dims: DotGeneralParams, from: DotGeneralParams): DotGeneralParams {
  return from.precision === undefined ? dims : { ...dims, precision: from.precision };
}

/** How to run a dot_general as a batched matmul. */
export interface DotPlan {
  /** Permutation bringing lhs to (batch…, free…, contracting…). */
  lhsPerm: number[];
  /** Permutation bringing rhs to (batch…, contracting…, free…). */
  rhsPerm: number[];
  batch: number;
  m: number;
  n: number;
  k: number;
  outShape: number[];
}

// The error for invalid dot_general axes, naming the shapes and the axes.
function planError(lhs: Shape, rhs: Shape, p: DotGeneralParams, why: string): RangeError {
  return new RangeError(
    `dot_general: ${why} (lhs ${fmtShape(lhs)}, rhs ${fmtShape(rhs)}, contracting ${
      JSON.stringify([p.lhsContracting, p.rhsContracting])
    }, batch ${JSON.stringify([p.lhsBatch, p.rhsBatch])})`,
  );
}

// Marks `axes` (in range) in `used`, or says that one is used twice.
function markAxes(axes: number[], used: boolean[]): string | null {
  for (const a of axes) {
    if (used[a]) return "an axis is used twice";
    used[a] = true;
  }
  return null;
}

// The first axis out of [0, ndim), if any.
function outOfRange(axes: number[], ndim: number): number | null {
  for (const a of axes) if (!(a >= 0 && a < ndim)) return a;
  return null;
}

/**
 * Validates dot_general's axes and derives the matmul plan. Plain loops: this runs twice per
 * eager matmul (abstractEval and the kernel), so on small products it is the call's cost.
 */
export function dotGeneralPlan(lhs: Shape, rhs: Shape, p: DotGeneralParams): DotPlan {
  // range errors first, then counts, then duplicates, then sizes
  const bad = outOfRange(p.lhsContracting, lhs.length) ?? outOfRange(p.lhsBatch, lhs.length) ??
    outOfRange(p.rhsContracting, rhs.length) ?? outOfRange(p.rhsBatch, rhs.length);
  if (bad !== null) throw planError(lhs, rhs, p, `axis ${bad} out of range`);
  if (p.lhsContracting.length !== p.rhsContracting.length) {
    throw planError(lhs, rhs, p, "contracting axes differ in count");
  }
  if (p.lhsBatch.length !== p.rhsBatch.length) {
    throw planError(lhs, rhs, p, "batch axes differ in count");
  }
  const lhsUsed: boolean[] = [], rhsUsed: boolean[] = [];
  const why = markAxes(p.lhsBatch, lhsUsed) ?? markAxes(p.lhsContracting, lhsUsed) ??
    markAxes(p.rhsBatch, rhsUsed) ?? markAxes(p.rhsContracting, rhsUsed);
  if (why !== null) throw planError(lhs, rhs, p, why);
  let k = 1, batch = 1, m = 1, n = 1;
  const outShape: number[] = [];
  for (let i = 0; i < p.lhsContracting.length; i++) {
    const size = lhs[p.lhsContracting[i]];
    if (size !== rhs[p.rhsContracting[i]]) {
      throw planError(lhs, rhs, p, "contracting axes differ in size");
    }
    k *= size;
  }
  for (let i = 0; i < p.lhsBatch.length; i++) {
    const size = lhs[p.lhsBatch[i]];
    if (size !== rhs[p.rhsBatch[i]]) throw planError(lhs, rhs, p, "batch axes differ in size");
    batch *= size;
    outShape.push(size);
  }
  const lhsPerm = [...p.lhsBatch], rhsPerm = [...p.rhsBatch, ...p.rhsContracting];
  for (let a = 0; a < lhs.length; a++) {
    if (!lhsUsed[a]) lhsPerm.push(a), outShape.push(lhs[a]), m *= lhs[a];
  }
  for (const a of p.lhsContracting) lhsPerm.push(a);
  for (let a = 0; a < rhs.length; a++) {
    if (!rhsUsed[a]) rhsPerm.push(a), outShape.push(rhs[a]), n *= rhs[a];
  }
  return { lhsPerm, rhsPerm, batch, m, n, k, outShape };
}

/** Reference batched matmul: a (batch, m, k) × b (batch, k, n), accumulating in float64. */
export function matmulReference(
  a: TypedArray,
  b: TypedArray,
  out: TypedArray,
  batch: number,
  m: number,
  n: number,
  k: number,
): void {
  const row = new Float64Array(n);
  for (let bi = 0; bi < batch; bi++) {
    for (let i = 0; i < m; i++) {
      row.fill(0);
      for (let kk = 0; kk < k; kk++) {
        const av = a[bi * m * k + i * k + kk];
        const bOff = bi * k * n + kk * n;
        for (let j = 0; j < n; j++) row[j] += av * b[bOff + j];
      }
      const oOff = bi * m * n + i * n;
      for (let j = 0; j < n; j++) out[oOff + j] = row[j];
    }
  }
}

/** Permutes host data (reference helper). */
export function permuteHost(x: TypedArray, shape: Shape, perm: number[]): TypedArray {
  const y = allocate(dtypeOfStorage(x), x.length);
  const inStrides = stridesOf(shape);
  const outShape = perm.map((p) => shape[p]);
  const idx = new Array<number>(shape.length).fill(0);
  for (let e = 0; e < x.length; e++) {
    let src = 0;
    for (let i = 0; i < perm.length; i++) src += idx[i] * inStrides[perm[i]];
    y[e] = x[src];
    for (let i = outShape.length - 1; i >= 0; i--) {
      if (++idx[i] < outShape[i]) break;
      idx[i] = 0;
    }
  }
  return y;
}

/** General contraction (see module docs); operands share a numeric dtype. */
export const dotGeneral: Primitive<DotGeneralParams> = new Primitive("dot_general", {
  abstractEval([lhs, rhs], params) {
    if (lhs.dtype !== rhs.dtype || lhs.dtype === "bool") {
      throw new TypeError(
        `dot_general: operands must share a numeric dtype, got ${lhs.dtype} and ${rhs.dtype}`,
      );
    }
    const plan = dotGeneralPlan(lhs.shape, rhs.shape, params);
    return [{ shape: plan.outShape, dtype: lhs.dtype, weak: lhs.weak && rhs.weak }];
  },
  impl([lhs, rhs], [la, ra]: Aval[], params, [out]) {
    const plan = dotGeneralPlan(la.shape, ra.shape, params);
    const a = permuteHost(lhs, la.shape, plan.lhsPerm);
    const b = permuteHost(rhs, ra.shape, plan.rhsPerm);
    const y = allocate(out.dtype, sizeOf(plan.outShape));
    if (out.dtype === "int32" || out.dtype === "uint32") {
      intMatmul(a, b, y, plan.batch, plan.m, plan.n, plan.k);
    } else matmulReference(a, b, y, plan.batch, plan.m, plan.n, plan.k);
    return [y];
  },
  // bilinear: d(a·b) = da·b + a·db, skipping the term of a zero (null) tangent
  jvpAcceptsZeros: true,
  jvp([a, b], [ta, tb], params) {
    const out = bind1(dotGeneral, [a, b], params);
    const left = ta === null ? null : bind1(dotGeneral, [ta, b], params);
    const right = tb === null ? null : bind1(dotGeneral, [a, tb], params);
    const tangent = left !== null && right !== null ? add(left, right) : left ?? right;
    return [[out], [tangent]];
  },
  transpose([ct], [a, b], params) {
    if (a instanceof UndefinedPrimal && b instanceof UndefinedPrimal) {
      throw new Error("dot_general: cannot transpose with respect to both operands (not linear)");
    }
    if (a instanceof UndefinedPrimal) {
      return [dotTransposeLhs(ct, a.aval.shape.length, b as Tensor, params, false), null];
    }
    if (b instanceof UndefinedPrimal) {
      const swapped: DotGeneralParams = samePrecision({
        lhsContracting: params.rhsContracting,
        rhsContracting: params.lhsContracting,
        lhsBatch: params.rhsBatch,
        rhsBatch: params.lhsBatch,
      }, params);
      return [null, dotTransposeLhs(ct, b.aval.shape.length, a, swapped, true)];
    }
    return [null, null];
  },
  batch: dotGeneralBatch,
});

/**
 * Batching rule of dot_general (JAX's `_dot_general_batch_dim_nums`), never a transpose:
 * both operands batched, the batch axes pair up as a new leading batch dimension; one
 * batched, its batch axis is one more free axis, and the output has it among that operand's
 * free axes (output axes: batch, lhs free, rhs free, each in increasing axis order).
 */
function dotGeneralBatch(
  [lhs, rhs]: Tensor[],
  [lbd, rbd]: (number | null)[],
  p: DotGeneralParams,
): [Tensor[], (number | null)[]] {
  const shiftL = (axes: number[]) => (lbd === null ? axes : shiftAxes(axes, lbd));
  const shiftR = (axes: number[]) => (rbd === null ? axes : shiftAxes(axes, rbd));
  const params: DotGeneralParams = samePrecision({
    lhsContracting: shiftL(p.lhsContracting),
    rhsContracting: shiftR(p.rhsContracting),
    lhsBatch: shiftL(p.lhsBatch),
    rhsBatch: shiftR(p.rhsBatch),
  }, p);
  if (lbd !== null && rbd !== null) {
    params.lhsBatch.unshift(lbd);
    params.rhsBatch.unshift(rbd);
    return [[bind1(dotGeneral, [lhs, rhs], params)], [0]];
  }
  const nb = params.lhsBatch.length;
  const lhsFree = remaining(lhs.ndim, params.lhsContracting, params.lhsBatch);
  let out: number;
  if (lbd !== null) out = nb + lhsFree.indexOf(lbd);
  else {
    const rhsFree = remaining(rhs.ndim, params.rhsContracting, params.rhsBatch);
    out = nb + lhsFree.length + rhsFree.indexOf(rbd!);
  }
  return [[bind1(dotGeneral, [lhs, rhs], params)], [out]];
}

/** `[0, n)` without `a` and `b`'s entries, in order. */
function remaining(n: number, a: number[], b: number[]): number[] {
  return [...Array(n).keys()].filter((i) => !a.includes(i) && !b.includes(i));
}

/**
 * The cotangent of dot_general's lhs (JAX's `_dot_general_transpose_lhs`): contract the
 * output cotangent with the rhs over the rhs free axes, then put the axes back in lhs order.
 * With `swapAns` the roles are swapped (for the rhs cotangent, whose free axes come last in
 * the output).
 */
function dotTransposeLhs(
  ct: Tensor,
  xNdim: number,
  y: Tensor,
  params: DotGeneralParams,
  swapAns: boolean,
): Tensor {
  const { lhsContracting: xContract, rhsContracting: yContract, lhsBatch: xBatch } = params;
  const yBatch = params.rhsBatch;
  const xKept = remaining(xNdim, xContract, xBatch);
  const yKept = remaining(y.shape.length, yContract, yBatch);
  const nb = xBatch.length;
  const ansBatch = [...Array(nb).keys()];
  // output axes: batch, lhs free, rhs free (for the swapped call, y's free axes come first)
  const yStart = swapAns ? nb : nb + xKept.length;
  const ansY = yKept.map((_, i) => yStart + i);
  const dims: DotGeneralParams = samePrecision({
    lhsContracting: ansY,
    rhsContracting: yKept,
    lhsBatch: ansBatch,
    rhsBatch: yBatch,
  }, params);
  // result axes: x batch, x kept, then x contracting ordered as y's contracting axes appear
  // among y's remaining (ascending) axes
  const order = yContract.map((_, i) => i).sort((i, j) => yContract[i] - yContract[j]);
  const xContractSortedByY = order.map((i) => xContract[i]);
  const permFor = (resultAxes: number[]) => {
    const perm = new Array<number>(xNdim);
    resultAxes.forEach((axis, i) => (perm[axis] = i));
    return perm;
  };
  const isIdentity = (perm: number[]) => perm.every((p, i) => p === i);
  const perm = permFor([...xBatch, ...xKept, ...xContractSortedByY]);
  if (!isIdentity(perm)) {
    // y · ct puts x's contracting axes first; when that is x's own layout (the weight of
    // x @ W, say) it saves materializing a transpose of the gradient
    const swappedPerm = permFor([...xBatch, ...xContractSortedByY, ...xKept]);
    if (isIdentity(swappedPerm)) {
      const swapped: DotGeneralParams = samePrecision({
        lhsContracting: yKept,
        rhsContracting: ansY,
        lhsBatch: yBatch,
        rhsBatch: ansBatch,
      }, params);
      return bind1(dotGeneral, [y, ct], swapped);
    }
  }
  const prod = bind1(dotGeneral, [ct, y], dims);
  return isIdentity(perm) ? prod : bind1(transposePrim, [prod], { perm });
}

// integer matmul with 32-bit wraparound, as the C kernels
function intMatmul(
  a: TypedArray,
  b: TypedArray,
  out: TypedArray,
  batch: number,
  m: number,
  n: number,
  k: number,
) {
  for (let bi = 0; bi < batch; bi++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let kk = 0; kk < k; kk++) {
          acc = (acc + Math.imul(a[bi * m * k + i * k + kk], b[bi * k * n + kk * n + j])) | 0;
        }
        out[bi * m * n + i * n + j] = acc;
      }
    }
  }
}
