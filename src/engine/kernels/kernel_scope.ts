/**
 * A small toolkit for composite kernels: call other kernels registered for the active backend
 * directly (the way tfjs backends build composite kernels), track every intermediate `TensorInfo`
 * and dispose them all at the end.
 *
 * Calling sub-kernels through the registry rather than through `tf` ops keeps the gradient tape,
 * the engine's tensor bookkeeping and tidy scopes out of the way: intermediates are backend data
 * only, so a leak would show as `backend.numDataIds()` growth, which the tests check.
 */
import {
  getKernel,
  type DataType,
  type KernelBackend,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from '@tensorflow/tfjs';

/** Explicit padding in the tfjs form `[[0,0],[top,bottom],[left,right],[0,0]]`. */
export type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];

/** Product of the entries of `shape`. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** tfjs attributes of an NHWC (depthwise) convolution with dilation 1, plus `extra`. */
function convAttrs(strides: [number, number], pad: ExplicitPad | 'valid', extra: object = {}): NamedAttrMap {
  return { strides, pad, ...extra, dilations: [1, 1], dimRoundingMode: undefined } as unknown as NamedAttrMap;
}

/**
 * Tracks the intermediates of one composite kernel invocation. Every method returns a new
 * `TensorInfo` owned by the scope; `keep` hands one out (it is then not disposed), `dispose`
 * frees the rest.
 */
export class KernelScope {
  /** When set, `run` adds each sub-kernel's wall time (ms) under its name (for benchmarks). */
  static profile: Map<string, number> | null = null;

  private readonly owned: TensorInfo[] = [];

  constructor(
    readonly backend: KernelBackend,
    readonly backendName: string,
  ) {}

  /** Run the kernel `name` registered for this backend; the output is owned by the scope. */
  run(name: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
    const kernel = getKernel(name, this.backendName);
    if (kernel === undefined) {
      throw new Error(
        `polarcad kernels: kernel '${name}' is not registered for backend '${this.backendName}'`,
      );
    }
    const t0 = KernelScope.profile === null ? 0 : performance.now();
    const out = kernel.kernelFunc({ inputs, attrs, backend: this.backend });
    if (KernelScope.profile !== null) {
      KernelScope.profile.set(name, (KernelScope.profile.get(name) ?? 0) + performance.now() - t0);
    }
    if (Array.isArray(out)) {
      for (const o of out) this.owned.push(o);
      throw new Error(`polarcad kernels: kernel '${name}' returned several outputs, one expected`);
    }
    this.owned.push(out);
    return out;
  }

  /** Wrap data written from JS into a scope-owned tensor. */
  fromValues(values: Float32Array, shape: number[], dtype: DataType = 'float32'): TensorInfo {
    const dataId = this.backend.write(values, shape, dtype);
    const info: TensorInfo = { dataId, shape, dtype };
    this.owned.push(info);
    return info;
  }

  /** Read the values of `t` (a view; copy before the next allocation on wasm). */
  values(t: TensorInfo): Float32Array {
    const v = this.backend.readSync(t.dataId);
    if (!(v instanceof Float32Array)) throw new Error('polarcad kernels: float32 tensor expected');
    return v;
  }

  /**
   * The values of `t` without a copy where the backend allows it (wasm: a Float32Array over its
   * heap, from `typedArrayFromHeap`), else `values(t)`. Read-only, and valid only until the next
   * allocation on the backend (which may grow and detach the heap): copy out before allocating.
   */
  view(t: TensorInfo): Float32Array {
    const b = this.backend as KernelBackend & { typedArrayFromHeap?: (t: TensorInfo) => unknown };
    if (typeof b.typedArrayFromHeap === 'function' && t.dtype === 'float32') {
      const v = b.typedArrayFromHeap(t);
      if (v instanceof Float32Array) return v;
    }
    return this.values(t);
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  matMul(a: TensorInfo, b: TensorInfo, transposeA = false, transposeB = false): TensorInfo {
    return this.run('BatchMatMul', { a, b }, { transposeA, transposeB });
  }

  /** Contiguous slice (begin/size per axis, size -1 = to the end). */
  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    return this.run('Slice', { x }, { begin, size });
  }

  /**
   * The [h, w] window at (top, left) of an NHWC tensor, as one contiguous slice per row (the
   * width and channel axes merged); `x` itself when the window is the whole tensor.
   */
  cropHW(x: TensorInfo, top: number, left: number, h: number, w: number): TensorInfo {
    const [n, fh, fw, c] = x.shape;
    if (top === 0 && left === 0 && fh === h && fw === w) return x;
    const flat = this.reshape(x, [n, fh, fw * c]);
    const cropped = this.slice(flat, [0, top, left * c], [n, h, w * c]);
    return this.reshape(cropped, [n, h, w, c]);
  }

  /** Strided slice with plain begin/end/strides (no masks). */
  stridedSlice(x: TensorInfo, begin: number[], end: number[], strides: number[]): TensorInfo {
    return this.run(
      'StridedSlice',
      { x },
      { begin, end, strides, beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0 },
    );
  }

  pad(x: TensorInfo, paddings: Array<[number, number]>, constantValue = 0): TensorInfo {
    return this.run('PadV2', { x }, { paddings, constantValue });
  }

  reverse(x: TensorInfo, dims: number[]): TensorInfo {
    return this.run('Reverse', { x }, { dims });
  }

  multiply(a: TensorInfo, b: TensorInfo): TensorInfo {
    return this.run('Multiply', { a, b });
  }

  sum(x: TensorInfo, axis: number[], keepDims = false): TensorInfo {
    return this.run('Sum', { x }, { axis, keepDims });
  }

  concat(tensors: TensorInfo[], axis: number): TensorInfo {
    // Concat takes its inputs as an array-like map; the wasm kernel reads `inputs` as an array.
    return this.run('Concat', tensors as unknown as NamedTensorInfoMap, { axis });
  }

  depthToSpace(x: TensorInfo, blockSize: number): TensorInfo {
    return this.run('DepthToSpace', { x }, { blockSize, dataFormat: 'NHWC' });
  }

  /** NHWC 2-D convolution, dilation 1. */
  conv2d(
    x: TensorInfo,
    filter: TensorInfo,
    strides: [number, number],
    pad: ExplicitPad | 'valid',
  ): TensorInfo {
    return this.run('Conv2D', { x, filter }, convAttrs(strides, pad, { dataFormat: 'NHWC' }));
  }

  /** NHWC depthwise convolution (filter [kh,kw,C,multiplier]), dilation 1. */
  depthwise(
    x: TensorInfo,
    filter: TensorInfo,
    strides: [number, number],
    pad: ExplicitPad | 'valid',
  ): TensorInfo {
    return this.run('DepthwiseConv2dNative', { x, filter }, convAttrs(strides, pad));
  }

  /** Dispose `t` now (it must be owned by this scope); frees memory inside long loops. */
  free(t: TensorInfo): void {
    const i = this.owned.indexOf(t);
    if (i < 0) throw new Error('polarcad kernels: freeing a tensor the scope does not own');
    this.owned.splice(i, 1);
    this.backend.disposeData(t.dataId);
  }

  /** Hand `t` out of the scope: it will not be disposed by `dispose`. */
  keep(t: TensorInfo): TensorInfo {
    const i = this.owned.indexOf(t);
    if (i >= 0) this.owned.splice(i, 1);
    return t;
  }

  /** Dispose every intermediate still owned. */
  dispose(): void {
    for (const t of this.owned) this.backend.disposeData(t.dataId);
    this.owned.length = 0;
  }
}

/**
 * Run `body` with a fresh scope; intermediates are disposed whether `body` returns or throws.
 * The returned tensor is kept.
 */
export function withScope(
  backend: KernelBackend,
  backendName: string,
  body: (s: KernelScope) => TensorInfo,
): TensorInfo {
  const s = new KernelScope(backend, backendName);
  try {
    return s.keep(body(s));
  } finally {
    s.dispose();
  }
}

/** Input `name` of a kernel invocation, or a clear error naming the kernel. */
export function input(inputs: NamedTensorInfoMap, name: string, kernelName: string): TensorInfo {
  const t = inputs[name];
  if (t === undefined) throw new Error(`${kernelName} (polarcad wasm kernel): missing input '${name}'`);
  return t;
}

/**
 * The wasm-backend registration of a two-input kernel: `run(a, b, attrs, backend)` on the inputs
 * named `names` (missing ones are a clear error naming the kernel).
 */
export function wasmKernelConfig<A>(
  kernelName: string,
  names: readonly [string, string],
  run: (a: TensorInfo, b: TensorInfo, attrs: A, backend: KernelBackend) => TensorInfo,
): KernelConfig {
  const kernelFunc = ({ inputs, attrs, backend }: Parameters<KernelFunc>[0]): TensorInfo =>
    run(
      input(inputs, names[0], kernelName),
      input(inputs, names[1], kernelName),
      attrs as unknown as A,
      backend as KernelBackend,
    );
  return { kernelName, backendName: 'wasm', kernelFunc: kernelFunc as KernelFunc };
}
