/**
 * Seeded weight initialisation through our `Rng` (tfjs initialisers draw from their own,
 * unseeded generator), so the same seed gives the same network.
 *
 * - Backbone kernels (`--weights none`, strategy 1 of Hai et al. 2022): He normal,
 *   N(0, sqrt(2 / fan_in)) (He et al. 2015; fan_in = kh*kw*C_in for a convolution, kh*kw for a
 *   depthwise kernel, inputs for a dense kernel). Keras' default Glorot init together with
 *   BatchNormalization in inference mode (moving mean 0, variance 1) shrinks a deep network's
 *   features towards 0 (1e-12 at MobileNetV2's output), which would make the frozen-feature stages
 *   meaningless; He init keeps their scale.
 * - Head Dense kernels: Glorot uniform, U(+-sqrt(6 / (fan_in + fan_out))), Keras' default.
 * - Biases, BN beta and moving mean 0; BN gamma and moving variance 1 (Keras' defaults).
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../util/rng.js';

function shortName(w: tf.LayerVariable): string {
  const n = w.originalName;
  return n.slice(n.lastIndexOf('/') + 1);
}

/** Overwrite every weight of `layers` with seeded values ('he' or 'glorot' kernels, see module note). */
export function seededInit(layers: readonly tf.layers.Layer[], rng: Rng, kernels: 'he' | 'glorot'): void {
  for (const layer of layers) {
    const values = layer.weights.map((w) => {
      const shape = w.shape.map((d) => d ?? 1);
      const n = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      const s = shortName(w);
      if (s === 'gamma' || s === 'moving_variance' || s === 'variance' || s === 'count') data.fill(1);
      else if (shape.length >= 2 && s.endsWith('kernel')) {
        const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
        const fanIn = s === 'depthwise_kernel' ? receptive : receptive * shape[shape.length - 2];
        const fanOut = receptive * shape[shape.length - 1];
        if (kernels === 'he') {
          const sd = Math.sqrt(2 / fanIn);
          for (let i = 0; i < n; i++) data[i] = rng.normal(0, sd);
        } else {
          const lim = Math.sqrt(6 / (fanIn + fanOut));
          for (let i = 0; i < n; i++) data[i] = rng.uniform(-lim, lim);
        }
      }
      return data;
    });
    if (values.length === 0) continue;
    const tensors = values.map((d, i) =>
      tf.tensor(
        d,
        layer.weights[i].shape.map((x) => x ?? 1),
      ),
    );
    layer.setWeights(tensors);
    tf.dispose(tensors);
  }
}
