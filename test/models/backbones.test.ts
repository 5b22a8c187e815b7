import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { BACKBONES, getBackbone, MOBILENET_V2_ALPHAS } from '../../src/models/table.js';
import { buildMobileNetV2, makeDivisible } from '../../src/models/backbones/mobilenet-v2.js';
import { addApostolopoulosHead, addHaiHead } from '../../src/models/heads.js';
import { countParams } from '../../src/models/unfreeze.js';
import '../../src/models/layers/keras-layers.js';

before(async () => {
  await initBackend('wasm');
});

/** Smallest input each Keras graph accepts (parameter counts do not depend on it). */
function small(family: string): [number, number, 3] {
  if (family.startsWith('inception')) return [75, 75, 3];
  if (family === 'xception') return [71, 71, 3];
  return [32, 32, 3];
}

/** Layer names of an nsfwjs (Keras 2.2.4) model, read from its embedded JSON topology. */
function nsfwjsLayerNames(model: 'inception_v3' | 'mobilenet_v2'): string[] {
  const require = createRequire(import.meta.url);
  // The models folder is not in nsfwjs' "exports"; locate it next to the package entry point.
  let dir = path.dirname(require.resolve('nsfwjs'));
  while (!fs.existsSync(path.join(dir, 'dist', 'models'))) dir = path.dirname(dir);
  const j = require(path.join(dir, 'dist', 'models', model, 'model.min.js')) as {
    modelTopology: { model_config: { config: { layers: { name: string }[] } } };
  };
  return j.modelTopology.model_config.config.layers.map((l) => l.name);
}

// Names Keras uses, checked one by one against keras/src/applications/*.py.
const EXPECTED_NAMES: Record<string, string[]> = {
  VGG16: ['block1_conv1', 'block5_conv3', 'block5_pool'],
  VGG19: ['block5_conv4', 'block5_pool'],
  Xception: [
    'block1_conv1_bn',
    'block2_sepconv2_act',
    'conv2d_1',
    'batch_normalization_4',
    'add_12',
    'block14_sepconv2_act',
  ],
  MobileNetV2: [
    'Conv1',
    'bn_Conv1',
    'expanded_conv_depthwise',
    'block_1_pad',
    'block_16_project_BN',
    'Conv_1_bn',
    'out_relu',
  ],
  EfficientNetB0: [
    'rescaling',
    'normalization',
    'rescaling_1',
    'stem_conv_pad',
    'block1a_dwconv',
    'block2b_drop',
    'block7a_se_excite',
    'top_conv',
  ],
  EfficientNetB7: ['block7d_add', 'top_activation'],
  InceptionV3: [
    'conv2d_1',
    'conv2d_94',
    'batch_normalization_94',
    'mixed0',
    'mixed9_1',
    'concatenate_2',
    'mixed10',
  ],
  InceptionResNetV2: [
    'conv2d_1',
    'mixed_5b',
    'block35_10',
    'block17_20_conv',
    'block8_10',
    'conv_7b_bn',
    'conv_7b_ac',
  ],
  DenseNet121: [
    'zero_padding2d_1',
    'conv1_conv',
    'conv2_block1_0_bn',
    'pool2_pool',
    'conv5_block16_concat',
    'bn',
    'relu',
  ],
  ResNet50V2: [
    'conv1_pad',
    'conv2_block1_preact_bn',
    'conv2_block1_0_conv',
    'max_pooling2d_1',
    'conv5_block3_out',
    'post_bn',
    'post_relu',
  ],
};

for (const spec of BACKBONES) {
  test(`${spec.name} builds with the Keras layer count, parameter count and names`, () => {
    const m = spec.build({ inputShape: small(spec.family) });
    try {
      assert.equal(m.layers.length, spec.kerasLayerCount, 'layer count');
      assert.equal(m.countParams(), spec.kerasParams, 'Keras include_top=False parameter count');
      assert.equal(m.outputs[0].shape[3], spec.featureWidth, 'feature width');
      const names = m.layers.map((l) => l.name);
      assert.equal(new Set(names).size, names.length, 'layer names are unique');
      assert.ok(names.includes(spec.camLayer), `CAM layer ${spec.camLayer}`);
      for (const n of EXPECTED_NAMES[spec.name] ?? []) assert.ok(names.includes(n), `layer ${n}`);
      // With the 256-unit Hai head, the total is the Table 2 sum; all trainable before freezing.
      const full = addHaiHead(m, { units: 256 });
      const c = countParams(full);
      assert.equal(
        c.trainable + c.nonTrainable,
        spec.paperTrainable + spec.paperNonTrainable,
        'Table 2 total',
      );
    } finally {
      m.dispose();
    }
  });
}

/** The layers nsfwjs' classifier head adds after its pooling layer (not part of the backbone). */
const NSFWJS_HEAD = ['flatten_1', 'dense_1', 'dense_2', 'dense_3', 'dropout_2', 'dropout_3'];

test('InceptionV3 layer names equal those of the Keras 2.2.4 nsfwjs model (legacy auto-names)', () => {
  const m = getBackbone('InceptionV3').build({ inputShape: [75, 75, 3] });
  const ours = m.layers.map((l) => l.name).sort();
  // nsfwjs adds a head after mixed10: average_pooling2d_10, flatten_1, dense_1..3, dropout_2..3.
  const head = new Set(['average_pooling2d_10', ...NSFWJS_HEAD]);
  const theirs = nsfwjsLayerNames('inception_v3')
    .filter((n) => !head.has(n))
    .sort();
  assert.deepEqual(ours, theirs);
  m.dispose();
});

test('MobileNetV2 layer names equal the nsfwjs Keras 2.2.4 model except its weightless Conv1_pad', () => {
  const m = buildMobileNetV2({ inputShape: [96, 96, 3] });
  const ours = m.layers.map((l) => l.name).sort();
  const head = new Set(['Conv1_pad', 'average_pooling2d_1', ...NSFWJS_HEAD]);
  const theirs = nsfwjsLayerNames('mobilenet_v2')
    .filter((n) => !head.has(n))
    .sort();
  assert.deepEqual(ours, theirs);
  m.dispose();
});

/**
 * MobileNetV2 parameter count by hand from the architecture (Sandler et al. 2018 Table 2 with
 * Keras' rounding): conv k*k*cin*cout, depthwise 9*c, BN 4*c (gamma, beta, mean, variance).
 */
function mobileNetV2ParamsByHand(alpha: number): number {
  const stages: [number, number, number][] = [
    // [expansion t, filters c, repeats n] of the paper's Table 2.
    [1, 16, 1],
    [6, 24, 2],
    [6, 32, 3],
    [6, 64, 4],
    [6, 96, 3],
    [6, 160, 3],
    [6, 320, 1],
  ];
  let cin = makeDivisible(32 * alpha, 8);
  let p = 3 * 3 * 3 * cin + 4 * cin;
  let first = true;
  for (const [t, c, n] of stages) {
    for (let i = 0; i < n; i++) {
      const out = makeDivisible(Math.trunc(c * alpha), 8);
      const mid = first ? cin : cin * t;
      if (!first) p += cin * mid + 4 * mid;
      p += 9 * mid + 4 * mid + mid * out + 4 * out;
      cin = out;
      first = false;
    }
  }
  const last = alpha > 1 ? makeDivisible(1280 * alpha, 8) : 1280;
  return p + cin * last + 4 * last;
}

test('MobileNetV2 builds for every published alpha with the hand-computed parameter count', () => {
  assert.equal(mobileNetV2ParamsByHand(1.0), 2_257_984); // the Keras figure (Table 2 sum minus head)
  for (const alpha of MOBILENET_V2_ALPHAS) {
    const m = buildMobileNetV2({ alpha, inputShape: [32, 32, 3] });
    assert.equal(m.layers.length, 154, `alpha ${alpha}`);
    assert.equal(m.countParams(), mobileNetV2ParamsByHand(alpha), `alpha ${alpha}`);
    assert.equal(m.outputs[0].shape[3], alpha > 1 ? makeDivisible(1280 * alpha, 8) : 1280);
    assert.equal(m.name, `mobilenetv2_${alpha.toFixed(2)}_32`);
    m.dispose();
  }
});

test('Apostolopoulos head: GMP, 500, 0.5, 250, 0.5, 2 with the hand-computed parameter count', () => {
  const m = getBackbone('VGG16').build({ inputShape: [32, 32, 3] });
  const full = addApostolopoulosHead(m);
  const head = 512 * 500 + 500 + 500 * 250 + 250 + 250 * 2 + 2;
  assert.equal(full.countParams(), 14_714_688 + head);
  assert.deepEqual(
    full.layers.slice(-6).map((l) => l.getClassName()),
    ['GlobalMaxPooling2D', 'Dense', 'Dropout', 'Dense', 'Dropout', 'Dense'],
  );
  m.dispose();
});

test('models with the custom layers serialise and reload (EfficientNetB0, InceptionResNetV2)', async () => {
  for (const name of ['EfficientNetB0', 'InceptionResNetV2']) {
    const spec = getBackbone(name);
    const m = spec.build({ inputShape: small(spec.family) });
    const saved: tf.io.ModelArtifacts[] = [];
    await m.save(
      tf.io.withSaveHandler(async (a) => {
        saved.push(a);
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved[0]));
    assert.equal(loaded.countParams(), spec.kerasParams, name);
    assert.deepEqual(
      loaded.layers.map((l) => l.name),
      m.layers.map((l) => l.name),
    );
    const x = tf.randomUniform([1, ...small(spec.family)], 0, 255);
    const a = m.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    assert.ok(tf.max(tf.abs(tf.sub(a, b))).arraySync() === 0, `${name}: reloaded model computes the same`);
    tf.dispose([x, a, b]);
    m.dispose();
    loaded.dispose();
  }
});
