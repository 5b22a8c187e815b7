/**
 * A WebAssembly SIMD matrix product for the Dense layers of the classification head:
 * C[M, N] = sum_k A(i, k) B[k, N], with A read through strides (A(i, k) = a[i*sai + k*sak], so
 * A or A^T without a copy) and B, C row-major, N a multiple of 4.
 *
 * Why: on tfjs-backend-wasm every BatchMatMul repacks its right operand for XNNPACK unless the
 * same tensor was used before; in training the Dense kernel is a new tensor after every optimiser
 * step, so the head's forward product [16,2048] x [2048,256] costs ~4 ms of CPU in packing for
 * ~1 ms of arithmetic, and the kernel gradient x^T dy needs a transpose. Here each row of C is
 * accumulated as C[i,:] += A(i,k) * B[k,:] (f32x4 multiply-add over N), with k blocked by 64 so
 * that a 64-row slab of B stays in cache while every row i passes over it. Zero A(i,k) (ReLU
 * outputs) are skipped.
 *
 * Like the depthwise kernels (depthwise_simd.ts), the WAT is compiled at run time with wabt and
 * runs in its OWN memory: operands are copied in, the result is copied out.
 */
import { compileWat } from './wat.js';

const GEMM_WAT = String.raw`
(module
  (memory (export "memory") 1)
  ;; c[i, 0..n) = sum_k a[(i*sai + k*sak)] * b[k, 0..n); c must be zero on entry; n % 4 == 0
  (func (export "gemm") (param $a i32) (param $b i32) (param $c i32) (param $m i32) (param $k i32) (param $n i32)
                        (param $sai i32) (param $sak i32)
    (local $k0 i32) (local $k1 i32) (local $i i32) (local $kk i32) (local $j i32)
    (local $crow i32) (local $brow i32) (local $rowBytes i32) (local $av v128) (local $aval f32)
    (local.set $rowBytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $k0 (i32.const 0))
    (block $doneK0 (loop $loopK0
      (br_if $doneK0 (i32.ge_u (local.get $k0) (local.get $k)))
      (local.set $k1 (i32.add (local.get $k0) (i32.const 64)))
      (if (i32.gt_u (local.get $k1) (local.get $k)) (then (local.set $k1 (local.get $k))))
      (local.set $i (i32.const 0))
      (block $doneI (loop $loopI
        (br_if $doneI (i32.ge_u (local.get $i) (local.get $m)))
        (local.set $crow (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $rowBytes))))
        (local.set $kk (local.get $k0))
        (block $doneK (loop $loopK
          (br_if $doneK (i32.ge_u (local.get $kk) (local.get $k1)))
          (local.set $aval (f32.load (i32.add (local.get $a)
            (i32.shl (i32.add (i32.mul (local.get $i) (local.get $sai)) (i32.mul (local.get $kk) (local.get $sak))) (i32.const 2)))))
          (if (f32.ne (local.get $aval) (f32.const 0)) (then
            (local.set $av (f32x4.splat (local.get $aval)))
            (local.set $brow (i32.add (local.get $b) (i32.mul (local.get $kk) (local.get $rowBytes))))
            (local.set $j (i32.const 0))
            (block $doneJ (loop $loopJ
              (br_if $doneJ (i32.ge_u (local.get $j) (local.get $rowBytes)))
              (v128.store (i32.add (local.get $crow) (local.get $j))
                (f32x4.add (v128.load (i32.add (local.get $crow) (local.get $j)))
                           (f32x4.mul (local.get $av) (v128.load (i32.add (local.get $brow) (local.get $j))))))
              (local.set $j (i32.add (local.get $j) (i32.const 16)))
              (br $loopJ)))))
          (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
          (br $loopK)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $loopI)))
      (local.set $k0 (local.get $k1))
      (br $loopK0)))))
`;

interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface GemmExports {
  memory: WasmMemory;
  gemm: (a: number, b: number, c: number, m: number, k: number, n: number, sai: number, sak: number) => void;
}

const PAGE = 65536;
const MAX_BYTES = 4 * 1024 * 1024 * 1024 - PAGE;
const align16 = (n: number): number => Math.ceil(n / 16) * 16;

/** The compiled product and its memory. */
export class GemmSimd {
  constructor(private readonly ex: GemmExports) {}

  private reserve(bytes: number): void {
    if (bytes > MAX_BYTES)
      throw new Error(
        `BatchMatMul (polarcad SIMD): needs ${(bytes / 2 ** 30).toFixed(2)} GiB of scratch memory`,
      );
    const have = this.ex.memory.buffer.byteLength;
    if (bytes > have) this.ex.memory.grow(Math.ceil((bytes - have) / PAGE));
  }

  /**
   * C = op(A) B for `a` holding A [M, K] (transposeA false) or A^T stored as [K, M] (transposeA
   * true), `b` [K, N] row-major with N % 4 == 0. Returns a new [M, N] array.
   */
  multiply(
    a: Float32Array,
    b: Float32Array,
    m: number,
    k: number,
    n: number,
    transposeA: boolean,
  ): Float32Array {
    if (n % 4 !== 0) throw new Error(`gemm: N must be a multiple of 4, got ${n}`);
    const aOff = 0;
    const bOff = align16(a.length * 4);
    const cOff = align16(bOff + b.length * 4);
    this.reserve(cOff + m * n * 4);
    const buf = this.ex.memory.buffer;
    new Float32Array(buf, aOff, a.length).set(a);
    new Float32Array(buf, bOff, b.length).set(b);
    const c = new Float32Array(buf, cOff, m * n);
    c.fill(0);
    this.ex.gemm(aOff, bOff, cOff, m, k, n, transposeA ? 1 : k, transposeA ? m : 1);
    return c.slice();
  }
}

async function compile(): Promise<GemmSimd> {
  const bytes = await compileWat('gemm_simd.wat', GEMM_WAT);
  const api = (
    globalThis as unknown as {
      WebAssembly: {
        instantiate(b: Uint8Array): Promise<{ instance: { exports: Record<string, unknown> } }>;
      };
    }
  ).WebAssembly;
  const { instance } = await api.instantiate(bytes);
  return new GemmSimd(instance.exports as unknown as GemmExports);
}

/** The SIMD product, compiled once when this module is first imported. */
export const gemmSimd: GemmSimd = await compile();
