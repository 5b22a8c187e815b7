/**
 * Running the trainable top of a model eagerly from cached activations. The layers after a cut
 * are called in `model.layers` order (producers come first) on concrete tensors: the SAME layer
 * objects and weights as the full model, so training this part trains the model.
 *
 * Modes (the Keras fine-tuning convention, base model called with training=False):
 * - every backbone layer runs in inference mode (BatchNormalization uses its moving statistics,
 *   EfficientNet's stochastic-depth Dropout is off), except trainable BatchNormalization layers
 *   when `bnTraining` is set (batch statistics, moving averages updated);
 * - the head's Dropout layers apply the masks given (seeded, drawn by the trainer from our Rng)
 *   or nothing (inference).
 */
import * as tf from '@tensorflow/tfjs';
import { frozenFrontier } from '../engine/features.js';
import { isBatchNorm } from '../models/unfreeze.js';

/** The part of a model that runs from a cut. */
export interface SubGraph {
  /** Index (in `model.layers`) of the first layer run. */
  start: number;
  /** Layers whose outputs are the inputs (cut), in `model.layers` order. */
  cut: string[];
  /** Layers run, in order. */
  layers: tf.layers.Layer[];
  /** Head Dropout layers (mask inputs), in order, with their rates and widths. */
  dropouts: { name: string; rate: number; width: number }[];
  /** Name of the output layer. */
  output: string;
}

function outputWidth(layer: tf.layers.Layer): number {
  const s = layer.inboundNodes[0]?.outputTensors[0]?.shape;
  const w = s?.[s.length - 1];
  if (typeof w !== 'number') throw new Error(`layer ${layer.name}: unknown output width`);
  return w;
}

/** The sub-graph from layer index `start` to the model's single output; the last `headLayers` layers are the head. */
export function subGraph(model: tf.LayersModel, start: number, headLayers: number): SubGraph {
  if (model.outputs.length !== 1) throw new Error(`model ${model.name} must have one output`);
  const cut = frozenFrontier(model, start);
  const layers = model.layers.slice(start);
  const output = model.outputs[0].sourceLayer.name;
  const head = new Set(model.layers.slice(model.layers.length - headLayers));
  const dropouts = layers
    .filter((l) => head.has(l))
    .filter((l) => l.getClassName() === 'Dropout')
    .map((l) => ({ name: l.name, rate: (l.getConfig() as { rate: number }).rate, width: outputWidth(l) }));
  return { start, cut, layers, dropouts, output };
}

/** Options of {@link runSubGraph}. */
/**
 * Inverted-dropout masks for `n` examples, one per dropout layer of `g` (Srivastava et al. 2014):
 * each value is 1/keep with probability keep = 1 - rate, else 0, drawn from `next()` in order.
 *
 * @example
 * const masks = dropoutMaskValues(g, 16, () => rng.next());
 */
export function dropoutMaskValues(g: SubGraph, n: number, next: () => number): Float32Array[] {
  return g.dropouts.map((d) => {
    const keep = 1 - d.rate;
    const buf = new Float32Array(n * d.width);
    for (let i = 0; i < buf.length; i++) buf[i] = next() < keep ? 1 / keep : 0;
    return buf;
  });
}

export interface RunOptions {
  /** Trainable BatchNormalization layers use batch statistics (and update their moving averages). */
  bnTraining?: boolean;
  /** Dropout masks by layer name (already scaled by 1/(1-rate)); absent = inference. */
  masks?: ReadonlyMap<string, tf.Tensor>;
  /**
   * Inference only (never under `tf.variableGrads`: the tape needs the intermediates): run each
   * layer in its own `tf.tidy` and dispose every layer output as soon as its last consumer has
   * run, so the peak is a few activations instead of all of them. Without it, a full-network
   * sub-graph scored in one `tf.tidy` holds every activation of the batch until the end (MobileNetV2
   * at 224 px, batch 64: ~4 GB, the whole wasm heap).
   */
  release?: boolean;
}

/**
 * Output of the sub-graph for cut activations `inputs` (one tensor per cut layer, batch first).
 * Call inside `tf.tidy` / `tf.variableGrads`.
 */
export function runSubGraph(g: SubGraph, inputs: readonly tf.Tensor[], opts: RunOptions = {}): tf.Tensor {
  const values = new Map<string, tf.Tensor>();
  g.cut.forEach((name, i) => values.set(name, inputs[i]));
  const release = opts.release ?? false;
  // remaining consumers of each value (release mode)
  const uses = new Map<string, number>();
  if (release) {
    for (const layer of g.layers) {
      for (const t of layer.inboundNodes[0].inputTensors)
        uses.set(t.sourceLayer.name, (uses.get(t.sourceLayer.name) ?? 0) + 1);
    }
  }
  const callers = new Set<tf.Tensor>(inputs);
  for (const layer of g.layers) {
    const node = layer.inboundNodes[0];
    const ins = node.inputTensors.map((t) => {
      const v = values.get(t.sourceLayer.name);
      if (v === undefined)
        throw new Error(`internal: input ${t.sourceLayer.name} of ${layer.name} not computed`);
      return v;
    });
    const run = (): tf.Tensor => {
      if (layer.getClassName() === 'Dropout' && g.dropouts.some((d) => d.name === layer.name)) {
        const mask = opts.masks?.get(layer.name);
        return mask === undefined ? ins[0] : tf.mul(ins[0], mask);
      }
      const training = isBatchNorm(layer) && layer.trainable && (opts.bnTraining ?? false);
      return layer.apply(ins.length === 1 ? ins[0] : ins, { training }) as tf.Tensor;
    };
    const out = release ? tf.tidy(run) : run();
    values.set(layer.name, out);
    if (release) {
      for (const t of node.inputTensors) {
        const name = t.sourceLayer.name;
        const left = (uses.get(name) ?? 0) - 1;
        uses.set(name, left);
        if (left > 0 || name === g.output) continue;
        const v = values.get(name) as tf.Tensor;
        values.delete(name);
        // never the caller's inputs, nor a tensor another live value still is (identity layers)
        if (!callers.has(v) && ![...values.values()].includes(v)) v.dispose();
      }
    }
  }
  const y = values.get(g.output);
  if (y === undefined) throw new Error(`internal: output ${g.output} not computed`);
  return y;
}
