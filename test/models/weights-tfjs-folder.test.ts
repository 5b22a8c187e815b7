import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend.js';
import { loadTfjsFolder, cutAt, findLayer } from '../../src/models/weights/tfjs-folder.js';
import { InputError } from '../../src/util/errors.js';
import { photoTensor, skipWithoutWeights, weightsPath } from './weights-helpers.js';

const DARKNET = 'darknet_tiny_imagenet';
const TM = 'mobilenet_v2_0.35_224_imagenet_tm';

let tmp: string;
before(async () => {
  await initBackend('wasm');
  tmp = await mkdtemp(join(tmpdir(), 'polarcad-tfjs-folder-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe(
  'tfjs folder loader: Tiny Darknet names the sample photos',
  { skip: skipWithoutWeights(DARKNET, 'sample_photos') },
  () => {
    // Preprocessing as ml5's darknet.js (the model's origin): pixels / 255, then
    // tf.image.resizeBilinear to 224x224 with alignCorners = true; output = 1000 logits whose names
    // are classes.json in the model's own order.
    async function top(model: tf.LayersModel, photo: string, classes: string[], k = 5): Promise<string[]> {
      const img = await photoTensor(weightsPath('sample_photos', photo));
      const x = tf.tidy(() => tf.image.resizeBilinear(img.div(255) as tf.Tensor4D, [224, 224], true));
      const logits = model.predict(x) as tf.Tensor;
      const y = logits.dataSync();
      tf.dispose([img, x, logits]);
      return [...y.keys()]
        .sort((a, b) => y[b] - y[a])
        .slice(0, k)
        .map((i) => classes[i]);
    }

    it('loads 52 layers, ~1.05 M parameters, 1000 outputs, and classifies', async () => {
      const model = await loadTfjsFolder(weightsPath(DARKNET));
      const classes = JSON.parse(readFileSync(weightsPath(DARKNET, 'classes.json'), 'utf8')) as string[];
      assert.equal(classes.length, 1000);
      assert.deepEqual(model.outputs[0].shape, [null, 1000]);
      assert.equal(model.layers.length, 52); // README of ../shared/weights: 52 layers
      const params = model.countParams();
      assert.ok(params > 1.0e6 && params < 1.1e6, `params ${params}`);

      // The README's acceptance check: eagle.jpg is a bald eagle (top-1).
      const eagle = await top(model, 'eagle.jpg', classes);
      assert.equal(eagle[0], 'bald eagle', `eagle top-5: ${eagle.join(', ')}`);

      // The other four darknet photos. ImageNet-1k has no giraffe, horse or person class, so
      // "plausible" = an animal actually in the photo: dog.jpg (a shaggy dog next to a bicycle) -> a
      // dog breed; giraffe.jpg (a giraffe AND a zebra) -> zebra; horses.jpg -> a large hoofed
      // mammal; person.jpg (a person with a dog and a horse) -> a dog breed or hoofed mammal.
      const dogs = [
        'standard schnauzer',
        'giant schnauzer',
        'miniature schnauzer',
        'Afghan hound',
        'malamute',
        'Eskimo dog',
        'Siberian husky',
        'Irish wolfhound',
        'Saluki',
        'briard',
        'Old English sheepdog',
        'Tibetan terrier',
        'Lhasa',
        'komondor',
      ];
      const hoofed = [
        'sorrel',
        'ox',
        'ram',
        'bighorn',
        'Arabian camel',
        'llama',
        'hartebeest',
        'impala',
        'gazelle',
        'water buffalo',
        'ibex',
        'oxcart',
      ];
      const plausible: Record<string, string[]> = {
        'dog.jpg': dogs,
        'giraffe.jpg': ['zebra'],
        'horses.jpg': hoofed,
        'person.jpg': [...dogs, ...hoofed],
      };
      for (const [photo, ok] of Object.entries(plausible)) {
        const t = await top(model, photo, classes);
        assert.ok(ok.includes(t[0]), `${photo}: top-1 '${t[0]}' not plausible (top-5: ${t.join(', ')})`);
      }
      model.dispose();
    });
  },
);

describe('tfjs folder loader: cutAt', { skip: skipWithoutWeights(TM) }, () => {
  it('cuts the Teachable Machine MobileNetV2 0.35 at out_relu inside its nested Sequential', async () => {
    const model = await loadTfjsFolder(weightsPath(TM));
    assert.ok(findLayer(model, 'out_relu'));
    const backbone = cutAt(model, 'out_relu');
    // README of ../shared/weights: 155 layers, 410,208 backbone parameters.
    assert.equal(backbone.layers.length, 155);
    assert.equal(backbone.countParams(), 410_208);
    assert.deepEqual(backbone.outputs[0].shape, [null, 7, 7, 1280]);
    assert.equal(backbone.layers[backbone.layers.length - 1].name, 'out_relu');
    assert.throws(
      () => cutAt(model, 'no_such_layer'),
      (e: unknown) => e instanceof InputError && /no_such_layer/.test(e.message),
    );
    model.dispose();
  });
});

describe('tfjs folder loader: errors', () => {
  it('names the missing folder, the bad JSON and the missing shard', async () => {
    await assert.rejects(
      loadTfjsFolder(join(tmp, 'absent')),
      (e: unknown) => e instanceof InputError && e.message.includes(join(tmp, 'absent')),
    );
    const bad = join(tmp, 'bad');
    await mkdir(bad);
    await writeFile(join(bad, 'model.json'), '{ not json');
    await assert.rejects(
      loadTfjsFolder(bad),
      (e: unknown) => e instanceof InputError && /model\.json: not valid JSON/.test(e.message),
    );
    const noShard = join(tmp, 'noshard');
    await mkdir(noShard);
    const m = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
    const artifacts = await new Promise<tf.io.ModelArtifacts>((res) => {
      void m.save(
        tf.io.withSaveHandler(async (a) => {
          res(a);
          return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
        }),
      );
    });
    await writeFile(
      join(noShard, 'model.json'),
      JSON.stringify({
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['w.bin'], weights: artifacts.weightSpecs }],
      }),
    );
    await assert.rejects(
      loadTfjsFolder(noShard),
      (e: unknown) => e instanceof InputError && /weight shard "w\.bin"/.test(e.message),
    );
    // With the shard present it loads and reproduces the saved weights exactly.
    await writeFile(join(noShard, 'w.bin'), new Uint8Array(artifacts.weightData as ArrayBuffer));
    const back = await loadTfjsFolder(noShard);
    assert.deepEqual(Array.from(back.getWeights()[0].dataSync()), Array.from(m.getWeights()[0].dataSync()));
  });
});
