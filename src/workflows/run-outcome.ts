/**
 * The test outcome of a trained CNN run, written the same way by a single network (`train.ts`) and
 * a fold ensemble (`train-ensemble.ts`): predictions.csv on the held-out test patients and the
 * figures of metrics.json (each with its 95% interval: Wilson for the proportions, stratified
 * bootstrap for F1 and AUC, as `evaluate/intervals.ts` computes them) and calibration.json.
 */
import { resolve } from 'node:path';
import type { Label } from '../domain/views.js';
import { fitTemperature } from '../evaluate/calibration.js';
import type { MetricsWithIntervals } from '../evaluate/intervals.js';
import { runFile } from '../rundir/files.js';
import type { Calibration } from '../rundir/run.js';
import { writePredictions } from '../rundir/tables.js';
import { callAt } from '../evaluate/metrics.js';

/**
 * Write predictions.csv of the test patients: probability, the call at 0.5 and, when the run was
 * calibrated (Guo et al. 2017 temperature scaling), the calibrated probability beside it.
 * @example await writeTestPredictions(work, test, probs, null);
 */
export async function writeTestPredictions(
  work: string,
  test: readonly { readonly id: string; readonly label: Label }[],
  probs: ArrayLike<number>,
  calibrated: ArrayLike<number> | null,
): Promise<void> {
  await writePredictions(
    runFile(work, 'predictions'),
    test.map((p, i) => ({
      id: p.id,
      label: p.label,
      prob: probs[i],
      predicted: callAt(probs[i]),
      split: 'test',
      ...(calibrated === null ? {} : { probCalibrated: calibrated[i] }),
    })),
  );
}

/** Which patients a run's test figures are on: its held-out split, or the `--test` manifest. */
export function evaluatedOn(testManifest: string | undefined): string {
  return testManifest === undefined ? 'held-out test split' : `test manifest ${resolve(testManifest)}`;
}

/**
 * The figures of metrics.json, each with its interval, and the confusion counts at the threshold.
 * @example await writeRunJson(work, 'metrics', { evaluatedOn: evaluatedOn(undefined), ...metricsFigures(m) });
 */
export function metricsFigures(metrics: MetricsWithIntervals): Record<string, unknown> {
  const m = metrics.metrics;
  return {
    n: m.n,
    threshold: m.threshold,
    accuracy: metrics.accuracy,
    auc: metrics.auc,
    sensitivity: metrics.sensitivity,
    specificity: metrics.specificity,
    precision: metrics.precision,
    f1: metrics.f1,
    confusion: { tp: m.tp, fp: m.fp, tn: m.tn, fn: m.fn },
  };
}

/** calibration.json of a CNN run: the fitted temperature and what it was fitted on. */
export type CalibrationFile = Calibration & {
  temperature: number;
  n: number;
  nllBefore: number;
  nllAfter: number;
};

/**
 * Temperature scaling (Guo et al. 2017, "On calibration of modern neural networks") fitted on
 * `rows`, which must never be test patients: the carved validation patients of a single network,
 * the out-of-fold predictions of a fold ensemble.
 * @example const cal = temperatureCalibration(validationRows, 'validation');
 */
export function temperatureCalibration(
  rows: readonly { readonly id: string; readonly label: Label; readonly prob: number }[],
  fittedOn: 'validation' | 'out-of-fold',
): CalibrationFile {
  const fit = fitTemperature(
    rows.map((r) => r.label),
    rows.map((r) => r.prob),
    { from: 'probs' },
  );
  return {
    method: 'temperature scaling (Guo et al. 2017), golden-section search on log T',
    temperature: fit.temperature,
    fittedOn,
    n: rows.length,
    ids: rows.map((r) => r.id),
    nllBefore: fit.nllBefore,
    nllAfter: fit.nllAfter,
  };
}
