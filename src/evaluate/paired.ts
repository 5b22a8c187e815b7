/**
 * Paired comparisons of a model with other models (the simple baselines) on the same test
 * patients: each model's metrics row with 95% intervals, and the paired tests, DeLong et al.
 * (Biometrics 1988) for the AUC and McNemar (Psychometrika 1947; exact binomial form) for the
 * accuracy. Pure statistics: the fitting lives in src/workflows/baselines.ts.
 */
import type { Label } from '../domain/views.js';
import { metricsWithIntervals } from './intervals.js';
import { metricsRowFromIntervals, type MetricsRow } from './metrics-row.js';
import { delong, mcnemar } from './tests.js';

/** Test probabilities of one model (a fitted recipe). */
export interface RecipeProbabilities {
  readonly name: string;
  readonly probs: number[];
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
