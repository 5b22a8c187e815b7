/**
 * Feature extractor: cut-point helpers on real backbone graphs, ONNX Runtime features against the
 * tfjs model's intermediate outputs, cache hits on the second pass, invalidation, corrupt entries.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '../../src/engine/backend.js';
import { FeatureCache } from '../../src/engine/cache.js';
import {
  FeatureExtractor,
  frozenFrontier,
  imageContentHash,
  inputsOfLayer,
  prepareInput,
  type FeatureItem,
  type PatientViews,
} from '../../src/engine/features.js';
import type { RgbImage } from '../../src/domain/image.js';
import { VIEWS } from '../../src/domain/views.js';
import { rotateMap, rotatePatient } from '../../src/ingest/augment.js';
import { tile2x2, toModelInput } from '../../src/ingest/preprocess.js';
import { getBackbone } from '../../src/models/table.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';
import { randomizeWeights, relError } from './onnx-helpers.js';

const TOL = 1e-4;
const VERBOSE = process.env.POLARCAD_TEST_VERBOSE === '1';
const SIZE = 96;
const CUTS = ['block_15_add', 'block_16_project_BN'];
const root = mkdtempSync(join(tmpdir(), 'polarcad-features-test-'));
let dirCounter = 0;
const freshDir = (): string => join(root, `c${dirCounter++}`);

let mobilenet: tf.LayersModel;

before(async () => {
  await initBackend('wasm');
  mobilenet = getBackbone('MobileNetV2').build({ inputShape: [SIZE, SIZE, 3] });
  // He-scaled seeded random weights (the builder's own init makes deep features vanish)
  randomizeWeights(mobilenet, 11, 0.3, 'he');
});
after(() => {
  mobilenet?.dispose();
  rmSync(root, { recursive: true, force: true });
});

/** A square polar-map-like image: seeded smooth colour pattern inside the disc, black outside. */
function mapImage(seed: number, n = 64): RgbImage {
  const rng = new Rng(seed);
  const f = [rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3), rng.uniform(0, 6)];
  const data = new Uint8Array(n * n * 3);
  const c = (n - 1) / 2;
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if ((x - c) ** 2 + (y - c) ** 2 > (n / 2) ** 2) continue;
      const o = (y * n + x) * 3;
      data[o] = Math.round(127.5 + 127 * Math.sin(f[0] * x + f[2]));
      data[o + 1] = Math.round(127.5 + 127 * Math.cos(f[1] * y));
      data[o + 2] = rng.int(0, 255);
    }
  }
  return { width: n, height: n, data };
}

/** tfjs reference: the cut layers' outputs for prepared HWC inputs. */
function tfjsCut(model: tf.LayersModel, cuts: readonly string[], inputs: Float32Array[]): Float32Array[] {
  const sub = tf.model({ inputs: model.inputs, outputs: cuts.map((n) => model.getLayer(n).output as tf.SymbolicTensor) });
  return tf.tidy(() => {
    const x = tf.stack(inputs.map((d) => tf.tensor3d(d, [SIZE, SIZE, 3])));
    const y = sub.predict(x);
    return (Array.isArray(y) ? y : [y]).map((t) => t.dataSync() as Float32Array);
  });
}

function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describe('cut-point helpers', () => {
  test('inputsOfLayer on ResNet50V2: preact BN of conv5_block3, Add layers, the first conv', () => {
    const resnet = getBackbone('ResNet50V2').build({ inputShape: [32, 32, 3] });
    try {
      // Keras ResNetV2 (block2): conv5_block3 has stride 1 and no conv shortcut, so its input
      // conv5_block2_out (the previous block's Add) feeds both preact BN and the final Add.
      assert.deepEqual(inputsOfLayer(resnet, 'conv5_block3_preact_bn'), ['conv5_block2_out']);
      assert.deepEqual(inputsOfLayer(resnet, 'conv5_block3_out'), ['conv5_block2_out', 'conv5_block3_3_conv']);
      // conv2_block1 has a conv shortcut: Add([conv2_block1_0_conv, conv2_block1_3_conv])
      assert.deepEqual(inputsOfLayer(resnet, 'conv2_block1_out'), ['conv2_block1_0_conv', 'conv2_block1_3_conv']);
      assert.deepEqual(inputsOfLayer(resnet, 'conv1_pad'), ['input_1']);
      assert.throws(() => inputsOfLayer(resnet, 'no_such_layer'), (e: unknown) => e instanceof InputError && /no_such_layer/.test(e.message));
      assert.throws(() => inputsOfLayer(resnet, 'input_1'), InputError);
      // frontier of the trainable top: at a block boundary it is the block input; inside a
      // residual block the skip connection's source is needed too (for the Add)
      assert.deepEqual(frozenFrontier(resnet, 'conv5_block3_preact_bn'), ['conv5_block2_out']);
      assert.deepEqual(frozenFrontier(resnet, 'conv5_block3_1_conv'), ['conv5_block2_out', 'conv5_block3_preact_relu']);
      assert.deepEqual(frozenFrontier(resnet, 'conv5_block3_2_conv'), ['conv5_block2_out', 'conv5_block3_2_pad']);
      assert.deepEqual(frozenFrontier(resnet, resnet.layers.length - 1), ['post_bn']);
      assert.throws(() => frozenFrontier(resnet, 0), InputError);
    } finally {
      resnet.dispose();
    }
  });

  test('inputsOfLayer on MobileNetV2 Add, a Concatenate, and an Add of one tensor with itself', () => {
    // MobileNetV2 block_15: Add([block_14_add (the block input), block_15_project_BN])
    assert.deepEqual(inputsOfLayer(mobilenet, 'block_15_add'), ['block_14_add', 'block_15_project_BN']);
    const x = tf.input({ shape: [4, 4, 2], name: 'in' });
    const a = tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'a' }).apply(x) as tf.SymbolicTensor;
    const b = tf.layers.conv2d({ filters: 3, kernelSize: 1, name: 'b' }).apply(x) as tf.SymbolicTensor;
    const cat = tf.layers.concatenate({ name: 'cat' }).apply([b, a, x]) as tf.SymbolicTensor;
    const twice = tf.layers.add({ name: 'twice' }).apply([cat, cat]) as tf.SymbolicTensor;
    const m = tf.model({ inputs: x, outputs: twice });
    assert.deepEqual(inputsOfLayer(m, 'cat'), ['b', 'a', 'in']);
    assert.deepEqual(inputsOfLayer(m, 'twice'), ['cat']);
    // the frontier is listed in model.layers order (tfjs' topological order)
    const frontier = frozenFrontier(m, 'cat');
    assert.deepEqual([...frontier].sort(), ['a', 'b', 'in']);
    assert.deepEqual(frontier, m.layers.map((l) => l.name).filter((n) => frontier.includes(n)));
    m.dispose();
  });
});

describe('FeatureExtractor (MobileNetV2, 96x96, random weights)', () => {
  const images = [1, 2, 3, 4].map((s) => mapImage(s));

  test('ORT features equal the tfjs intermediate outputs; second pass is all cache hits with identical data', async () => {
    const cache = new FeatureCache({ dir: freshDir() });
    const fx = await FeatureExtractor.create({ model: mobilenet, backboneName: 'MobileNetV2', weightsHash: 'random:11', cutLayers: CUTS, inputSize: SIZE, scaling: 'tf', cache, threads: 1 });
    try {
      assert.deepEqual(fx.shapes, [[3, 3, 160], [3, 3, 320]]);
      // 6 items: 4 images, one rotated copy, one duplicate of image 0
      const items: FeatureItem[] = [
        { key: imageContentHash(images[0]), image: images[0] },
        { image: images[1] },
        { image: images[2], angle: 30 },
        { image: images[3] },
        { image: images[2] },
        { key: imageContentHash(images[0]), image: images[0] },
      ];
      const progress: number[] = [];
      const first = await fx.getFeatures(items, { batchSize: 2, onProgress: (p) => progress.push(p.done) });
      assert.deepEqual(cache.stats.hits, 0);
      assert.equal(cache.stats.misses, 5, 'the duplicate is looked up once');
      assert.equal(cache.stats.writes, 5);
      assert.deepEqual({ ...fx.stats }, { items: 6, hits: 0, computed: 6, inferences: 5 });
      // batches of 2 distinct inputs; the duplicate of item 0 completes with the first batch
      assert.deepEqual(progress, [3, 5, 6]);
      // reference: tfjs on independently prepared inputs (rotateMap then toModelInput)
      const prepared = [images[0], images[1], rotateMap(images[2], 30), images[3], images[2], images[0]].map((im) => toModelInput(im, SIZE, 'tf'));
      const ref = tfjsCut(mobilenet, CUTS, prepared);
      for (let j = 0; j < CUTS.length; j++) {
        assert.equal(first[j].layer, CUTS[j]);
        const e = relError(first[j].data, ref[j]);
        if (VERBOSE) process.stderr.write(`${CUTS[j]}: ORT vs tfjs relative error ${e.toExponential(2)}\n`);
        assert.ok(e < TOL, `${CUTS[j]}: relative error ${e.toExponential(2)}`);
      }
      // the rotated copy differs from the original
      assert.ok(relError(first[1].data.subarray(2 * 2880, 3 * 2880), first[1].data.subarray(4 * 2880, 5 * 2880)) > 0.01);

      const second = await fx.getFeatures(items, { batchSize: 2 });
      assert.equal(cache.stats.hits, 5);
      assert.equal(cache.stats.misses, 5);
      assert.equal(fx.stats.inferences, 5, 'nothing recomputed');
      for (let j = 0; j < CUTS.length; j++) assert.deepEqual(second[j].data, first[j].data);
      assert.equal(files(cache.dir).length, 5);
      assert.ok(files(cache.dir).every((f) => f.endsWith('.feat')), 'no temporary files');
    } finally {
      await fx.dispose();
    }
  });

  test('hits need no image: the loader is not called; a changed image byte or weights identity misses', async () => {
    const dir = freshDir();
    const cache = new FeatureCache({ dir });
    const opts = { model: mobilenet, backboneName: 'MobileNetV2', weightsHash: 'random:11', cutLayers: CUTS.slice(1), inputSize: SIZE, scaling: 'tf' as const, cache, threads: 1 };
    const fx = await FeatureExtractor.create(opts);
    const key = imageContentHash(images[0]);
    let loads = 0;
    const lazy: FeatureItem = {
      key,
      image: () => {
        loads++;
        return images[0];
      },
    };
    try {
      const a = await fx.getFeatures([lazy]);
      assert.equal(loads, 1);
      const b = await fx.getFeatures([lazy]);
      assert.equal(loads, 1, 'served from the cache without loading');
      assert.deepEqual(b[0].data, a[0].data);
      // one changed byte -> another content hash -> miss
      const changed = { ...images[0], data: images[0].data.slice() };
      changed.data[32 * 64 * 3 + 32 * 3] ^= 1;
      await fx.getFeatures([{ image: changed }]);
      assert.equal(cache.stats.misses, 2);
    } finally {
      await fx.dispose();
    }
    // another weights identity, another preprocessing, another cut: all misses
    const variants = [
      { ...opts, weightsHash: 'random:12' },
      { ...opts, scaling: 'unit' as const },
      { ...opts, cutLayers: CUTS.slice(0, 1) },
      { ...opts, backboneName: 'MobileNetV2_alt' },
    ];
    for (const v of variants) {
      const c2 = new FeatureCache({ dir });
      const fx2 = await FeatureExtractor.create({ ...v, cache: c2 });
      try {
        await fx2.getFeatures([lazy]);
        assert.equal(c2.stats.misses, 1);
        assert.equal(c2.stats.hits, 0);
      } finally {
        await fx2.dispose();
      }
    }
    // same settings from a fresh cache object (a later run): hit
    const c3 = new FeatureCache({ dir });
    const fx3 = await FeatureExtractor.create({ ...opts, cache: c3 });
    await fx3.getFeatures([lazy]);
    await fx3.dispose();
    assert.equal(c3.stats.hits, 1);
  });

  test('weights identity: values hash by default (changes when a weight changes), null disables caching', async () => {
    const dir = freshDir();
    const base = { model: mobilenet, backboneName: 'MobileNetV2', cutLayers: CUTS.slice(0, 1), inputSize: SIZE, scaling: 'tf' as const, threads: 1 };
    const fxA = await FeatureExtractor.create({ ...base, cache: new FeatureCache({ dir }) });
    const idA = fxA.weightsId;
    assert.match(idA ?? '', /^values:[0-9a-f]{64}$/);
    await fxA.dispose();
    // change one weight of a layer below the cut
    const layer = mobilenet.getLayer('block_15_project');
    const [k] = layer.getWeights();
    const orig = k.clone();
    const bumped = tf.tidy(() => k.add(tf.oneHot([0], k.size).reshape(k.shape).mul(0.5)));
    layer.setWeights([bumped]);
    try {
      const fxB = await FeatureExtractor.create({ ...base, cache: new FeatureCache({ dir }) });
      assert.notEqual(fxB.weightsId, idA);
      await fxB.dispose();
      // a layer above the cut does not matter
    } finally {
      layer.setWeights([orig]);
      orig.dispose();
      bumped.dispose();
    }
    const top = mobilenet.getLayer('Conv_1');
    const [kt] = top.getWeights();
    const origTop = kt.clone();
    top.setWeights([tf.tidy(() => kt.mul(2))]);
    const fxC = await FeatureExtractor.create({ ...base, cache: new FeatureCache({ dir }) });
    assert.equal(fxC.weightsId, idA, 'weights above the cut are not part of the identity');
    await fxC.dispose();
    top.setWeights([origTop]);
    origTop.dispose();

    const noCache = new FeatureCache({ dir: freshDir() });
    const fxN = await FeatureExtractor.create({ ...base, weightsHash: null, cache: noCache });
    try {
      await fxN.getFeatures([{ image: images[0] }]);
      await fxN.getFeatures([{ image: images[0] }]);
      assert.equal(fxN.stats.inferences, 2);
      assert.equal(noCache.stats.writes, 0);
      assert.deepEqual(files(noCache.dir), []);
    } finally {
      await fxN.dispose();
    }
  });

  test('a corrupted cache entry (flipped byte, truncation) is recomputed with the right values', async () => {
    const cache = new FeatureCache({ dir: freshDir() });
    const fx = await FeatureExtractor.create({ model: mobilenet, backboneName: 'MobileNetV2', weightsHash: 'random:11', cutLayers: CUTS, inputSize: SIZE, scaling: 'tf', cache, threads: 1 });
    try {
      const items = [{ image: images[0] }, { image: images[1] }];
      const good = await fx.getFeatures(items);
      const [f0, f1] = files(cache.dir);
      const b0 = readFileSync(f0);
      b0[b0.length - 100] ^= 0x10;
      writeFileSync(f0, b0);
      writeFileSync(f1, readFileSync(f1).subarray(0, 500));
      const again = await fx.getFeatures(items);
      assert.equal(cache.stats.corrupt, 2);
      assert.equal(fx.stats.inferences, 4, 'both recomputed');
      for (let j = 0; j < CUTS.length; j++) assert.deepEqual(again[j].data, good[j].data);
      const third = await fx.getFeatures(items);
      assert.equal(cache.stats.hits, 2, 'the rewritten entries verify');
      assert.deepEqual(third[0].data, good[0].data);
    } finally {
      await fx.dispose();
    }
  });

  test('2x2 AC+NAC tiles with a rotation: features of rotatePatient + tile2x2 + scaling; float16 cache within 1e-3', async () => {
    const views: PatientViews = Object.fromEntries(VIEWS.map((v, i) => [v, mapImage(20 + i, 40)]));
    const cache = new FeatureCache({ dir: freshDir(), dtype: 'float16' });
    const fx = await FeatureExtractor.create({ model: mobilenet, backboneName: 'MobileNetV2', weightsHash: 'random:11', cutLayers: CUTS, inputSize: SIZE, scaling: 'tf', layout: 'tile2x2', cache, threads: 1 });
    try {
      const got = await fx.getFeatures([{ image: views, angle: -15 }]);
      const ref = tfjsCut(mobilenet, CUTS, [toModelInput(tile2x2(rotatePatient(views, -15), SIZE), SIZE, 'tf')]);
      for (let j = 0; j < CUTS.length; j++) {
        const e = relError(got[j].data, ref[j]);
        if (VERBOSE) process.stderr.write(`tile2x2 float16 ${CUTS[j]}: relative error ${e.toExponential(2)}\n`);
        // float16 storage: relative rounding <= 2^-11 = 4.9e-4 per value, plus the ORT/tfjs difference
        assert.ok(e < 1e-3, `${CUTS[j]}: relative error ${e.toExponential(2)}`);
      }
      const again = await fx.getFeatures([{ image: views, angle: -15 }]);
      assert.equal(cache.stats.hits, 1);
      assert.deepEqual(again[1].data, got[1].data, 'first pass serves the float16-rounded values too');
      await assert.rejects(fx.getFeatures([{ image: images[0] }]), /layout 'tile2x2' expects/);
    } finally {
      await fx.dispose();
    }
  });

  test('bad options are InputErrors naming the problem', async () => {
    const base = { model: mobilenet, backboneName: 'MobileNetV2', cutLayers: CUTS, inputSize: SIZE, scaling: 'tf' as const, threads: 1 };
    await assert.rejects(FeatureExtractor.create({ ...base, inputSize: 128 }), (e: unknown) => e instanceof InputError && /expected \[null, 128, 128, 3\]/.test(e.message));
    await assert.rejects(FeatureExtractor.create({ ...base, cutLayers: ['nope'] }), (e: unknown) => e instanceof InputError && /nope/.test(e.message));
    await assert.rejects(FeatureExtractor.create({ ...base, cutLayers: [] }), InputError);
    await assert.rejects(FeatureExtractor.create({ ...base, weightsHash: ' ' }), InputError);
    assert.throws(() => prepareInput({ width: 4, height: 2, data: new Uint8Array(24) }, 10, 'image', SIZE, 'tf'), /cannot rotate a 4x2 image/);
  });
});
