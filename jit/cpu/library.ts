/**
 * Library calls: primitives that the generated C runs through the precompiled kernel library
 * (kernels/README.md) instead of a fused loop: dot_general (kiln_matmul, transposed operands
 * passed as flags), 1-D/2-D convolutions and their gradients, window reductions and their
 * derivatives (select_and_gather_add / select_and_scatter_add), arg-reductions, cumulative
 * scans, gathers and scatters along an axis, pad and concatenate (fill + strided copies).
 * @module
 */

import { ITEMSIZE, TYPE_CODE } from "../../core/dtype.ts";
import type { Atom, Eqn } from "../../core/graph.ts";
import type { ConvParams } from "../../core/prims/conv.ts";
import { type DotGeneralParams, dotGeneralPlan } from "../../core/prims/dot.ts";
import { splitAt } from "../../core/prims/reduce.ts";
import { type PadParams, padPlacement } from "../../core/prims/structure.ts";
import type { ReduceWindowParams } from "../../core/prims/window.ts";
import { sizeOf, stridesOf } from "../../core/shape.ts";
import type { ConvGradLhsParams, ConvGradRhsParams } from "../../core/prims/conv_grad.ts";
import { conv2dParams, convGradParams, reduceWindowPackedParams } from "../../ffi/cpu_ops/conv.ts";
import { CTYPE } from "./scalar_ops.ts";

/** Prototypes of the kernel-library functions the generated code may call. */
export const LIBRARY_PROTOTYPES = `
void kiln_strided_copy(int64_t bytes, int64_t ndim, const int64_t* shape, const void* src,
  int64_t src_offset, const int64_t* src_strides, void* dst, int64_t dst_offset,
  const int64_t* dst_strides);
#define KJ_INDEXED(name) \
  void name(int64_t, int64_t, int64_t, int64_t, const int32_t*, const void*, void*);
KJ_INDEXED(kiln_take_1) KJ_INDEXED(kiln_take_2) KJ_INDEXED(kiln_take_4) KJ_INDEXED(kiln_take_8)
KJ_INDEXED(kiln_scatter_set_1) KJ_INDEXED(kiln_scatter_set_2) KJ_INDEXED(kiln_scatter_set_4)
KJ_INDEXED(kiln_scatter_set_8)
#define KJ_SCATTER_ADD(tc, T) \
  void kiln_scatter_add_##tc(int64_t, int64_t, int64_t, int64_t, const int32_t*, const T*, T*); \
  void kiln_scatter_mul_##tc(int64_t, int64_t, int64_t, int64_t, const int32_t*, const T*, T*); \
  void kiln_scatter_min_##tc(int64_t, int64_t, int64_t, int64_t, const int32_t*, const T*, T*); \
  void kiln_scatter_max_##tc(int64_t, int64_t, int64_t, int64_t, const int32_t*, const T*, T*);
KILN_NUMERIC_TYPES(KJ_SCATTER_ADD)
#define KJ_DECL(tc, T) \\
  void kiln_argmax_##tc(int64_t, int64_t, int64_t, const T*, int32_t*); \\
  void kiln_argmin_##tc(int64_t, int64_t, int64_t, const T*, int32_t*); \\
  void kiln_cumsum_##tc(int64_t, int64_t, int64_t, int32_t, const T*, T*); \\
  void kiln_cumprod_##tc(int64_t, int64_t, int64_t, int32_t, const T*, T*); \\
  void kiln_cummax_##tc(int64_t, int64_t, int64_t, int32_t, const T*, T*); \\
  void kiln_cummin_##tc(int64_t, int64_t, int64_t, int32_t, const T*, T*); \\
  void kiln_reduce_window_max_##tc(int64_t, const int64_t*, const T*, T*); \\
  void kiln_reduce_window_sum_##tc(int64_t, const int64_t*, const T*, T*);
KILN_NUMERIC_TYPES(KJ_DECL)
#define KJ_WINDOW_GRAD_DECL(tc, T) \\
  void kiln_select_and_gather_add_##tc(int64_t, const int64_t*, const T*, const T*, T*); \\
  void kiln_select_and_scatter_add_##tc(int64_t, const int64_t*, const T*, const T*, T*);
KILN_NUMERIC_TYPES(KJ_WINDOW_GRAD_DECL)
void kiln_matmul_i32(int64_t, int64_t, int64_t, int64_t, const int32_t*, int32_t, const int32_t*, int32_t, int32_t*);
void kiln_matmul_u32(int64_t, int64_t, int64_t, int64_t, const uint32_t*, int32_t, const uint32_t*, int32_t, uint32_t*);
void kiln_conv2d_f32(const int64_t*, const float*, const float*, float*);
void kiln_conv2d_f64(const int64_t*, const double*, const double*, double*);
void kiln_conv2d_grad_lhs_f32(const int64_t*, const float*, const float*, float*);
void kiln_conv2d_grad_lhs_f64(const int64_t*, const double*, const double*, double*);
void kiln_conv2d_grad_rhs_f32(const int64_t*, const float*, const float*, float*);
void kiln_conv2d_grad_rhs_f64(const int64_t*, const double*, const double*, double*);
`;

const isIdentity = (perm: number[]) => perm.every((p, i) => p === i);

/** How a dot_general runs as a matmul: operands needing a transposed copy get a perm. */
export interface DotLayout {
  batch: number;
  m: number;
  n: number;
  k: number;
  /** Per operand: the flag, or the permutation to copy it into (flag 0 then). */
  operands: { trans: number; perm: number[] | null }[];
}

/** The matmul layout of a dot_general. */
export function dotLayout(eqn: Eqn): DotLayout {
  const p = eqn.params as unknown as DotGeneralParams;
  const [la, ra] = eqn.inputs.map((a) => a.aval);
  const plan = dotGeneralPlan(la.shape, ra.shape, p);
  const nb = p.lhsBatch.length;
  const lhsFree = plan.lhsPerm.slice(nb, plan.lhsPerm.length - p.lhsContracting.length);
  const rhsFree = plan.rhsPerm.slice(nb + p.rhsContracting.length);
  const choose = (wanted: number[], alt: number[]) =>
    isIdentity(wanted)
      ? { trans: 0, perm: null }
      : isIdentity(alt)
      ? { trans: 1, perm: null }
      : { trans: 0, perm: wanted };
  return {
    batch: plan.batch,
    m: plan.m,
    n: plan.n,
    k: plan.k,
    operands: [
      choose(plan.lhsPerm, [...p.lhsBatch, ...p.lhsContracting, ...lhsFree]),
      choose(plan.rhsPerm, [...p.rhsBatch, ...rhsFree, ...p.rhsContracting]),
    ],
  };
}

/** Whether `eqn` runs as a library call from generated C. */
export function canCall(eqn: Eqn): boolean {
  const name = eqn.prim.name;
  const dt = eqn.inputs[0]?.aval.dtype;
  switch (name) {
    case "dot_general":
      return dt !== "bool";
    case "pad":
    case "concatenate":
    case "dynamic_slice":
    case "dynamic_update_slice":
      return true;
    case "argmax":
    case "argmin":
    case "cumsum":
    case "cumprod":
    case "cummax":
    case "cummin":
      return dt !== "bool";
    case "conv_general_dilated": {
      const [l, r] = eqn.inputs.map((a) => a.aval.shape);
      const out = eqn.outputs[0].aval.shape;
      return (dt === "float32" || dt === "float64") &&
        conv2dParams(l, r, out, eqn.params as unknown as ConvParams) !== null;
    }
    case "conv_grad_lhs":
    case "conv_grad_rhs":
      return (dt === "float32" || dt === "float64") && convGradPacked(eqn) !== null;
    case "reduce_window_max":
    case "reduce_window_sum": {
      const s = eqn.inputs[0].aval.shape;
      return dt !== "bool" && s.length > 0 && sizeOf(s) > 0;
    }
    case "select_and_gather_add":
    case "select_and_scatter_add":
      return dt === "float32" || dt === "float64" || dt === "int32" || dt === "uint32";
    // gathers and scatters along an axis (int32 indices, already clamped or validated by the
    // NumPy/lax layer, as in eager mode); scatter_add has kernels for the numeric types only
    case "take":
    case "scatter":
      return eqn.inputs[1].aval.dtype === "int32";
    case "scatter_add":
    case "scatter_mul":
    case "scatter_min":
    case "scatter_max":
      return eqn.inputs[1].aval.dtype === "int32" &&
        (dt === "float32" || dt === "float64" || dt === "int32" || dt === "uint32");
  }
  return false;
}

// The kiln_conv2d_<t> parameters of a conv_grad_lhs / conv_grad_rhs equation, or null.
function convGradPacked(eqn: Eqn): BigInt64Array | null {
  return convGradParams(
    eqn.prim.name as "conv_grad_lhs" | "conv_grad_rhs",
    eqn.inputs.map((a) => a.aval.shape),
    eqn.outputs[0].aval.shape,
    eqn.params as unknown as ConvGradLhsParams | ConvGradRhsParams,
  );
}

let arrays = 0;
const int64s = (xs: readonly (number | bigint)[]) =>
  `static const int64_t kj_p${arrays++}[${Math.max(1, xs.length)}] = {${
    xs.length ? xs.join(", ") : "0"
  }};`;
const lastArray = () => `kj_p${arrays - 1}`;

/**
 * The C statements of a library call. `ref(atom)` names an operand's pointer; `out` names
 * the output's pointer(s).
 */
export function callC(
  eqn: Eqn,
  ref: (a: Atom) => string,
  outs: string[],
  layout?: DotLayout,
): string {
  const name = eqn.prim.name;
  const x = eqn.inputs[0];
  const out = eqn.outputs[0].aval;
  const size = sizeOf(out.shape);
  const T = CTYPE[out.dtype];
  const tc = TYPE_CODE[x?.aval.dtype ?? out.dtype];
  const [o] = outs;
  const bytes = ITEMSIZE[out.dtype];
  const lines: string[] = [];
  const copy = (
    shape: number[],
    src: string,
    so: number | string,
    ss: number[],
    dO: number | string,
    ds: number[],
  ) => {
    if (sizeOf(shape) === 0) return;
    lines.push(int64s(shape));
    const a = lastArray();
    lines.push(int64s(ss));
    const b = lastArray();
    lines.push(int64s(ds));
    lines.push(
      `kiln_strided_copy(${bytes}, ${shape.length}, ${a}, ${src}, ${so}, ${b}, ${o}, ${dO}, ${lastArray()});`,
    );
  };
  switch (name) {
    case "dot_general": {
      const l = layout!;
      if (size === 0) break;
      if (l.k === 0) lines.push(`memset(${o}, 0, ${size * bytes});`);
      else {
        const [a, b] = eqn.inputs.map(ref);
        lines.push(
          `kiln_matmul_${TYPE_CODE[out.dtype]}(${l.batch}, ${l.m}, ${l.n}, ${l.k}, ${a}, ${
            l.operands[0].trans
          }, ${b}, ${l.operands[1].trans}, ${o});`,
        );
      }
      break;
    }
    case "pad": {
      const value = `${ref(eqn.inputs[1])}[0]`;
      lines.push(`{ const ${T} v = ${value}; for (int64_t i = 0; i < ${size}; i++) ${o}[i] = v; }`);
      const box = padPlacement(x.aval.shape, eqn.params as unknown as PadParams, out.shape);
      if (box) {
        copy(box.shape, ref(x), box.srcOffset, box.srcStrides, box.dstOffset, box.dstStrides);
      }
      break;
    }
    case "concatenate": {
      const axis = (eqn.params as { axis: number }).axis;
      const os = stridesOf(out.shape);
      let offset = 0;
      for (const a of eqn.inputs) {
        const shape = [...a.aval.shape];
        copy(shape, ref(a), 0, stridesOf(shape), offset * os[axis], os);
        offset += shape[axis];
      }
      break;
    }
    case "dynamic_slice":
    case "dynamic_update_slice": {
      // the element offset of the box at the clamped start indices (read at run time)
      const update = name === "dynamic_update_slice";
      const xs = x.aval.shape, box = update ? eqn.inputs[1].aval.shape : out.shape;
      const st = stridesOf(xs);
      const starts = eqn.inputs.slice(update ? 2 : 1);
      lines.push(`{`, `int64_t off = 0;`);
      starts.forEach((a, i) => {
        const hi = xs[i] - box[i];
        const clamped = `(s < 0 ? 0 : s > ${hi} ? ${hi} : s)`;
        lines.push(`{ const int64_t s = (int64_t)${ref(a)}[0]; off += ${clamped} * ${st[i]}; }`);
      });
      if (update) {
        if (size > 0) lines.push(`memcpy(${o}, ${ref(x)}, ${size * bytes});`);
        copy([...box], ref(eqn.inputs[1]), 0, stridesOf(box), "off", st);
      } else copy([...box], ref(x), "off", st, 0, stridesOf(box));
      lines.push(`(void)off;`, `}`);
      break;
    }
    case "argmax":
    case "argmin":
    case "cumsum":
    case "cumprod":
    case "cummax":
    case "cummin": {
      if (sizeOf(x.aval.shape) === 0) break;
      const p = eqn.params as { axis: number; reverse?: boolean };
      const [outer, len, inner] = splitAt(x.aval.shape, p.axis);
      const rev = name.startsWith("cum") ? `${p.reverse ? 1 : 0}, ` : "";
      lines.push(`kiln_${name}_${tc}(${outer}, ${len}, ${inner}, ${rev}${ref(x)}, ${o});`);
      break;
    }
    case "conv_general_dilated": {
      const [l, r] = eqn.inputs.map((a) => a.aval.shape);
      if (size === 0) break;
      if (sizeOf(l) === 0 || sizeOf(r) === 0) {
        lines.push(`memset(${o}, 0, ${size * bytes});`);
        break;
      }
      const packed = conv2dParams(l, r, out.shape, eqn.params as unknown as ConvParams)!;
      lines.push(int64s([...packed]));
      lines.push(`kiln_conv2d_${tc}(${lastArray()}, ${ref(x)}, ${ref(eqn.inputs[1])}, ${o});`);
      break;
    }
    case "conv_grad_lhs":
    case "conv_grad_rhs": {
      if (size === 0) break;
      if (eqn.inputs.some((a) => sizeOf(a.aval.shape) === 0)) {
        lines.push(`memset(${o}, 0, ${size * bytes});`);
        break;
      }
      lines.push(int64s([...convGradPacked(eqn)!]));
      const [a, b] = eqn.inputs.map(ref);
      lines.push(`kiln_conv2d_${name.slice(5)}_${tc}(${lastArray()}, ${a}, ${b}, ${o});`);
      break;
    }
    case "take": {
      if (size === 0) break;
      const [outer, len, inner] = splitAt(x.aval.shape, (eqn.params as { axis: number }).axis);
      const nidx = sizeOf(eqn.inputs[1].aval.shape);
      lines.push(
        `kiln_take_${bytes}(${outer}, ${len}, ${inner}, ${nidx}, ${ref(eqn.inputs[1])}, ${
          ref(x)
        }, ${o});`,
      );
      break;
    }
    case "scatter":
    case "scatter_add":
    case "scatter_mul":
    case "scatter_min":
    case "scatter_max": {
      // the output starts as the operand, then takes the updates
      if (size === 0) break;
      lines.push(`if (${o} != ${ref(x)}) memcpy(${o}, ${ref(x)}, ${size * bytes});`);
      const [outer, len, inner] = splitAt(x.aval.shape, (eqn.params as { axis: number }).axis);
      const nidx = sizeOf(eqn.inputs[1].aval.shape);
      if (outer * nidx * inner === 0) break;
      const fn = name === "scatter" ? `kiln_scatter_set_${bytes}` : `kiln_${name}_${tc}`;
      const [, idx, upd] = eqn.inputs.map(ref);
      lines.push(`${fn}(${outer}, ${len}, ${inner}, ${nidx}, ${idx}, ${upd}, ${o});`);
      break;
    }
    case "reduce_window_max":
    case "reduce_window_sum": {
      if (size === 0) break;
      const s = x.aval.shape;
      const packed = reduceWindowPackedParams(
        s,
        out.shape,
        eqn.params as unknown as ReduceWindowParams,
      );
      lines.push(int64s([...packed]));
      lines.push(`kiln_${name}_${tc}(${s.length}, ${lastArray()}, ${ref(x)}, ${o});`);
      break;
    }
    case "select_and_gather_add":
    case "select_and_scatter_add": {
      // inputs: (tangent or cotangent, operand); the window geometry is the operand's
      const [v, operand] = eqn.inputs;
      const inShape = operand.aval.shape;
      const reduced = name === "select_and_gather_add" ? out.shape : v.aval.shape;
      if (size === 0) break;
      if (sizeOf(inShape) === 0 || sizeOf(reduced) === 0) {
        lines.push(`memset(${o}, 0, ${size * bytes});`);
        break;
      }
      const packed = reduceWindowPackedParams(
        inShape,
        reduced,
        eqn.params as unknown as ReduceWindowParams,
      );
      lines.push(int64s([...packed]));
      lines.push(
        `kiln_${name}_${tc}(${inShape.length}, ${lastArray()}, ${ref(v)}, ${ref(operand)}, ${o});`,
      );
      break;
    }
    default:
      throw new Error(`jit cpu: no library call for ${name}`);
  }
  return lines.join("\n");
}

/** A short description of a call for groups(). */
export function describeCall(eqn: Eqn, layout?: DotLayout): string {
  if (eqn.prim.name === "dot_general" && layout) {
    return `call kiln_matmul_${TYPE_CODE[eqn.outputs[0].aval.dtype]} ${
      layout.batch > 1 ? `${layout.batch}x` : ""
    }${layout.m}x${layout.n}x${layout.k}`;
  }
  return `call ${eqn.prim.name} -> ${eqn.outputs[0].aval.dtype}[${eqn.outputs[0].aval.shape}]`;
}
