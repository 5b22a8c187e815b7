/**
 * Benchmark of the trainer (issue "The multi-stage transfer-learning trainer", targets):
 *
 * 1. Hai et al.'s (2022) full protocol (warm-up 100 epochs + fine-tune 30 epochs, batch 16) through
 *    the library (`runTraining`, i.e. `polarcad train` without the CLI) on a generated cohort of 218
 *    patients (stress AC), with a fresh feature cache (the frozen features are computed inside the
 *    timed run): ResNet152V2 with random weights (target: under the 1,120 s Hai et al. report for it
 *    on a GPU) and MobileNetV2 with its embedded weights (target: under 180 s).
 * 2. The same protocol WITHOUT the feature cache, as Keras `fit` runs it: every training step a tfjs
 *    forward pass through the whole network (frozen layers included, BN in inference mode) and the
 *    backward pass to the trainable variables; every epoch a forward pass over the validation set.
 *    Timed over one batch per stage (after an untimed warm-up step) and extrapolated to 100 + 30
 *    epochs; the speed-up ratio is (extrapolated no-cache time) / (measured cached time).
 *
 * Also recorded: seconds per stage (training and feature extraction), process CPU seconds (the
 * machine is shared: CPU time is what the run would cost alone), peak RSS, load average.
 * Run: `npm run bench -- train` or `node --import tsx bench/train.bench.ts [MobileNetV2,ResNet152V2]`
 * (the direct form writes bench/results/train.json after each backbone). The cohort is generated
 * once into `os.tmpdir()/polarcad-bench-train/` and reused.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/engine/backend.js';
import { prepareInput } from '../src/engine/features.js';
import { accumulateGradients } from '../src/engine/microbatch.js';
import { prepare } from '../src/ingest/prepare.js';
import { loadManifest } from '../src/ingest/manifest.js';
import { readImage } from '../src/ingest/readers.js';
import { addHaiHead, HAI_HEAD_LAYERS } from '../src/models/heads.js';
import '../src/models/layers/keras-layers.js';
import { paperUnfreezeDepth, setTrainableTop } from '../src/models/unfreeze.js';
import { loadBackbone } from '../src/models/weights/resolve.js';
import { getColormap } from '../src/polarmap/colormaps.js';
import { synthesizeToDir } from '../src/synth/synthesize.js';
import { seededInit } from '../src/train/init.js';
import { runTraining } from '../src/workflows/train.js';
import { Rng } from '../src/util/rng.js';

interface Case {
  backbone: string;
  weights: 'imagenet' | 'none';
  targetSeconds: number;
  /** Micro-batch of the no-cache full-network step (the wasm heap is 4 GB). */
  microBatch: number;
}

const CASES: readonly Case[] = [
  { backbone: 'MobileNetV2', weights: 'imagenet', targetSeconds: 180, microBatch: 16 },
  { backbone: 'ResNet152V2', weights: 'none', targetSeconds: 1120, microBatch: 4 },
];
const WARMUP_EPOCHS = 100;
const FINETUNE_EPOCHS = 30;
const BATCH = 16;
const PATIENTS = 218;

const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

/** The 218-patient cohort (stress AC, prepared crops), generated once and reused. */
async function cohort(): Promise<string> {
  const root = join(tmpdir(), 'polarcad-bench-train');
  const manifest = join(root, 'prep', 'manifest.csv');
  if (existsSync(manifest)) return manifest;
  await synthesizeToDir({ patients: PATIENTS, seed: 1 }, join(root, 'raw'), {
    layout: 'single',
    format: 'png',
    colormap: getColormap('rainbow'),
    grid: true,
  });
  await prepare(join(root, 'raw', 'manifest.csv'), { out: join(root, 'prep'), views: ['stress_ac'] });
  return manifest;
}

/** Peak RSS sampler (resourceUsage().maxRSS is the process-wide peak, including earlier cases). */
function rssSampler(): { stop: () => number } {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 250);
  return {
    stop: () => {
      clearInterval(t);
      return Math.max(peak, process.memoryUsage().rss);
    },
  };
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

/** Measured cached run: `runTraining` with a fresh feature cache. */
async function cachedRun(c: Case, manifest: string): Promise<Record<string, unknown>> {
  const work = await mkdtemp(join(tmpdir(), `polarcad-bench-train-${c.backbone}-`));
  const load0 = loadavg();
  const cpu0 = process.cpuUsage();
  const rss = rssSampler();
  const t0 = performance.now();
  try {
    const r = await runTraining({
      manifest,
      backbone: c.backbone,
      weights: c.weights,
      out: join(work, 'run'),
      cacheDir: join(work, 'cache'),
      warmupEpochs: WARMUP_EPOCHS,
      finetuneEpochs: FINETUNE_EPOCHS,
      batchSize: BATCH,
    });
    const seconds = (performance.now() - t0) / 1000;
    const m = r.metrics?.metrics;
    const cfg = JSON.parse(await readFile(join(work, 'run', 'config.json'), 'utf8')) as {
      resolved: { split: { train: string[]; validation: string[]; test: string[] } };
    };
    const sp = cfg.resolved.split;
    return {
      seconds: round(seconds),
      cpuSeconds: round(cpuSeconds(cpu0)),
      split: { train: sp.train.length, validation: sp.validation.length, test: sp.test.length },
      targetSeconds: c.targetSeconds,
      metTarget: seconds < c.targetSeconds,
      stages: r.stages.map((s) => ({
        name: s.name,
        epochs: s.epochsRun,
        unfreeze: s.unfreeze,
        firstTrainableLayer: s.firstTrainableLayer,
        trainableParams: s.trainableParams,
        trainSeconds: round(s.seconds),
        featureSeconds: round(s.featureSeconds),
        secondsPerEpoch: round(s.seconds / Math.max(1, s.epochsRun), 3),
      })),
      testAccuracy: m?.accuracy,
      testAuc: m?.auc,
      peakRssMiB: Math.round(rss.stop() / 2 ** 20),
      loadAverageBefore: load0.map((x) => round(x, 2)),
      loadAverageAfter: loadavg().map((x) => round(x, 2)),
    };
  } finally {
    rss.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** Keras categorical cross-entropy on the softmax output (as the trainer). */
function crossEntropy(p: tf.Tensor, y: tf.Tensor): tf.Scalar {
  return tf.tidy(
    () => tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, 1e-7, 1 - 1e-7))), -1))) as tf.Scalar,
  );
}

/**
 * No-cache estimate: one full-network training step on BATCH real inputs and one validation forward
 * pass per stage, extrapolated to the epochs of the protocol with the split sizes of the cached run.
 */
async function noCacheEstimate(
  c: Case,
  manifest: string,
  split: { train: number; validation: number },
): Promise<Record<string, unknown>> {
  const loaded = await loadBackbone(c.backbone, { weights: c.weights });
  const rng = new Rng(1);
  if (loaded.weights.source === 'random') seededInit(loaded.model.layers, rng.fork('backbone-init'), 'he');
  const model = addHaiHead(loaded.model, { units: 256, dropout: 0.5 });
  seededInit(model.layers.slice(-HAI_HEAD_LAYERS), rng.fork('head-init'), 'glorot');
  const side = loaded.spec.inputSize;
  const rows = (await loadManifest(manifest, { requireLabels: true })).rows.slice(0, BATCH);
  const buf = new Float32Array(BATCH * side * side * 3);
  for (const [i, r] of rows.entries())
    buf.set(
      prepareInput(await readImage(r.views.stress_ac as string), 0, 'image', side, loaded.spec.scaling),
      i * side * side * 3,
    );
  const x = tf.tensor4d(buf, [BATCH, side, side, 3]);
  const y = tf.oneHot(
    tf.tensor1d(
      rows.map((r) => r.label ?? 0),
      'int32',
    ),
    2,
  );
  const k = paperUnfreezeDepth(loaded.spec);
  const stages = [
    { name: 'warmup', epochs: WARMUP_EPOCHS, unfreeze: 0, bnPolicy: 'follow' as const },
    { name: 'finetune', epochs: FINETUNE_EPOCHS, unfreeze: k.k, bnPolicy: k.bnPolicy },
  ];
  const out: Record<string, unknown>[] = [];
  let total = 0;
  let totalCpu = 0;
  try {
    for (const s of stages) {
      setTrainableTop(model, s.unfreeze, HAI_HEAD_LAYERS, s.bnPolicy);
      const varList = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const step = async (n: number): Promise<void> => {
        const xs = x.slice(0, n);
        const ys = y.slice(0, n);
        const r = await accumulateGradients(
          (ins) => crossEntropy(model.apply(ins[0], { training: false }) as tf.Tensor, ins[1]),
          [xs, ys],
          n,
          { microBatch: c.microBatch, varList },
        );
        await Promise.all(Object.values(r.grads).map((g) => g.data()));
        tf.dispose([r.value, ...Object.values(r.grads), xs, ys]);
      };
      await step(Math.min(c.microBatch, BATCH)); // untimed: first-call allocations
      let cpu0 = process.cpuUsage();
      let t0 = performance.now();
      await step(BATCH);
      const trainBatch = (performance.now() - t0) / 1000;
      const trainBatchCpu = cpuSeconds(cpu0);
      cpu0 = process.cpuUsage();
      t0 = performance.now();
      for (let b = 0; b < BATCH; b += c.microBatch) {
        const p = tf.tidy(() => model.predict(x.slice(b, Math.min(c.microBatch, BATCH - b))) as tf.Tensor);
        await p.data();
        p.dispose();
      }
      const valBatch = (performance.now() - t0) / 1000;
      const valBatchCpu = cpuSeconds(cpu0);
      // per epoch: the training examples in batches, the validation examples forward only
      const epoch = (split.train / BATCH) * trainBatch + (split.validation / BATCH) * valBatch;
      const epochCpu = (split.train / BATCH) * trainBatchCpu + (split.validation / BATCH) * valBatchCpu;
      total += epoch * s.epochs;
      totalCpu += epochCpu * s.epochs;
      out.push({
        name: s.name,
        unfreeze: s.unfreeze,
        trainBatchSeconds: round(trainBatch, 2),
        trainBatchCpuSeconds: round(trainBatchCpu, 2),
        validationBatchSeconds: round(valBatch, 2),
        secondsPerEpoch: round(epoch, 1),
        cpuSecondsPerEpoch: round(epochCpu, 1),
        epochs: s.epochs,
      });
    }
  } finally {
    tf.dispose([x, y]);
    model.dispose();
  }
  return {
    method: `one batch of ${BATCH} per stage (micro-batches of ${c.microBatch}) + one validation batch, extrapolated`,
    stages: out,
    extrapolatedSeconds: Math.round(total),
    extrapolatedCpuSeconds: Math.round(totalCpu),
  };
}

/** Run the benchmark for `backbones` (default both); `onPartial` gets the figures after each backbone. */
export async function run(
  backbones: readonly string[] = CASES.map((c) => c.backbone),
  onPartial?: (r: Record<string, unknown>) => Promise<void>,
): Promise<Record<string, unknown>> {
  await initBackend('wasm');
  const manifest = await cohort();
  const n = (await loadManifest(manifest)).rows.length;
  const results: Record<string, unknown> = {
    benchmark: 'train',
    patients: n,
    input: 'stress_ac',
    protocol: `warm-up ${WARMUP_EPOCHS} + fine-tune ${FINETUNE_EPOCHS} epochs, batch ${BATCH}, Hai et al. Table 2 depth`,
    cpus: cpus().length,
    node: process.version,
    date: new Date().toISOString(),
    backbones: {} as Record<string, unknown>,
  };
  for (const c of CASES.filter((x) => backbones.includes(x.backbone))) {
    const cached = await cachedRun(c, manifest);
    const split = cached.split as { train: number; validation: number };
    const noCache = await noCacheEstimate(c, manifest, split);
    (results.backbones as Record<string, unknown>)[c.backbone] = {
      weights: c.weights,
      date: new Date().toISOString(),
      cached,
      noCache,
      speedUp: round((noCache.extrapolatedSeconds as number) / (cached.seconds as number), 1),
      speedUpCpu: round((noCache.extrapolatedCpuSeconds as number) / (cached.cpuSeconds as number), 1),
    };
    await onPartial?.(results);
  }
  return results;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'train.json');
  // a run of some backbones replaces only their entries in an existing results file
  let earlier: Record<string, unknown> = {};
  try {
    earlier =
      (JSON.parse(await readFile(out, 'utf8')) as { backbones?: Record<string, unknown> }).backbones ?? {};
  } catch {
    earlier = {};
  }
  const write = async (r: Record<string, unknown>): Promise<void> => {
    await mkdir(dirname(out), { recursive: true });
    await writeFile(
      out,
      JSON.stringify(
        { ...r, backbones: { ...earlier, ...(r.backbones as Record<string, unknown>) } },
        null,
        2,
      ) + '\n',
    );
  };
  const r = await run(process.argv[2] ? process.argv[2].split(',') : undefined, write);
  await write(r);
  process.stdout.write(JSON.stringify(r, null, 2) + '\n');
}
