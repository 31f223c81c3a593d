/**
 * Conversions of the 16-bit floats. float16 is IEEE binary16 (1 sign, 5 exponent, 10 fraction
 * bits), stored in V8's `Float16Array`; bfloat16 is the top half of a float32 (1, 8, 7 bits),
 * stored as its bit patterns in a `Uint16Array`. Every conversion from a wider value rounds to
 * nearest, ties to even, once (no double rounding through float32); NaN stays NaN and values
 * past the largest finite one round to ±inf.
 * @module
 */

// scratch views for reinterpreting one float32 as its bits
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** The bfloat16 bit pattern of a float32 value (round to nearest even; NaN stays quiet NaN). */
export function float32ToBf16Bits(value: number): number {
  F32[0] = value;
  return bitsOfF32Word(U32[0]);
}

// bf16 bits of the float32 with bit pattern `u`
function bitsOfF32Word(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x0040) & 0xffff; // quiet NaN
  // add half an ulp of bf16, plus one more on ties whose kept part is odd, then truncate
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * The bfloat16 bit pattern of any JS number, rounded once: the number is first rounded to
 * float32 toward zero with a sticky bit ("round to odd"), which float32's 16 extra fraction
 * bits make exact for the final round to nearest even.
 */
export function numberToBf16Bits(value: number): number {
  const f = Math.fround(value);
  F32[0] = f;
  let u = U32[0];
  if (f !== value && value === value) {
    if (Math.abs(f) > Math.abs(value)) u = (u - 1) >>> 0; // step back toward zero
    u = (u | 1) >>> 0; // sticky: the value was not exactly representable
  }
  return bitsOfF32Word(u);
}

/** The value of a bfloat16 bit pattern. */
export function bf16BitsToNumber(bits: number): number {
  U32[0] = (bits & 0xffff) << 16;
  return F32[0];
}

/** bfloat16 bit patterns of `values` (each rounded once). */
export function encodeBf16(values: ArrayLike<number>, out?: Uint16Array): Uint16Array {
  const n = values.length;
  const y = out ?? new Uint16Array(n);
  if (values instanceof Float32Array) {
    const words = new Uint32Array(values.buffer, values.byteOffset, n);
    for (let i = 0; i < n; i++) y[i] = bitsOfF32Word(words[i]);
  } else for (let i = 0; i < n; i++) y[i] = numberToBf16Bits(values[i]);
  return y;
}

/** The values of bfloat16 bit patterns, as float32 (exact: bfloat16 is a truncated float32). */
export function decodeBf16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const words = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) words[i] = bits[i] << 16;
  return out;
}
