/**
 * One polarcad-side measurement of the engine benchmark (`bench/engine.bench.ts`), in its own
 * process so that its peak RSS is its own:
 *
 *   node --import tsx bench/engine-worker.ts export  NAME FILE.onnx
 *   node --import tsx bench/engine-worker.ts forward NAME FILE.onnx [--runs N]
 *   node --import tsx bench/engine-worker.ts step    ResNet50V2|MobileNetV2 [--steps N]
 *   node --import tsx bench/engine-worker.ts warmup  [--epochs 100 --train 175 --val 44]
 *
 * - forward: the frozen forward path of the product: the tfjs backbone (seeded He-scaled random
 *   weights, include_top=False, 224 px) exported by `exportToOnnx`, run by `OnnxModel` (ONNX
 *   Runtime, 2 intra-op threads), batch 16; median of --runs calls after one warm-up.
 * - step: one training step of the top block + Hai head on cached inputs, batch 16, on tfjs-wasm
 *   with polarcad's gradient kernels: the trainer's per-batch body (`src/train/trainer.ts`
 *   `trainStages`: stack the cached rows, one-hot labels, seeded dropout masks, `runSubGraph` with
 *   BatchNormalization in inference mode, `accumulateGradients`, our `Adam`), which the trainer does
 *   not export as a function, so it is restated here with the trainer's own exported pieces.
 * - warmup: the product's warm-up stage itself: `trainStages` with one head-only stage (unfreeze 0,
 *   cut at 'global_average_pooling2d', a 2048-wide feature) on ResNet50V2 + Hai head; the features
 *   of all examples are computed by ONNX Runtime into the `TrainingSetup` BEFORE the clock starts
 *   (the stage then reads them from its in-memory table, the "cached feature").
 *
 * Prints one marked JSON line (`formatWorkerLine`).
 */
import { loadavg } from 'node:os';
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { initBackend, tf } from '../src/engine/backend.js';
import { accumulateGradients } from '../src/engine/microbatch.js';
import { addHaiHead, HAI_HEAD_LAYERS } from '../src/models/heads.js';
import { getBackbone } from '../src/models/table.js';
import { setTrainableTop } from '../src/models/unfreeze.js';
import { Adam } from '../src/train/adam.js';
import { dropoutMaskValues, runSubGraph, subGraph } from '../src/train/graph.js';
import { trainStages, TrainingSetup, type Example } from '../src/train/trainer.js';
import { Rng } from '../src/util/rng.js';
import { randomInput, randomizeWeights } from '../test/engine/onnx-helpers.js';
import { formatWorkerLine, median, round } from './backbones-lib.js';
import { TOP_BLOCKS, type TopBlockName } from './engine-lib.js';

const WEIGHT_SEED = 7;
const THREADS = 2;
const BATCH = 16;
const MiB = 2 ** 20;
const peakRssMiB = (): number => round((process.resourceUsage().maxRSS * 1024) / MiB, 1);
const rssMiB = (): number => round(process.memoryUsage().rss / MiB, 1);
const load1 = (): number => round(loadavg()[0], 2);

function wasmHeapMiB(): number | undefined {
  const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.buffer
    .byteLength;
  return heap === undefined ? undefined : round(heap / MiB, 0);
}

function build(name: string, withHead: boolean): tf.LayersModel {
  const spec = getBackbone(name);
  const backbone = spec.build({ inputShape: [224, 224, 3] });
  const model = withHead ? addHaiHead(backbone) : backbone;
  randomizeWeights(model, WEIGHT_SEED, 0.3, 'he');
  return model;
}

async function runExport(name: string, file: string): Promise<Record<string, unknown>> {
  const { exportToOnnx } = await import('../src/engine/onnx/export.js');
  await initBackend('wasm');
  const model = build(name, false);
  const t0 = performance.now();
  const bytes = exportToOnnx(model);
  const exportMs = performance.now() - t0;
  await writeFile(file, bytes);
  model.dispose();
  return { exportMs: round(exportMs, 0), onnxMiB: round(bytes.length / MiB, 1) };
}

async function runForward(name: string, file: string, runs: number): Promise<Record<string, unknown>> {
  const { OnnxModel } = await import('../src/engine/onnx/session.js');
  const l0 = load1();
  const baseline = rssMiB();
  const session = await OnnxModel.create(await readFile(file), { threads: THREADS, maxBatch: BATCH });
  const shape = [BATCH, 224, 224, 3];
  const x = randomInput(shape, 2);
  const y = await session.run(x, shape); // warm-up
  const times: number[] = [];
  const c0 = process.cpuUsage();
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await session.run(x, shape);
    times.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(c0);
  const out = y[session.outputNames[0]];
  await session.dispose();
  return {
    figure: 'forward',
    model: name,
    engine: 'onnxruntime-node (exportToOnnx), 2 intra-op threads',
    batch: BATCH,
    outputShape: out.dims,
    runsMs: times.map((t) => round(t, 1)),
    msPerImage: round(median(times) / BATCH, 2),
    cpuMsPerImage: round((cpu.user + cpu.system) / 1000 / (runs * BATCH), 2),
    baselineRssMiB: baseline,
    peakRssMiB: peakRssMiB(),
    loadavg: [l0, load1()],
  };
}

/** Seeded standard-normal Float32Array. */
function normals(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

/** Keras categorical cross-entropy on probabilities, as the trainer computes it. */
function crossEntropy(probs: tf.Tensor, oneHot: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const p = tf.clipByValue(tf.div(probs, tf.sum(probs, -1, true)), 1e-7, 1 - 1e-7);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.log(p)), -1))) as tf.Scalar;
  });
}

async function runStep(name: TopBlockName, steps: number): Promise<Record<string, unknown>> {
  await initBackend('wasm');
  const l0 = load1();
  const baseline = rssMiB();
  const block = TOP_BLOCKS[name];
  const model = build(name, true);
  const nBackbone = model.layers.length - HAI_HEAD_LAYERS;
  const first = model.layers.findIndex((l) => l.name === block.firstLayer);
  if (first < 0) throw new Error(`${name}: no layer ${block.firstLayer}`);
  setTrainableTop(model, nBackbone - first, HAI_HEAD_LAYERS, 'follow');
  const start = model.layers.findIndex((l) => l.trainable && l.trainableWeights.length > 0);
  const g = subGraph(model, start, HAI_HEAD_LAYERS);
  const shapes = g.cut.map(
    (n) => model.getLayer(n).inboundNodes[0].outputTensors[0].shape.slice(1) as number[],
  );
  const part = model.layers.slice(start);
  const params = part.flatMap((l) =>
    l.trainableWeights.map((w) => ({
      key: `${l.name}/${w.originalName}`,
      variable: w.read() as tf.Variable,
      lr: 1e-4,
    })),
  );
  const trainableParams = params.reduce((s, p) => s + p.variable.size, 0);
  const adam = new Adam(params);
  const varList = params.map((p) => p.variable);
  const rng = new Rng(11);
  // cached inputs: one Float32Array per example and cut layer (what TrainingSetup.features returns)
  const rows = Array.from({ length: BATCH }, () =>
    shapes.map((s) =>
      normals(
        s.reduce((a, b) => a * b, 1),
        rng,
      ),
    ),
  );
  const labels = Array.from({ length: BATCH }, () => rng.int(0, 1));
  const stack = (j: number, s: readonly number[]): tf.Tensor => {
    const per = s.reduce((a, b) => a * b, 1);
    const buf = new Float32Array(BATCH * per);
    rows.forEach((r, k) => buf.set(r[j], k * per));
    return tf.tensor(buf, [BATCH, ...s]);
  };
  const nx = shapes.length;
  const step = async (): Promise<number> => {
    // the body of trainStages' batch loop
    const xs = shapes.map((s, j) => stack(j, s));
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 2)); // (trainStages leaks the int32 tensor here: one per batch)
    const masks = dropoutMaskValues(g, BATCH, () => rng.next()).map((buf, k) =>
      tf.tensor(buf, [BATCH, g.dropouts[k].width]),
    );
    const res = await accumulateGradients(
      (ins) => {
        const mm = new Map(g.dropouts.map((d, k) => [d.name, ins[nx + 1 + k]]));
        const p = runSubGraph(g, ins.slice(0, nx), { bnTraining: false, masks: mm });
        return crossEntropy(p, ins[nx]);
      },
      [...xs, y, ...masks],
      BATCH,
      { microBatch: BATCH, varList },
    );
    const loss = (await res.value.data())[0];
    adam.applyGradients(res.grads);
    tf.dispose([res.value, ...Object.values(res.grads), ...xs, y, ...masks]);
    return loss;
  };
  const tensorsBefore = tf.memory().numTensors;
  for (let i = 0; i < 2; i++) await step(); // warm-up (kernel compilation, allocations)
  const times: number[] = [];
  const c0 = process.cpuUsage();
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await step();
    times.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(c0);
  const leaked = tf.memory().numTensors - tensorsBefore;
  const prof = await tf.profile(async () => {
    await step();
  });
  const byKernel = new Map<string, number>();
  for (const k of prof.kernels)
    byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (k.kernelTimeMs as number));
  const topKernels = [...byKernel.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([k, ms]) => ({ kernel: k, ms: round(ms, 1) }));
  const result = {
    figure: 'step',
    model: name,
    block: block.description,
    engine: 'tfjs-backend-wasm (SIMD, 1 thread) + polarcad gradient kernels',
    batch: BATCH,
    firstLayer: model.layers[start].name,
    cut: g.cut,
    inputShape: shapes[0],
    trainableParams,
    layersRun: g.layers.length,
    runsMs: times.map((t) => round(t, 1)),
    msPerStep: round(median(times), 2),
    cpuMsPerStep: round((cpu.user + cpu.system) / 1000 / steps, 2),
    tensorsLeakedPerRun: leaked,
    tfPeakStepMiB: round(prof.peakBytes / MiB, 1),
    tfTensorMiB: round(tf.memory().numBytes / MiB, 1),
    wasmHeapMiB: wasmHeapMiB(),
    topKernelsMs: topKernels,
    baselineRssMiB: baseline,
    peakRssMiB: peakRssMiB(),
    loadavg: [l0, load1()],
  };
  adam.dispose();
  model.dispose();
  return result;
}

async function runWarmup(epochs: number, nTrain: number, nVal: number): Promise<Record<string, unknown>> {
  await initBackend('wasm');
  const l0 = load1();
  const name = 'ResNet50V2';
  const spec = getBackbone(name);
  const model = build(name, true);
  const rng = new Rng(13);
  const mk = (i: number, split: string): Example => {
    const data = new Uint8Array(224 * 224 * 3);
    const r = rng.fork(`${split}${i}`);
    for (let k = 0; k < data.length; k++) data[k] = r.int(0, 255);
    return {
      id: `${split}${i}`,
      label: r.int(0, 1) as 0 | 1,
      angle: 0,
      key: `bench-${split}-${i}`,
      load: () => Promise.resolve({ width: 224, height: 224, data }),
    };
  };
  const train = Array.from({ length: nTrain }, (_, i) => mk(i, 't'));
  const validation = Array.from({ length: nVal }, (_, i) => mk(i, 'v'));
  const setup = new TrainingSetup({
    backboneName: name,
    weightsId: null,
    inputSize: 224,
    scaling: spec.scaling,
    layout: 'image',
    threads: THREADS,
  });
  // the cached feature: computed once, before the clock starts
  setTrainableTop(model, 0, HAI_HEAD_LAYERS);
  const start = model.layers.findIndex((l) => l.trainable && l.trainableWeights.length > 0);
  const cut = subGraph(model, start, HAI_HEAD_LAYERS).cut;
  const f0 = performance.now();
  await setup.features(model, cut, [...train, ...validation]);
  const featureSeconds = (performance.now() - f0) / 1000;
  const rssBefore = rssMiB();
  const peakBefore = peakRssMiB();
  const tfBefore = tf.memory().numBytes;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const res = await trainStages({
    setup,
    model,
    headLayers: HAI_HEAD_LAYERS,
    train,
    validation,
    stages: [{ name: 'warmup', epochs, lr: 1e-3, unfreeze: 0 }],
    batchSize: BATCH,
    seed: 1,
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const tfAfter = tf.memory().numBytes;
  const st = res.stages[0];
  await setup.dispose();
  model.dispose();
  return {
    figure: 'warmup',
    model: `${name} + Hai head (cut ${cut.join(', ')})`,
    engine: 'trainStages on tfjs-backend-wasm',
    epochs,
    train: nTrain,
    val: nVal,
    batch: BATCH,
    featureWidth: spec.featureWidth,
    featureSecondsUntimed: round(featureSeconds, 1),
    seconds: round(seconds, 3),
    cpuSeconds: round((cpu.user + cpu.system) / 1e6, 3),
    msPerEpoch: round((seconds * 1000) / epochs, 2),
    epochsRun: st.epochsRun,
    bestEpoch: st.bestEpoch,
    trainableParams: st.trainableParams,
    extractedBySetup: setup.stats.extracted,
    rssBeforeStageMiB: rssBefore,
    peakRssBeforeStageMiB: peakBefore,
    tfBytesGrowthMiB: round((tfAfter - tfBefore) / MiB, 2),
    peakRssMiB: peakRssMiB(),
    loadavg: [l0, load1()],
  };
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      runs: { type: 'string', default: '3' },
      steps: { type: 'string', default: '5' },
      epochs: { type: 'string', default: '100' },
      train: { type: 'string', default: '175' },
      val: { type: 'string', default: '44' },
    },
  });
  const [mode, name, file] = positionals;
  let out: Record<string, unknown>;
  if (mode === 'export' && name !== undefined && file !== undefined) out = await runExport(name, file);
  else if (mode === 'forward' && name !== undefined && file !== undefined)
    out = await runForward(name, file, Number(values.runs));
  else if (mode === 'step' && (name === 'ResNet50V2' || name === 'MobileNetV2'))
    out = await runStep(name, Number(values.steps));
  else if (mode === 'warmup')
    out = await runWarmup(Number(values.epochs), Number(values.train), Number(values.val));
  else
    throw new Error(
      'usage: engine-worker.ts export|forward NAME FILE | step ResNet50V2|MobileNetV2 | warmup',
    );
  process.stdout.write(formatWorkerLine(out));
}

await main();
