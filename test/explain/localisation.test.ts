/**
 * Localisation: does the heatmap point at the defect? The experiment of `localisation-harness.ts`
 * (MobileNetV2 with the embedded default weights, features by ONNX Runtime, a Hai et al. 2022
 * head trained on normal vs single-lesion stress-AC maps of a generated 'easy' cohort, Grad-CAM
 * through the full Explainer on held-out single-lesion studies). The rate at which the territory
 * holding the most heatmap mass is the lesion's territory is MEASURED here, printed, and
 * compared with chance (1/3) and with the best constant answer (always the most frequent
 * lesion vessel: the LAD territory is the largest, 41% of the disc, so a diffuse heatmap says
 * "LAD"). docs/explain.md quotes the figures, also for other seeds (bench/explain-localisation.ts).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../../src/engine/backend.js';
import { VESSELS } from '../../src/polarmap/territories.js';
import { describeResult, runLocalisation } from './localisation-harness.js';

before(async () => {
  await initBackend('wasm');
});

test(
  'Grad-CAM mass lies in the single defect territory far more often than chance',
  { timeout: 240_000 },
  async () => {
    const r = await runLocalisation({ patients: 320, seed: 7 });
    console.log(`localisation: ${describeResult(r)}`);
    assert.ok(r.n >= 20, `only ${r.n} held-out single-lesion patients`);
    assert.ok(r.detected >= 0.8 * r.n, `the head detects CAD in only ${r.detected}/${r.n} held-out studies`);
    // 0.55, not 0.6: over seeds 7 / 11 / 23 this experiment gives 0.78 / 0.63 / 0.58-0.61 (docs/explain.md),
    // so 0.6 is not a margin the method holds on every cohort; the binomial test is the real claim.
    assert.ok(r.rate > 0.55, `localisation rate ${r.rate.toFixed(3)} is not above 0.55`);
    assert.ok(r.pChance < 0.01, `not significantly above chance 1/3 (one-sided binomial p = ${r.pChance})`);
    assert.ok(
      r.rate > r.constantRate,
      `localisation rate ${r.rate.toFixed(3)} is not above always answering the commonest vessel (${r.constantRate.toFixed(3)})`,
    );
    assert.ok(
      VESSELS.filter((v) => r.perVessel[v][0] > 0).length >= 2,
      'the heatmap points at one territory only',
    );
  },
);
