/**
 * ONNX Runtime vs tfjs-wasm forward speed: ms per image at batch 1 and 16 for MobileNetV2,
 * ResNet50V2 and ResNet152V2 (random He-scaled weights, native 224 px input). ONNX Runtime runs
 * with 2 intra-op threads; tfjs-wasm is single-threaded SIMD under Node (see src/engine/backend.ts).
 * Batch 1: median of 3 timed runs after one warm-up; batch 16: one timed run after the warm-up.
 */
import { initBackend, tf } from '../src/engine/backend.js';
import { exportToOnnx } from '../src/engine/onnx/export.js';
import { OnnxModel } from '../src/engine/onnx/session.js';
import { getBackbone } from '../src/models/table.js';
import { randomInput, randomizeWeights, relError } from '../test/engine/onnx-helpers.js';

const MODELS = ['MobileNetV2', 'ResNet50V2', 'ResNet152V2'];
const THREADS = 2;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timeIt(f: () => Promise<void>, runs: number): Promise<number> {
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

export async function run(): Promise<Record<string, unknown>> {
  await initBackend('wasm');
  const figures: Record<string, unknown> = { threads: THREADS, unit: 'ms per image' };
  for (const name of MODELS) {
    const spec = getBackbone(name);
    const model = spec.build({});
    randomizeWeights(model, 1, 0.3, 'he');
    const t0 = performance.now();
    const bytes = exportToOnnx(model);
    const exportMs = performance.now() - t0;
    const t1 = performance.now();
    const session = await OnnxModel.create(bytes, { threads: THREADS, maxBatch: 16 });
    const sessionMs = performance.now() - t1;
    const row: Record<string, unknown> = { onnxMiB: +(bytes.length / 2 ** 20).toFixed(1), exportMs: Math.round(exportMs), sessionCreateMs: Math.round(sessionMs) };
    for (const batch of [1, 16]) {
      const shape = [batch, spec.nativeSize, spec.nativeSize, 3];
      const xs = randomInput(shape, 2);
      const runs = batch === 1 ? 3 : 1;
      const tfjsForward = async (): Promise<Float32Array> => {
        const x = tf.tensor(xs, shape);
        const y = model.predict(x) as tf.Tensor;
        const d = (await y.data()) as Float32Array;
        x.dispose();
        y.dispose();
        return d;
      };
      const ref = await tfjsForward(); // warm-up (and reference)
      const ort = await session.run(xs, shape); // warm-up
      row[`parityRelError_b${batch}`] = relError(ort[session.outputNames[0]].data, ref);
      const ortMs = await timeIt(async () => {
        await session.run(xs, shape);
      }, runs);
      const tfjsMs = await timeIt(async () => {
        await tfjsForward();
      }, runs);
      row[`ort_b${batch}`] = +(ortMs / batch).toFixed(1);
      row[`tfjsWasm_b${batch}`] = +(tfjsMs / batch).toFixed(1);
      row[`speedup_b${batch}`] = +(tfjsMs / ortMs).toFixed(2);
      process.stderr.write(`${name} batch ${batch}: ort ${(ortMs / batch).toFixed(1)} ms/img, tfjs-wasm ${(tfjsMs / batch).toFixed(1)} ms/img\n`);
    }
    figures[name] = row;
    await session.dispose();
    model.dispose();
  }
  return figures;
}
