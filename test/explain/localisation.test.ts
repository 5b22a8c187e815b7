/**
 * Localisation: does the heatmap point at the defect? A Hai et al. (2022) head (GAP -> Dense(32,
 * ReLU) -> Dropout -> Dense(2)) is trained on MobileNetV2 features (the embedded default weights,
 * ONNX Runtime via FeatureExtractor) of the stress-AC maps of a generated 'easy' cohort of normal
 * and single-vessel, single-defect CAD patients. On held-out single-defect patients the full
 * explanation pipeline (Explainer: ORT backbone, Grad-CAM on the head, heatmap on the map,
 * attribution) runs, and the rate at which the territory holding the most heatmap mass is the
 * lesion's territory is MEASURED here and compared with chance (1/3) and with the best constant
 * answer (always the most frequent vessel). The figures are printed (docs/explain.md quotes them).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '../../src/engine/backend.js';
import { FeatureExtractor } from '../../src/engine/features.js';
import type { RgbImage, UptakeMap } from '../../src/domain/image.js';
import { binomCdf } from '../../src/evaluate/distributions.js';
import { Explainer } from '../../src/explain/index.js';
import { addHaiHead } from '../../src/models/heads.js';
import { loadBackbone } from '../../src/models/weights/resolve.js';
import { getColormap, uptakeToRgb } from '../../src/polarmap/colormaps.js';
import { VESSELS, type Vessel } from '../../src/polarmap/territories.js';
import { generateCohort, type SyntheticPatient } from '../../src/synth/index.js';

const PATIENTS = 320;
const SEED = 7;
const SIZE = 224;
const TRAIN_FRACTION = 0.6;
const STEPS = 150;

const emptyKerasDir = mkdtempSync(join(tmpdir(), 'polarcad-explain-keras-'));
after(() => rmSync(emptyKerasDir, { recursive: true, force: true }));
before(async () => {
  await initBackend('wasm');
});

/** A stress-AC crop as a vendor would show it: the 'hot' colour map, black outside the disc. */
function toRgb(m: UptakeMap): RgbImage {
  const cm = getColormap('hot');
  const data = new Uint8Array(m.size * m.size * 3);
  for (let i = 0; i < m.size * m.size; i++) uptakeToRgb(cm, m.data[i], data, i * 3);
  return { width: m.size, height: m.size, data };
}

test('Grad-CAM mass concentrates in the single defect territory far more often than chance', { timeout: 240_000 }, async () => {
  const t0 = performance.now();
  const cohort = generateCohort({ patients: PATIENTS, seed: SEED, difficulty: 'easy', mapSize: 64 });
  const kept: SyntheticPatient[] = cohort.patients.filter((p) => p.label === 0 || p.lesions.length === 1);
  const nTrain = Math.round(kept.length * TRAIN_FRACTION);
  const train = kept.slice(0, nTrain);
  const test = kept.slice(nTrain).filter((p) => p.label === 1);
  assert.ok(train.some((p) => p.label === 0) && train.some((p) => p.label === 1));
  assert.ok(test.length >= 20, `only ${test.length} held-out single-defect patients`);

  // an empty Keras cache folder: the embedded default weights, whatever this machine has cached
  const bb = await loadBackbone('MobileNetV2', { weights: 'imagenet', kerasModelsDir: emptyKerasDir });
  assert.equal(bb.weights.source, 'embedded');
  const model = addHaiHead(bb.model, { units: 32, dropout: 0.5 });
  const fx = await FeatureExtractor.create({
    model: bb.model,
    backboneName: 'MobileNetV2',
    weightsHash: null,
    cutLayers: ['out_relu'],
    inputSize: SIZE,
    scaling: 'tf',
  });
  let feats;
  try {
    feats = (await fx.getFeatures(train.map((p) => ({ image: toRgb(p.maps.stress_ac) }))))[0];
  } finally {
    await fx.dispose();
  }
  const t1 = performance.now();

  // Train the head on the cached feature maps (full batch, Adam, dropout off).
  const ex = await Explainer.create(model, { camLayer: 'out_relu', inputSize: SIZE, scaling: 'tf' });
  try {
    const head = ex.split.head;
    const first = model.layers.findIndex((l) => l.name === 'out_relu') + 1;
    const vars = model.layers.slice(first).flatMap((l) => l.trainableWeights.map((v) => v.read() as tf.Variable));
    const opt = tf.train.adam(1e-3);
    const [h, w, c] = head.featureShape;
    const X = tf.tidy(() => tf.mean(tf.tensor4d(feats.data, [train.length, h, w, c]), [1, 2], true) as tf.Tensor4D);
    const Y = tf.oneHot(tf.tensor1d(train.map((p) => p.label), 'int32'), 2);
    for (let s = 0; s < STEPS; s++) opt.minimize(() => tf.losses.softmaxCrossEntropy(Y, head.logits(X)), true, vars)?.dispose();
    tf.dispose([X, Y]);
    opt.dispose();
    const t2 = performance.now();

    // Explain every held-out single-defect study through the full pipeline.
    const hits: Record<Vessel, [number, number]> = { LAD: [0, 0], LCx: [0, 0], RCA: [0, 0] };
    let detected = 0;
    for (const p of test) {
      const e = await ex.explain(toRgb(p.maps.stress_ac), { displaySize: 128 });
      const top = VESSELS.reduce((a, b) => (e.territories[a] >= e.territories[b] ? a : b));
      const v = p.lesions[0].vessel;
      hits[v][1]++;
      if (top === v) hits[v][0]++;
      if (e.probability > 0.5) detected++;
    }
    const t3 = performance.now();
    const n = test.length;
    const k = VESSELS.reduce((s, v) => s + hits[v][0], 0);
    const rate = k / n;
    const constant = Math.max(...VESSELS.map((v) => hits[v][1])) / n; // always answering the most frequent vessel
    const pChance = 1 - binomCdf(k - 1, n, 1 / 3); // P(X >= k) under chance 1/3
    console.log(
      `localisation: ${k}/${n} = ${rate.toFixed(3)} (chance 0.333, best constant answer ${constant.toFixed(3)}, one-sided binomial p vs 1/3 = ${pChance.toExponential(2)}); ` +
        `per vessel ${VESSELS.map((v) => `${v} ${hits[v][0]}/${hits[v][1]}`).join(', ')}; CAD detected in ${detected}/${n}; ` +
        `train ${train.length} (${train.filter((p) => p.label === 1).length} CAD); ` +
        `seconds: cohort+features ${((t1 - t0) / 1000).toFixed(1)}, training ${((t2 - t1) / 1000).toFixed(1)}, ${n} explanations ${((t3 - t2) / 1000).toFixed(1)}`,
    );
    assert.ok(rate > 0.6, `localisation rate ${rate.toFixed(3)} is not above 0.6`);
    assert.ok(rate > constant + 0.1, `localisation rate ${rate.toFixed(3)} is not clearly above the constant answer ${constant.toFixed(3)}`);
    assert.ok(pChance < 1e-4, `not significantly above chance (p = ${pChance})`);
    assert.ok(VESSELS.filter((v) => hits[v][0] > 0).length >= 2, 'the heatmap points at one territory only');
  } finally {
    await ex.dispose();
    model.dispose();
  }
});
