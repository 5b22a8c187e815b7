import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKBONES, getBackbone, mobileNetV2NotopFile, MOBILENET_V2_ALPHAS } from '../../src/models/table.js';
import { InputError } from '../../src/util/errors.js';

// Hai et al. (2022) Table 2, trainable / non-trainable, copied from the paper (via the issue text).
const TABLE2: Record<string, [number, number]> = {
  VGG16: [4_851_458, 9_995_072],
  VGG19: [4_851_458, 15_304_768],
  Xception: [7_355_250, 14_031_288],
  MobileNetV2: [740_610, 1_845_824],
  EfficientNetB0: [1_457_842, 2_920_179],
  EfficientNetB4: [5_379_878, 12_753_467],
  EfficientNetB7: [12_190_530, 52_563_287],
  InceptionV3: [6_595_330, 15_732_512],
  InceptionResNetV2: [7_656_258, 47_074_464],
  DenseNet121: [1_124_802, 6_175_616],
  DenseNet169: [1_772_994, 11_296_640],
  DenseNet201: [2_889_410, 15_924_864],
  ResNet50V2: [1_579_778, 22_510_080],
  ResNet101V2: [3_940_098, 39_211_520],
  ResNet152V2: [4_989_698, 53_867_008],
};

test('the table has the 15 backbones of Hai et al. Table 2 with their figures', () => {
  assert.equal(BACKBONES.length, 15);
  for (const b of BACKBONES) {
    assert.deepEqual([b.paperTrainable, b.paperNonTrainable], TABLE2[b.name], b.name);
  }
});

test('Table 2 totals = Keras notop count + 256-unit head (C*256+256 + 257*2)', () => {
  // Head by hand: Dense(C->256) has C*256 + 256 weights, Dense(256->2) has 256*2 + 2.
  for (const b of BACKBONES) {
    const head = b.featureWidth * 256 + 256 + 256 * 2 + 2;
    assert.equal(b.paperTrainable + b.paperNonTrainable, b.kerasParams + head, b.name);
  }
});

test('input size, scaling and LR exponent follow Hai et al. Table 2 and Keras preprocess_input', () => {
  for (const b of BACKBONES) {
    const big = ['Xception', 'InceptionV3', 'InceptionResNetV2'].includes(b.name);
    assert.equal(b.inputSize, big ? 299 : 224, b.name);
    const a4 = b.family === 'xception' || b.family.startsWith('inception') || b.family === 'resnet-v2';
    assert.equal(b.lrExponent, a4 ? 4 : 3, b.name);
    const expected = { vgg: ['caffe', 'raw'], efficientnet: ['raw', 'raw'], densenet: ['torch', 'unit'] }[
      b.family as 'vgg' | 'efficientnet' | 'densenet'
    ] ?? ['tf', 'tf'];
    assert.deepEqual([b.scaling, b.paperScaling], expected, b.name);
  }
});

test('getBackbone is case-insensitive and names the known backbones on error', () => {
  assert.equal(getBackbone('resnet152v2').name, 'ResNet152V2');
  assert.equal(getBackbone(' EFFICIENTNETB0 ').name, 'EfficientNetB0');
  assert.throws(
    () => getBackbone('ResNet50'),
    (e: unknown) =>
      e instanceof InputError &&
      /unknown backbone 'ResNet50'/.test(e.message) &&
      /ResNet50V2/.test(e.message),
  );
});

test('Keras notop weight file names (keras/src/applications/*.py)', () => {
  const files = Object.fromEntries(BACKBONES.map((b) => [b.name, b.kerasNotopFile]));
  assert.equal(files.ResNet152V2, 'resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5');
  assert.equal(files.EfficientNetB0, 'efficientnetb0_notop.h5');
  assert.equal(files.MobileNetV2, 'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5');
  assert.equal(files.VGG16, 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5');
  assert.equal(files.DenseNet121, 'densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5');
  assert.equal(files.Xception, 'xception_weights_tf_dim_ordering_tf_kernels_notop.h5');
  assert.equal(files.InceptionV3, 'inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5');
  assert.equal(files.InceptionResNetV2, 'inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5');
  // Python float(alpha) formatting: 1 -> '1.0', 0.35 -> '0.35'.
  assert.deepEqual(
    MOBILENET_V2_ALPHAS.map((a) => mobileNetV2NotopFile(a, 224).split('_')[8]),
    ['0.35', '0.5', '0.75', '1.0', '1.3', '1.4'],
  );
  assert.equal(
    mobileNetV2NotopFile(0.35, 96),
    'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5',
  );
});
