/**
 * The simple baselines every polarcad model is shown beside, trained and tested on exactly the
 * model's patients: ridge logistic regression on the 17 segment uptakes of every view
 * (`segment-logistic`) and on 32x32 RGB pixels of every view (`pixel-logistic`), with paired
 * tests against the model on the same test patients: DeLong et al. (Biometrics 1988) for the
 * AUC, McNemar (Psychometrika 1947; exact binomial form) for the accuracy.
 */
import type { Label, View } from '../domain/views.js';
import {
  fitPolarModel,
  PolarModelPredictor,
  type LabelledCrops,
  type LinearRecipe,
} from '../models/linear/polar-model.js';
import type { PatientCrops } from '../models/linear/featurizers.js';
import type { Colormap } from '../polarmap/colormaps.js';
import { metricsWithIntervals } from '../evaluate/intervals.js';
import { metricsRowFromIntervals, type MetricsRow } from '../evaluate/metrics-row.js';
import { delong, mcnemar } from '../evaluate/tests.js';

/** The baseline recipes shown beside every model. */
export const BASELINE_RECIPES: readonly LinearRecipe[] = ['segment-logistic', 'pixel-logistic'];

/** Test probabilities of one fitted recipe. */
export interface RecipeProbabilities {
  readonly name: string;
  readonly probs: number[];
}

/**
 * Fit each baseline on `train` and predict `test` (every view of `views` must be present).
 * @example
 * const base = await fitBaselines(train, test.map((p) => p.crops), { views: ['stress_ac'], colormap, seed: 1 });
 */
export async function fitBaselines(
  train: readonly LabelledCrops[],
  test: readonly PatientCrops[],
  o: { views: readonly View[]; colormap: Colormap; seed: number | string; recipes?: readonly LinearRecipe[] },
): Promise<RecipeProbabilities[]> {
  const out: RecipeProbabilities[] = [];
  for (const recipe of o.recipes ?? BASELINE_RECIPES) {
    const { model } = await fitPolarModel(train, {
      recipe,
      views: o.views,
      colormap: o.colormap,
      seed: o.seed,
    });
    const predictor = await PolarModelPredictor.open(model);
    try {
      out.push({ name: recipe, probs: (await predictor.predict(test)).map((p) => p.probability) });
    } finally {
      await predictor.dispose();
    }
  }
  return out;
}

/** A paired comparison of the model with one baseline on the same patients. */
export interface PairedComparison {
  readonly baseline: string;
  readonly aucDifference: number;
  readonly delongP: number;
  readonly accuracyDifference: number;
  readonly mcnemarP: number;
}

const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');

/**
 * One paired comparison in words, with a plain verdict at the 5% level.
 * @example formatComparison(c) // 'vs pixel-logistic: AUC difference 0.031 (DeLong p 0.012), ...; better in AUC'
 */
export function formatComparison(c: PairedComparison): string {
  const verdict =
    c.delongP < 0.05
      ? c.aucDifference > 0
        ? 'better in AUC'
        : 'WORSE in AUC'
      : 'no significant AUC difference';
  return `vs ${c.baseline}: AUC difference ${f3(c.aucDifference)} (DeLong p ${f3(c.delongP)}), accuracy difference ${f3(c.accuracyDifference)} (McNemar p ${f3(c.mcnemarP)}): ${verdict}`;
}

/** Rows (model first, then each baseline) with intervals, and the paired tests model vs baseline. */
export function compareWithBaselines(
  labels: readonly Label[],
  model: RecipeProbabilities & { description: string },
  baselines: readonly RecipeProbabilities[],
  o: {
    evaluatedOn: string;
    seed: number | string;
    threshold?: number;
    descriptions?: Readonly<Record<string, string>>;
  },
): { rows: MetricsRow[]; comparisons: PairedComparison[] } {
  const threshold = o.threshold ?? 0.5;
  const row = (name: string, description: string, probs: readonly number[]): MetricsRow =>
    metricsRowFromIntervals(
      { name, description, kind: 'model', evaluatedOn: o.evaluatedOn },
      metricsWithIntervals(labels, probs, { seed: `${String(o.seed)}/${name}`, threshold }),
    );
  const rows = [
    row(model.name, model.description, model.probs),
    ...baselines.map((b) => row(b.name, o.descriptions?.[b.name] ?? b.name, b.probs)),
  ];
  const comparisons = baselines.map((b) => {
    const d = delong(labels, model.probs, b.probs);
    const right = (probs: readonly number[], t: number): boolean[] =>
      probs.map((p, i) => (p >= t ? 1 : 0) === labels[i]);
    const m = mcnemar(right(model.probs, threshold), right(b.probs, 0.5));
    const acc = (probs: readonly number[], t: number): number =>
      probs.filter((p, i) => (p >= t ? 1 : 0) === labels[i]).length / labels.length;
    return {
      baseline: b.name,
      aucDifference: d.diff,
      delongP: d.p,
      accuracyDifference: acc(model.probs, threshold) - acc(b.probs, 0.5),
      mcnemarP: m.p,
    };
  });
  return { rows, comparisons };
}
