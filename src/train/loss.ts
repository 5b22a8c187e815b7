/**
 * The training loss of the trainer and of its data-parallel workers (src/train/parallel/): Keras'
 * categorical cross-entropy on the 2-way softmax of Hai et al. (2022), and the one-hot labels.
 */
import * as tf from '@tensorflow/tfjs';
import type { Label } from '../domain/views.js';

/**
 * One-hot rows [n, 2] of `labels`, written directly (`tf.oneHot` of a `tf.tensor1d` costs two
 * tensors, and the index tensor leaked once per batch).
 */
export function oneHot(labels: readonly Label[]): tf.Tensor2D {
  const buf = new Float32Array(labels.length * 2);
  labels.forEach((l, i) => (buf[i * 2 + l] = 1));
  return tf.tensor2d(buf, [labels.length, 2]);
}

/** Keras categorical cross-entropy on probabilities (clipped to [1e-7, 1 - 1e-7]) for 2 classes: the batch mean. */
export function crossEntropy(probs: tf.Tensor, oneHot: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const p = tf.clipByValue(tf.div(probs, tf.sum(probs, -1, true)), 1e-7, 1 - 1e-7);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.log(p)), -1))) as tf.Scalar;
  });
}
