/**
 * Named weight values of a model's layers (key `<layer>/<weight>`): snapshots and writes, used by
 * the trainer (best-epoch weights, checkpoints, restoring the model) and by the data-parallel
 * training workers (src/train/parallel/), which load the same keys into their own copy of the model.
 */
import * as tf from '@tensorflow/tfjs';

/** Named weight values (key `<layer>/<weight>`). */
export type WeightValues = Map<string, Float32Array>;

/** The key of weight `w` of `layer`: `<layer>/<weight>` (e.g. `dense/kernel`). */
export function weightKey(layer: tf.layers.Layer, w: tf.LayerVariable): string {
  const n = w.originalName;
  return `${layer.name}/${n.slice(n.lastIndexOf('/') + 1)}`;
}

/** Values of every weight of `layers` (trainable or not). */
export function snapshotWeights(layers: readonly tf.layers.Layer[]): WeightValues {
  const out: WeightValues = new Map();
  for (const l of layers)
    for (const w of l.weights) out.set(weightKey(l, w), w.read().dataSync().slice() as Float32Array);
  return out;
}

/** Write `values` into the weights of `model` they name (others untouched). */
export function applyWeights(model: tf.LayersModel, values: ReadonlyMap<string, Float32Array>): void {
  tf.tidy(() => {
    for (const l of model.layers) {
      for (const w of l.weights) {
        const v = values.get(weightKey(l, w));
        if (v === undefined) continue;
        const shape = w.shape.map((d) => d ?? 1);
        if (v.length !== shape.reduce((a, b) => a * b, 1))
          throw new Error(`weight ${weightKey(l, w)}: ${v.length} values for shape [${shape.join(', ')}]`);
        w.write(tf.tensor(v, shape));
      }
    }
  });
}
