/**
 * Data-parallel training over Node worker threads: each mini-batch is split into contiguous
 * shards (`shardBounds`), one per worker; every worker has its own TensorFlow.js backend (the
 * wasm backend runs one thread per thread) and its own copy of the trained part of the model, and
 * computes the mean loss and gradients of its shard; the main thread sums the gradients in worker
 * order, each weighted by its shard's share of the batch, so the result is the gradient of the
 * batch's mean loss (the single-thread trainer's, up to float rounding) and the same every run.
 * The main thread keeps the optimiser (src/train/adam.ts), the checkpoints and the validation
 * scoring; it writes the updated weights to shared memory before each step.
 *
 * This is the "both cores" part of training the whole network as in Hai et al. (2022), Table 4
 * (strategies that train every layer), whose per-epoch cost is the gradient step.
 *
 * BatchNormalization in training mode (`trainBn`) normalises with the statistics of what one
 * forward call sees: a micro-batch on one thread, a shard's micro-batch on a worker (as PyTorch's
 * DataParallel without SyncBatchNorm, the "ghost batch" of Hoffer et al. 2017). With a micro-batch
 * equal to the shard (`--micro-batch` = batch / workers) both paths compute the same statistics.
 * Each worker updates its copy of the moving averages from the main thread's values; the main
 * thread folds the workers' updates in worker order (`foldMovingStats`), which is what one thread
 * running the shards one after another would have written.
 *
 * @example
 * const pool = await GradientPool.start({ model, headLayers, stages, workers: 2 });
 * try {
 *   await pool.beginStage({ ... });
 *   const { loss, grads, probs } = await pool.step(batchRows, dropoutMasks);
 *   adam.applyGradients(grads);
 * } finally {
 *   await pool.close();
 * }
 */
import type { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { Label } from '../../domain/views.js';
import type { BnPolicy } from '../../models/unfreeze.js';
import { InputError } from '../../util/errors.js';
import { startModuleWorker } from '../../util/worker-thread.js';
import type { SubGraph } from '../graph.js';
import { snapshotWeights } from '../weights.js';
import {
  foldMovingStats,
  movingStatsOf,
  readMovingStats,
  writeMovingStats,
  type MovingStats,
} from './moving-stats.js';
import {
  shardBounds,
  type FromWorker,
  type StageMessage,
  type ToWorker,
  type WorkerInit,
} from './protocol.js';

/** Most worker threads accepted (a sanity bound, far above any CPU polarcad targets). */
export const MAX_TRAIN_WORKERS = 256;

/** The stage settings the pool checks and the workers reproduce. */
export interface ParallelStageSpec {
  name: string;
  unfreeze: number;
  bnPolicy?: BnPolicy;
  trainBn?: boolean;
}

/** Options of {@link GradientPool.start}. */
export interface PoolOptions {
  /** The model being trained (its topology is rebuilt in every worker). */
  model: tf.LayersModel;
  headLayers: number;
  /** Every stage the pool will run (checked before any worker starts). */
  stages: readonly ParallelStageSpec[];
  workers: number;
}

/** One stage as the trainer set it up. */
export interface PoolStage {
  name: string;
  /** Index of the first layer run (the trainer's `starts[i]`). */
  start: number;
  unfreeze: number;
  bnPolicy: BnPolicy;
  /** The trained layers (`model.layers.slice(start)`); their weights are sent to the workers. */
  part: readonly tf.layers.Layer[];
  /** The optimiser's variables in its order, with their keys. */
  params: readonly { key: string; variable: tf.Variable }[];
  /** Training rows per example and cut layer, their shapes (without the batch axis) and labels. */
  rows: readonly Float32Array[][];
  shapes: readonly number[][];
  labels: readonly Label[];
  dropouts: SubGraph['dropouts'];
  microBatch?: number;
  /** BatchNormalization in training mode (batch statistics, moving averages updated). */
  trainBn: boolean;
}

/** Result of one data-parallel gradient step. */
export interface PoolStep {
  /** Mean loss over the batch. */
  loss: number;
  /** Gradients of the mean loss, keyed by the main thread's variable names (the caller disposes them). */
  grads: tf.NamedTensorMap;
  /** Class-1 probabilities of the batch's examples, in batch order. */
  probs: Float32Array;
}

interface Pending {
  resolve: (m: FromWorker) => void;
  reject: (e: Error) => void;
}

/** Worker threads computing the gradients of shards of each mini-batch (see the module comment). */
export class GradientPool {
  private readonly pending: (Pending | null)[];
  private failure: Error | null = null;
  private closing = false;
  private sizes: number[] = [];
  private params: readonly { key: string; variable: tf.Variable }[] = [];
  private paramBuf: Float32Array = new Float32Array(0);
  private gradBuf: Float32Array = new Float32Array(0);
  private bn: MovingStats[] = [];

  private constructor(private readonly workers: Worker[]) {
    this.pending = workers.map(() => null);
  }

  /**
   * Start `workers` threads, each rebuilding `model` from its topology; resolves when all are ready.
   * @throws InputError for a bad worker count or a stage the pool cannot run; Error when a worker fails to start.
   */
  static async start(o: PoolOptions): Promise<GradientPool> {
    if (!Number.isInteger(o.workers) || o.workers < 1 || o.workers > MAX_TRAIN_WORKERS)
      throw new InputError(
        `training workers must be an integer in [1, ${MAX_TRAIN_WORKERS}], got ${o.workers}`,
      );
    const backend = tf.getBackend();
    if (backend !== 'wasm' && backend !== 'cpu')
      throw new Error(`parallel training runs on the wasm or cpu backend, not '${backend}'`);
    const topology = o.model.toJSON(null, false) as object;
    const layerNames = o.model.layers.map((l) => l.name);
    const workers = Array.from({ length: o.workers }, (_, index) => {
      const workerData: WorkerInit = { index, topology, layerNames, headLayers: o.headLayers, backend };
      return startModuleWorker(import.meta.url, './worker', { workerData });
    });
    const pool = new GradientPool(workers);
    const ready = workers.map((_, k) => pool.expect(k));
    workers.forEach((w, k) => pool.listen(w, k));
    try {
      await Promise.all(ready);
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /** Number of worker threads. */
  get size(): number {
    return this.workers.length;
  }

  /** Send a stage to every worker: its weights, its rows (shared) and fresh shared buffers. */
  async beginStage(s: PoolStage): Promise<void> {
    this.params = s.params;
    this.sizes = s.params.map((p) => p.variable.size);
    const total = this.sizes.reduce((a, b) => a + b, 0);
    const params = new SharedArrayBuffer(total * 4);
    const grads = new SharedArrayBuffer(total * 4 * this.workers.length);
    this.paramBuf = new Float32Array(params);
    this.gradBuf = new Float32Array(grads);
    const rows = s.shapes.map((shape, j) => {
      const per = shape.reduce((a, b) => a * b, 1);
      const buf = new SharedArrayBuffer(s.rows.length * per * 4);
      const view = new Float32Array(buf);
      s.rows.forEach((r, i) => view.set(r[j], i * per));
      return buf;
    });
    const msg: StageMessage = {
      type: 'stage',
      name: s.name,
      start: s.start,
      unfreeze: s.unfreeze,
      bnPolicy: s.bnPolicy,
      keys: s.params.map((p) => p.key),
      sizes: this.sizes,
      weights: [...snapshotWeights(s.part)],
      rows,
      shapes: s.shapes.map((x) => [...x]),
      labels: [...s.labels],
      dropouts: s.dropouts.map((d) => d.name),
      microBatch: s.microBatch,
      trainBn: s.trainBn,
      bnLayers: [],
      params,
      grads,
    };
    this.bn = s.trainBn ? movingStatsOf(s.part) : [];
    msg.bnLayers = this.bn.map((b) => b.layer);
    await Promise.all(this.workers.map((_, k) => this.request(k, msg)));
  }

  /**
   * The loss, gradients and class-1 probabilities of the batch of training rows `rows` (in batch
   * order) with dropout masks `masks` ([rows.length, width] each, in sub-graph order), computed
   * by the workers from the variables' current values.
   */
  async step(rows: readonly number[], masks: readonly Float32Array[]): Promise<PoolStep> {
    const n = rows.length;
    let off = 0;
    for (const p of this.params) {
      this.paramBuf.set(p.variable.dataSync() as Float32Array, off);
      off += p.variable.size;
    }
    const widths = masks.map((m) => m.length / n);
    const bounds = shardBounds(n, this.workers.length);
    const stats = readMovingStats(this.bn);
    const replies = await Promise.all(
      bounds.map(([a, b], k) =>
        b > a
          ? this.request(k, {
              type: 'step',
              rows: rows.slice(a, b),
              masks: masks.map((m, d) => m.slice(a * widths[d], b * widths[d])),
              ...(this.bn.length > 0 ? { movingStats: stats } : {}),
            })
          : null,
      ),
    );
    if (this.bn.length > 0)
      writeMovingStats(
        this.bn,
        foldMovingStats(
          this.bn,
          stats,
          replies.map((r) => (r?.type === 'step-done' ? r : null)),
        ),
      );
    return this.combine(bounds, replies, n);
  }

  /** Sum the shards' gradients in worker order, weighted by shard size / batch size. */
  private combine(bounds: [number, number][], replies: (FromWorker | null)[], n: number): PoolStep {
    const total = this.paramBuf.length;
    const sum = new Float32Array(total);
    const probs = new Float32Array(n);
    let loss = 0;
    const parts: { w: number; slot: Float32Array }[] = [];
    replies.forEach((r, k) => {
      if (r === null) return;
      if (r.type !== 'step-done') throw new Error(`training worker ${k}: unexpected reply '${r.type}'`);
      const [a, b] = bounds[k];
      const w = (b - a) / n;
      loss += w * r.loss;
      probs.set(r.probs, a);
      parts.push({ w, slot: this.gradBuf.subarray(k * total, (k + 1) * total) });
    });
    for (let i = 0; i < total; i++) {
      let s = 0;
      for (const p of parts) s += p.w * p.slot[i];
      sum[i] = s;
    }
    const grads: tf.NamedTensorMap = {};
    let off = 0;
    this.params.forEach((p, i) => {
      grads[p.variable.name] = tf.tensor(sum.slice(off, off + this.sizes[i]), p.variable.shape);
      off += this.sizes[i];
    });
    return { loss, grads, probs };
  }

  /** Terminate every worker (idempotent); waits until the threads have exited. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private listen(w: Worker, k: number): void {
    w.on('message', (m: FromWorker) => {
      if (m.type === 'error') {
        this.fail(new Error(`training worker ${k}: ${m.message}`));
        return;
      }
      const p = this.pending[k];
      this.pending[k] = null;
      p?.resolve(m);
    });
    w.on('error', (e) => this.fail(new Error(`training worker ${k} crashed: ${e.message}`)));
    w.on('exit', (code) => {
      if (!this.closing)
        this.fail(new Error(`training worker ${k} stopped unexpectedly (exit code ${code})`));
    });
  }

  /** A promise of worker k's next reply. */
  private expect(k: number): Promise<FromWorker> {
    return new Promise<FromWorker>((resolve, reject) => {
      if (this.failure !== null) reject(this.failure);
      else this.pending[k] = { resolve, reject };
    });
  }

  private request(k: number, msg: ToWorker): Promise<FromWorker> {
    const reply = this.expect(k);
    if (this.failure === null) this.workers[k].postMessage(msg);
    return reply;
  }

  /** First failure wins; every waiting request is rejected with it, later ones at once. */
  private fail(e: Error): void {
    this.failure ??= e;
    this.pending.forEach((p, k) => {
      this.pending[k] = null;
      p?.reject(this.failure as Error);
    });
  }
}
