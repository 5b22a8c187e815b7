/**
 * IEEE 754 binary16 ("half") conversion for the feature cache's optional float16 storage.
 * Node 20 has no Float16Array / Math.f16round, so the conversion is done on the bit patterns:
 * float32 -> float16 rounds to nearest, ties to even (the method of F. Giesen,
 * "float_to_half_fast3_rtne", public domain); float16 -> float32 is exact (a 64 Ki-entry table).
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Largest finite float16 value. */
export const FLOAT16_MAX = 65504;

const F32_INF = 255 << 23;
const F16_MAX_AS_F32 = (127 + 16) << 23; // 65536.0: everything at or above overflows
const DENORM_MAGIC_BITS = (127 - 15 + (23 - 10) + 1) << 23; // 0.5
const DENORM_MAGIC = (() => {
  u32[0] = DENORM_MAGIC_BITS;
  return f32[0];
})();

/** The float16 bit pattern nearest to `x` (ties to even; overflow to +-Inf; NaN to a quiet NaN). */
export function toFloat16Bits(x: number): number {
  f32[0] = x;
  let u = u32[0];
  const sign = (u >>> 16) & 0x8000;
  u = (u & 0x7fffffff) >>> 0;
  let o: number;
  if (u >= F16_MAX_AS_F32) {
    o = u > F32_INF ? 0x7e00 : 0x7c00;
  } else if (u < 113 << 23) {
    // zero or subnormal result: let the float32 adder do the rounding
    u32[0] = u;
    f32[0] = Math.fround(f32[0] + DENORM_MAGIC);
    o = (u32[0] - DENORM_MAGIC_BITS) >>> 0;
  } else {
    const mantOdd = (u >>> 13) & 1;
    u = (u + ((15 - 127) << 23) + 0xfff + mantOdd) >>> 0;
    o = u >>> 13;
  }
  return (o | sign) & 0xffff;
}

let table: Float32Array | null = null;

/** float16 bit pattern -> float32 value table (exact). */
function halfTable(): Float32Array {
  if (table !== null) return table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = s * m * 2 ** -24;
    else if (e === 31) t[h] = m === 0 ? s * Infinity : NaN;
    else t[h] = s * (1 + m / 1024) * 2 ** (e - 15);
  }
  table = t;
  return t;
}

/** The value of a float16 bit pattern. */
export function fromFloat16Bits(h: number): number {
  return halfTable()[h & 0xffff];
}

/** Encode float32 values as float16 bit patterns. */
export function encodeFloat16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = toFloat16Bits(src[i]);
  return out;
}

/** Decode float16 bit patterns to float32. */
export function decodeFloat16(src: Uint16Array): Float32Array {
  const t = halfTable();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]];
  return out;
}

/** True when every value is finite and within the float16 range (so float16 storage loses only precision). */
export function fitsFloat16(src: Float32Array): boolean {
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (!(Math.abs(v) <= FLOAT16_MAX)) return false;
  }
  return true;
}
