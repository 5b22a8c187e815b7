/**
 * BatchNormalization moving averages under data-parallel training (pool.ts, worker.ts).
 *
 * In training mode a BN layer normalises with the statistics of the examples one forward call
 * sees and moves its averages towards them: m <- b m + (1 - b) s, with b its momentum (0.99 in
 * Keras). Each worker starts from the main thread's averages m0 and, after u forward calls on its
 * shard (u micro-batches), holds m_k = b^u m0 + c_k. Running the shards one after another on one
 * thread would give, worker by worker, m <- b^u m + c_k = b^u m + (m_k - b^u m0): that fold,
 * in worker order, is what the main thread keeps ({@link foldMovingStats}).
 */
import * as tf from '@tensorflow/tfjs';
import { isBatchNorm } from '../../models/unfreeze.js';

type LayerVariable = tf.layers.Layer['weights'][number];

function sizeOf(v: LayerVariable): number {
  return tf.util.sizeFromShape(v.shape as number[]);
}

/** One BN layer trained in training mode: its moving mean and variance, in that order. */
export interface MovingStats {
  /** Layer name (the same in the main thread and in every worker). */
  readonly layer: string;
  readonly momentum: number;
  readonly vars: readonly LayerVariable[];
  /** Values of `vars` together. */
  readonly size: number;
}

/** What a worker reports of its moving averages after a step. */
export interface MovingStatsReply {
  /** The worker's averages after the step, in {@link readMovingStats} order. */
  readonly movingStats?: Float32Array;
  /** Forward calls it made (its micro-batches). */
  readonly updates: number;
}

/**
 * The BN layers among `layers` that training mode updates (trainable BN layers), in order.
 * @example movingStatsOf(model.layers.slice(start)).map((b) => b.layer) // ['bn_1', 'bn_2']
 */
export function movingStatsOf(layers: readonly tf.layers.Layer[]): MovingStats[] {
  return layers
    .filter((l) => isBatchNorm(l) && l.trainable)
    .map((l) => {
      const vars = ['moving_mean', 'moving_variance'].map((n) => {
        const v = l.weights.find((w) => w.originalName.endsWith(`/${n}`));
        if (v === undefined) throw new Error(`internal: BatchNormalization ${l.name} has no ${n}`);
        return v;
      });
      const momentum = (l.getConfig() as { momentum?: number }).momentum ?? 0.99;
      return { layer: l.name, momentum, vars, size: vars.reduce((a, v) => a + sizeOf(v), 0) };
    });
}

/** Every moving average of `bn`, concatenated. */
export function readMovingStats(bn: readonly MovingStats[]): Float32Array {
  const out = new Float32Array(bn.reduce((a, b) => a + b.size, 0));
  let off = 0;
  for (const b of bn)
    for (const v of b.vars) {
      const d = v.read().dataSync() as Float32Array;
      out.set(d, off);
      off += d.length;
    }
  return out;
}

/** Set the moving averages of `bn` to `values` ({@link readMovingStats} order). */
export function writeMovingStats(bn: readonly MovingStats[], values: Float32Array): void {
  let off = 0;
  tf.tidy(() => {
    for (const b of bn)
      for (const v of b.vars) {
        const n = sizeOf(v);
        v.write(tf.tensor(values.slice(off, off + n), v.shape as number[]));
        off += n;
      }
  });
}

/**
 * The averages one thread would hold after the workers' shards, in worker order (module note):
 * `start` the averages every worker started from, `replies` the workers' (null: an empty shard).
 * @example foldMovingStats(bn, m0, [{ movingStats: m1, updates: 1 }, null])
 */
export function foldMovingStats(
  bn: readonly MovingStats[],
  start: Float32Array,
  replies: readonly (MovingStatsReply | null)[],
): Float32Array {
  const m = start.slice();
  for (const r of replies) {
    if (r === null || r.movingStats === undefined) continue;
    const mk = r.movingStats;
    let off = 0;
    for (const b of bn) {
      const f = b.momentum ** r.updates;
      for (let i = off; i < off + b.size; i++) m[i] = f * m[i] + (mk[i] - f * start[i]);
      off += b.size;
    }
  }
  return m;
}
