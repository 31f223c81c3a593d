/**
 * The rendered matmul kernel of a `dot_general` step: the fallback when cuBLAS is not found,
 * and the reference the cuBLAS path is tested against. The layout is the CPU planner's
 * {@linkcode DotLayout}: per batch, out (m, n) = op(a) op(b), a stored (m, k) or, transposed,
 * (k, m); b stored (k, n) or (n, k); operands needing another permutation were copied by the
 * planner first.
 *
 * Shared-memory tiling: a block of 256 threads computes a 64 × 64 tile of the output, 4 × 4
 * values per thread (rows `ty + 16 i`, columns `tx + 16 j`, so a warp's stores and shared
 * loads touch consecutive columns), stepping through k 16 at a time. Tiles are loaded so that
 * adjacent threads read adjacent addresses whichever way an operand is stored. Blocks walk the
 * (batch, tile row, tile column) space with a grid-stride loop, so one launch covers any size.
 *
 * Accumulation: float32 in float32 (as cuBLAS), float64 in float64, 16-bit floats loaded as
 * float32 and rounded once on store, int32 and uint32 wrapping in uint32.
 * @module
 */

import type { DType } from "../../core/dtype.ts";
import type { DotLayout } from "../cpu/library.ts";
import { cudaType } from "./prelude.ts";

/** Output rows and columns of a block's tile, and the k step. */
export const MATMUL_TILE = { rows: 64, cols: 64, depth: 16, threads: 256 } as const;

/** The rendered kernel and its launch size. */
export interface MatmulKernelCode {
  /** The `__global__` function with `@TABLE@` and `@DECLS@` placeholders (as loop kernels). */
  text: string;
  /** Output tiles: one block each (the grid is capped; blocks loop). */
  items: number;
  threads: number;
}

/** How values of `dtype` are loaded into the accumulator type and stored back. */
function conversions(dtype: DType): { acc: string; load: (v: string) => string; store: string } {
  switch (dtype) {
    case "float32":
      return { acc: "float", load: (v) => v, store: "" };
    case "float64":
      return { acc: "double", load: (v) => v, store: "" };
    case "float16":
      return { acc: "float", load: (v) => `KILN_F16_TO_F32(${v})`, store: "KILN_F32_TO_F16" };
    case "bfloat16":
      return { acc: "float", load: (v) => `kiln_bf16_to_f32(${v})`, store: "kiln_f32_to_bf16" };
    case "int32":
      return { acc: "uint32_t", load: (v) => `(uint32_t)${v}`, store: "(int32_t)" };
    case "uint32":
      return { acc: "uint32_t", load: (v) => v, store: "" };
  }
  throw new Error(`cuda jit: dot_general on ${dtype} has no CUDA matmul kernel`);
}

/**
 * Renders the matmul kernel `name` reading buffers `a`, `b` and writing `out` (pointer names
 * that `@DECLS@` declares).
 */
export function renderMatmulKernel(
  name: string,
  layout: DotLayout,
  dtype: DType,
  buffers: { a: string; b: string; out: string },
): MatmulKernelCode {
  const { batch, m, n, k } = layout;
  const [transA, transB] = layout.operands.map((o) => o.trans);
  const { rows: BM, cols: BN, depth: BK, threads } = MATMUL_TILE;
  cudaType(dtype, "dot_general");
  const { acc, load, store } = conversions(dtype);
  const tilesM = Math.ceil(m / BM), tilesN = Math.ceil(n / BN);
  const items = batch * tilesM * tilesN;
  // 32-bit indices while every operand and the tile counter stay below 2^31
  const largest = Math.max(batch * m * k, batch * k * n, batch * m * n, items);
  const I = largest < 2 ** 31 - BM * BN ? "int" : "int64_t";
  // a(r, c) for tile row r, depth c; the fast thread index walks the contiguous axis
  const aIndex = transA
    ? { r: `i % ${BM}`, c: `i / ${BM}`, at: `(${I})kk * ${m} + mm` }
    : { r: `i / ${BK}`, c: `i % ${BK}`, at: `(${I})mm * ${k} + kk` };
  const bIndex = transB
    ? { r: `i % ${BK}`, c: `i / ${BK}`, at: `(${I})nn * ${k} + kk` }
    : { r: `i / ${BN}`, c: `i % ${BN}`, at: `(${I})kk * ${n} + nn` };
  const text = `extern "C" __global__ void __launch_bounds__(${threads}) ${name}(const @TABLE@ P) {
@DECLS@
  /* +1 column: the transposed loads' shared-memory stores do not conflict */
  __shared__ ${acc} kc_as[${BK}][${BM + 1}];
  __shared__ ${acc} kc_bs[${BK}][${BN + 1}];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  for (${I} tile = (${I})blockIdx.x; tile < ${items}; tile += (${I})gridDim.x) {
    const ${I} bt = tile / ${tilesM * tilesN}, rest = tile % ${tilesM * tilesN};
    const ${I} m0 = (rest / ${tilesN}) * ${BM}, n0 = (rest % ${tilesN}) * ${BN};
    const ${cudaType(dtype, "a load")}* __restrict__ A = ${buffers.a} + bt * ${m * k};
    const ${cudaType(dtype, "a load")}* __restrict__ B = ${buffers.b} + bt * ${k * n};
    ${acc} c[4][4];
    for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) c[i][j] = (${acc})0;
    for (${I} k0 = 0; k0 < ${k}; k0 += ${BK}) {
      for (int i = threadIdx.x; i < ${BM * BK}; i += ${threads}) {
        const int r = ${aIndex.r}, d = ${aIndex.c};
        const ${I} mm = m0 + r, kk = k0 + d;
        kc_as[d][r] = (mm < ${m} && kk < ${k}) ? (${acc})${load(`A[${aIndex.at}]`)} : (${acc})0;
      }
      for (int i = threadIdx.x; i < ${BK * BN}; i += ${threads}) {
        const int d = ${bIndex.r}, col = ${bIndex.c};
        const ${I} kk = k0 + d, nn = n0 + col;
        kc_bs[d][col] = (kk < ${k} && nn < ${n}) ? (${acc})${load(`B[${bIndex.at}]`)} : (${acc})0;
      }
      __syncthreads();
      for (int d = 0; d < ${BK}; d++) {
        ${acc} av[4], bv[4];
        for (int i = 0; i < 4; i++) av[i] = kc_as[d][ty + 16 * i];
        for (int j = 0; j < 4; j++) bv[j] = kc_bs[d][tx + 16 * j];
        for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) c[i][j] += av[i] * bv[j];
      }
      __syncthreads();
    }
    for (int i = 0; i < 4; i++) {
      const ${I} mm = m0 + ty + 16 * i;
      if (mm >= ${m}) continue;
      for (int j = 0; j < 4; j++) {
        const ${I} nn = n0 + tx + 16 * j;
        if (nn < ${n}) ${buffers.out}[bt * ${m * n} + mm * ${n} + nn] = ${store}(c[i][j]);
      }
    }
  }
}`;
  return { text, items, threads };
}
