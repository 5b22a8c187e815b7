import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../../src/engine/backend.js';
import { buildDenseNet121 } from '../../src/models/backbones/densenet.js';
import { buildResNet50V2 } from '../../src/models/backbones/resnet-v2.js';

test('DenseNet121 and ResNet50V2 batch norms use epsilon 1.001e-5 (keras densenet.py / resnet.py)', async () => {
  await initBackend('cpu');
  for (const m of [
    buildDenseNet121({ inputShape: [32, 32, 3] }),
    buildResNet50V2({ inputShape: [32, 32, 3] }),
  ]) {
    const bns = m.layers.filter((l) => l.getClassName() === 'BatchNormalization');
    const relus = m.layers.filter((l) => l.getClassName() === 'Activation');
    assert.ok(bns.length >= 49, `${m.name}: ${bns.length} batch norms`);
    for (const l of bns) assert.equal(l.getConfig()['epsilon'], 1.001e-5, l.name);
    for (const l of relus) assert.equal(l.getConfig()['activation'], 'relu', l.name);
    m.dispose();
  }
  assert.equal(tf.getBackend(), 'cpu');
});
