/**
 * One measurement of the backbone forward benchmark, in its own process so that peak RSS is
 * per backbone. Started by `bench/backbones.bench.ts`:
 *
 *   node --import tsx bench/backbone-worker.ts NAME tfjs   [--ref OUT.bin] [--quick]
 *   node --import tsx bench/backbone-worker.ts NAME export --onnx FILE.onnx
 *   node --import tsx bench/backbone-worker.ts NAME ort    --onnx FILE.onnx [--ref OUT.bin] [--quick]
 *
 * Weights are seeded He-scaled random values (the same seed for every engine, so the exported
 * model computes the same function); the builders' own initialisation shrinks activations towards
 * zero through the depth, which is not what pretrained weights do. Input: seeded uniform values in
 * the backbone's input range, at the table's input size. 'tfjs' and 'ort' print one marked JSON
 * line (`WorkerResult`); 'tfjs' saves its batch-1 output to --ref and 'ort' compares against it.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { initBackend, tf } from '../src/engine/backend.js';
import { getBackbone, type BackboneSpec } from '../src/models/table.js';
import { randomInput, randomizeWeights, relError } from '../test/engine/onnx-helpers.js';
import {
  formatWorkerLine,
  round,
  summariseBatch,
  timeRuns,
  type BatchTiming,
  type RepSchedule,
  type WorkerResult,
} from './backbones-lib.js';

const WEIGHT_SEED = 7;
const INPUT_SEED = 2;
const ORT_THREADS = 2;
const BATCHES = [1, 16] as const;
/** Warm up at batch 16 too when 16 images are expected to take less than this (ms). */
const WARM16_BELOW_MS = 8000;

const MiB = 2 ** 20;
const rssMiB = (): number => process.memoryUsage().rss / MiB;
const peakRssMiB = (): number => (process.resourceUsage().maxRSS * 1024) / MiB; // maxRSS is in KiB

function schedules(quick: boolean): Record<number, RepSchedule> {
  return quick
    ? { 1: { minRuns: 2, maxRuns: 3, budgetMs: 3000 }, 16: { minRuns: 1, maxRuns: 1, budgetMs: 0 } }
    : { 1: { minRuns: 3, maxRuns: 7, budgetMs: 8000 }, 16: { minRuns: 1, maxRuns: 3, budgetMs: 30000 } };
}

function inputRange(spec: BackboneSpec): [number, number] {
  return spec.scaling === 'raw' || spec.scaling === 'caffe' ? [0, 255] : [-1, 1];
}

function batchInput(spec: BackboneSpec, batch: number): { data: Float32Array; shape: number[] } {
  const shape = [batch, spec.inputSize, spec.inputSize, 3];
  const [lo, hi] = inputRange(spec);
  return { data: randomInput(shape, INPUT_SEED + batch, lo, hi), shape };
}

function buildModel(spec: BackboneSpec): tf.LayersModel {
  const model = spec.build({ inputShape: [spec.inputSize, spec.inputSize, 3] });
  randomizeWeights(model, WEIGHT_SEED, 0.3, 'he');
  return model;
}

function maxAbs(xs: Float32Array): number {
  let m = 0;
  for (const x of xs) m = Number.isFinite(x) ? Math.max(m, Math.abs(x)) : Number.POSITIVE_INFINITY;
  return m;
}

/** Warm up at batch 1 (and at 16 when cheap), then time both batch sizes. */
async function measure(
  forward: (data: Float32Array, shape: number[]) => Promise<Float32Array>,
  spec: BackboneSpec,
  quick: boolean,
): Promise<{ batches: BatchTiming[]; out1: Float32Array }> {
  const sched = schedules(quick);
  const batches: BatchTiming[] = [];
  let out1: Float32Array = new Float32Array(0);
  let perImage = Number.POSITIVE_INFINITY;
  for (const batch of BATCHES) {
    const x = batchInput(spec, batch);
    const warm = batch === 1 || perImage * batch < WARM16_BELOW_MS;
    if (warm) {
      const y = await forward(x.data, x.shape);
      if (batch === 1) out1 = y;
    }
    const cpuMs: number[] = [];
    const runs = await timeRuns(async () => {
      const c0 = process.cpuUsage();
      await forward(x.data, x.shape);
      const c = process.cpuUsage(c0);
      cpuMs.push((c.user + c.system) / 1000);
    }, sched[batch]);
    const t = summariseBatch(batch, runs, warm, cpuMs);
    if (batch === 1) perImage = t.msPerImage;
    batches.push(t);
    process.stderr.write(`  ${spec.name} batch ${batch}: ${t.msPerImage} ms/image (${runs.length} runs)\n`);
  }
  return { batches, out1 };
}

async function runTfjs(spec: BackboneSpec, quick: boolean, ref: string | undefined): Promise<WorkerResult> {
  await initBackend('wasm');
  const load0 = loadavg()[0];
  const baseline = rssMiB();
  const t0 = performance.now();
  const model = buildModel(spec);
  const setupMs = performance.now() - t0;
  const tfTensorMiB = tf.memory().numBytes / MiB;
  const forward = async (data: Float32Array, shape: number[]): Promise<Float32Array> => {
    const x = tf.tensor(data, shape);
    const y = model.predict(x) as tf.Tensor;
    const d = (await y.data()) as Float32Array;
    x.dispose();
    y.dispose();
    return d;
  };
  const { batches, out1 } = await measure(forward, spec, quick);
  if (ref !== undefined) await writeFile(ref, new Uint8Array(out1.buffer, out1.byteOffset, out1.byteLength));
  const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.buffer.byteLength;
  model.dispose();
  return {
    backbone: spec.name,
    engine: 'tfjs-wasm',
    inputSize: spec.inputSize,
    threads: 1,
    setupMs: round(setupMs, 0),
    batches,
    peakRssMiB: round(peakRssMiB(), 0),
    baselineRssMiB: round(baseline, 0),
    ...(heap === undefined ? {} : { wasmHeapMiB: round(heap / MiB, 0) }),
    tfTensorMiB: round(tfTensorMiB, 1),
    outputMaxAbs: maxAbs(out1),
    loadavg: [round(load0, 2), round(loadavg()[0], 2)],
  };
}

async function runExport(spec: BackboneSpec, onnxPath: string): Promise<void> {
  const { exportToOnnx } = await import('../src/engine/onnx/export.js');
  await initBackend('wasm');
  const model = buildModel(spec);
  const bytes = exportToOnnx(model);
  await writeFile(onnxPath, bytes);
  model.dispose();
}

async function runOrt(spec: BackboneSpec, onnxPath: string, quick: boolean, ref: string | undefined): Promise<WorkerResult> {
  const { OnnxModel } = await import('../src/engine/onnx/session.js');
  const load0 = loadavg()[0];
  const baseline = rssMiB();
  const onnxBytes = (await readFile(onnxPath)).byteLength;
  const t0 = performance.now();
  const session = await OnnxModel.create(onnxPath, { threads: ORT_THREADS, maxBatch: 16 });
  const setupMs = performance.now() - t0;
  const forward = async (data: Float32Array, shape: number[]): Promise<Float32Array> => {
    const out = await session.run(data, shape);
    return out[session.outputNames[0]].data;
  };
  const { batches, out1 } = await measure(forward, spec, quick);
  let parity: number | undefined;
  if (ref !== undefined && existsSync(ref)) {
    const b = await readFile(ref);
    const want = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    parity = relError(out1, want);
  }
  await session.dispose();
  return {
    backbone: spec.name,
    engine: 'ort',
    inputSize: spec.inputSize,
    threads: ORT_THREADS,
    setupMs: round(setupMs, 0),
    batches,
    peakRssMiB: round(peakRssMiB(), 0),
    baselineRssMiB: round(baseline, 0),
    onnxMiB: round(onnxBytes / MiB, 1),
    ...(parity === undefined ? {} : { parityRelError: Number(parity.toPrecision(3)) }),
    outputMaxAbs: maxAbs(out1),
    loadavg: [round(load0, 2), round(loadavg()[0], 2)],
  };
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { onnx: { type: 'string' }, ref: { type: 'string' }, quick: { type: 'boolean', default: false } },
  });
  const [name, engine] = positionals;
  if (name === undefined || !['tfjs', 'export', 'ort'].includes(engine ?? '')) {
    throw new Error('usage: backbone-worker.ts NAME tfjs|export|ort [--onnx FILE] [--ref FILE] [--quick]');
  }
  const spec = getBackbone(name);
  if (engine === 'tfjs') {
    process.stdout.write(formatWorkerLine(await runTfjs(spec, values.quick, values.ref)));
    return;
  }
  if (values.onnx === undefined) throw new Error(`${engine} needs --onnx FILE`);
  if (engine === 'export') await runExport(spec, values.onnx);
  else process.stdout.write(formatWorkerLine(await runOrt(spec, values.onnx, values.quick, values.ref)));
}

await main();
