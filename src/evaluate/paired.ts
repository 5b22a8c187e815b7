/**
 * Paired comparisons of models on the same patients, the one computation behind `polarcad compare`
 * (src/workflows/compare.ts) and the report's paired tests (`report RUN` of a closed-form run beside
 * its baselines, `report A --with B C`): DeLong's test of two correlated AUCs (DeLong et al. 1988,
 * Biometrics 44:837) and McNemar's test of two accuracies on the discordant patients (McNemar
 * 1947, Psychometrika 12:153; exact binomial form below 25 discordant patients), each model called
 * CAD at its own threshold. No correction for multiple comparisons.
 */
import type { Label } from '../domain/views.js';
import type { PatientPrediction } from '../domain/prediction.js';
import { InputError } from '../util/errors.js';
import { metricsWithIntervals } from './intervals.js';
import { metricsRowFromIntervals, type MetricsRow } from './metrics-row.js';
import { delong, mcnemar } from './tests.js';

/** A paired comparison of two models on the common patients. */
export interface RunPair {
  readonly a: string;
  readonly b: string;
  readonly aucA: number;
  readonly aucB: number;
  readonly aucDifference: number;
  readonly aucDifferenceCi: readonly [number, number];
  readonly delongP: number;
  readonly accuracyA: number;
  readonly accuracyB: number;
  /** discordant pairs: A right and B wrong, A wrong and B right */
  readonly aRightBWrong: number;
  readonly aWrongBRight: number;
  readonly mcnemarP: number;
  readonly mcnemarMethod: string;
}

/** One model's probabilities on the common patients (in their order) and its threshold. */
export interface PairedEntry {
  readonly name: string;
  readonly probs: readonly number[];
  readonly threshold: number;
}

/**
 * The patients every model predicted, in the first model's order, with one label each.
 * @throws InputError when fewer than 4 patients are common, a class has fewer than 2, or two models disagree on a label
 * @example const { ids, labels } = commonPatients([{ dir: 'runs/a', predictions: a }, { dir: 'runs/b', predictions: b }]);
 */
export function commonPatients(
  runs: readonly { readonly dir: string; readonly predictions: readonly PatientPrediction[] }[],
): { ids: string[]; labels: Label[] } {
  const maps = runs.map((r) => new Map(r.predictions.map((p) => [p.id, p])));
  const ids = runs[0].predictions.map((p) => p.id).filter((id) => maps.every((m) => m.has(id)));
  const labels = ids.map((id) => {
    const l = maps[0].get(id)?.label as Label;
    maps.forEach((m, k) => {
      if (m.get(id)?.label !== l)
        throw new InputError(
          `${runs[k].dir}: patient ${id} is labelled ${String(m.get(id)?.label)} but ${String(l)} in ${runs[0].dir}; the runs were not evaluated on the same data`,
        );
    });
    return l;
  });
  const pos = labels.filter((l) => l === 1).length;
  if (ids.length < 4 || pos < 2 || ids.length - pos < 2)
    throw new InputError(
      `the runs have ${ids.length} test patients in common (${pos} CAD, ${ids.length - pos} normal); paired tests need at least 2 of each class. Compare runs evaluated on the same patients (e.g. \`polarcad evaluate\` each on one external manifest)`,
    );
  return { ids, labels };
}

/** The probabilities of `predictions` for `ids`, in that order. */
export function probsFor(predictions: readonly PatientPrediction[], ids: readonly string[]): number[] {
  const m = new Map(predictions.map((p) => [p.id, p.prob]));
  return ids.map((id) => m.get(id) as number);
}

/** DeLong and McNemar tests of model `a` against model `b` on the same patients. */
export function pairedTest(labels: readonly Label[], a: PairedEntry, b: PairedEntry): RunPair {
  const d = delong(labels, a.probs, b.probs);
  const right = (e: PairedEntry): boolean[] =>
    e.probs.map((p, i) => (p >= e.threshold ? 1 : 0) === labels[i]);
  const ra = right(a);
  const rb = right(b);
  const m = mcnemar(ra, rb);
  return {
    a: a.name,
    b: b.name,
    aucA: d.aucA,
    aucB: d.aucB,
    aucDifference: d.diff,
    aucDifferenceCi: d.ciDiff,
    delongP: d.p,
    accuracyA: ra.filter(Boolean).length / labels.length,
    accuracyB: rb.filter(Boolean).length / labels.length,
    aRightBWrong: m.b,
    aWrongBRight: m.c,
    mcnemarP: m.p,
    mcnemarMethod: m.method,
  };
}

/**
 * Paired tests among `entries`: every pair (`'all'`, as `polarcad compare`), or the first model
 * against each other one (`'first'`, a model beside its baselines).
 * @example pairedTests(labels, [model, segmentBaseline, pixelBaseline], 'first') // 2 pairs
 */
export function pairedTests(
  labels: readonly Label[],
  entries: readonly PairedEntry[],
  which: 'all' | 'first' = 'all',
): RunPair[] {
  const pairs: RunPair[] = [];
  const lastA = which === 'first' ? 1 : entries.length;
  for (let a = 0; a < lastA; a++)
    for (let b = a + 1; b < entries.length; b++) pairs.push(pairedTest(labels, entries[a], entries[b]));
  return pairs;
}

/** p value as the tables print it. */
export const formatP = (p: number): string => (p < 0.001 ? '< 0.001' : p.toFixed(3));

/**
 * One plain sentence on whether A beats B (AUC higher by DeLong's test at 0.05), for readers who
 * would otherwise take the best-looking row as the better model.
 * @example pairVerdict(pair, 8) // 'hybrid does not beat segment-logistic on these 8 patients: ...'
 */
export function pairVerdict(p: RunPair, patients: number, alpha = 0.05): string {
  const d = p.aucDifference;
  const acc = p.accuracyA - p.accuracyB;
  const sign = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}`;
  const figures = `AUC ${p.aucA.toFixed(3)} vs ${p.aucB.toFixed(3)} (difference ${sign(d)}, DeLong p ${formatP(p.delongP)}), accuracy ${p.accuracyA.toFixed(3)} vs ${p.accuracyB.toFixed(3)} (difference ${sign(acc)}, McNemar p ${formatP(p.mcnemarP)})`;
  if (p.delongP < alpha && d > 0) return `${p.a} beats ${p.b} on these ${patients} patients: ${figures}.`;
  if (p.delongP < alpha && d < 0)
    return `${p.a} is WORSE than ${p.b} on these ${patients} patients: ${figures}.`;
  return `${p.a} does not beat ${p.b} on these ${patients} patients: ${figures}; the difference in AUC is not significant at ${alpha}${p.mcnemarP < alpha ? '' : ', nor is the difference in accuracy'}.`;
}

// --- a model beside the baselines fitted on its own patients (train, evaluate) ---

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
