/**
 * Activation and BatchNormalization kernels for full-network training on the tfjs wasm backend
 * (issue 14). A CPU profile of a MobileNetV2 step with every layer trainable
 * (`bench/fullstep-profile.ts`, docs/engine.md) showed ~45% of the step in element-wise kernels
 * that tfjs-core's gradient formulas chain together, each a full pass over an activation with the
 * stock wasm kernels' slow broadcasting loops:
 *
 * - ReLU6 (`tf.layers.reLU({maxValue: 6})` = Relu then ClipByValue): ClipByValue's gradient is
 *   GreaterEqual + LessEqual + LogicalAnd + ZerosLike + Select, Relu's Step + Cast + Multiply;
 * - inference-mode BatchNormalization: FusedBatchNorm forward (a scalar loop with index
 *   arithmetic per element) and its gradient: Sub, Multiply x 4, Tile, Rsqrt, and two Sum over the
 *   leading axes (the wasm Sum transposes the whole activation first);
 * - Identity: tfjs saves every tensor a gradient needs with `clone` (the Identity kernel), and the
 *   wasm Identity copies the buffer.
 *
 * What this module registers (wasm only; other backends keep tfjs' own):
 * - kernels `Identity` (shares the buffer, refcounted, as the cpu backend does),
 *   `FusedBatchNorm` (one SIMD pass, per-channel parameters, NHWC; the stock kernel for other
 *   shapes), and three gradient kernels `PolarcadReluGrad`, `PolarcadClipByValueGrad`,
 *   `PolarcadBatchNormGrad` (SIMD loops of `fused_simd.ts`);
 * - gradients for `Relu`, `ClipByValue` and `FusedBatchNorm` that call those kernels when the
 *   active backend is wasm with the SIMD module loaded, and tfjs-core's own gradient otherwise
 *   (the cpu backend, against which the tests compare, always takes tfjs-core's formulas).
 *
 * The BatchNorm gradient computes dx, d scale and d offset in one pass: dx = dy * scale / sqrt(var
 * + eps), d offset = sum(dy), d scale = sum(dy * (x - mean)) / sqrt(var + eps), channel sums in
 * float32 over blocks of 1024 pixels, blocks summed in float64. The gradients with respect to mean
 * and variance (only on the path when they are computed from x, i.e. BatchNormalization in training
 * mode) keep tfjs-core's formulas.
 */
import {
  engine,
  getGradient,
  getKernel,
  registerGradient,
  registerKernel,
  unregisterKernel,
  type DataType,
  type GradConfig,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type Tensor,
  type TensorInfo,
} from '@tensorflow/tfjs';
import { fusedSimd, type FusedSimd } from './fused_simd.js';

const BACKEND = 'wasm';

/** What these kernels need from the wasm backend. */
interface WasmLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
  incRef(dataId: object): void;
  disposeData(dataId: object): boolean;
}

const ptr = (b: WasmLike, t: TensorInfo): number => b.typedArrayFromHeap(t).byteOffset;

/** Identity without a copy: the output shares the input's buffer (refcount + 1). */
const identity: KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as TensorInfo;
  (backend as unknown as WasmLike).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

export const identityConfig: KernelConfig = {
  kernelName: 'Identity',
  backendName: BACKEND,
  kernelFunc: identity,
};

/** True when `t` is absent or a rank-1 float32 tensor of `c` values. */
const perChannel = (t: TensorInfo | undefined, c: number): boolean =>
  t === undefined || t === null || (t.shape.length === 1 && t.shape[0] === c && t.dtype === 'float32');

let stockBatchNorm: KernelConfig | undefined;

/** The channel count when FusedBatchNorm's inputs suit the SIMD kernels (NHWC, rank-1 parameters), else 0. */
function batchNormChannels(x: TensorInfo, params: (TensorInfo | undefined)[], required: number): number {
  if (x.dtype !== 'float32' || x.shape.length < 1) return 0;
  const c = x.shape[x.shape.length - 1];
  if (c < 1) return 0;
  if (params.slice(0, required).some((p) => p === undefined || p === null)) return 0;
  return params.every((p) => perChannel(p, c)) ? c : 0;
}

/** Inference-mode FusedBatchNorm in one SIMD pass. */
const fusedBatchNorm: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { x, mean, variance, offset, scale } = inputs as Record<string, TensorInfo | undefined>;
  const eps = (attrs as { varianceEpsilon: number }).varianceEpsilon;
  const simd = fusedSimd(backend);
  const c = x === undefined ? 0 : batchNormChannels(x, [mean, variance, offset, scale], 2);
  if (simd === null || c === 0 || x === undefined || mean === undefined || variance === undefined) {
    if (stockBatchNorm === undefined)
      throw new Error('FusedBatchNorm (polarcad wasm kernel): no stock kernel');
    return stockBatchNorm.kernelFunc(args);
  }
  const b = backend as unknown as WasmLike;
  const out = b.makeOutput(x.shape.slice(), 'float32');
  const size = x.shape.reduce((s, d) => s * d, 1);
  if (size === 0) return out;
  const tmp = b.makeOutput([3 * c], 'float32');
  try {
    const m = b.typedArrayFromHeap(mean);
    const v = b.typedArrayFromHeap(variance);
    const sc = scale === undefined || scale === null ? null : b.typedArrayFromHeap(scale);
    const of = offset === undefined || offset === null ? null : b.typedArrayFromHeap(offset);
    const t = b.typedArrayFromHeap(tmp);
    for (let i = 0; i < c; i++) {
      t[i] = m[i];
      t[c + i] = (sc === null ? 1 : sc[i]) / Math.sqrt(v[i] + eps);
      t[2 * c + i] = of === null ? 0 : of[i];
    }
    const base = t.byteOffset;
    simd.bn_fwd(ptr(b, x), ptr(b, out), size / c, c, base, base + 4 * c, base + 8 * c);
  } finally {
    b.disposeData(tmp.dataId);
  }
  return out;
};

export const fusedBatchNormConfig: KernelConfig = {
  kernelName: 'FusedBatchNorm',
  backendName: BACKEND,
  kernelFunc: fusedBatchNorm,
  // the stock kernel (our fallback) binds its wasm function in its setup
  setupFunc: (backend) => stockBatchNorm?.setupFunc?.(backend),
};

function needSimd(backend: unknown, name: string): FusedSimd {
  const simd = fusedSimd(backend);
  if (simd === null) throw new Error(`${name} (polarcad wasm kernel): the SIMD module is not loaded`);
  return simd;
}

/** dy * step(x), as tfjs-core's Relu gradient. */
export const reluGradConfig: KernelConfig = {
  kernelName: 'PolarcadReluGrad',
  backendName: BACKEND,
  kernelFunc: (({ inputs, backend }) => {
    const { dy, x } = inputs as { dy: TensorInfo; x: TensorInfo };
    const simd = needSimd(backend, 'PolarcadReluGrad');
    const b = backend as unknown as WasmLike;
    const out = b.makeOutput(x.shape.slice(), 'float32');
    simd.relu_grad(
      ptr(b, dy),
      ptr(b, x),
      ptr(b, out),
      x.shape.reduce((s, d) => s * d, 1),
    );
    return out;
  }) as KernelFunc,
};

/** (lo <= x <= hi) ? dy : 0, as tfjs-core's ClipByValue gradient. */
export const clipGradConfig: KernelConfig = {
  kernelName: 'PolarcadClipByValueGrad',
  backendName: BACKEND,
  kernelFunc: (({ inputs, backend, attrs }) => {
    const { dy, x } = inputs as { dy: TensorInfo; x: TensorInfo };
    const { clipValueMin, clipValueMax } = attrs as { clipValueMin: number; clipValueMax: number };
    const simd = needSimd(backend, 'PolarcadClipByValueGrad');
    const b = backend as unknown as WasmLike;
    const out = b.makeOutput(x.shape.slice(), 'float32');
    simd.clip_grad(
      ptr(b, dy),
      ptr(b, x),
      ptr(b, out),
      x.shape.reduce((s, d) => s * d, 1),
      clipValueMin,
      clipValueMax,
    );
    return out;
  }) as KernelFunc,
};

/** Pixels per float32 accumulation block of the BatchNorm channel sums. */
export const BN_BLOCK = 1024;

/** [dx, d scale, d offset] of inference-mode FusedBatchNorm (see the module comment). */
export const batchNormGradConfig: KernelConfig = {
  kernelName: 'PolarcadBatchNormGrad',
  backendName: BACKEND,
  kernelFunc: (({ inputs, backend, attrs }) => {
    const { dy, x, mean, variance, scale } = inputs as Record<string, TensorInfo | undefined>;
    const eps = (attrs as { varianceEpsilon: number }).varianceEpsilon;
    if (dy === undefined || x === undefined || mean === undefined || variance === undefined)
      throw new Error('PolarcadBatchNormGrad: dy, x, mean and variance are required');
    const c = batchNormChannels(x, [mean, variance, scale], 2);
    if (c === 0)
      throw new Error('PolarcadBatchNormGrad: x must be float32 with rank-1 per-channel parameters');
    const simd = needSimd(backend, 'PolarcadBatchNormGrad');
    const b = backend as unknown as WasmLike;
    const size = x.shape.reduce((s, d) => s * d, 1);
    const pixels = size / c;
    // every allocation first: one may grow the heap and detach earlier views
    const dx = b.makeOutput(x.shape.slice(), 'float32');
    const dScale = b.makeOutput([c], 'float32');
    const dOffset = b.makeOutput([c], 'float32');
    const tmp = b.makeOutput([4 * c], 'float32'); // mean, g, sdy, sdyx
    try {
      const m = b.typedArrayFromHeap(mean);
      const v = b.typedArrayFromHeap(variance);
      const sc = scale === undefined || scale === null ? null : b.typedArrayFromHeap(scale);
      const t = b.typedArrayFromHeap(tmp);
      const rs = new Float64Array(c);
      for (let i = 0; i < c; i++) {
        rs[i] = 1 / Math.sqrt(v[i] + eps);
        t[i] = m[i];
        t[c + i] = (sc === null ? 1 : sc[i]) * rs[i];
      }
      const sdy = t.subarray(2 * c, 3 * c);
      const sdyx = t.subarray(3 * c, 4 * c);
      const accDy = new Float64Array(c);
      const accDyx = new Float64Array(c);
      const base = t.byteOffset;
      const [pDy, pX, pDx] = [ptr(b, dy), ptr(b, x), ptr(b, dx)];
      for (let p0 = 0; p0 < pixels; p0 += BN_BLOCK) {
        const n = Math.min(BN_BLOCK, pixels - p0);
        sdy.fill(0);
        sdyx.fill(0);
        const off = 4 * c * p0;
        simd.bn_grad(pDy + off, pX + off, pDx + off, n, c, base, base + 4 * c, base + 8 * c, base + 12 * c);
        for (let i = 0; i < c; i++) {
          accDy[i] += sdy[i];
          accDyx[i] += sdyx[i];
        }
      }
      const ds = b.typedArrayFromHeap(dScale);
      const dof = b.typedArrayFromHeap(dOffset);
      for (let i = 0; i < c; i++) {
        ds[i] = accDyx[i] * rs[i];
        dof[i] = accDy[i];
      }
    } finally {
      b.disposeData(tmp.dataId);
    }
    return [dx, dScale, dOffset];
  }) as KernelFunc,
};

/** The gradient kernels' wasm module is ready for the active backend. */
function simdActive(): boolean {
  const e = engine();
  return e.backendName === BACKEND && fusedSimd(e.backend) !== null;
}

const stockGrads = new Map<string, GradConfig>();

/**
 * The gradient of an element-wise activation through one fused kernel (`PolarcadReluGrad`,
 * `PolarcadClipByValueGrad`: one SIMD pass over dy and x); tfjs-core's own gradient wherever the
 * module is not active.
 */
function elementwiseGrad(kernelName: 'Relu' | 'ClipByValue', fused: string): GradConfig {
  const stock = stockGrads.get(kernelName) as GradConfig;
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      if (!simdActive()) return stock.gradFunc(dy, saved, attrs);
      const [x] = saved;
      return {
        x: () => engine().runKernel(fused, { dy: dy as Tensor, x }, attrs as NamedAttrMap) as Tensor,
      };
    },
  };
}

function batchNormGrad(): GradConfig {
  const stock = stockGrads.get('FusedBatchNorm') as GradConfig;
  return {
    kernelName: 'FusedBatchNorm',
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved as (Tensor | undefined)[];
      const d = dy as Tensor;
      if (
        !simdActive() ||
        x === undefined ||
        d.dtype !== 'float32' ||
        batchNormChannels(x, [mean, variance, scale], 2) === 0
      ) {
        return stock.gradFunc(dy, saved, attrs);
      }
      const [dx, dScale, dOffset] = engine().runKernel(
        'PolarcadBatchNormGrad',
        { dy: d, x, mean: mean as Tensor, variance: variance as Tensor, ...(scale != null ? { scale } : {}) },
        attrs as NamedAttrMap,
      ) as Tensor[];
      // mean / variance are on the path only when computed from x (training mode): tfjs-core's formulas
      const lazyStock = (name: string) => (): Tensor =>
        (stock.gradFunc(dy, saved, attrs)[name] as () => Tensor)();
      return {
        x: () => dx,
        scale: () => dScale,
        offset: () => dOffset,
        mean: lazyStock('mean'),
        variance: lazyStock('variance'),
      };
    },
  };
}

/** The kernels this module registers for wasm (Identity and FusedBatchNorm replace the stock ones). */
export const FUSED_KERNELS: readonly KernelConfig[] = [
  identityConfig,
  fusedBatchNormConfig,
  reluGradConfig,
  clipGradConfig,
  batchNormGradConfig,
];

/** The stock wasm FusedBatchNorm this module replaced (for tests and benchmarks), if any. */
export function stockFusedBatchNormKernel(): KernelConfig | undefined {
  return stockBatchNorm;
}

/**
 * Register the kernels for 'wasm' and the gradients of Relu, ClipByValue and FusedBatchNorm.
 * Idempotent.
 */
export function registerFusedKernels(): string[] {
  for (const config of FUSED_KERNELS) {
    const current = getKernel(config.kernelName, BACKEND);
    if (current?.kernelFunc === config.kernelFunc) continue;
    if (current !== undefined) {
      if (config.kernelName === 'FusedBatchNorm' && stockBatchNorm === undefined) stockBatchNorm = current;
      unregisterKernel(config.kernelName, BACKEND);
    }
    registerKernel(config);
  }
  if (stockGrads.size === 0) {
    for (const name of ['Relu', 'ClipByValue', 'FusedBatchNorm']) stockGrads.set(name, getGradient(name));
    registerGradient(elementwiseGrad('Relu', 'PolarcadReluGrad'));
    registerGradient(elementwiseGrad('ClipByValue', 'PolarcadClipByValueGrad'));
    registerGradient(batchNormGrad());
  }
  return FUSED_KERNELS.map((c) => c.kernelName);
}
