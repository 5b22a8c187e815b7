/**
 * Gradient accumulation over micro-batches: the wasm heap is capped at 4 GB, so a training step
 * whose activations would not fit is split into micro-batches whose gradients are summed with
 * weights size_k / batch. For a loss that is a mean over examples this returns the same value and
 * gradients as the full batch (up to float rounding), transparently for the caller.
 */
import * as tf from '@tensorflow/tfjs';

/** Default activation budget: half of the 4 GiB wasm heap, leaving room for weights and optimiser state. */
export const DEFAULT_MAX_BYTES = 2 * 2 ** 30;

/** How to size micro-batches. */
export interface MicroBatchOptions {
  /** Fixed micro-batch size (takes precedence over the memory budget). */
  microBatch?: number;
  /** Memory budget for one micro-batch's forward + backward pass, bytes (default DEFAULT_MAX_BYTES). */
  maxBytes?: number;
  /**
   * Estimated peak bytes per example of one gradient step; measured with tf.profile on a
   * one-example step when omitted and neither `microBatch` is given.
   */
  bytesPerExample?: number;
  /** Variables to differentiate (default: all trainable variables, as tf.variableGrads). */
  varList?: tf.Variable[];
}

/** Result of `accumulateGradients`. */
export interface AccumulatedGradients {
  /** Mean loss over the whole batch. */
  value: tf.Scalar;
  /** Gradient of the mean loss for every variable, keyed by variable name. */
  grads: tf.NamedTensorMap;
  /** Micro-batch size used. */
  microBatch: number;
  /** Number of micro-batches run. */
  steps: number;
}

/**
 * Largest micro-batch (>= 1, <= batch) whose estimated memory fits the budget.
 * @param bytesPerExample estimated peak bytes per example of one gradient step
 */
export function planMicroBatch(batch: number, bytesPerExample: number, maxBytes = DEFAULT_MAX_BYTES): number {
  if (!Number.isInteger(batch) || batch < 1)
    throw new Error(`planMicroBatch: batch must be a positive integer, got ${batch}`);
  if (!(bytesPerExample > 0))
    throw new Error(`planMicroBatch: bytesPerExample must be positive, got ${bytesPerExample}`);
  if (!(maxBytes > 0)) throw new Error(`planMicroBatch: maxBytes must be positive, got ${maxBytes}`);
  return Math.max(1, Math.min(batch, Math.floor(maxBytes / bytesPerExample)));
}

/** Peak bytes of one gradient step on the first example (a conservative per-example estimate); BN moving averages are left as they were. */
async function probeBytesPerExample(
  f: (inputs: tf.Tensor[]) => tf.Scalar,
  inputs: tf.Tensor[],
  varList: tf.Variable[] | undefined,
): Promise<number> {
  // a BatchNormalization layer in training mode moves its averages on every call: the probe's
  // one-example call must leave no trace, so they are put back afterwards
  const moving = Object.values(tf.engine().registeredVariables).filter(
    (v) => !v.trainable && /moving_(mean|variance)/.test(v.name),
  );
  const saved = moving.map((v) => tf.clone(v));
  try {
    const info = await tf.profile(() => {
      tf.tidy(() => {
        const one = inputs.map((t) => t.slice(0, 1));
        const { value, grads } = tf.variableGrads(() => f(one), varList);
        tf.dispose([value, ...Object.values(grads)]);
      });
    });
    return Math.max(info.peakBytes, 1);
  } finally {
    moving.forEach((v, i) => v.assign(saved[i]));
    tf.dispose(saved);
  }
}

/**
 * Gradients of the batch-mean loss `f` computed over micro-batches.
 *
 * @param f returns the MEAN loss over the examples it is given (one slice of every input tensor,
 *   along axis 0); it must not dispose its inputs.
 * @param inputs tensors whose first axis is the batch (e.g. images and labels); not disposed.
 * @param batch the batch size; every input must have it as its first dimension.
 * @param options fixed `microBatch`, or a `maxBytes` budget with an optional `bytesPerExample`.
 * @returns mean loss and gradients equal to those of the full batch; the caller disposes them.
 */
export async function accumulateGradients(
  f: (inputs: tf.Tensor[]) => tf.Scalar,
  inputs: tf.Tensor[],
  batch: number,
  options: MicroBatchOptions = {},
): Promise<AccumulatedGradients> {
  if (inputs.length === 0) throw new Error('accumulateGradients: no input tensors');
  if (!Number.isInteger(batch) || batch < 1)
    throw new Error(`accumulateGradients: batch must be a positive integer, got ${batch}`);
  inputs.forEach((t, i) => {
    if (t.shape[0] !== batch) {
      throw new Error(
        `accumulateGradients: input ${i} has first dimension ${t.shape[0]}, expected the batch size ${batch}`,
      );
    }
  });
  let micro: number;
  if (options.microBatch !== undefined) {
    if (!Number.isInteger(options.microBatch) || options.microBatch < 1) {
      throw new Error(
        `accumulateGradients: microBatch must be a positive integer, got ${options.microBatch}`,
      );
    }
    micro = Math.min(options.microBatch, batch);
  } else {
    const perExample = options.bytesPerExample ?? (await probeBytesPerExample(f, inputs, options.varList));
    micro = planMicroBatch(batch, perExample, options.maxBytes ?? DEFAULT_MAX_BYTES);
  }

  if (micro >= batch) {
    const { value, grads } = tf.variableGrads(() => f(inputs), options.varList);
    return { value, grads, microBatch: batch, steps: 1 };
  }

  let value: tf.Scalar | null = null;
  let grads: tf.NamedTensorMap | null = null;
  let steps = 0;
  for (let start = 0; start < batch; start += micro) {
    const size = Math.min(micro, batch - start);
    const weight = size / batch;
    const part = tf.tidy(() => {
      const slices = inputs.map((t) => t.slice(start, size));
      const r = tf.variableGrads(() => f(slices), options.varList);
      const g: tf.NamedTensorMap = {};
      for (const [k, v] of Object.entries(r.grads)) g[k] = tf.mul(v, weight);
      return { value: tf.mul(r.value, weight) as tf.Scalar, grads: g };
    });
    steps++;
    if (value === null || grads === null) {
      value = part.value;
      grads = part.grads;
      continue;
    }
    const sum: tf.Scalar = tf.add(value, part.value);
    tf.dispose([value, part.value]);
    value = sum;
    for (const k of Object.keys(grads)) {
      const acc = tf.add(grads[k], part.grads[k]);
      tf.dispose([grads[k], part.grads[k]]);
      grads[k] = acc;
    }
  }
  if (value === null || grads === null) throw new Error('accumulateGradients: empty batch');
  return { value, grads, microBatch: micro, steps };
}
