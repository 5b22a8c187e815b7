import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { BACKBONES, getBackbone } from '../../src/models/table.js';
import { addHaiHead, HAI_HEAD_LAYERS } from '../../src/models/heads.js';
import {
  countParams,
  paperUnfreezeDepth,
  ruleUnfreezeDepth,
  setTrainableTop,
} from '../../src/models/unfreeze.js';

before(async () => {
  await initBackend('wasm');
});

/**
 * Expected unfreeze depths (top k backbone layers trainable) and the remaining difference to
 * Hai et al. Table 2 (trainable count found - table). Same numbers as docs/backbones.md.
 * Exact by construction checks: VGG16 = block5_conv2 + block5_conv3 (2 * (9*512*512 + 512)
 * = 4,719,616) + head (512*256+256+514 = 131,842) = 4,851,458.
 */
const EXPECTED: Record<string, { k: number; kMax: number; difference: number }> = {
  VGG16: { k: 3, kMax: 3, difference: 0 },
  VGG19: { k: 3, kMax: 3, difference: 0 },
  Xception: { k: 18, kMax: 18, difference: -40_352 },
  MobileNetV2: { k: 3, kMax: 3, difference: 0 },
  EfficientNetB0: { k: 16, kMax: 18, difference: 0 },
  EfficientNetB4: { k: 30, kMax: 30, difference: -87_856 },
  EfficientNetB7: { k: 25, kMax: 28, difference: 0 },
  InceptionV3: { k: 31, kMax: 36, difference: 3_264 },
  InceptionResNetV2: { k: 34, kMax: 36, difference: 3_264 },
  DenseNet121: { k: 41, kMax: 41, difference: -33_920 },
  DenseNet169: { k: 42, kMax: 43, difference: 87_424 },
  DenseNet201: { k: 65, kMax: 66, difference: 0 },
  ResNet50V2: { k: 4, kMax: 5, difference: 0 },
  ResNet101V2: { k: 7, kMax: 9, difference: 0 },
  ResNet152V2: { k: 11, kMax: 12, difference: 0 },
};

test('BN accounting as Keras: gamma/beta trainable, moving statistics never', () => {
  const input = tf.input({ shape: [4, 4, 3] });
  const conv = tf.layers.conv2d({ filters: 8, kernelSize: 3, name: 'c' });
  const bn = tf.layers.batchNormalization({ name: 'bn' });
  const m = tf.model({ inputs: input, outputs: bn.apply(conv.apply(input)) as tf.SymbolicTensor });
  // conv: 3*3*3*8 + 8 = 224; bn: 4 * 8 = 32, of which 16 are moving statistics.
  assert.deepEqual(countParams(m), { trainable: 224 + 16, nonTrainable: 16 });
  setTrainableTop(m, 1);
  assert.deepEqual(countParams(m), { trainable: 16, nonTrainable: 224 + 16 });
  setTrainableTop(m, 0);
  assert.deepEqual(countParams(m), { trainable: 0, nonTrainable: 256 });
  assert.throws(() => setTrainableTop(m, 4), /unfreeze depth k must be an integer in \[0, 3\]/);
  m.dispose();
});

test('VGG16 + Hai head with the top 3 layers trainable reproduces Table 2 exactly', () => {
  const m = addHaiHead(getBackbone('VGG16').build({ inputShape: [32, 32, 3] }));
  setTrainableTop(m, 3, HAI_HEAD_LAYERS);
  assert.deepEqual(countParams(m), { trainable: 4_851_458, nonTrainable: 9_995_072 });
  m.dispose();
});

for (const spec of BACKBONES) {
  test(`${spec.name}: unfreeze depth matching Hai et al. Table 2`, () => {
    const r = paperUnfreezeDepth(spec);
    const e = EXPECTED[spec.name];
    assert.deepEqual({ k: r.k, kMax: r.kMax, difference: r.difference }, e);
    assert.equal(r.trainable, spec.paperTrainable + e.difference);
    assert.equal(r.trainable + r.nonTrainable, spec.paperTrainable + spec.paperNonTrainable);
    if (spec.name === 'MobileNetV2') assert.deepEqual(r.unfrozenWithWeights, ['Conv_1_bn', 'Conv_1']);
    if (spec.name === 'VGG16') assert.deepEqual(r.unfrozenWithWeights, ['block5_conv3', 'block5_conv2']);
    if (spec.name === 'EfficientNetB0') {
      // The top block (top_conv, top_bn) plus every layer of block7a.
      assert.deepEqual(r.unfrozenWithWeights, [
        'top_bn',
        'top_conv',
        'block7a_project_bn',
        'block7a_project_conv',
        'block7a_se_expand',
        'block7a_se_reduce',
        'block7a_bn',
        'block7a_dwconv',
        'block7a_expand_bn',
        'block7a_expand_conv',
      ]);
    }
  });
}

test('default rule: largest k with < 1/3 of the layers and < 1/3 of the parameters', () => {
  const m = getBackbone('VGG16').build({ inputShape: [32, 32, 3] });
  // VGG16 layers (19, top first: block5_pool, block5_conv3, block5_conv2, block5_conv1, ...): the
  // top 3 hold 2 * 2,359,808 = 4,719,616 < 14,714,688 / 3 = 4,904,896 and 3 < 19 / 3; k = 4 adds
  // block5_conv1 (2,359,808) -> 7,079,424, too many.
  assert.equal(ruleUnfreezeDepth(m), 3);
  m.dispose();
});
