/**
 * Class activation maps at the last convolutional layer of a polarcad model (backbone + head).
 *
 * The model is split at its CAM layer (`camLayer` of the backbone table, e.g. `out_relu` for
 * MobileNetV2): the backbone part (input .. CAM layer) runs in ONNX Runtime (one forward pass,
 * exported once), the head part (CAM layer .. class output: a pooling layer and a few Dense
 * layers) runs eagerly in tfjs on the feature map, where `tf.valueAndGrad` gives the exact
 * gradient of the class score with respect to the feature map. One explanation therefore costs
 * one backbone forward plus a forward and backward pass through a few small layers.
 *
 * Class score. Selvaraju et al. (2017, "Grad-CAM: Visual explanations from deep networks via
 * gradient-based localization", ICCV) differentiate the pre-softmax score y^c. For polarcad's
 * 2-way softmax heads the score of class c is the logit DIFFERENCE z_c - z_(1-c) = log(p_c / p_(1-c)),
 * the log-odds of that class: the softmax is invariant to adding a constant to both logits, so the
 * difference is the only identifiable pre-softmax quantity, and it is monotone in p_c. For a
 * single sigmoid unit the score is z (class 1) or -z (class 0); for K > 2 softmax classes (and
 * linear outputs) it is z_c as in Selvaraju et al.
 *
 * Grad-CAM: alpha_k = mean over (i, j) of d score / d A_k(i, j);  map = ReLU(sum_k alpha_k A_k).
 *
 * CAM (Zhou et al. 2016, "Learning deep features for discriminative localization", CVPR) is defined
 * exactly only for a head GAP -> Dense(K) (dropout aside): score = sum_k w_k mean_ij A_k(i, j) + b,
 * so M(i, j) = sum_k w_k A_k(i, j) with w_k the Dense weights of the score (for two classes
 * w_k = W[k, 1] - W[k, 0]). With a hidden Dense + ReLU layer (the Hai et al. 2022 head GAP ->
 * Dense(256, ReLU) -> Dropout -> Dense(2)) the score is no longer linear in the pooled features and
 * CAM is not defined; use Grad-CAM (which works for any differentiable head, also the
 * Apostolopoulos et al. 2020 GlobalMaxPooling head). For a GAP -> Dense head, d score / d A_k(i, j)
 * = w_k / (h w) everywhere, hence Grad-CAM = ReLU(CAM) / (h w): the two agree up to a positive scale.
 */
import * as tf from '@tensorflow/tfjs';
import { frozenFrontier } from '../engine/features.js';
import { exportToOnnx } from '../engine/onnx/export.js';
import { InputError } from '../util/errors.js';

/** Shape of one feature map, channels-last: [height, width, channels]. */
export type FeatureShape = readonly [number, number, number];

/** Weights of a GAP -> Dense(K) head (Zhou et al. 2016 CAM). */
export interface CamWeights {
  /** Row-major [channels, classes] Dense kernel. */
  readonly kernel: Float32Array;
  /** [classes] bias. */
  readonly bias: Float32Array;
  readonly channels: number;
  readonly classes: number;
}

/** How the head's output turns logits into probabilities. */
export type OutputActivation = 'softmax' | 'sigmoid' | 'linear';

/**
 * The head of a model from the CAM layer on, run eagerly on concrete tensors with the SAME layer
 * objects (and weights) as the full model. It is not a separate `tf.LayersModel`: re-applying the
 * shared layers symbolically would add inbound nodes to the full model's layers, which the ONNX
 * exporter and the trainer read.
 */
export interface HeadPart {
  readonly camLayer: string;
  /** Feature map shape at the CAM layer (per item). */
  readonly featureShape: FeatureShape;
  /** Output units (2 for polarcad's normal / CAD heads). */
  readonly classes: number;
  readonly activation: OutputActivation;
  /** Head layer names, in execution order (the output layer last). */
  readonly layerNames: readonly string[];
  /** CAM weights when the head is GAP -> [Dropout ->] Dense(K); otherwise null (use Grad-CAM). */
  readonly camWeights: CamWeights | null;
  /** Pre-activation outputs z, [n, K], of feature maps [n, h, w, c] (inference mode). */
  logits(x: tf.Tensor4D): tf.Tensor2D;
  /** Class probabilities (the model's output), [n, K]. */
  probabilities(x: tf.Tensor4D): tf.Tensor2D;
  /** The class score of item 0 as a scalar (see the module comment), for differentiation. */
  score(x: tf.Tensor4D, classIndex: number): tf.Scalar;
}

/** A model split at its CAM layer. */
export interface SplitModel {
  readonly camLayer: string;
  readonly head: HeadPart;
  /** ONNX bytes of the backbone part: the model input .. the CAM layer (its only output). */
  exportBackbone(): Uint8Array;
}

interface DenseConfig {
  units: number;
  activation?: string;
  useBias?: boolean;
}

function isDense(l: tf.layers.Layer): boolean {
  return l.getClassName() === 'Dense';
}

function configOf<T>(l: tf.layers.Layer): T {
  return l.getConfig() as unknown as T;
}

/** x . W + b of a Dense layer without its activation. */
function denseLinear(layer: tf.layers.Layer, x: tf.Tensor): tf.Tensor2D {
  const cfg = configOf<DenseConfig>(layer);
  const [kernel, bias] = layer.getWeights();
  const y = tf.matMul(x as tf.Tensor2D, kernel as tf.Tensor2D);
  return (cfg.useBias === false || bias === undefined ? y : tf.add(y, bias)) as tf.Tensor2D;
}

function toActivation(name: string | undefined, where: string): OutputActivation {
  if (name === undefined || name === 'linear') return 'linear';
  if (name === 'softmax' || name === 'sigmoid') return name;
  throw new InputError(
    `${where}: output activation "${name}" is not supported for class activation maps (softmax, sigmoid or linear)`,
  );
}

/** The CAM layer's index and its feature-map shape [h, w, c], checked as `splitAtLayer` says. */
function checkCamLayer(
  model: tf.LayersModel,
  camLayer: string,
  where: string,
): { idx: number; featureShape: FeatureShape } {
  const layers = model.layers;
  const idx = layers.findIndex((l) => l.name === camLayer);
  if (idx < 0) throw new InputError(`${where} has no top-level layer named "${camLayer}" (the CAM layer)`);
  if (idx === layers.length - 1)
    throw new InputError(`${where}: CAM layer "${camLayer}" is the last layer; there is no head after it`);
  if (model.outputs.length !== 1)
    throw new InputError(`${where} must have one output, has ${model.outputs.length}`);
  const frontier = frozenFrontier(model, idx + 1);
  if (frontier.length !== 1 || frontier[0] !== camLayer) {
    throw new InputError(
      `${where}: the layers after "${camLayer}" also read [${frontier.filter((n) => n !== camLayer).join(', ')}]; cannot split there`,
    );
  }
  const outShape = layers[idx].inboundNodes[0]?.outputTensors[0]?.shape;
  if (
    outShape === undefined ||
    outShape.length !== 4 ||
    !outShape.slice(1).every((d) => typeof d === 'number' && d > 0)
  ) {
    throw new InputError(
      `${where}: CAM layer "${camLayer}" output is [${outShape?.join(', ')}], expected a feature map [batch, h, w, c]`,
    );
  }
  return { idx, featureShape: outShape.slice(1) as unknown as FeatureShape };
}

/** Where the pre-activation class scores come from: the output Dense, or the layer before an Activation. */
function scoreSource(
  outputLayer: tf.layers.Layer,
  head: readonly tf.layers.Layer[],
  where: string,
): { logitsLayer: tf.layers.Layer; activation: OutputActivation; skipLast: boolean } {
  if (isDense(outputLayer)) {
    const activation = toActivation(
      configOf<DenseConfig>(outputLayer).activation,
      `${where}, layer "${outputLayer.name}"`,
    );
    return { logitsLayer: outputLayer, activation, skipLast: false };
  }
  if (outputLayer.getClassName() === 'Activation' && head.length >= 2) {
    const activation = toActivation(
      configOf<{ activation: string }>(outputLayer).activation,
      `${where}, layer "${outputLayer.name}"`,
    );
    return { logitsLayer: head[head.length - 2], activation, skipLast: true };
  }
  throw new InputError(
    `${where}: output layer "${outputLayer.name}" (${outputLayer.getClassName()}) is neither Dense nor Activation; cannot find the class scores`,
  );
}

/** Layer outputs from the feature map through `run`; the logits layer's activation left out. */
function headLogits(
  camLayer: string,
  run: readonly tf.layers.Layer[],
  logitsLayer: tf.layers.Layer,
): (x: tf.Tensor4D) => tf.Tensor2D {
  return (x) => {
    const values = new Map<string, tf.Tensor>([[camLayer, x]]);
    for (const layer of run) {
      const ins = layer.inboundNodes[0].inputTensors.map((t) => {
        const v = values.get(t.sourceLayer.name);
        if (v === undefined)
          throw new Error(`internal: input ${t.sourceLayer.name} of ${layer.name} not computed`);
        return v;
      });
      let out: tf.Tensor;
      const cls = layer.getClassName();
      if (layer === logitsLayer && isDense(layer)) out = denseLinear(layer, ins[0]);
      else if (
        cls === 'Dropout' ||
        cls === 'SpatialDropout2D' ||
        cls === 'GaussianNoise' ||
        cls === 'GaussianDropout'
      )
        out = ins[0];
      else out = layer.apply(ins.length === 1 ? ins[0] : ins, { training: false }) as tf.Tensor;
      values.set(layer.name, out);
    }
    return values.get(logitsLayer.name) as tf.Tensor2D;
  };
}

/** The class score whose gradient Grad-CAM takes (a logit difference for 2-class softmax). */
function classScore(
  logits: (x: tf.Tensor4D) => tf.Tensor2D,
  classes: number,
  activation: OutputActivation,
): (x: tf.Tensor4D, classIndex: number) => tf.Scalar {
  return (x, classIndex) => {
    checkClass(classIndex, classes, activation);
    const z = logits(x);
    const row = tf.squeeze(tf.slice(z, [0, 0], [1, classes]), [0]) as tf.Tensor1D;
    if (activation === 'sigmoid' && classes === 1)
      return (classIndex === 1 ? row.sum() : row.sum().neg()) as tf.Scalar;
    const zc = tf.squeeze(tf.slice(row, [classIndex], [1])) as tf.Scalar;
    if (classes === 2 && activation === 'softmax')
      return tf.sub(zc, tf.squeeze(tf.slice(row, [1 - classIndex], [1]))) as tf.Scalar;
    return zc;
  };
}

/** The Dense weights of a GAP -> [Dropout ->] Dense(K) head (where CAM applies), else null. */
function camWeightsOf(
  head: readonly tf.layers.Layer[],
  outputLayer: tf.layers.Layer,
  skipLast: boolean,
  featureShape: FeatureShape,
  classes: number,
): CamWeights | null {
  const kinds = head.map((l) => l.getClassName()).filter((c) => c !== 'Dropout');
  if (skipLast || kinds.length !== 2 || kinds[0] !== 'GlobalAveragePooling2D' || kinds[1] !== 'Dense')
    return null;
  const [k, b] = outputLayer.getWeights();
  return {
    kernel: Float32Array.from(k.dataSync() as Float32Array),
    bias: b !== undefined ? Float32Array.from(b.dataSync() as Float32Array) : new Float32Array(classes),
    channels: featureShape[2],
    classes,
  };
}

/**
 * Split `model` at `camLayer` (a top-level layer whose output alone feeds every later layer).
 * @throws InputError when the layer does not exist, is not a 4-D feature map, a later layer also
 *   reads an earlier layer (a skip connection across the cut), or the output layer's
 *   pre-activation score cannot be found.
 */
export function splitAtLayer(model: tf.LayersModel, camLayer: string): SplitModel {
  const where = `model "${model.name}"`;
  const { idx, featureShape } = checkCamLayer(model, camLayer, where);
  const head = model.layers.slice(idx + 1);
  const outputLayer = model.outputs[0].sourceLayer;
  if (head[head.length - 1] !== outputLayer)
    throw new InputError(`${where}: the output layer "${outputLayer.name}" is not the last layer`);
  const { logitsLayer, activation, skipLast } = scoreSource(outputLayer, head, where);
  const outWidth = outputLayer.inboundNodes[0].outputTensors[0].shape;
  const classes = outWidth[outWidth.length - 1];
  if (typeof classes !== 'number' || classes < 1) throw new InputError(`${where}: unknown number of classes`);
  const run = skipLast ? head.slice(0, -1) : head;
  const logits = headLogits(camLayer, run, logitsLayer);
  const probabilities = (x: tf.Tensor4D): tf.Tensor2D =>
    tf.tidy(() => {
      const z = logits(x);
      return activation === 'softmax' ? tf.softmax(z) : activation === 'sigmoid' ? tf.sigmoid(z) : z;
    });
  return {
    camLayer,
    head: {
      camLayer,
      featureShape,
      classes,
      activation,
      layerNames: run.map((l) => l.name),
      camWeights: camWeightsOf(head, outputLayer, skipLast, featureShape, classes),
      logits,
      probabilities,
      score: classScore(logits, classes, activation),
    },
    exportBackbone: () => exportToOnnx(model, { outputs: [camLayer] }),
  };
}

function checkClass(classIndex: number, classes: number, activation: OutputActivation): void {
  const n = activation === 'sigmoid' && classes === 1 ? 2 : classes;
  if (!Number.isInteger(classIndex) || classIndex < 0 || classIndex >= n)
    throw new InputError(`class index must be an integer in [0, ${n - 1}], got ${classIndex}`);
}

function checkFeatureMap(featureMap: Float32Array, shape: FeatureShape): void {
  const [h, w, c] = shape;
  if (featureMap.length !== h * w * c)
    throw new InputError(
      `feature map has ${featureMap.length} values, expected ${h}x${w}x${c} = ${h * w * c}`,
    );
}

/** Result of {@link gradCam}. */
export interface GradCamResult {
  /** ReLU(sum_k alpha_k A_k), row-major [h, w]. */
  readonly map: Float32Array;
  /** alpha_k: the mean gradient of the score per channel, [c]. */
  readonly weights: Float32Array;
  /** The class score differentiated (logit difference for a 2-way softmax). */
  readonly score: number;
  /** The model's probabilities for this feature map, [K]. */
  readonly probabilities: Float32Array;
  readonly height: number;
  readonly width: number;
}

/**
 * Grad-CAM (Selvaraju et al. 2017) of one feature map `[h, w, c]` (channels-last, row-major) for
 * class `classIndex` (default 1 = CAD). Every tensor is disposed before returning.
 */
export function gradCam(featureMap: Float32Array, head: HeadPart, classIndex = 1): GradCamResult {
  const [h, w, c] = head.featureShape;
  checkFeatureMap(featureMap, head.featureShape);
  checkClass(classIndex, head.classes, head.activation);
  const [map, weights, score, probs] = tf.tidy(() => {
    const a = tf.tensor4d(featureMap, [1, h, w, c]);
    const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => head.score(x as tf.Tensor4D, classIndex))(a);
    const alpha = tf.mean(grad, [0, 1, 2]); // [c]
    const m = tf.relu(tf.sum(tf.mul(a, alpha), -1)); // [1, h, w]
    return [m, alpha, value, head.probabilities(a)];
  });
  try {
    return {
      map: Float32Array.from(map.dataSync() as Float32Array),
      weights: Float32Array.from(weights.dataSync() as Float32Array),
      score: (score.dataSync() as Float32Array)[0],
      probabilities: Float32Array.from(probs.dataSync() as Float32Array),
      height: h,
      width: w,
    };
  } finally {
    tf.dispose([map, weights, score, probs]);
  }
}

/**
 * The per-channel CAM weights of the class score: W[:, c] - W[:, 1 - c] for a 2-way softmax head
 * (the weights of the logit difference), W[:, c] otherwise.
 */
export function camChannelWeights(
  weights: CamWeights,
  classIndex = 1,
  activation: OutputActivation = 'softmax',
): Float32Array {
  const { kernel, channels: C, classes: K } = weights;
  checkClass(classIndex, K, activation);
  const out = new Float32Array(C);
  for (let k = 0; k < C; k++) {
    if (K === 1) out[k] = classIndex === 1 ? kernel[k] : -kernel[k];
    else if (K === 2 && activation === 'softmax')
      out[k] = kernel[k * K + classIndex] - kernel[k * K + (1 - classIndex)];
    else out[k] = kernel[k * K + classIndex];
  }
  return out;
}

/**
 * CAM (Zhou et al. 2016) of one feature map `[h, w, c]` for a GAP -> Dense(K) head: M(i, j) =
 * sum_k w_k A_k(i, j) with w from {@link camChannelWeights}. Returned UN-rectified (it can be
 * negative; the class score is mean(M) + bias). ReLU(M) = h w Grad-CAM for the same head.
 */
export function cam(
  featureMap: Float32Array,
  shape: FeatureShape,
  weights: CamWeights,
  classIndex = 1,
  activation: OutputActivation = 'softmax',
): Float32Array {
  const [h, w, c] = shape;
  checkFeatureMap(featureMap, shape);
  if (weights.channels !== c)
    throw new InputError(`CAM: the Dense layer has ${weights.channels} input channels, the feature map ${c}`);
  const wk = camChannelWeights(weights, classIndex, activation);
  const out = new Float32Array(h * w);
  for (let p = 0; p < h * w; p++) {
    let s = 0;
    const o = p * c;
    for (let k = 0; k < c; k++) s += wk[k] * featureMap[o + k];
    out[p] = s;
  }
  return out;
}
