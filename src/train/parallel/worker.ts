/**
 * A data-parallel training worker (see pool.ts): its own TensorFlow.js backend (wasm, one thread)
 * and its own copy of the model, rebuilt from the topology with the stage's weights loaded. Per
 * step it reads the current weights from shared memory, computes the mean loss and its gradients
 * on its shard of the mini-batch (the same sub-graph, dropout masks and loss as the trainer) and
 * writes the gradients into its own slot of the shared gradient buffer.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend, tf } from '../../engine/backend.js';
import { accumulateGradients } from '../../engine/microbatch.js';
import '../../models/layers/keras-layers.js';
import { setTrainableTop } from '../../models/unfreeze.js';
import { runSubGraph, subGraph, type SubGraph } from '../graph.js';
import { crossEntropy, oneHot } from '../loss.js';
import { movingStatsOf, readMovingStats, writeMovingStats, type MovingStats } from './moving-stats.js';
import { applyWeights, weightKey } from '../weights.js';
import type { FromWorker, StageMessage, StepMessage, ToWorker, WorkerInit } from './protocol.js';

interface Stage {
  msg: StageMessage;
  g: SubGraph;
  vars: tf.Variable[];
  offsets: number[];
  rows: Float32Array[];
  per: number[];
  microBatch?: number;
  /** BN layers whose moving averages this worker updates (`trainBn`). */
  bn: MovingStats[];
}

const init = workerData as WorkerInit;
if (parentPort === null) throw new Error('src/train/parallel/worker.ts must run in a worker thread');
const port = parentPort;
const post = (m: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

async function buildModel(): Promise<tf.LayersModel> {
  await initBackend(init.backend);
  const model = await tf.models.modelFromJSON(init.topology as tf.serialization.ConfigDict);
  const names = model.layers.map((l) => l.name);
  if (names.join('\n') !== init.layerNames.join('\n'))
    throw new Error('the rebuilt model does not have the same layers as the trained model');
  return model;
}

function beginStage(model: tf.LayersModel, msg: StageMessage): Stage {
  setTrainableTop(model, msg.unfreeze, init.headLayers, msg.bnPolicy);
  const g = subGraph(model, msg.start, init.headLayers);
  const drop = g.dropouts.map((d) => d.name);
  if (drop.join('\n') !== msg.dropouts.join('\n'))
    throw new Error(`stage '${msg.name}': dropout layers differ from the main thread's`);
  applyWeights(model, new Map(msg.weights));
  const params = model.layers
    .slice(msg.start)
    .flatMap((l) => l.trainableWeights.map((w) => ({ key: weightKey(l, w), v: w.read() as tf.Variable })));
  const keys = params.map((p) => p.key);
  if (keys.join('\n') !== msg.keys.join('\n'))
    throw new Error(`stage '${msg.name}': trainable weights differ from the main thread's`);
  const offsets: number[] = [];
  let off = 0;
  for (const s of msg.sizes) {
    offsets.push(off);
    off += s;
  }
  return {
    msg,
    g,
    vars: params.map((p) => p.v),
    offsets,
    rows: msg.rows.map((b) => new Float32Array(b)),
    per: msg.shapes.map((s) => s.reduce((a, b) => a * b, 1)),
    microBatch: msg.microBatch,
    bn: bnLayers(model, msg),
  };
}

/** The stage's BN layers in training mode, in the main thread's order (checked). */
function bnLayers(model: tf.LayersModel, msg: StageMessage): MovingStats[] {
  if (!msg.trainBn) return [];
  const bn = movingStatsOf(model.layers.slice(msg.start));
  if (bn.map((b) => b.layer).join('\n') !== msg.bnLayers.join('\n'))
    throw new Error(
      `stage '${msg.name}': BatchNormalization layers in training mode differ from the main thread's`,
    );
  return bn;
}

/** Load the current weights the main thread wrote into shared memory. */
function loadParams(st: Stage): void {
  const all = new Float32Array(st.msg.params);
  tf.tidy(() => {
    st.vars.forEach((v, i) => {
      const size = st.msg.sizes[i];
      v.assign(tf.tensor(all.slice(st.offsets[i], st.offsets[i] + size), v.shape));
    });
  });
}

/** The shard's inputs: cut activations, one-hot labels, dropout masks (trainer.ts order). */
function shardInputs(st: Stage, step: StepMessage): tf.Tensor[] {
  const n = step.rows.length;
  const xs = st.msg.shapes.map((shape, j) => {
    const per = st.per[j];
    const buf = new Float32Array(n * per);
    step.rows.forEach((r, k) => buf.set(st.rows[j].subarray(r * per, (r + 1) * per), k * per));
    return tf.tensor(buf, [n, ...shape]);
  });
  const y = oneHot(step.rows.map((r) => st.msg.labels[r]));
  const masks = step.masks.map((m, k) => tf.tensor(m, [n, st.g.dropouts[k].width]));
  return [...xs, y, ...masks];
}

async function runStep(st: Stage, step: StepMessage): Promise<FromWorker> {
  loadParams(st);
  if (step.movingStats !== undefined) writeMovingStats(st.bn, step.movingStats);
  const n = step.rows.length;
  const ins = shardInputs(st, step);
  const nx = st.msg.shapes.length;
  const probsOut: number[] = [];
  const res = await accumulateGradients(
    (xs) => {
      const mm = new Map(st.g.dropouts.map((d, k) => [d.name, xs[nx + 1 + k]]));
      const p = runSubGraph(st.g, xs.slice(0, nx), { bnTraining: st.msg.trainBn, masks: mm });
      probsOut.push(...tf.tidy(() => p.slice([0, 1], [-1, 1]).dataSync()));
      return crossEntropy(p, xs[nx]);
    },
    ins,
    n,
    { microBatch: st.microBatch, varList: st.vars },
  );
  st.microBatch ??= res.microBatch;
  const bytes = st.msg.params.byteLength;
  const slot = new Float32Array(st.msg.grads, init.index * bytes, bytes / 4);
  st.vars.forEach((v, i) => {
    const g = res.grads[v.name];
    if (g === undefined) slot.fill(0, st.offsets[i], st.offsets[i] + st.msg.sizes[i]);
    else slot.set(g.dataSync() as Float32Array, st.offsets[i]);
  });
  const loss = (await res.value.data())[0];
  tf.dispose([res.value, ...Object.values(res.grads), ...ins]);
  const probs = Float32Array.from(probsOut.slice(probsOut.length - n));
  return {
    type: 'step-done',
    loss,
    probs,
    microBatch: res.microBatch,
    updates: res.steps,
    ...(st.bn.length > 0 ? { movingStats: readMovingStats(st.bn) } : {}),
  };
}

function fail(e: unknown): void {
  post({ type: 'error', message: e instanceof Error ? e.message : String(e) });
}

async function main(): Promise<void> {
  const model = await buildModel();
  let stage: Stage | null = null;
  // one message at a time: the pool sends the next only after the reply to this one
  port.on('message', (m: ToWorker) => {
    void (async () => {
      try {
        if (m.type === 'stage') {
          stage = beginStage(model, m);
          post({ type: 'stage-ready' });
        } else {
          if (stage === null) throw new Error('step before any stage');
          const r = await runStep(stage, m);
          post(r, r.type === 'step-done' ? [r.probs.buffer as ArrayBuffer] : []);
        }
      } catch (e) {
        fail(e);
      }
    })();
  });
  post({ type: 'ready' });
}

main().catch(fail);
