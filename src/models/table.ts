/**
 * THE backbone table: one row per ImageNet backbone of the zoo. Every other part of polarcad
 * (preprocessing, training schedules, weight loading, CAM) reads its facts from here.
 *
 * Sources:
 * - Hai et al. (2022), Table 2: input size, paper input scaling, learning-rate exponent `a`
 *   (lr = 10^-a), and the trainable / non-trainable parameter counts at the fine-tuning stage
 *   (model = Keras backbone with include_top=False + GAP + Dense(256, ReLU) + Dropout + Dense(2)).
 * - Keras Applications (keras-team/keras, keras/src/applications/*.py): class names, layer names,
 *   `preprocess_input` modes, include_top=False parameter counts and the notop .h5 file names that
 *   `keras.utils.get_file` stores in ~/.keras/models.
 *
 * Scaling: `scaling` is what Keras' own `preprocess_input` really does for that family (this is
 * what the pretrained weights expect); `paperScaling` is the range Hai et al. report. They differ
 * for VGG (paper [0,255]; Keras 'caffe' = RGB->BGR then ImageNet mean subtraction, no division)
 * and DenseNet (paper [0,1]; Keras 'torch' = /255 then ImageNet mean/SD per channel).
 * EfficientNet takes raw [0,255] because the model itself contains Rescaling + Normalization.
 */
import type * as tf from '@tensorflow/tfjs';
import { InputError } from '../util/errors.js';
import type { BuildOptions } from './backbones/common.js';
import { buildDenseNet121, buildDenseNet169, buildDenseNet201 } from './backbones/densenet.js';
import { buildEfficientNetB0, buildEfficientNetB4, buildEfficientNetB7 } from './backbones/efficientnet.js';
import { buildInceptionResNetV2 } from './backbones/inception-resnet-v2.js';
import { buildInceptionV3 } from './backbones/inception-v3.js';
import { buildMobileNetV2 } from './backbones/mobilenet-v2.js';
import { buildResNet101V2, buildResNet152V2, buildResNet50V2 } from './backbones/resnet-v2.js';
import { buildVGG16, buildVGG19 } from './backbones/vgg.js';
import { buildXception } from './backbones/xception.js';

export type { BuildOptions } from './backbones/common.js';

import type { ScalingMode } from '../domain/scaling.js';

export type { ScalingMode } from '../domain/scaling.js';

/** Backbone families; one builder file per family in `src/models/backbones/`. */
export type BackboneFamily =
  | 'vgg'
  | 'xception'
  | 'mobilenet-v2'
  | 'efficientnet'
  | 'inception-v3'
  | 'inception-resnet-v2'
  | 'densenet'
  | 'resnet-v2';

/** One backbone of the zoo. */
export interface BackboneSpec {
  /** Keras Applications class name, e.g. 'ResNet152V2'. */
  readonly name: string;
  readonly family: BackboneFamily;
  /** Square input side used by Hai et al. (Table 2). */
  readonly inputSize: number;
  /** Keras' default (native ImageNet) input side for this backbone. */
  readonly nativeSize: number;
  /** What Keras' `preprocess_input` does (what the pretrained weights expect). */
  readonly scaling: ScalingMode;
  /** Scaling reported by Hai et al. (Table 2). */
  readonly paperScaling: ScalingMode;
  /** Learning-rate exponent a (lr = 10^-a), Hai et al. Table 2. */
  readonly lrExponent: 3 | 4;
  /** Channels of the last feature map (= width after global pooling). */
  readonly featureWidth: number;
  /** `len(model.layers)` in Keras 3 for include_top=False, weights='imagenet' (InputLayer included). */
  readonly kerasLayerCount: number;
  /** Keras include_top=False `model.count_params()`. */
  readonly kerasParams: number;
  /** Name of the layer whose output is the last convolutional feature map (for CAM). */
  readonly camLayer: string;
  /** File name Keras caches the include_top=False ImageNet weights under in ~/.keras/models. */
  readonly kerasNotopFile: string;
  /** Hai et al. Table 2: trainable parameters at the fine-tuning stage (backbone + 256-unit head). */
  readonly paperTrainable: number;
  /** Hai et al. Table 2: non-trainable parameters at the fine-tuning stage. */
  readonly paperNonTrainable: number;
  /** Builds the Keras include_top=False graph (random weights); input defaults to `nativeSize`. */
  readonly build: (opts?: BuildOptions) => tf.LayersModel;
}

const TF_KERNELS_NOTOP = '_weights_tf_dim_ordering_tf_kernels_notop.h5';

/** What every backbone of a family shares: Hai et al. Table 2 (input side, lr exponent) and Keras' `preprocess_input`. */
type FamilyFacts = Pick<BackboneSpec, 'family' | 'inputSize' | 'scaling' | 'paperScaling' | 'lrExponent'>;

const FAMILY_FACTS: Readonly<Record<BackboneFamily, Omit<FamilyFacts, 'family'>>> = {
  vgg: { inputSize: 224, scaling: 'caffe', paperScaling: 'raw', lrExponent: 3 },
  xception: { inputSize: 299, scaling: 'tf', paperScaling: 'tf', lrExponent: 4 },
  'mobilenet-v2': { inputSize: 224, scaling: 'tf', paperScaling: 'tf', lrExponent: 3 },
  efficientnet: { inputSize: 224, scaling: 'raw', paperScaling: 'raw', lrExponent: 3 },
  'inception-v3': { inputSize: 299, scaling: 'tf', paperScaling: 'tf', lrExponent: 4 },
  'inception-resnet-v2': { inputSize: 299, scaling: 'tf', paperScaling: 'tf', lrExponent: 4 },
  densenet: { inputSize: 224, scaling: 'torch', paperScaling: 'unit', lrExponent: 3 },
  'resnet-v2': { inputSize: 224, scaling: 'tf', paperScaling: 'tf', lrExponent: 4 },
};

/** The shared facts of `family`, to spread into each of its rows. */
function familyFacts(family: BackboneFamily): FamilyFacts {
  return { family, ...FAMILY_FACTS[family] };
}

/** The 15 backbones of Hai et al. (2022), Table 2, in the table's order. */
export const BACKBONES: readonly BackboneSpec[] = Object.freeze([
  {
    ...familyFacts('vgg'),
    name: 'VGG16',
    build: buildVGG16,
    nativeSize: 224,
    featureWidth: 512,
    kerasLayerCount: 19,
    kerasParams: 14_714_688,
    camLayer: 'block5_conv3',
    kerasNotopFile: `vgg16${TF_KERNELS_NOTOP}`,
    paperTrainable: 4_851_458,
    paperNonTrainable: 9_995_072,
  },
  {
    ...familyFacts('vgg'),
    name: 'VGG19',
    build: buildVGG19,
    nativeSize: 224,
    featureWidth: 512,
    kerasLayerCount: 22,
    kerasParams: 20_024_384,
    camLayer: 'block5_conv4',
    kerasNotopFile: `vgg19${TF_KERNELS_NOTOP}`,
    paperTrainable: 4_851_458,
    paperNonTrainable: 15_304_768,
  },
  {
    ...familyFacts('xception'),
    name: 'Xception',
    build: buildXception,
    nativeSize: 299,
    featureWidth: 2048,
    kerasLayerCount: 132,
    kerasParams: 20_861_480,
    camLayer: 'block14_sepconv2_act',
    kerasNotopFile: `xception${TF_KERNELS_NOTOP}`,
    paperTrainable: 7_355_250,
    paperNonTrainable: 14_031_288,
  },
  {
    ...familyFacts('mobilenet-v2'),
    name: 'MobileNetV2',
    build: buildMobileNetV2,
    nativeSize: 224,
    featureWidth: 1280,
    kerasLayerCount: 154,
    kerasParams: 2_257_984,
    camLayer: 'out_relu',
    kerasNotopFile: 'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5',
    paperTrainable: 740_610,
    paperNonTrainable: 1_845_824,
  },
  {
    ...familyFacts('efficientnet'),
    name: 'EfficientNetB0',
    build: buildEfficientNetB0,
    nativeSize: 224,
    featureWidth: 1280,
    kerasLayerCount: 238,
    kerasParams: 4_049_571,
    camLayer: 'top_activation',
    kerasNotopFile: 'efficientnetb0_notop.h5',
    paperTrainable: 1_457_842,
    paperNonTrainable: 2_920_179,
  },
  {
    ...familyFacts('efficientnet'),
    name: 'EfficientNetB4',
    build: buildEfficientNetB4,
    nativeSize: 380,
    featureWidth: 1792,
    kerasLayerCount: 475,
    kerasParams: 17_673_823,
    camLayer: 'top_activation',
    kerasNotopFile: 'efficientnetb4_notop.h5',
    paperTrainable: 5_379_878,
    paperNonTrainable: 12_753_467,
  },
  {
    ...familyFacts('efficientnet'),
    name: 'EfficientNetB7',
    build: buildEfficientNetB7,
    nativeSize: 600,
    featureWidth: 2560,
    kerasLayerCount: 814,
    kerasParams: 64_097_687,
    camLayer: 'top_activation',
    kerasNotopFile: 'efficientnetb7_notop.h5',
    paperTrainable: 12_190_530,
    paperNonTrainable: 52_563_287,
  },
  {
    ...familyFacts('inception-v3'),
    name: 'InceptionV3',
    build: buildInceptionV3,
    nativeSize: 299,
    featureWidth: 2048,
    kerasLayerCount: 311,
    kerasParams: 21_802_784,
    camLayer: 'mixed10',
    kerasNotopFile: `inception_v3${TF_KERNELS_NOTOP}`,
    paperTrainable: 6_595_330,
    paperNonTrainable: 15_732_512,
  },
  {
    ...familyFacts('inception-resnet-v2'),
    name: 'InceptionResNetV2',
    build: buildInceptionResNetV2,
    nativeSize: 299,
    featureWidth: 1536,
    kerasLayerCount: 780,
    kerasParams: 54_336_736,
    camLayer: 'conv_7b_ac',
    kerasNotopFile: `inception_resnet_v2${TF_KERNELS_NOTOP}`,
    paperTrainable: 7_656_258,
    paperNonTrainable: 47_074_464,
  },
  {
    ...familyFacts('densenet'),
    name: 'DenseNet121',
    build: buildDenseNet121,
    nativeSize: 224,
    featureWidth: 1024,
    kerasLayerCount: 427,
    kerasParams: 7_037_504,
    camLayer: 'relu',
    kerasNotopFile: `densenet121${TF_KERNELS_NOTOP}`,
    paperTrainable: 1_124_802,
    paperNonTrainable: 6_175_616,
  },
  {
    ...familyFacts('densenet'),
    name: 'DenseNet169',
    build: buildDenseNet169,
    nativeSize: 224,
    featureWidth: 1664,
    kerasLayerCount: 595,
    kerasParams: 12_642_880,
    camLayer: 'relu',
    kerasNotopFile: `densenet169${TF_KERNELS_NOTOP}`,
    paperTrainable: 1_772_994,
    paperNonTrainable: 11_296_640,
  },
  {
    ...familyFacts('densenet'),
    name: 'DenseNet201',
    build: buildDenseNet201,
    nativeSize: 224,
    featureWidth: 1920,
    kerasLayerCount: 707,
    kerasParams: 18_321_984,
    camLayer: 'relu',
    kerasNotopFile: `densenet201${TF_KERNELS_NOTOP}`,
    paperTrainable: 2_889_410,
    paperNonTrainable: 15_924_864,
  },
  {
    ...familyFacts('resnet-v2'),
    name: 'ResNet50V2',
    build: buildResNet50V2,
    nativeSize: 224,
    featureWidth: 2048,
    kerasLayerCount: 190,
    kerasParams: 23_564_800,
    camLayer: 'post_relu',
    kerasNotopFile: `resnet50v2${TF_KERNELS_NOTOP}`,
    paperTrainable: 1_579_778,
    paperNonTrainable: 22_510_080,
  },
  {
    ...familyFacts('resnet-v2'),
    name: 'ResNet101V2',
    build: buildResNet101V2,
    nativeSize: 224,
    featureWidth: 2048,
    kerasLayerCount: 377,
    kerasParams: 42_626_560,
    camLayer: 'post_relu',
    kerasNotopFile: `resnet101v2${TF_KERNELS_NOTOP}`,
    paperTrainable: 3_940_098,
    paperNonTrainable: 39_211_520,
  },
  {
    ...familyFacts('resnet-v2'),
    name: 'ResNet152V2',
    build: buildResNet152V2,
    nativeSize: 224,
    featureWidth: 2048,
    kerasLayerCount: 564,
    kerasParams: 58_331_648,
    camLayer: 'post_relu',
    kerasNotopFile: `resnet152v2${TF_KERNELS_NOTOP}`,
    paperTrainable: 4_989_698,
    paperNonTrainable: 53_867_008,
  },
] satisfies BackboneSpec[]);

/** MobileNetV2 width multipliers for which Keras publishes ImageNet weights. */
export const MOBILENET_V2_ALPHAS = [0.35, 0.5, 0.75, 1.0, 1.3, 1.4] as const;

/** Keras' cached notop file name for MobileNetV2 at `alpha` and input side `rows` (96..224). */
export function mobileNetV2NotopFile(alpha: number, rows = 224): string {
  // Keras formats float(alpha) with Python's repr: 1 -> '1.0', 0.35 -> '0.35'.
  const a = Number.isInteger(alpha) ? alpha.toFixed(1) : String(alpha);
  return `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_${a}_${rows}_no_top.h5`;
}

/** Find a backbone by Keras class name, case-insensitively; throws an `InputError` listing the names. */
export function getBackbone(name: string): BackboneSpec {
  const key = name.trim().toLowerCase();
  const row = BACKBONES.find((b) => b.name.toLowerCase() === key);
  if (row === undefined) {
    throw new InputError(
      `unknown backbone '${name}'; known backbones: ${BACKBONES.map((b) => b.name).join(', ')}`,
    );
  }
  return row;
}

/** Build backbone `name` (case-insensitive Keras class name) with include_top=False. */
export function buildBackbone(name: string, opts: BuildOptions = {}): tf.LayersModel {
  return getBackbone(name).build(opts);
}
