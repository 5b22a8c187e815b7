/**
 * The ONNX graph of a closed-form model without any backbone: a hand-made stacked model (segment,
 * pixel and numeric clinical members, stacker and temperature), its graph run in ONNX Runtime on
 * seeded crops with unreadable pixels (one whole segment unreadable) and missing clinical values,
 * against PolarModelPredictor; the input list of a backbone ensemble with two input sizes.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import type { RgbImage } from '../../src/domain/image.js';
import { createUptakeMap } from '../../src/domain/image.js';
import type { View } from '../../src/domain/views.js';
import { polarModelToOnnx, polarOnnxFeeds, polarOnnxInputs } from '../../src/models/linear/onnx-graph.js';
import { recordColormap } from '../../src/models/linear/featurizers.js';
import { PolarModelPredictor, type PolarModel } from '../../src/models/linear/polar-model.js';
import type { LinearMember } from '../../src/models/linear/stacked.js';
import { getColormap } from '../../src/polarmap/colormaps.js';
import { segmentLabels } from '../../src/polarmap/geometry.js';
import { renderUptakeMap } from '../../src/polarmap/read-uptake.js';
import { Rng } from '../../src/util/rng.js';

const CROP = 64;
const VIEWS2: View[] = ['stress_ac', 'rest_ac'];

function member(
  name: string,
  features: LinearMember['features'],
  p: number,
  rng: Rng,
  wsd: number,
): LinearMember {
  return {
    name,
    features,
    mean: Array.from({ length: p }, () => rng.next()),
    scale: Array.from({ length: p }, () => 0.05 + 0.3 * rng.next()),
    weights: Array.from({ length: p }, () => wsd * (rng.next() * 2 - 1)),
    intercept: 0.1,
    C: 1,
    folds: 5,
    Cs: [1],
    cvLogLoss: [0.5],
  };
}

function handMadeModel(): PolarModel {
  const rng = new Rng('onnx-graph-test');
  const members = [
    member('segment-logistic', { kind: 'segment', views: VIEWS2 }, 34, rng, 0.3),
    member('pixel-logistic', { kind: 'pixel', views: ['stress_ac'], side: 16 }, 3 * 16 * 16, rng, 0.01),
    member(
      'clinical',
      {
        kind: 'clinical',
        columns: [
          { name: 'age', kind: 'numeric', mean: 61.5 },
          { name: 'bmi', kind: 'numeric', mean: 27.2 },
        ],
      },
      4,
      rng,
      0.5,
    ),
  ];
  members[2].mean = [61.5, 0.1, 27.2, 0.2];
  members[2].scale = [9, 0.3, 4, 0.4];
  return {
    format: 'polarcad-linear-model',
    version: 1,
    recipe: 'segment-logistic',
    views: VIEWS2,
    colormap: recordColormap(getColormap('hot')),
    members,
    stacker: { weights: [0.8, 0.5, 0.3], intercept: -0.2, C: 1 },
    temperature: 1.7,
    trainedOn: { patients: 10, cad: 5, seed: 1 },
  };
}

/** A crop of random uptake drawn with `hot`, some pixels an off-table green; optionally a whole segment. */
function crop(rng: Rng, unreadableSegment: number | null): RgbImage {
  const map = createUptakeMap(CROP);
  const base = rng.next();
  for (let p = 0; p < map.data.length; p++)
    map.data[p] = Math.min(1, Math.max(0, base + 0.4 * (rng.next() - 0.5)));
  const img = renderUptakeMap(map, getColormap('hot'));
  const labels = segmentLabels(CROP);
  for (let p = 0; p < labels.length; p++)
    if (rng.next() < 0.03 || labels[p] === unreadableSegment) img.data.set([0, 255, 0], p * 3);
  return img;
}

test("a stacked segment + pixel + clinical model with a temperature: ONNX Runtime gives the predictor's P(CAD) and member logits", async (t) => {
  const model = handMadeModel();
  const rng = new Rng('crops');
  const crops = Array.from({ length: 6 }, (_, i) => ({
    stress_ac: crop(rng, null),
    rest_ac: crop(rng, i === 0 ? 5 : null),
  }));
  const clinical = [
    { age: '55', bmi: '30.5' },
    { age: '', bmi: '22' },
    { age: '70' },
    {},
    { age: 'n/a', bmi: '35' },
    { age: '48', bmi: '19' },
  ];
  const exported = await polarModelToOnnx(model, { cropSize: CROP, source: 'hand-made', opset: 13 });
  assert.deepEqual(
    exported.inputs.map((i) => i.name),
    ['uptake_stress_ac', 'rgb_stress_ac', 'uptake_rest_ac', 'clinical'],
  );
  const feeds = polarOnnxFeeds(model, crops, CROP, clinical);
  assert.ok(feeds.uptake_rest_ac.data.some(Number.isNaN));
  const session = await ort.InferenceSession.create(exported.bytes, { intraOpNumThreads: 1 });
  const res = await session.run(
    Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, new ort.Tensor('float32', f.data, f.dims)])),
  );
  await session.release();
  const p = res.p_cad.data as Float32Array;
  const logits = res.member_logits.data as Float32Array;
  const predictor = await PolarModelPredictor.open(model);
  const want = await predictor.predict(crops, clinical);
  await predictor.dispose();
  assert.deepEqual(want[1].missingClinical, ['age']);
  let maxDiff = 0;
  want.forEach((w, i) => {
    maxDiff = Math.max(maxDiff, Math.abs(p[i] - w.probability));
    assert.ok(Math.abs(p[i] - w.probability) < 1e-5, `patient ${i}: ${p[i]} vs ${w.probability}`);
    model.members.forEach((m, k) => {
      const z = Math.log(w.members[m.name] / (1 - w.members[m.name]));
      assert.ok(Math.abs(logits[i * 3 + k] - z) < 1e-4 * Math.max(10, Math.abs(z)), `${m.name} ${i}`);
    });
  });
  // not a degenerate comparison: probabilities spread, not saturated
  assert.ok(want.some((w) => w.probability > 0.05 && w.probability < 0.95));
  t.diagnostic(
    `max |P_onnx - P_predictor| ${maxDiff.toExponential(2)}; P ${Array.from(p, (x) => x.toFixed(3)).join(' ')}`,
  );
});

test('a backbone ensemble reads one grey input per view and backbone input side', () => {
  const cnn = (backbone: string, inputSize: number): LinearMember['features'] => ({
    kind: 'cnn-segments',
    views: ['stress_ac'],
    backbone,
    weights: 'imagenet',
    weightsDescription: 'test',
    layer: 'x',
    grid: inputSize === 224 ? 14 : 17,
    inputSize,
    channels: 8,
  });
  const rng = new Rng('ens');
  const model: PolarModel = {
    ...handMadeModel(),
    views: ['stress_ac'],
    members: [
      member('a', cnn('MobileNetV2', 224), 1, rng, 1),
      member('b', cnn('InceptionV3', 299), 1, rng, 1),
    ],
    stacker: { weights: [1, 1], intercept: 0, C: 1 },
  };
  assert.deepEqual(
    polarOnnxInputs(model, CROP).map((i) => [i.name, i.dims]),
    [
      ['grey224_stress_ac', ['batch', 224, 224]],
      ['grey299_stress_ac', ['batch', 299, 299]],
    ],
  );
});
