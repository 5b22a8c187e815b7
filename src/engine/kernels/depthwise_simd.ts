/**
 * Host side of the WebAssembly SIMD depthwise-gradient kernels (WAT source in depthwise_simd.wat.ts).
 *
 * The WAT is compiled once at run time with `wabt` and instantiated with its OWN linear memory:
 * operands are copied in (channels zero-padded to a multiple of 4 when needed; a channel
 * multiplier m > 1 is handled by repeating each input channel m times, or by summing the m
 * channels of the result), results are read back from it. tfjs' wasm heap is only read, never
 * written. The memory grows on demand and is kept for the next call.
 *
 * `loadDepthwiseSimd()` is async (wabt initialises asynchronously); `initBackend` awaits it. Until
 * it has resolved, `depthwiseSimd()` returns null and the kernels use the JS loops of loops.ts.
 */
import { compileWat } from './wat.js';
import type { ConvGeometry } from './conv_geometry.js';
import { DEPTHWISE_WAT } from './depthwise_simd.wat.js';

type KernelExport = (
  a: number,
  b: number,
  out: number,
  n0: number,
  n1: number,
  inH: number,
  inW: number,
  cp: number,
  outH: number,
  outW: number,
  kh: number,
  kw: number,
  sh: number,
  sw: number,
  top: number,
  left: number,
) => void;

/** The parts of the WebAssembly JS API used here (the project's `lib` has no DOM/WebAssembly types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  instantiate(bytes: Uint8Array): Promise<{ instance: { exports: Record<string, unknown> } }>;
}

interface SimdExports {
  memory: WasmMemory;
  dwFilterGrad: KernelExport;
  dwInputGrad: KernelExport;
}

const PAGE = 65536;
/** Largest linear memory a wasm32 module can address. */
const MAX_BYTES = 4 * 1024 * 1024 * 1024 - PAGE;

/** Round `n` up to a multiple of `k`. */
function roundUp(n: number, k: number): number {
  return Math.ceil(n / k) * k;
}

/**
 * Copy `src` ([P, k] row-major: P pixels of k channels) into `dst` as [P, cp] with zero padding,
 * repeating each source channel `rep` times (k * rep <= cp).
 */
function copyPadded(
  dst: Float32Array,
  src: Float32Array,
  pixels: number,
  k: number,
  rep: number,
  cp: number,
): void {
  if (rep === 1 && k === cp) {
    dst.set(src.subarray(0, pixels * k));
    return;
  }
  dst.fill(0, 0, pixels * cp);
  for (let p = 0; p < pixels; p++) {
    const s = p * k;
    const d = p * cp;
    if (rep === 1) {
      for (let c = 0; c < k; c++) dst[d + c] = src[s + c];
    } else {
      for (let c = 0; c < k; c++) {
        const v = src[s + c];
        for (let q = 0; q < rep; q++) dst[d + c * rep + q] = v;
      }
    }
  }
}

/** The compiled kernels and their memory. */
export class DepthwiseSimd {
  constructor(private readonly ex: SimdExports) {}

  /** A Float32Array view of `len` floats at byte offset `off` of the module memory. */
  private f32(off: number, len: number): Float32Array {
    return new Float32Array(this.ex.memory.buffer, off, len);
  }

  /** Grow the module memory to at least `bytes`. */
  private reserve(bytes: number, what: string): void {
    if (bytes > MAX_BYTES) {
      throw new Error(
        `${what} (polarcad wasm SIMD kernel): needs ${(bytes / 2 ** 30).toFixed(2)} GiB of scratch memory, ` +
          'more than a wasm32 memory holds; use a smaller (micro-)batch',
      );
    }
    const have = this.ex.memory.buffer.byteLength;
    if (bytes > have) this.ex.memory.grow(Math.ceil((bytes - have) / PAGE));
  }

  /**
   * Run `kernel` on the one image whose operands lie at byte offsets `a` and `b`, writing at `out`,
   * for geometry `g` with `cp` (padded) channels.
   */
  private runImage(
    kernel: KernelExport,
    a: number,
    b: number,
    out: number,
    g: ConvGeometry,
    cp: number,
  ): void {
    kernel(a, b, out, 0, 1, g.inH, g.inW, cp, g.outH, g.outW, g.kh, g.kw, g.sh, g.sw, g.top, g.left);
  }

  /**
   * Depthwise filter gradient dW[a,b,c,q] = sum_{n,i,j} x[n, i*sh+a-top, j*sw+b-left, c] *
   * dy[n,i,j,c*m+q] for x [N,inH,inW,C] and dy [N,outH,outW,C*m]; returns [kh,kw,C,m] values.
   * Each image is summed in f32 by the SIMD loop, images are summed in float64.
   */
  filterGrad(x: Float32Array, dy: Float32Array, g: ConvGeometry, mult: number): Float32Array {
    const k = g.inC * mult;
    const cp = roundUp(k, 4);
    // One image at a time: its copy is still in cache when the kernel reads it, and the scratch
    // memory is one image, not the batch.
    const xPix = g.inH * g.inW;
    const dyPix = g.outH * g.outW;
    const xLen = xPix * cp;
    const dyLen = dyPix * cp;
    const taps = g.kh * g.kw;
    const xOff = 0;
    const dyOff = roundUp(xOff + xLen * 4, 16);
    const accOff = roundUp(dyOff + dyLen * 4, 16);
    this.reserve(accOff + taps * cp * 4, 'DepthwiseConv2dNativeBackpropFilter');
    const xm = this.f32(xOff, xLen);
    const dym = this.f32(dyOff, dyLen);
    const acc = this.f32(accOff, taps * cp);
    const total = new Float64Array(taps * k);
    for (let n = 0; n < g.batch; n++) {
      copyPadded(xm, x.subarray(n * xPix * g.inC, (n + 1) * xPix * g.inC), xPix, g.inC, mult, cp);
      copyPadded(dym, dy.subarray(n * dyPix * k, (n + 1) * dyPix * k), dyPix, k, 1, cp);
      acc.fill(0);
      this.runImage(this.ex.dwFilterGrad, xOff, dyOff, accOff, g, cp);
      // Images are summed in float64 (each image's sum is f32, in SIMD registers).
      for (let t = 0; t < taps; t++) {
        for (let c = 0; c < k; c++) total[t * k + c] += acc[t * cp + c];
      }
    }
    return Float32Array.from(total);
  }

  /**
   * Depthwise input gradient dx[n,y,x,c] = sum over taps (a,b) and q of dy[n,i,j,c*m+q] * w[a,b,c,q]
   * with y = i*sh + a - top, x = j*sw + b - left, for dy [N,outH,outW,C*m], w [kh,kw,C,m]; returns
   * [N,inH,inW,C] values. The result may be a view of the module memory, valid until the next call.
   */
  inputGrad(dy: Float32Array, w: Float32Array, g: ConvGeometry, mult: number): Float32Array {
    const c = g.inC;
    const k = c * mult;
    const cp = roundUp(k, 4);
    // dy is copied in one image at a time (still in cache when the kernel reads it); dx, the
    // output, is written for the whole batch and copied out once.
    const dyPix = g.outH * g.outW;
    const dyLen = dyPix * cp;
    const wLen = g.kh * g.kw * cp;
    const imagePixels = g.inH * g.inW;
    const pixels = g.batch * imagePixels;
    const dxLen = pixels * cp;
    const wOff = 0;
    const dyOff = roundUp(wOff + wLen * 4, 16);
    const dxOff = roundUp(dyOff + dyLen * 4, 16);
    this.reserve(dxOff + dxLen * 4, 'DepthwiseConv2dNativeBackpropInput');
    copyPadded(this.f32(wOff, wLen), w, g.kh * g.kw, k, 1, cp);
    const dym = this.f32(dyOff, dyLen);
    for (let n = 0; n < g.batch; n++) {
      copyPadded(dym, dy.subarray(n * dyPix * k, (n + 1) * dyPix * k), dyPix, k, 1, cp);
      this.runImage(this.ex.dwInputGrad, dyOff, wOff, dxOff + n * imagePixels * cp * 4, g, cp);
    }
    const dxp = this.f32(dxOff, dxLen);
    if (mult === 1 && cp === c) return dxp;
    // Sum the multiplier channels c*m + q into c and drop the padding.
    const dx = new Float32Array(pixels * c);
    for (let p = 0; p < pixels; p++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        const base = p * cp + ch * mult;
        for (let q = 0; q < mult; q++) s += dxp[base + q];
        dx[p * c + ch] = s;
      }
    }
    return dx;
  }
}

let ready: DepthwiseSimd | null = null;
let loading: Promise<DepthwiseSimd> | null = null;

/** Compile `DEPTHWISE_WAT` with wabt (SIMD enabled) to a wasm binary. */
export function compileDepthwiseWat(): Promise<Uint8Array> {
  return compileWat('depthwise_simd.wat', DEPTHWISE_WAT);
}

/**
 * Compile and instantiate the SIMD kernels once (later calls return the same promise). After it
 * resolves, `depthwiseSimd()` returns the instance.
 */
export function loadDepthwiseSimd(): Promise<DepthwiseSimd> {
  if (loading !== null) return loading;
  loading = (async (): Promise<DepthwiseSimd> => {
    const bytes = await compileDepthwiseWat();
    const api = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    const { instance } = await api.instantiate(bytes);
    ready = new DepthwiseSimd(instance.exports as unknown as SimdExports);
    return ready;
  })();
  loading.catch(() => {
    loading = null;
  });
  return loading;
}

/** The loaded SIMD kernels, or null before `loadDepthwiseSimd()` has resolved. */
export function depthwiseSimd(): DepthwiseSimd | null {
  return ready;
}

/**
 * The SIMD kernels a depthwise gradient `kernel` uses for its method `impl`: the loaded instance
 * for 'auto' (null before `loadDepthwiseSimd()` has resolved) and 'simd', null for any other method.
 * @throws Error naming `kernel` when 'simd' is asked for before the kernels are loaded
 */
export function depthwiseSimdFor(kernel: string, impl: string): DepthwiseSimd | null {
  const simd = impl === 'auto' || impl === 'simd' ? ready : null;
  if (impl === 'simd' && simd === null)
    throw new Error(`${kernel} (polarcad wasm kernel): SIMD kernels not loaded (await loadDepthwiseSimd())`);
  return simd;
}
