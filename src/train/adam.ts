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
 */
import * as tf from '@tensorflow/tfjs';

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
      this.m.set(p.key, tf.variable(tf.zerosLike(p.variable), false));
      this.v.set(p.key, tf.variable(tf.zerosLike(p.variable), false));
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
        p.variable.assign(tf.sub(p.variable, tf.div(tf.mul(m1, stepSize), tf.add(tf.sqrt(v1), this.epsilon))));
      }
    });
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
      if (m.length !== mv.size || v.length !== mv.size) throw new Error(`Adam state: moments of ${p.key} have the wrong size`);
      const vv = this.v.get(p.key) as tf.Variable;
      tf.tidy(() => {
        mv.assign(tf.tensor(m, mv.shape));
        vv.assign(tf.tensor(v, mv.shape));
      });
    }
    this.step = s.step;
  }

  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
    this.m.clear();
    this.v.clear();
  }
}
