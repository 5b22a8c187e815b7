/**
 * The localisation experiment, shared by `localisation.test.ts` (one fixed configuration, with
 * assertions) and `bench/explain-localisation.ts` (several seeds, the docs figures):
 *
 * 1. a generated 'easy' cohort; normal patients and CAD patients with exactly one lesion;
 * 2. stress-AC maps rendered with a vendor colour map (black outside the disc);
 * 3. MobileNetV2 with the embedded default weights (an empty Keras folder is passed, so a
 *    machine's own Keras cache cannot change the result), features at `out_relu` by ONNX Runtime
 *    (FeatureExtractor), optionally of rotated copies of the training maps (label-preserving
 *    augmentation, as Apostolopoulos et al. 2020 do; rotation moves the defect, so the head must
 *    rely on features that fire AT the defect rather than on where the map is bright);
 * 4. a Hai et al. (2022) head (GAP -> Dense(units, ReLU) -> Dropout -> Dense(2)) trained by full-
 *    batch Adam on the pooled features (the head begins with global average pooling, so 1 x 1
 *    pooled maps give the same function and gradients as the 7 x 7 maps);
 * 5. every held-out single-lesion CAD study explained by the full pipeline (Explainer: ORT
 *    backbone, Grad-CAM on the head, heatmap on the map, attribution); a hit when the territory
 *    with the largest share of heatmap mass is the lesion's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../src/engine/backend.js';
import { FeatureExtractor } from '../../src/engine/features.js';
import type { RgbImage, UptakeMap } from '../../src/domain/image.js';
import { binomCdf } from '../../src/evaluate/distributions.js';
import { Explainer, type StudyExplanation } from '../../src/explain/index.js';
import { addHaiHead } from '../../src/models/heads.js';
import { loadBackbone } from '../../src/models/weights/resolve.js';
import { getColormap, uptakeToRgb, type BuiltinColormapName } from '../../src/polarmap/colormaps.js';
import { VESSELS, type Vessel } from '../../src/polarmap/territories.js';
import { generateCohort, type SyntheticPatient } from '../../src/synth/index.js';

export interface LocalisationConfig {
  patients: number;
  seed: number;
  /** Fraction of the kept patients used for training (default 0.6). */
  trainFraction?: number;
  /** Rotations (degrees clockwise) of each training map; 0 = the map itself (default [0]). */
  angles?: readonly number[];
  colormap?: BuiltinColormapName;
  units?: number;
  steps?: number;
  /** Side of the heatmap on the map used for the attribution (default 128). */
  displaySize?: number;
  /** Keep the explanations of the first `keep` held-out studies (for figures). */
  keep?: number;
}

export interface LocalisationResult {
  n: number;
  hits: number;
  rate: number;
  perVessel: Record<Vessel, [number, number]>;
  /** Rate of always answering the most frequent lesion vessel of the held-out set. */
  constantRate: number;
  /** One-sided binomial P(X >= hits) under chance 1/3. */
  pChance: number;
  /** Held-out CAD studies with P(CAD) > 0.5. */
  detected: number;
  trainSize: number;
  trainCad: number;
  seconds: { features: number; training: number; explaining: number };
  kept: { patient: SyntheticPatient; image: RgbImage; explanation: StudyExplanation }[];
}

/** A polar map as a vendor shows it: a built-in colour map, black outside the disc. */
export function mapToRgb(m: UptakeMap, colormap: BuiltinColormapName): RgbImage {
  const cm = getColormap(colormap);
  const data = new Uint8Array(m.size * m.size * 3);
  for (let i = 0; i < m.size * m.size; i++) uptakeToRgb(cm, m.data[i], data, i * 3);
  return { width: m.size, height: m.size, data };
}

export function describeResult(r: LocalisationResult): string {
  return (
    `${r.hits}/${r.n} = ${r.rate.toFixed(3)} (chance 0.333, best constant answer ${r.constantRate.toFixed(3)}, one-sided binomial p vs 1/3 = ${r.pChance.toExponential(2)}); ` +
    `per vessel ${VESSELS.map((v) => `${v} ${r.perVessel[v][0]}/${r.perVessel[v][1]}`).join(', ')}; CAD detected in ${r.detected}/${r.n}; ` +
    `train ${r.trainSize} maps (${r.trainCad} CAD); seconds: features ${r.seconds.features.toFixed(1)}, training ${r.seconds.training.toFixed(1)}, ${r.n} explanations ${r.seconds.explaining.toFixed(1)}`
  );
}

/** Run the experiment (the tfjs backend must be initialised). */
export async function runLocalisation(cfg: LocalisationConfig): Promise<LocalisationResult> {
  const colormap = cfg.colormap ?? 'hot';
  const angles = cfg.angles ?? [0];
  const t0 = performance.now();
  const cohort = generateCohort({ patients: cfg.patients, seed: cfg.seed, difficulty: 'easy', mapSize: 64 });
  const kept = cohort.patients.filter((p) => p.label === 0 || p.lesions.length === 1);
  const nTrain = Math.round(kept.length * (cfg.trainFraction ?? 0.6));
  const train = kept.slice(0, nTrain);
  const held = kept.slice(nTrain).filter((p) => p.label === 1);

  const kerasDir = mkdtempSync(join(tmpdir(), 'polarcad-explain-keras-'));
  let bb;
  try {
    bb = await loadBackbone('MobileNetV2', { weights: 'imagenet', kerasModelsDir: kerasDir });
  } finally {
    rmSync(kerasDir, { recursive: true, force: true });
  }
  if (bb.weights.source !== 'embedded')
    throw new Error(`expected the embedded weights, got ${bb.weights.source}`);
  const model = addHaiHead(bb.model, { units: cfg.units ?? 32, dropout: 0.5 });
  const fx = await FeatureExtractor.create({
    model: bb.model,
    backboneName: 'MobileNetV2',
    weightsHash: null,
    cutLayers: ['out_relu'],
    inputSize: 224,
    scaling: 'tf',
  });
  const items = angles.flatMap((angle) =>
    train.map((p) => ({ image: mapToRgb(p.maps.stress_ac, colormap), angle })),
  );
  let feats;
  try {
    feats = (await fx.getFeatures(items))[0];
  } finally {
    await fx.dispose();
  }
  const labels = angles.flatMap(() => train.map((p) => p.label));
  const t1 = performance.now();

  const ex = await Explainer.create(model, { camLayer: 'out_relu', inputSize: 224, scaling: 'tf' });
  try {
    const head = ex.split.head;
    const first = model.layers.findIndex((l) => l.name === 'out_relu') + 1;
    const vars = model.layers
      .slice(first)
      .flatMap((l) => l.trainableWeights.map((v) => v.read() as tf.Variable));
    const opt = tf.train.adam(1e-3);
    const [h, w, c] = head.featureShape;
    const X = tf.tidy(
      () => tf.mean(tf.tensor4d(feats.data, [items.length, h, w, c]), [1, 2], true) as tf.Tensor4D,
    );
    const Y = tf.oneHot(tf.tensor1d(labels, 'int32'), 2);
    for (let s = 0; s < (cfg.steps ?? 150); s++)
      opt.minimize(() => tf.losses.softmaxCrossEntropy(Y, head.logits(X)), true, vars)?.dispose();
    tf.dispose([X, Y]);
    opt.dispose();
    const t2 = performance.now();

    const perVessel: Record<Vessel, [number, number]> = { LAD: [0, 0], LCx: [0, 0], RCA: [0, 0] };
    let detected = 0;
    const keptOut: LocalisationResult['kept'] = [];
    for (const p of held) {
      const image = mapToRgb(p.maps.stress_ac, colormap);
      const e = await ex.explain(image, { displaySize: cfg.displaySize ?? 128 });
      const top = VESSELS.reduce((a, b) => (e.territories[a] >= e.territories[b] ? a : b));
      const v = p.lesions[0].vessel;
      perVessel[v][1]++;
      if (top === v) perVessel[v][0]++;
      if (e.probability > 0.5) detected++;
      if (keptOut.length < (cfg.keep ?? 0)) keptOut.push({ patient: p, image, explanation: e });
    }
    const t3 = performance.now();
    const n = held.length;
    const hits = VESSELS.reduce((s, v) => s + perVessel[v][0], 0);
    return {
      n,
      hits,
      rate: hits / n,
      perVessel,
      constantRate: Math.max(...VESSELS.map((v) => perVessel[v][1])) / n,
      pChance: 1 - binomCdf(hits - 1, n, 1 / 3),
      detected,
      trainSize: items.length,
      trainCad: labels.filter((l) => l === 1).length,
      seconds: { features: (t1 - t0) / 1000, training: (t2 - t1) / 1000, explaining: (t3 - t2) / 1000 },
      kept: keptOut,
    };
  } finally {
    await ex.dispose();
    model.dispose();
  }
}
