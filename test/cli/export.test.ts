/**
 * `polarcad export MODEL_DIR --format onnx --out FILE` through `main()`: a small trained-model
 * stand-in (MobileNetV2 at 96 px + the polarcad head) saved as a tfjs folder with polarcad.json,
 * exported, read back (metadata) and run in ONNX Runtime against tfjs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';
import { initBackend, tf } from '../../src/engine/backend.js';
import { summariseOnnx } from '../../src/engine/onnx/schema.js';
import { OnnxModel } from '../../src/engine/onnx/session.js';
import { buildMobileNetV2 } from '../../src/models/backbones/mobilenet-v2.js';
import { randomInput, randomizeWeights, relError } from '../engine/onnx-helpers.js';

let tmp = '';
let model: tf.LayersModel;
let dir = '';

async function saveFolder(m: tf.LayersModel, where: string): Promise<void> {
  await mkdir(where, { recursive: true });
  const artifacts = await new Promise<tf.io.ModelArtifacts>((res) => {
    void m.save(
      tf.io.withSaveHandler(async (a) => {
        res(a);
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
  });
  await writeFile(
    join(where, 'model.json'),
    JSON.stringify({
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
    }),
  );
  await writeFile(join(where, 'weights.bin'), new Uint8Array(artifacts.weightData as ArrayBuffer));
}

before(async () => {
  await initBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'polarcad-export-'));
  const backbone = buildMobileNetV2({ inputShape: [96, 96, 3], alpha: 0.35 });
  const gap = tf.layers
    .globalAveragePooling2d({ name: 'gap' })
    .apply(backbone.outputs[0]) as tf.SymbolicTensor;
  const d = tf.layers.dense({ units: 16, activation: 'relu', name: 'fc' }).apply(gap) as tf.SymbolicTensor;
  const dr = tf.layers.dropout({ rate: 0.5, name: 'drop' }).apply(d) as tf.SymbolicTensor;
  const probs = tf.layers
    .dense({ units: 2, activation: 'softmax', name: 'probs' })
    .apply(dr) as tf.SymbolicTensor;
  model = tf.model({ inputs: backbone.inputs, outputs: probs, name: 'polarcad_mnv2' });
  randomizeWeights(model, 5, 0.3, 'he');
  dir = join(tmp, 'trained');
  await saveFolder(model, dir);
  await writeFile(
    join(dir, 'polarcad.json'),
    JSON.stringify({
      backbone: 'MobileNetV2',
      inputSize: 96,
      scaling: 'tf',
      classes: ['normal', 'cad'],
      camLayer: 'out_relu',
      epochs: 3,
    }),
  );
});

after(async () => {
  model?.dispose();
  await rm(tmp, { recursive: true, force: true });
});

describe('polarcad export', () => {
  test('writes a standalone ONNX file with the preprocessing in its metadata, matching tfjs', async () => {
    const out = join(tmp, 'out', 'model.onnx');
    const r = await cli(['export', dir, '--format', 'onnx', '--out', out]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /wrote .*model\.onnx .*outputs: out_relu, probs; scaling: tf/);
    const bytes = new Uint8Array(await readFile(out));
    const s = summariseOnnx(bytes);
    assert.equal(s.metadata['polarcad.scaling'], 'tf');
    assert.equal(s.metadata['polarcad.scaling_formula'], 'x / 127.5 - 1 (RGB)');
    assert.equal(s.metadata['polarcad.input_size'], '96');
    assert.equal(s.metadata['polarcad.backbone'], 'MobileNetV2');
    assert.equal(s.metadata['polarcad.classes'], '["normal","cad"]');
    assert.equal(JSON.parse(s.metadata['polarcad.json']).epochs, 3);
    assert.deepEqual(s.inputs, [{ name: 'input', dims: ['batch', 96, 96, 3] }]);
    assert.deepEqual(
      s.outputs.map((o) => o.name),
      ['out_relu', 'probs'],
    );
    // 0.35-width MobileNetV2 ends in 1280 channels at 3x3 for 96 px input.
    assert.deepEqual(s.outputs[0].dims, ['batch', 3, 3, 1280]);

    const shape = [3, 96, 96, 3];
    const xs = randomInput(shape, 9);
    const session = await OnnxModel.create(out, { threads: 2 });
    const res = await session.run(xs, shape);
    await session.dispose();
    const [featRef, probRef] = tf.tidy(() => {
      const cut = tf.model({
        inputs: model.inputs,
        outputs: [model.getLayer('out_relu').output as tf.SymbolicTensor, model.outputs[0]],
      });
      return (cut.predict(tf.tensor(xs, shape)) as tf.Tensor[]).map((t) => t.dataSync() as Float32Array);
    });
    assert.ok(relError(res.out_relu.data, featRef) < 1e-4);
    assert.ok(relError(res.probs.data, probRef) < 1e-4);
    assert.ok(Math.abs(res.probs.data[0] + res.probs.data[1] - 1) < 1e-6);
  });

  test('--outputs picks layers; bad format, missing folder, bad polarcad.json and unknown layers are named', async () => {
    const out = join(tmp, 'gap.onnx');
    const ok = await cli([
      'export',
      dir,
      '--format',
      'onnx',
      '--out',
      out,
      '--outputs',
      'gap',
      '--opset',
      '13',
    ]);
    assert.equal(ok.code, 0, ok.err);
    const s = summariseOnnx(new Uint8Array(await readFile(out)));
    assert.deepEqual(s.outputs, [{ name: 'gap', dims: ['batch', 1280] }]);
    assert.deepEqual(s.opsets, [{ domain: '', version: 13 }]);

    const fmt = await cli(['export', dir, '--format', 'tflite', '--out', out]);
    assert.equal(fmt.code, 2);
    assert.match(fmt.err, /--format: unsupported format "tflite"/);

    const missing = await cli(['export', join(tmp, 'nope'), '--format', 'onnx', '--out', out]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /nope: no such model folder/);

    const layer = await cli([
      'export',
      dir,
      '--format',
      'onnx',
      '--out',
      join(tmp, 'x.onnx'),
      '--outputs',
      'nonexistent',
    ]);
    assert.equal(layer.code, 2);
    assert.match(layer.err, /no layer named "nonexistent"/);

    const bad = join(tmp, 'badinfo');
    await saveFolder(model, bad);
    await writeFile(join(bad, 'polarcad.json'), JSON.stringify({ scaling: 'imagenet' }));
    const badInfo = await cli(['export', bad, '--format', 'onnx', '--out', join(tmp, 'y.onnx')]);
    assert.equal(badInfo.code, 2);
    assert.match(badInfo.err, /polarcad\.json: field "scaling"/);
    await writeFile(join(bad, 'polarcad.json'), JSON.stringify({ inputSize: 224 }));
    const size = await cli(['export', bad, '--format', 'onnx', '--out', join(tmp, 'y.onnx')]);
    assert.equal(size.code, 2);
    assert.match(size.err, /field "inputSize": 224 does not match the model input 96x96/);
    // a closed-form run (or its model folder) goes to the closed-form exporter, which opens it as
    // predict does: a stand-in without polarcad.json is named, not exported
    const closed = join(tmp, 'closed-run');
    await mkdir(join(closed, 'model'), { recursive: true });
    await writeFile(join(closed, 'model', 'linear-model.json'), '{}');
    for (const target of [closed, join(closed, 'model')]) {
      const r = await cli(['export', target, '--format', 'onnx', '--out', join(tmp, 'y.onnx')]);
      assert.equal(r.code, 2);
      assert.match(r.err, /not a polarcad model .*polarcad\.json/);
    }
    // --crop-size belongs to closed-form runs
    const crop = await cli(['export', dir, '--out', join(tmp, 'y.onnx'), '--crop-size', '64']);
    assert.equal(crop.code, 2);
    assert.match(crop.err, /--crop-size: .* is a network; it applies to closed-form runs only/);
    // Nothing half-written on failure.
    await assert.rejects(readFile(join(tmp, 'y.onnx')));
  });
});
