/* Casts, fills and iota:
 *   kiln_cast_<from>_<to>(int64 n, const From* x, To* out)   every pair of f32 f64 i32 u32 b8
 *                                                             f16 bf16
 *   kiln_fill_<bytes>(int64 n, void* out, const void* value)  bytes = 1, 2, 4, 8
 *   kiln_iota_<t>(int64 outer, int64 len, int64 inner, T* out)
 * Float to integer truncates toward zero, NaN gives 0 and out-of-range values saturate, so no
 * input is undefined behaviour. To b8 is `x != 0` (NaN gives 1, as NumPy's bool(nan)). */
#include "kiln.h"

/* CONVERT_<from>_<to>(v): the bounds are powers of two (exact in float and double), and
 * every comparison with NaN is false, so NaN falls into the 0 branch. */
#define CONVERT_f32_f32(v) (v)
#define CONVERT_f32_f64(v) ((double)(v))
#define CONVERT_f32_i32(v)                                                                      \
  ((v) != (v) ? 0                                                                               \
   : (v) >= 2147483648.0f ? INT32_MAX                                                           \
   : (v) < -2147483648.0f ? INT32_MIN                                                           \
                          : (int32_t)(v))
#define CONVERT_f32_u32(v)                                                                      \
  (!((v) > -1.0f) ? 0u : (v) >= 4294967296.0f ? UINT32_MAX : (uint32_t)(v))
#define CONVERT_f32_b8(v) ((uint8_t)((v) != 0))

#define CONVERT_f64_f32(v) ((float)(v))
#define CONVERT_f64_f64(v) (v)
#define CONVERT_f64_i32(v)                                                                      \
  ((v) != (v) ? 0                                                                               \
   : (v) >= 2147483648.0 ? INT32_MAX                                                            \
   : (v) <= -2147483649.0 ? INT32_MIN                                                           \
                          : (int32_t)(v))
#define CONVERT_f64_u32(v)                                                                      \
  (!((v) > -1.0) ? 0u : (v) >= 4294967296.0 ? UINT32_MAX : (uint32_t)(v))
#define CONVERT_f64_b8(v) ((uint8_t)((v) != 0))

/* Integer to integer wraps (two's complement), as NumPy's astype. */
#define CONVERT_i32_f32(v) ((float)(v))
#define CONVERT_i32_f64(v) ((double)(v))
#define CONVERT_i32_i32(v) (v)
#define CONVERT_i32_u32(v) ((uint32_t)(v))
#define CONVERT_i32_b8(v) ((uint8_t)((v) != 0))

#define CONVERT_u32_f32(v) ((float)(v))
#define CONVERT_u32_f64(v) ((double)(v))
#define CONVERT_u32_i32(v) ((int32_t)(v))
#define CONVERT_u32_u32(v) (v)
#define CONVERT_u32_b8(v) ((uint8_t)((v) != 0))

/* b8 holds 0 or 1; any non-zero byte counts as true. */
#define CONVERT_b8_f32(v) ((float)((v) != 0))
#define CONVERT_b8_f64(v) ((double)((v) != 0))
#define CONVERT_b8_i32(v) ((int32_t)((v) != 0))
#define CONVERT_b8_u32(v) ((uint32_t)((v) != 0))
#define CONVERT_b8_b8(v) ((uint8_t)((v) != 0))

#define CAST(from, From, to, To)                                                                \
  static __attribute__((noinline)) void cast_##from##_##to##_range(                             \
      int64_t begin, int64_t end, const From* restrict x, To* restrict out) {                   \
    _Pragma("omp simd") for (int64_t i = begin; i < end; i++) {                                 \
      const From v = x[i];                                                                      \
      out[i] = CONVERT_##from##_##to(v);                                                        \
    }                                                                                           \
  }                                                                                             \
  void kiln_cast_##from##_##to(int64_t n, const From* x, To* out) {                             \
    KILN_SPLIT(n, KILN_PAR_CHEAP, cast_##from##_##to##_range(begin, end, x, out));              \
  }

/* The 16-bit floats. float16 reads exactly as float, bfloat16 too, so conversions from them go
 * through float; conversions to them round once from the source (doubles directly, never
 * through float: that would round twice; 32-bit integers through float only for float16,
 * where every integer float rounds is beyond float16's range anyway). */
#define CONVERT_f16_f32(v) KILN_F16_TO_F32(v)
#define CONVERT_f16_f64(v) ((double)KILN_F16_TO_F32(v))
#define CONVERT_f16_i32(v) CONVERT_f32_i32(KILN_F16_TO_F32(v))
#define CONVERT_f16_u32(v) CONVERT_f32_u32(KILN_F16_TO_F32(v))
#define CONVERT_f16_b8(v) ((uint8_t)(KILN_F16_TO_F32(v) != 0))
#define CONVERT_f16_f16(v) (v)
#define CONVERT_f16_bf16(v) kiln_f32_to_bf16(KILN_F16_TO_F32(v))

#define CONVERT_bf16_f32(v) kiln_bf16_to_f32(v)
#define CONVERT_bf16_f64(v) ((double)kiln_bf16_to_f32(v))
#define CONVERT_bf16_i32(v) CONVERT_f32_i32(kiln_bf16_to_f32(v))
#define CONVERT_bf16_u32(v) CONVERT_f32_u32(kiln_bf16_to_f32(v))
#define CONVERT_bf16_b8(v) ((uint8_t)(((v) & 0x7fffu) != 0)) /* ±0 is false, NaN true */
#define CONVERT_bf16_f16(v) KILN_F32_TO_F16(kiln_bf16_to_f32(v))
#define CONVERT_bf16_bf16(v) (v)

#define CONVERT_f32_f16(v) KILN_F32_TO_F16(v)
#define CONVERT_f64_f16(v) KILN_F64_TO_F16(v)
#define CONVERT_i32_f16(v) KILN_F32_TO_F16((float)(v))
#define CONVERT_u32_f16(v) KILN_F32_TO_F16((float)(v))
#define CONVERT_b8_f16(v) KILN_F32_TO_F16((v) != 0 ? 1.0f : 0.0f)
#define CONVERT_f32_bf16(v) kiln_f32_to_bf16(v)
#define CONVERT_f64_bf16(v) kiln_f64_to_bf16(v)
#define CONVERT_i32_bf16(v) kiln_f64_to_bf16((double)(v))
#define CONVERT_u32_bf16(v) kiln_f64_to_bf16((double)(v))
#define CONVERT_b8_bf16(v) ((uint16_t)((v) != 0 ? 0x3f80u : 0u))

/* For each source type, every target type. */
#define CAST_FROM(from, From)                                                                   \
  CAST(from, From, f32, float)                                                                  \
  CAST(from, From, f64, double)                                                                 \
  CAST(from, From, i32, int32_t)                                                                \
  CAST(from, From, u32, uint32_t)                                                               \
  CAST(from, From, b8, uint8_t)                                                                 \
  CAST(from, From, f16, kiln_f16)                                                               \
  CAST(from, From, bf16, uint16_t)
KILN_ALL_TYPES(CAST_FROM)
CAST_FROM(f16, kiln_f16)
CAST_FROM(bf16, uint16_t)

/* ---- fill ---- */

#define FILL(bytes, T)                                                                          \
  static __attribute__((noinline)) void fill_##bytes##_range(int64_t begin, int64_t end,        \
                                                             T* restrict out, T v) {            \
    _Pragma("omp simd") for (int64_t i = begin; i < end; i++) out[i] = v;                       \
  }                                                                                             \
  void kiln_fill_##bytes(int64_t n, void* out, const void* value) {                             \
    T v;                                                                                        \
    memcpy(&v, value, sizeof v);                                                                \
    KILN_SPLIT(n, KILN_PAR_COPY, fill_##bytes##_range(begin, end, out, v));                     \
  }
FILL(1, uint8_t)
FILL(2, uint16_t)
FILL(4, uint32_t)
FILL(8, uint64_t)

/* ---- iota: out[o, i, j] = i ---- */

#define IOTA(tc, T)                                                                             \
  void kiln_iota_##tc(int64_t outer, int64_t len, int64_t inner, T* restrict out) {             \
    const int64_t rows = outer * len;                                                           \
    _Pragma("omp parallel for schedule(static) if(parallel: rows * inner > KILN_PAR_COPY)")     \
    for (int64_t r = 0; r < rows; r++) {                                                        \
      const T value = (T)(r % len);                                                             \
      T* restrict row = out + r * inner;                                                        \
      _Pragma("omp simd") for (int64_t j = 0; j < inner; j++) row[j] = value;                   \
    }                                                                                           \
  }
KILN_NUMERIC_TYPES(IOTA)
