/**
 * Adam (Kingma & Ba, 2015) with a learning rate per variable and a state that can be saved and
 * restored exactly, so a resumed run continues bit for bit.
 *
 * Why not `tf.train.adam`: its `setWeights` recomputes beta^t with `pow` instead of restoring the
 * running products, and matches moments to variables by position, so a restored optimiser does not
 * continue exactly. The update is Keras' formulation (the one Hai et al. 2022 trained with):
 *   m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
 *   w <- w - lr_t m / (sqrt(v) + eps),  lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
 * with Keras' defaults b1 = 0.9, b2 = 0.999, eps = 1e-7. lr_t is computed in float64 on the host.
 *
 * Per-layer learning rates ("layer groups") are a per-variable `lr`: scaling gradients instead
 * would not work with Adam, whose step is invariant to the gradient's scale.
 *
 * Speed: on the wasm backend (once `initBackend` has loaded src/engine/kernels/adam_simd.ts) each
 * variable is updated by one fused SIMD loop: m and v in place in tfjs' heap (they are owned by
 * this optimiser alone: refCount 1), the new weights into a fresh buffer that becomes the
 * variable's value (a weight is never written in place: XNNPACK caches packed weights by dataId,
 * and another tensor may share the variable's data). The result is bit for bit that of the
 * op-by-op update, which remains the path on other backends.
 */
import * as tf from '@tensorflow/tfjs';
import { adamSimd, type AdamKernel } from '../engine/kernels/adam_simd.js';

/** Saved optimiser state: step count and both moments of every variable, by variable key. */
export interface AdamState {
  step: number;
  m: Record<string, Float32Array>;
  v: Record<string, Float32Array>;
}

/** One variable under optimisation. */
export interface AdamParam {
  /** Stable key (the layer weight's name, e.g. 'dense/kernel'), used in saved states. */
  key: string;
  variable: tf.Variable;
  lr: number;
}

/** Adam over a fixed list of variables, each with its own learning rate. */
export class Adam {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  private step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(
    readonly params: readonly AdamParam[],
    opts: { beta1?: number; beta2?: number; epsilon?: number } = {},
  ) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.epsilon = opts.epsilon ?? 1e-7;
    const keys = new Set<string>();
    for (const p of params) {
      if (keys.has(p.key)) throw new Error(`Adam: duplicate variable key ${p.key}`);
      if (!(p.lr > 0)) throw new Error(`Adam: learning rate of ${p.key} must be positive, got ${p.lr}`);
      keys.add(p.key);
      this.m.set(p.key, ownedVariable(tf.zeros(p.variable.shape)));
      this.v.set(p.key, ownedVariable(tf.zeros(p.variable.shape)));
    }
  }

  /** Steps taken so far. */
  get iterations(): number {
    return this.step;
  }

  /** Apply one update; `grads` is keyed by `variable.name` (as `tf.variableGrads` returns it). */
  applyGradients(grads: tf.NamedTensorMap): void {
    this.step++;
    const t = this.step;
    const correction = Math.sqrt(1 - this.beta2 ** t) / (1 - this.beta1 ** t);
    const kernel = adamSimd(tf.backend());
    if (kernel !== null) {
      this.applyFused(kernel, grads, correction);
      return;
    }
    tf.tidy(() => {
      for (const p of this.params) {
        const g = grads[p.variable.name];
        if (g === undefined) continue;
        const m = this.m.get(p.key) as tf.Variable;
        const v = this.v.get(p.key) as tf.Variable;
        const m1 = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
        const v1 = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        m.assign(m1);
        v.assign(v1);
        const stepSize = p.lr * correction;
        p.variable.assign(
          tf.sub(p.variable, tf.div(tf.mul(m1, stepSize), tf.add(tf.sqrt(v1), this.epsilon))),
        );
      }
    });
  }

  /** The update by the fused wasm kernel (see the module comment); same values as the tf ops. */
  private applyFused(kernel: AdamKernel, grads: tf.NamedTensorMap, correction: number): void {
    const backend = tf.backend() as tf.KernelBackend & WasmHeap;
    const engine = tf.engine();
    const jobs: { p: AdamParam; g: tf.Tensor; m: tf.Variable; v: tf.Variable; out: tf.Tensor }[] = [];
    // allocate every output first: an allocation may grow the heap and detach earlier views
    for (const p of this.params) {
      const g = grads[p.variable.name];
      if (g === undefined) continue;
      if (g.dtype !== 'float32' || p.variable.dtype !== 'float32')
        throw new Error(`Adam: ${p.key} must be float32`);
      if (g.size !== p.variable.size)
        throw new Error(`Adam: gradient of ${p.key} has ${g.size} values, the variable ${p.variable.size}`);
      const m = this.m.get(p.key) as tf.Variable;
      const v = this.v.get(p.key) as tf.Variable;
      // the moments are written in place: they must not share their buffer with any tensor
      for (const mv of [m, v]) {
        if (backend.refCount(mv.dataId) !== 1) throw new Error(`Adam: moment buffer of ${p.key} is shared`);
      }
      const info = backend.makeOutput(p.variable.shape.slice(), 'float32');
      const out = engine.makeTensorFromTensorInfo(info, backend);
      jobs.push({ p, g, m, v, out });
    }
    try {
      for (const j of jobs) {
        const off = (t: tf.Tensor): number => backend.typedArrayFromHeap(t).byteOffset;
        kernel(
          off(j.p.variable),
          off(j.g),
          off(j.m),
          off(j.v),
          off(j.out),
          j.p.variable.size,
          this.beta1,
          1 - this.beta1,
          this.beta2,
          1 - this.beta2,
          j.p.lr * correction,
          this.epsilon,
        );
      }
      for (const j of jobs) j.p.variable.assign(j.out);
    } finally {
      for (const j of jobs) j.out.dispose();
    }
  }

  /** A copy of the state (step and moments). */
  getState(): AdamState {
    const m: Record<string, Float32Array> = {};
    const v: Record<string, Float32Array> = {};
    for (const p of this.params) {
      m[p.key] = (this.m.get(p.key) as tf.Variable).dataSync() as Float32Array;
      v[p.key] = (this.v.get(p.key) as tf.Variable).dataSync() as Float32Array;
    }
    return { step: this.step, m, v };
  }

  /** Restore a state saved by {@link getState} for the same variables. */
  setState(s: AdamState): void {
    for (const p of this.params) {
      const m = s.m[p.key];
      const v = s.v[p.key];
      if (m === undefined || v === undefined) throw new Error(`Adam state: no moments for ${p.key}`);
      const mv = this.m.get(p.key) as tf.Variable;
      if (m.length !== mv.size || v.length !== mv.size)
        throw new Error(`Adam state: moments of ${p.key} have the wrong size`);
      const vv = this.v.get(p.key) as tf.Variable;
      // fresh tensors, released after the assignment: the moments own their buffers alone
      const mt = tf.tensor(m, mv.shape);
      const vt = tf.tensor(v, mv.shape);
      mv.assign(mt);
      vv.assign(vt);
      tf.dispose([mt, vt]);
    }
    this.step = s.step;
  }

  /** Release the moments (the variables under optimisation are the caller's). */
  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/** What the fused path needs of the wasm backend. */
interface WasmHeap {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  refCount(dataId: object): number;
}

/**
 * A non-trainable variable holding `t`'s values that owns its buffer alone: `tf.variable(t)`
 * shares t's data, so `t` is released here (it also leaked before: one tensor per moment).
 */
function ownedVariable(t: tf.Tensor): tf.Variable {
  const v = tf.variable(t, false);
  t.dispose();
  return v;
}
