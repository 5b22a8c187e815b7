/**
 * Messages between the data-parallel training pool (pool.ts, main thread) and its workers
 * (worker.ts), and the one rule that splits a mini-batch into shards. Bulk data travels through
 * SharedArrayBuffers: the stage's training rows and the current weights (written by the main
 * thread, read by every worker) and one gradient slot per worker (written by that worker alone).
 */
import type { Label } from '../../domain/views.js';
import type { BnPolicy } from '../../models/unfreeze.js';
import type { MovingStatsReply } from './moving-stats.js';

/** `workerData` of a training worker. */
export interface WorkerInit {
  /** Index of this worker (its gradient slot). */
  index: number;
  /** `model.toJSON(null, false)`: the topology, rebuilt with fresh weights in the worker. */
  topology: object;
  /** Names of `model.layers` in order (checked against the rebuilt model). */
  layerNames: string[];
  headLayers: number;
  backend: 'wasm' | 'cpu';
}

/** The stage a worker trains: which part of the model, its data and its shared buffers. */
export interface StageMessage {
  type: 'stage';
  /** Stage name (error messages). */
  name: string;
  /** First layer run (index in `model.layers`) and the settings that made it trainable. */
  start: number;
  unfreeze: number;
  bnPolicy: BnPolicy;
  /** Keys of the trainable weights in the main thread's optimiser order (checked by the worker). */
  keys: string[];
  /** Sizes of the trainable weights, same order. */
  sizes: number[];
  /** Every weight of the trained part (trainable or not) at the start of the stage. */
  weights: [string, Float32Array][];
  /** Training rows per cut layer: [examples, ...shape] float32, example-major. */
  rows: SharedArrayBuffer[];
  shapes: number[][];
  labels: Label[];
  /** Dropout layers, in the main thread's sub-graph order (checked by the worker). */
  dropouts: string[];
  /** Fixed micro-batch size within a shard, or undefined to plan it from a memory probe. */
  microBatch?: number;
  /** BatchNormalization in training mode (batch statistics of each forward call). */
  trainBn: boolean;
  /** The BN layers whose moving averages training mode updates, in moving-stats.ts order. */
  bnLayers: string[];
  /** Current trainable weights, concatenated in `keys` order (main writes before each step). */
  params: SharedArrayBuffer;
  /** Gradient slots, one per worker, each the size of `params`. */
  grads: SharedArrayBuffer;
}

/** One shard of a mini-batch. */
export interface StepMessage {
  type: 'step';
  /** Training-row indices of the shard, in batch order. */
  rows: number[];
  /** Dropout masks of the shard, one per dropout layer: [shard, width], already scaled by 1/(1-rate). */
  masks: Float32Array[];
  /** With `trainBn`: the main thread's BN moving averages, loaded before the step. */
  movingStats?: Float32Array;
}

export type ToWorker = StageMessage | StepMessage;

export type FromWorker =
  | { type: 'ready' }
  | { type: 'stage-ready' }
  /** `loss`: the shard's mean loss; `probs`: its class-1 probabilities in order; gradients are in the slot; BN moving averages with `trainBn`. */
  | ({ type: 'step-done'; loss: number; probs: Float32Array; microBatch: number } & MovingStatsReply)
  | { type: 'error'; message: string };

/**
 * Contiguous shards of a batch of `n` over `workers`: [start, end) per worker, the first `n % workers`
 * one example longer (empty shards when n < workers).
 * @example shardBounds(5, 2) // [[0, 3], [3, 5]]
 */
export function shardBounds(n: number, workers: number): [number, number][] {
  const base = Math.floor(n / workers);
  const extra = n % workers;
  const out: [number, number][] = [];
  let a = 0;
  for (let k = 0; k < workers; k++) {
    const b = a + base + (k < extra ? 1 : 0);
    out.push([a, b]);
    a = b;
  }
  return out;
}
