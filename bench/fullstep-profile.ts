/**
 * Per-kernel CPU profile of full-network training steps (issue 14): a backbone + Hai head with EVERY
 * layer trainable (from the first backbone layer, BN in inference mode, the trainer's default), batch
 * 16 at 224 px, the trainer's per-batch body (`runSubGraph`, `accumulateGradients`, `Adam`) on
 * tfjs-wasm with polarcad's kernels. Every wasm kernel in the registry is wrapped: the CPU time
 * (process.cpuUsage, so that the figures survive a loaded machine) of each top-level kernel call is
 * charged to its name, phase (forward = while the loss is built, backward = gradient tape) and
 * shape; kernels called from inside composite kernels are charged to the caller.
 *
 *   node --import tsx bench/fullstep-profile.ts [--model MobileNetV2] [--steps 2] [--micro 16]
 *     [--json out.json] [--top 25]
 *
 * Prints the table (markdown) and, with --json, writes the raw figures. One untimed warm-up step.
 */
import { loadavg } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { initBackend, tf } from '../src/engine/backend.js';
import { accumulateGradients } from '../src/engine/microbatch.js';
import { addHaiHead, HAI_HEAD_LAYERS } from '../src/models/heads.js';
import { getBackbone } from '../src/models/table.js';
import { setTrainableTop } from '../src/models/unfreeze.js';
import { Adam } from '../src/train/adam.js';
import { dropoutMaskValues, runSubGraph, subGraph } from '../src/train/graph.js';
import { Rng } from '../src/util/rng.js';
import { randomizeWeights } from '../test/engine/onnx-helpers.js';

const FIRST: Readonly<Record<string, string>> = { MobileNetV2: 'Conv1', ResNet50V2: 'conv1_conv' };

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'MobileNetV2' },
    steps: { type: 'string', default: '2' },
    micro: { type: 'string', default: '16' },
    batch: { type: 'string', default: '16' },
    json: { type: 'string' },
    top: { type: 'string', default: '25' },
    size: { type: 'string', default: '224' },
  },
});
const MODEL = values.model as string;
const STEPS = Number(values.steps);
const BATCH = Number(values.batch);
const MICRO = Number(values.micro);
const SIZE = Number(values.size);

const cpuMs = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

interface Acc {
  ms: number;
  calls: number;
}
const byName = new Map<string, Acc>();
const byShape = new Map<string, Acc>();
let phase: 'forward' | 'backward' | 'other' = 'other';
let depth = 0;
let profiling = false;

function add(map: Map<string, Acc>, key: string, ms: number): void {
  const a = map.get(key) ?? { ms: 0, calls: 0 };
  a.ms += ms;
  a.calls += 1;
  map.set(key, a);
}

function attrKey(attrs: Record<string, unknown> | undefined): string {
  if (attrs === undefined) return '';
  const s = attrs.strides ?? attrs.strideHeight;
  const p = attrs.pad;
  return [s !== undefined ? `s${JSON.stringify(s)}` : '', typeof p === 'string' ? p : '']
    .filter(Boolean)
    .join(' ');
}

/** Wrap every kernel registered for wasm so that its top-level calls are timed. */
function wrapKernels(): void {
  for (const cfg of tf.getKernelsForBackend('wasm')) {
    const inner = cfg.kernelFunc;
    const name = cfg.kernelName;
    const wrapped: tf.KernelFunc = (args) => {
      if (!profiling || depth > 0) {
        depth++;
        try {
          return inner(args);
        } finally {
          depth--;
        }
      }
      depth++;
      const t0 = cpuMs();
      try {
        return inner(args);
      } finally {
        const ms = cpuMs() - t0;
        depth--;
        add(byName, `${phase}\t${name}`, ms);
        const shapes = Object.values(args.inputs)
          .filter((t): t is tf.TensorInfo => t !== undefined && t !== null && 'shape' in t)
          .map((t) => t.shape.join('x'))
          .join(', ');
        add(byShape, `${phase}\t${name}\t${shapes}\t${attrKey(args.attrs as Record<string, unknown>)}`, ms);
      }
    };
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...cfg, kernelFunc: wrapped });
  }
}

function crossEntropy(probs: tf.Tensor, oneHot: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const p = tf.clipByValue(tf.div(probs, tf.sum(probs, -1, true)), 1e-7, 1 - 1e-7);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.log(p)), -1))) as tf.Scalar;
  });
}

async function main(): Promise<void> {
  await initBackend('wasm');
  const spec = getBackbone(MODEL);
  const model = addHaiHead(spec.build({ inputShape: [SIZE, SIZE, 3] }));
  randomizeWeights(model, 7, 0.3, 'he');
  const nBackbone = model.layers.length - HAI_HEAD_LAYERS;
  const first = model.layers.findIndex((l) => l.name === FIRST[MODEL]);
  setTrainableTop(model, nBackbone - first, HAI_HEAD_LAYERS, 'follow');
  const start = model.layers.findIndex((l) => l.trainable && l.trainableWeights.length > 0);
  const g = subGraph(model, start, HAI_HEAD_LAYERS);
  const params = model.layers
    .slice(start)
    .flatMap((l) =>
      l.trainableWeights.map((w) => ({
        key: `${l.name}/${w.originalName}`,
        variable: w.read() as tf.Variable,
        lr: 1e-4,
      })),
    );
  const adam = new Adam(params);
  const varList = params.map((p) => p.variable);
  const rng = new Rng(11);
  const shape = [SIZE, SIZE, 3];
  const x = tf.tidy(() => tf.randomUniform([BATCH, ...shape], 0, 1, 'float32', 3));
  const labels = Array.from({ length: BATCH }, () => rng.int(0, 1));
  wrapKernels();
  const step = async (): Promise<number> => {
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 2));
    const masks = dropoutMaskValues(g, BATCH, () => rng.next()).map((buf, k) =>
      tf.tensor(buf, [BATCH, g.dropouts[k].width]),
    );
    const res = await accumulateGradients(
      (ins) => {
        phase = 'forward';
        const mm = new Map(g.dropouts.map((d, k) => [d.name, ins[2 + k]]));
        const p = runSubGraph(g, [ins[0]], { bnTraining: false, masks: mm });
        const loss = crossEntropy(p, ins[1]);
        phase = 'backward';
        return loss;
      },
      [x, y, ...masks],
      BATCH,
      { microBatch: MICRO, varList },
    );
    phase = 'other';
    const loss = (await res.value.data())[0];
    adam.applyGradients(res.grads);
    tf.dispose([res.value, ...Object.values(res.grads), y, ...masks]);
    return loss;
  };
  await step(); // warm-up
  const load0 = loadavg()[0];
  const tensors0 = tf.memory().numTensors;
  profiling = true;
  const c0 = cpuMs();
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) await step();
  const totalCpu = cpuMs() - c0;
  const wall = performance.now() - t0;
  profiling = false;
  const load1 = loadavg()[0];
  const kernelCpu = [...byName.values()].reduce((s, a) => s + a.ms, 0);
  const perStep = (ms: number): string => (ms / STEPS).toFixed(0);
  const pct = (ms: number): string => ((100 * ms) / totalCpu).toFixed(1);
  const top = Number(values.top);
  const lines: string[] = [];
  lines.push(
    `${MODEL}, batch ${BATCH} (micro ${MICRO}) at ${SIZE} px, every layer trainable, ${STEPS} steps: ` +
      `${perStep(totalCpu)} ms CPU/step (${perStep(wall)} ms wall), kernels ${pct(kernelCpu)}% of CPU; ` +
      `load ${load0.toFixed(2)} -> ${load1.toFixed(2)}; tensors leaked ${tf.memory().numTensors - tensors0}`,
  );
  lines.push('', '| phase | kernel | CPU ms/step | share | calls/step |', '| --- | --- | --- | --- | --- |');
  for (const [k, a] of [...byName.entries()].sort((p, q) => q[1].ms - p[1].ms).slice(0, top)) {
    const [ph, name] = k.split('\t');
    lines.push(`| ${ph} | ${name} | ${perStep(a.ms)} | ${pct(a.ms)}% | ${a.calls / STEPS} |`);
  }
  lines.push(
    '',
    '| phase | kernel | input shapes | attrs | CPU ms/step | share | calls/step |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const [k, a] of [...byShape.entries()].sort((p, q) => q[1].ms - p[1].ms).slice(0, top)) {
    const [ph, name, shapes, attrs] = k.split('\t');
    lines.push(
      `| ${ph} | ${name} | ${shapes} | ${attrs} | ${perStep(a.ms)} | ${pct(a.ms)}% | ${a.calls / STEPS} |`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
  if (values.json !== undefined) {
    await writeFile(
      values.json,
      JSON.stringify(
        {
          model: MODEL,
          batch: BATCH,
          micro: MICRO,
          steps: STEPS,
          cpuMsPerStep: totalCpu / STEPS,
          wallMsPerStep: wall / STEPS,
          loadavg: [load0, load1],
          byName: Object.fromEntries(
            [...byName.entries()].map(([k, a]) => [k, { ms: a.ms / STEPS, calls: a.calls / STEPS }]),
          ),
          byShape: Object.fromEntries(
            [...byShape.entries()].map(([k, a]) => [k, { ms: a.ms / STEPS, calls: a.calls / STEPS }]),
          ),
        },
        null,
        1,
      ),
    );
  }
  adam.dispose();
  model.dispose();
  x.dispose();
}

await main();
