import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm/node';
import { initBackend } from '../../src/engine/backend.js';
import { resolveWeights, loadBackbone, kerasModelsDir } from '../../src/models/weights/resolve.js';
import { EMBEDDED_MODELS, embeddedModelPath } from '../../src/models/weights/embedded.js';
import { readKerasH5 } from '../../src/models/weights/h5.js';
import { loadTfjsFolder, cutAt } from '../../src/models/weights/tfjs-folder.js';
import { InputError } from '../../src/util/errors.js';
import { maxAbsDiff, skipWithoutWeights, weightsPath, writeFlatH5 } from './weights-helpers.js';

let tmp: string;
let home: string;
const saved = { HOME: process.env['HOME'], KERAS_HOME: process.env['KERAS_HOME'] };

before(async () => {
  await initBackend('wasm');
  await h5wasm.ready;
  tmp = await mkdtemp(join(tmpdir(), 'polarcad-resolve-'));
  home = join(tmp, 'home');
  await mkdir(join(home, '.keras', 'models'), { recursive: true });
  process.env['HOME'] = home; // os.homedir() reads $HOME on POSIX
  delete process.env['KERAS_HOME'];
});
after(async () => {
  if (saved.HOME === undefined) delete process.env['HOME'];
  else process.env['HOME'] = saved.HOME;
  if (saved.KERAS_HOME !== undefined) process.env['KERAS_HOME'] = saved.KERAS_HOME;
  await rm(tmp, { recursive: true, force: true });
});

const sha = async (p: string): Promise<string> =>
  createHash('sha256')
    .update(await readFile(p))
    .digest('hex');

describe('weights resolution order', () => {
  it('uses ~/.keras/models (from $HOME) unless KERAS_HOME is set', () => {
    assert.equal(kerasModelsDir(), join(home, '.keras', 'models'));
    process.env['KERAS_HOME'] = join(tmp, 'kh');
    assert.equal(kerasModelsDir(), join(tmp, 'kh', 'models'));
    delete process.env['KERAS_HOME'];
  });

  it('explicit path > Keras cache > embedded > error naming the file', async () => {
    // Nothing cached: MobileNetV2 (alpha 1.0) falls back to the embedded nsfwjs model.
    const emb = await resolveWeights('MobileNetV2', 'imagenet');
    assert.equal(emb.source, 'embedded');
    assert.equal(emb.path, embeddedModelPath(EMBEDDED_MODELS[0]));
    assert.equal(emb.sha256, await sha(emb.path as string));
    assert.match(emb.description, /Not ImageNet weights/);
    assert.match(emb.description, /8 bits/);

    // The Keras cache file (exact Keras name) wins over the embedded default.
    const cached = join(
      home,
      '.keras',
      'models',
      'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5',
    );
    await writeFile(cached, 'placeholder bytes, only the name matters for resolution');
    const kc = await resolveWeights('mobilenetv2', 'imagenet');
    assert.equal(kc.source, 'keras-cache');
    assert.equal(kc.path, cached);
    assert.equal(kc.sha256, await sha(cached));

    // An explicit path wins over everything.
    const explicit = join(tmp, 'mine.h5');
    await writeFile(explicit, 'x');
    const ex = await resolveWeights('MobileNetV2', explicit);
    assert.equal(ex.source, 'path');
    assert.equal(ex.sha256, await sha(explicit));
    await rm(cached);

    // A backbone with no embedded default and nothing cached: the error names the exact file and folder.
    await assert.rejects(resolveWeights('ResNet152V2', 'imagenet'), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.ok(e.message.includes('resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5'), e.message);
      assert.ok(e.message.includes(join(home, '.keras', 'models')), e.message);
      assert.match(e.message, /never downloads/);
      return true;
    });
    // MobileNetV2 at another alpha is not covered by the embedded (alpha 1.0) model.
    await assert.rejects(
      resolveWeights('MobileNetV2', 'imagenet', { alpha: 0.35 }),
      (e: unknown) =>
        e instanceof InputError &&
        e.message.includes('mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5'),
    );
  });

  it("'none' is random initialisation; a missing explicit path and an unknown backbone are input errors", async () => {
    const r = await resolveWeights('VGG16', 'none');
    assert.equal(r.source, 'random');
    assert.match(r.description, /strategy 1 of Hai et al/);
    await assert.rejects(
      resolveWeights('VGG16', join(tmp, 'absent.h5')),
      (e: unknown) => e instanceof InputError && e.message.includes('absent.h5'),
    );
    await assert.rejects(
      resolveWeights('NoSuchNet', 'none'),
      (e: unknown) => e instanceof InputError && /unknown backbone/.test(e.message),
    );
  });
});

describe('loadBackbone', () => {
  it('embedded MobileNetV2: every weighted layer copied by name into our architecture; 7x7x1280 features', async () => {
    const r = await loadBackbone('MobileNetV2');
    assert.equal(r.weights.source, 'embedded');
    assert.ok(r.report);
    // Keras MobileNetV2 no-top has 52 convolutions + 52 BatchNormalizations = 104 weighted layers,
    // 2,257,984 parameters (Keras count_params, also in the backbone table).
    assert.equal(r.report.layersLoaded, 104);
    assert.equal(r.report.paramsLoaded, 2_257_984);
    assert.equal(r.model.countParams(), 2_257_984);
    assert.ok(r.model.trainableWeights.length > 0);
    const y = r.model.predict(tf.randomUniform([1, 224, 224, 3], -1, 1, 'float32', 7)) as tf.Tensor;
    assert.deepEqual(y.shape, [1, 7, 7, 1280]);
    assert.ok(y.dataSync().every(Number.isFinite));
    y.dispose();
    r.model.dispose();
  });

  it("'none': random initialisation, nothing loaded", async () => {
    const r = await loadBackbone('MobileNetV2', { weights: 'none', alpha: 0.35 });
    assert.equal(r.weights.source, 'random');
    assert.equal(r.report, undefined);
    assert.equal(r.model.countParams(), 410_208);
    r.model.dispose();
  });

  it(
    'Keras cache (alpha 0.35 notop file) and explicit path (file with a head) give the tfjs folder features',
    { skip: skipWithoutWeights('keras_h5/tm_keras_model.h5', 'mobilenet_v2_0.35_224_imagenet_tm') },
    async () => {
      // Make a genuine notop file: the backbone part of tm_keras_model.h5, in the flat layout, under Keras' name.
      const set = await readKerasH5(weightsPath('keras_h5/tm_keras_model.h5'));
      const notop = new Map([...set.layers].filter(([k]) => !k.startsWith('dense_')));
      const cached = join(
        home,
        '.keras',
        'models',
        'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5',
      );
      writeFlatH5(cached, notop);
      const fromCache = await loadBackbone('MobileNetV2', { alpha: 0.35 });
      assert.equal(fromCache.weights.source, 'keras-cache');
      assert.deepEqual(fromCache.report?.ignored, []);
      const fromPath = await loadBackbone('MobileNetV2', {
        alpha: 0.35,
        weights: weightsPath('keras_h5/tm_keras_model.h5'),
      });
      assert.equal(fromPath.weights.source, 'path');
      assert.equal(fromPath.report?.ignored.length, 3); // the Teachable Machine head, ignored and reported
      const fromFolder = await loadBackbone('MobileNetV2', {
        alpha: 0.35,
        weights: weightsPath('mobilenet_v2_0.35_224_imagenet_tm'),
      });
      assert.equal(fromFolder.report?.paramsLoaded, 410_208);

      const folder = await loadTfjsFolder(weightsPath('mobilenet_v2_0.35_224_imagenet_tm'));
      const ref = cutAt(folder, 'out_relu');
      const x = tf.randomUniform([1, 224, 224, 3], -1, 1, 'float32', 11);
      const yr = ref.predict(x) as tf.Tensor;
      for (const m of [fromCache, fromPath, fromFolder]) {
        const y = m.model.predict(x) as tf.Tensor;
        assert.ok(maxAbsDiff(y, yr) < 1e-4);
        y.dispose();
        m.model.dispose();
      }
      await rm(cached);
      tf.dispose([x, yr]);
      folder.dispose();
    },
  );
});
