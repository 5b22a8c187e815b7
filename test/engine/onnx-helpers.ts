/**
 * Shared helpers of the ONNX tests: deterministic random weights, and the tfjs-vs-ONNX Runtime
 * comparison. The error measure is max |ort - tfjs| / max |tfjs| over each output (a relative
 * error normalised by the output's scale, so near-zero elements do not blow it up).
 */
import { tf } from '../../src/engine/backend.js';
import { exportToOnnx, type OnnxExportOptions } from '../../src/engine/onnx/export.js';
import { OnnxModel } from '../../src/engine/onnx/session.js';
import { Rng } from '../../src/util/rng.js';
import { relError } from '../helpers/numeric.js';

export { relError };

/**
 * Overwrite every weight with seeded random values.
 * - 'fixed': N(0, sd) for kernels and biases; BN gamma and variances U(0.5, 1.5).
 * - 'he': kernels N(0, sqrt(2 / fan_in)) (He et al. 2015), so activations keep their scale through
 *   a deep network whose BN layers hold fixed statistics (the builders' default glorot init with
 *   BN mean 0 / variance 1 shrinks MobileNetV2's features to ~1e-12, which would make a parity
 *   test of the probabilities vacuous); biases, BN beta and means N(0, 0.05); gamma and variances
 *   U(0.8, 1.2).
 */
export function randomizeWeights(model: tf.LayersModel, seed: number, sd = 0.3, mode: 'fixed' | 'he' = 'fixed'): void {
  const rng = new Rng(seed);
  for (const layer of model.layers) {
    if (layer instanceof tf.LayersModel) {
      randomizeWeights(layer, rng.int(0, 1e9), sd, mode);
      continue;
    }
    const ws = layer.weights.map((w) => {
      const shape = w.shape.map((d) => d ?? 1);
      const n = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      const short = w.originalName.slice(w.originalName.lastIndexOf('/') + 1);
      const isVar = short === 'variance' || short === 'moving_variance';
      const isGamma = short === 'gamma';
      if (mode === 'fixed') {
        for (let i = 0; i < n; i++) data[i] = isVar || isGamma ? rng.uniform(0.5, 1.5) : rng.normal(0, sd);
      } else if (isVar || isGamma) {
        for (let i = 0; i < n; i++) data[i] = rng.uniform(0.8, 1.2);
      } else if (short === 'count') {
        data.fill(1);
      } else if (shape.length >= 2) {
        // HWIO conv / [in, out] dense: fan_in = product of all but the last dim; depthwise
        // [kh, kw, C, M]: fan_in = kh * kw.
        const fanIn = short === 'depthwise_kernel' ? shape[0] * shape[1] : n / shape[shape.length - 1];
        const s = Math.sqrt(2 / fanIn);
        for (let i = 0; i < n; i++) data[i] = rng.normal(0, s);
      } else {
        for (let i = 0; i < n; i++) data[i] = rng.normal(0, 0.05);
      }
      return tf.tensor(data, shape);
    });
    if (ws.length > 0) layer.setWeights(ws);
    ws.forEach((t) => t.dispose());
  }
}

/** A seeded random float32 batch. */
export function randomInput(shape: number[], seed: number, lo = -1, hi = 1): Float32Array {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.uniform(lo, hi);
  return out;
}

export interface ParityResult {
  /** Relative error per output (in the order of the requested outputs). */
  errors: number[];
  dims: number[][];
  tfjsShapes: number[][];
  onnxBytes: number;
}

/**
 * Run `model` on `x` in tfjs (cut at `opts.outputs` when given) and in ONNX Runtime from the
 * exported bytes; compare each output.
 */
export async function parity(model: tf.LayersModel, xData: Float32Array, xShape: number[], opts: OnnxExportOptions = {}, threads = 1): Promise<ParityResult> {
  const bytes = exportToOnnx(model, opts);
  const outLayers = opts.outputs ?? model.outputs.map((t) => t.sourceLayer.name);
  const ref = tf.tidy(() => {
    const x = tf.tensor(xData, xShape);
    let m = model;
    if (opts.outputs !== undefined) {
      const outs = opts.outputs.map((n) => findOutput(model, n));
      m = tf.model({ inputs: model.inputs, outputs: outs });
    }
    const y = m.predict(x);
    return Array.isArray(y) ? y : [y];
  });
  const refData = ref.map((t) => t.dataSync() as Float32Array);
  const tfjsShapes = ref.map((t) => [...t.shape]);
  ref.forEach((t) => t.dispose());
  const session = await OnnxModel.create(bytes, { threads });
  try {
    const res = await session.run(xData, xShape);
    const errors = outLayers.map((n, i) => relError(res[n].data, refData[i]));
    return { errors, dims: outLayers.map((n) => res[n].dims), tfjsShapes, onnxBytes: bytes.length };
  } finally {
    await session.dispose();
  }
}

/** The symbolic output of a layer by name, searching nested sub-models (first call). */
function findOutput(model: tf.LayersModel, name: string): tf.SymbolicTensor {
  for (const l of model.layers) if (l.name === name) return l.getOutputAt(0) as tf.SymbolicTensor;
  throw new Error(`no top-level layer ${name}`);
}
