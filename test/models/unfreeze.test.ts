import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { BACKBONES, getBackbone } from '../../src/models/table.js';
import { addHaiHead, HAI_HEAD_LAYERS } from '../../src/models/heads.js';
import { kerasLayerOrder, topCutSums } from '../../src/models/layer-order.js';
import {
  BN_POLICIES,
  buildForCounting,
  countParams,
  haiHeadParams,
  isBatchNorm,
  matchUnfreezeDepth,
  PAPER_BN_POLICY,
  paperUnfreezeDepth,
  ruleUnfreezeDepth,
  setTrainableTop,
  unfreezableParams,
  type BnPolicy,
} from '../../src/models/unfreeze.js';

before(async () => {
  await initBackend('wasm');
});

/**
 * Closest unfreeze depth (top k backbone layers trainable) and remaining difference to Hai et al.
 * Table 2 (trainable count found - table) for each BatchNormalization policy. Same numbers as
 * docs/backbones.md. Reference: an independent Python summation of the per-layer counts (k =
 * smallest closest depth, kMax = largest depth with the same count). Each backbone with BN layers
 * is exact under exactly one policy (PAPER_BN_POLICY); 'follow' alone is exact for 9 of 15.
 * Hand checks: VGG16 = block5_conv2 + block5_conv3 (2 * (9*512*512 + 512) = 4,719,616) + head
 * (512*256+256+514 = 131,842) = 4,851,458. InceptionV3 'follow' +3,264 = the BN betas (scale=False)
 * of mixed10: 320 + 3*384 + 448 + 3*384 + 192 (keras inception_v3.py widths).
 */
type Match = { k: number; kMax: number; difference: number };
const EXPECTED: Record<string, Record<BnPolicy, Match>> = {
  VGG16: {
    follow: { k: 3, kMax: 3, difference: 0 },
    always: { k: 3, kMax: 3, difference: 0 },
    never: { k: 3, kMax: 3, difference: 0 },
  },
  VGG19: {
    follow: { k: 3, kMax: 3, difference: 0 },
    always: { k: 3, kMax: 3, difference: 0 },
    never: { k: 3, kMax: 3, difference: 0 },
  },
  Xception: {
    follow: { k: 18, kMax: 18, difference: -40_352 },
    always: { k: 15, kMax: 18, difference: 0 },
    never: { k: 15, kMax: 18, difference: -54_528 },
  },
  MobileNetV2: {
    follow: { k: 3, kMax: 3, difference: 0 },
    always: { k: 3, kMax: 4, difference: 31_552 },
    never: { k: 3, kMax: 4, difference: -2_560 },
  },
  EfficientNetB0: {
    follow: { k: 16, kMax: 18, difference: 0 },
    always: { k: 16, kMax: 19, difference: 34_208 },
    never: { k: 16, kMax: 19, difference: -7_808 },
  },
  EfficientNetB4: {
    follow: { k: 30, kMax: 30, difference: -87_856 },
    always: { k: 23, kMax: 27, difference: 0 },
    never: { k: 28, kMax: 30, difference: -110_512 },
  },
  EfficientNetB7: {
    follow: { k: 25, kMax: 28, difference: 0 },
    always: { k: 25, kMax: 29, difference: 287_680 },
    never: { k: 30, kMax: 32, difference: 11_520 },
  },
  InceptionV3: {
    follow: { k: 31, kMax: 36, difference: 3_264 },
    always: { k: 31, kMax: 42, difference: 17_216 },
    never: { k: 31, kMax: 42, difference: 0 },
  },
  InceptionResNetV2: {
    follow: { k: 34, kMax: 36, difference: 3_264 },
    always: { k: 34, kMax: 36, difference: 30_272 },
    never: { k: 34, kMax: 36, difference: 0 },
  },
  DenseNet121: {
    follow: { k: 41, kMax: 41, difference: -33_920 },
    always: { k: 35, kMax: 38, difference: 0 },
    never: { k: 39, kMax: 41, difference: -46_784 },
  },
  DenseNet169: {
    follow: { k: 42, kMax: 43, difference: 87_424 },
    always: { k: 35, kMax: 38, difference: 0 },
    never: { k: 42, kMax: 45, difference: 66_880 },
  },
  DenseNet201: {
    follow: { k: 65, kMax: 66, difference: 0 },
    always: { k: 60, kMax: 62, difference: -17_664 },
    never: { k: 67, kMax: 69, difference: -960 },
  },
  ResNet50V2: {
    follow: { k: 4, kMax: 5, difference: 0 },
    always: { k: 4, kMax: 6, difference: 41_344 },
    never: { k: 4, kMax: 6, difference: -4_096 },
  },
  ResNet101V2: {
    follow: { k: 7, kMax: 9, difference: 0 },
    always: { k: 7, kMax: 10, difference: 92_544 },
    never: { k: 7, kMax: 10, difference: -5_120 },
  },
  ResNet152V2: {
    follow: { k: 11, kMax: 12, difference: 0 },
    always: { k: 11, kMax: 14, difference: 137_600 },
    never: { k: 11, kMax: 14, difference: -6_144 },
  },
};

/** The lowest layer of the top k at the paper policy's k (docs/backbones.md "Lowest unfrozen layer"). */
const LOWEST_UNFROZEN: Record<string, string> = {
  VGG16: 'block5_conv2',
  VGG19: 'block5_conv3',
  Xception: 'block13_sepconv1',
  MobileNetV2: 'Conv_1',
  EfficientNetB0: 'block7a_expand_conv',
  EfficientNetB4: 'block7a_se_reduce',
  EfficientNetB7: 'block7c_se_reduce',
  InceptionV3: 'conv2d_90',
  InceptionResNetV2: 'conv2d_197',
  DenseNet121: 'conv5_block12_1_conv',
  DenseNet169: 'conv5_block28_1_conv',
  DenseNet201: 'conv5_block24_0_bn',
  ResNet50V2: 'conv5_block3_3_conv',
  ResNet101V2: 'conv5_block3_2_conv',
  ResNet152V2: 'conv5_block3_1_conv',
};

/**
 * Is the Table 2 count reachable under `policy` with the top cut of ANY topological layer order
 * (any consumer-closed set of layers)? 'always' adds every BN's gamma/beta, 'never' none.
 */
function reachableInAnyOrder(backbone: tf.LayersModel, target: number, policy: BnPolicy): boolean {
  const bn = backbone.layers.filter(isBatchNorm).reduce((s, l) => s + unfreezableParams(l), 0);
  const base = policy === 'always' ? bn : 0;
  const weight = (l: tf.layers.Layer): number =>
    isBatchNorm(l) && policy !== 'follow' ? 0 : unfreezableParams(l);
  return target >= base && topCutSums(backbone, weight, target - base).includes(target - base);
}

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
  test(`${spec.name}: unfreeze depth matching Hai et al. Table 2, per BN policy`, () => {
    const backbone = buildForCounting(spec);
    // tfjs' model.layers is Keras' order (re-derived from the graph by Keras' algorithm).
    assert.deepEqual(
      kerasLayerOrder(backbone).map((l) => l.name),
      backbone.layers.map((l) => l.name),
    );
    const found: Record<string, Match> = {};
    for (const policy of BN_POLICIES) {
      const r = matchUnfreezeDepth(backbone, spec, policy);
      found[policy] = { k: r.k, kMax: r.kMax, difference: r.difference };
      assert.equal(r.trainable, spec.paperTrainable + r.difference);
      assert.equal(r.trainable + r.nonTrainable, spec.paperTrainable + spec.paperNonTrainable);
    }
    assert.deepEqual(found, EXPECTED[spec.name]);

    // The paper policy is exact; for a backbone with BN layers every other policy fails under
    // every possible layer order (so no ordering convention can explain the mismatch).
    const paperPolicy = PAPER_BN_POLICY[spec.name];
    assert.equal(EXPECTED[spec.name][paperPolicy].difference, 0);
    const target = spec.paperTrainable - haiHeadParams(spec.featureWidth);
    if (backbone.layers.some(isBatchNorm)) {
      for (const policy of BN_POLICIES) {
        // Positive control for the paper policy (the enumeration does find the exact cut).
        const exact = EXPECTED[spec.name][policy].difference === 0;
        assert.equal(reachableInAnyOrder(backbone, target, policy), exact, policy);
      }
    }

    // End to end: Keras accounting of the real model (backbone + Hai head) after setTrainableTop.
    const { k } = EXPECTED[spec.name][paperPolicy];
    assert.equal(backbone.layers[backbone.layers.length - k].name, LOWEST_UNFROZEN[spec.name]);
    const m = addHaiHead(backbone);
    setTrainableTop(m, k, HAI_HEAD_LAYERS, paperPolicy);
    assert.deepEqual(countParams(m), {
      trainable: spec.paperTrainable,
      nonTrainable: spec.paperNonTrainable,
    });
    m.dispose();
  });
}

test('paperUnfreezeDepth defaults to the paper BN policy and names the unfrozen layers', () => {
  const mobile = paperUnfreezeDepth(getBackbone('MobileNetV2'));
  assert.equal(mobile.bnPolicy, 'follow');
  assert.deepEqual(mobile.unfrozenWithWeights, ['Conv_1_bn', 'Conv_1']);
  const vgg = paperUnfreezeDepth(getBackbone('VGG16'));
  assert.deepEqual(vgg.unfrozenWithWeights, ['block5_conv3', 'block5_conv2']);
  const b0 = paperUnfreezeDepth(getBackbone('EfficientNetB0'));
  // The top block (top_conv, top_bn) plus every layer of block7a.
  assert.deepEqual(b0.unfrozenWithWeights, [
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
  // Xception, policy 'always': block13_sepconv1 upwards (5 convolutions, 3,159,552 + 1,582,080 +
  // 745,472 + 752,024 + 536,536 = 6,775,664) + gamma/beta of all 27,264 BN channels (54,528)
  // = 6,830,192 = 7,355,250 - head 525,058. BN channels (keras xception.py): 32+64, 128*2+128,
  // 256*3, 728*3, 8*3*728, 728+1024+1024, 1536+2048.
  const x = paperUnfreezeDepth(getBackbone('Xception'));
  assert.equal(x.bnPolicy, 'always');
  assert.deepEqual(
    x.unfrozenWithWeights.filter((n) => !n.includes('bn') && !n.startsWith('batch_normalization')),
    ['block14_sepconv2', 'block14_sepconv1', 'conv2d_4', 'block13_sepconv2', 'block13_sepconv1'],
  );
  assert.equal(6_775_664 + 2 * 27_264 + haiHeadParams(2048), 7_355_250);
  // InceptionV3, policy 'never': BN layers of the top k stay frozen, so none is listed.
  const inc = paperUnfreezeDepth(getBackbone('InceptionV3'));
  assert.equal(inc.bnPolicy, 'never');
  assert.equal(inc.unfrozenWithWeights.filter((n) => n.startsWith('batch_normalization')).length, 0);
  assert.equal(inc.unfrozenWithWeights.length, 9); // the 9 convolutions of mixed10
});

test('BN policies on a small model: always / never override the top-k cut for BN only', () => {
  const input = tf.input({ shape: [4, 4, 3] });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, name: 'c1' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'c2' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn2' }).apply(x) as tf.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: x });
  // c1 224, bn1 16 + 16 (moving), c2 8*4+4 = 36, bn2 8 + 8; total 308.
  setTrainableTop(m, 2, 0, 'follow'); // bn2, c2
  assert.deepEqual(countParams(m), { trainable: 36 + 8, nonTrainable: 308 - 44 });
  setTrainableTop(m, 2, 0, 'always'); // bn2, c2 + bn1 gamma/beta
  assert.deepEqual(countParams(m), { trainable: 36 + 8 + 16, nonTrainable: 308 - 60 });
  setTrainableTop(m, 2, 0, 'never'); // c2 only
  assert.deepEqual(countParams(m), { trainable: 36, nonTrainable: 308 - 36 });
  setTrainableTop(m, 0, 0, 'always'); // BN gamma/beta only
  assert.deepEqual(countParams(m), { trainable: 24, nonTrainable: 308 - 24 });
  m.dispose();
});

test('default rule: largest k with < 1/3 of the layers and < 1/3 of the parameters', () => {
  const m = getBackbone('VGG16').build({ inputShape: [32, 32, 3] });
  // VGG16 layers (19, top first: block5_pool, block5_conv3, block5_conv2, block5_conv1, ...): the
  // top 3 hold 2 * 2,359,808 = 4,719,616 < 14,714,688 / 3 = 4,904,896 and 3 < 19 / 3; k = 4 adds
  // block5_conv1 (2,359,808) -> 7,079,424, too many.
  assert.equal(ruleUnfreezeDepth(m), 3);
  m.dispose();
});
