/**
 * The report's figures, built with the chart layer (`src/report/charts`, Vega-Lite rendered to SVG
 * in Node; docs/charts.md) from a {@link ReportData}: ROC curves with operating points, the
 * confusion matrix, the reliability diagram, training curves per network and an AUC comparison
 * with intervals. Each is written as `figures/<name>.svg` and `.png` and returned as SVG text for
 * inlining.
 */
import { join } from 'node:path';
import { brier, ece } from '../evaluate/calibration.js';
import { confusion, rocCurve } from '../evaluate/metrics.js';
import {
  barChartWithIntervals,
  confusionMatrixChart,
  PALETTE,
  reliabilityChart,
  rocChart,
  trainingCurves,
  type RocCurveInput,
  type VegaLiteSpec,
} from './charts/index.js';
import { renderChart, svgToPng } from './charts/render.js';
import type { NetworkResult, ReportData } from './data.js';
import { writeFileAtomic } from '../util/atomic.js';

/** One rendered figure. */
export interface Figure {
  /** file stem under figures/ */
  readonly name: string;
  readonly title: string;
  readonly svg: string;
  readonly caption: string;
}

/** Calibration figures of a network (Brier score and ECE with 10 uniform bins). */
export interface CalibrationSummary {
  readonly brier: number;
  readonly ece: number;
  readonly mce: number;
  readonly bins: number;
}

/** All figures of a report, by role. */
export interface ReportFigures {
  readonly roc?: Figure;
  readonly confusion?: Figure;
  readonly calibration?: Figure;
  readonly calibrationSummary?: CalibrationSummary;
  readonly training: readonly Figure[];
  readonly comparison?: Figure;
  readonly all: readonly Figure[];
}

/** A file-name-safe stem. */
export function fileStem(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80) || 'figure';
}

function networkCurve(n: NetworkResult, label: string): RocCurveInput {
  const labels = n.predictions.map((p) => p.label);
  const probs = n.predictions.map((p) => p.prob);
  const t = n.row.threshold ?? 0.5;
  const c = confusion(labels, probs, t);
  const auc = n.row.auc?.estimate;
  return {
    name: label,
    points: rocCurve(labels, probs).filter((p) => Number.isFinite(p.fpr) && Number.isFinite(p.tpr)),
    ...(auc !== null && auc !== undefined ? { auc } : {}),
    operatingPoint: {
      fpr: c.fp / Math.max(1, c.fp + c.tn),
      tpr: c.tp / Math.max(1, c.tp + c.fn),
      threshold: t,
    },
  };
}

/** Calibration of a network's probabilities (10 equal-width bins). */
export function calibrationOf(n: NetworkResult): CalibrationSummary {
  const labels = n.predictions.map((p) => p.label);
  const probs = n.predictions.map((p) => p.prob);
  const e = ece(labels, probs, { bins: 10 });
  return { brier: brier(labels, probs), ece: e.ece, mce: e.mce, bins: 10 };
}

async function render(
  figuresDir: string,
  name: string,
  title: string,
  caption: string,
  spec: VegaLiteSpec,
): Promise<Figure> {
  const chart = await renderChart(spec);
  const base = join(figuresDir, name);
  await writeFileAtomic(`${base}.svg`, chart.svg);
  await writeFileAtomic(`${base}.png`, await svgToPng(chart.svg));
  return { name, title, svg: chart.svg, caption };
}

/** The ROC curves of the report: the networks (names made unique), then the score rules (SSS, TPD). */
function rocCurves(data: ReportData): RocCurveInput[] {
  const curves: RocCurveInput[] = [];
  const used = new Set<string>();
  for (const n of data.networks.slice(0, PALETTE.length - Math.min(2, data.scoreCurves.length))) {
    let label = n.name;
    for (let k = 2; used.has(label); k++) label = `${n.name} (${k})`;
    used.add(label);
    curves.push(networkCurve(n, label));
  }
  for (const s of data.scoreCurves.slice(0, PALETTE.length - curves.length)) {
    const pts = rocCurve(s.labels, s.scores).filter((p) => Number.isFinite(p.fpr) && Number.isFinite(p.tpr));
    const aucRow = data.semiquant.find(
      (r) =>
        r.kind === 'score' &&
        r.description.startsWith(s.name.startsWith('SSS') ? 'SSS' : 'stress TPD') &&
        r.description.includes('(AC'),
    );
    let op: RocCurveInput['operatingPoint'];
    if (s.ruleThreshold !== undefined) {
      const c = confusion(s.labels, s.scores, s.ruleThreshold);
      op = {
        fpr: c.fp / Math.max(1, c.fp + c.tn),
        tpr: c.tp / Math.max(1, c.tp + c.fn),
        threshold: s.ruleThreshold,
      };
    }
    const auc = aucRow?.auc?.estimate;
    curves.push({
      name: s.name,
      points: pts,
      ...(auc !== null && auc !== undefined ? { auc } : {}),
      ...(op ? { operatingPoint: op } : {}),
    });
  }
  return curves;
}

/**
 * Build, render and write every figure `data` supports into `figuresDir` (the report's
 * `figures/`). Figures whose data are missing are simply absent (the sections say so).
 */
export async function buildFigures(data: ReportData, figuresDir: string): Promise<ReportFigures> {
  const all: Figure[] = [];
  const nets = data.networks;
  const primary = nets[0];
  let roc: Figure | undefined;
  let conf: Figure | undefined;
  let cal: Figure | undefined;
  let calibrationSummary: CalibrationSummary | undefined;
  let comparison: Figure | undefined;
  const training: Figure[] = [];

  const curves = rocCurves(data);
  if (curves.length > 0) {
    roc = await render(
      figuresDir,
      'roc',
      'ROC curves',
      `ROC curves on the evaluated patients. Dots mark the operating points (networks: probability threshold${data.scoreCurves.some((s) => s.ruleThreshold !== undefined) ? '; SSS: the rule SSS >= 4' : ''}).`,
      rocChart(curves, { title: 'ROC curves' }),
    );
    all.push(roc);
  }
  if (primary !== undefined) {
    const c = primary.row.confusion;
    if (c !== null) {
      conf = await render(
        figuresDir,
        `confusion-${fileStem(primary.name)}`,
        `Confusion matrix, ${primary.name}`,
        `Confusion matrix of ${primary.name} at threshold ${primary.row.threshold ?? 0.5}.`,
        confusionMatrixChart(c, { title: `Confusion matrix, ${primary.name}` }),
      );
      all.push(conf);
    }
    calibrationSummary = calibrationOf(primary);
    const e = ece(
      primary.predictions.map((p) => p.label),
      primary.predictions.map((p) => p.prob),
      { bins: 10 },
    );
    const bins = e.bins
      .filter((b) => b.count > 0)
      .map((b) => ({ meanPredicted: b.meanPredicted, fractionPositive: b.fractionPositive, count: b.count }));
    if (bins.length > 0) {
      cal = await render(
        figuresDir,
        `calibration-${fileStem(primary.name)}`,
        `Calibration, ${primary.name}`,
        `Reliability diagram of ${primary.name} (10 equal-width bins). Brier ${calibrationSummary.brier.toFixed(3)}, ECE ${calibrationSummary.ece.toFixed(3)}.`,
        reliabilityChart(bins, { title: `Calibration, ${primary.name}` }),
      );
      all.push(cal);
    }
  }
  for (const n of nets) {
    if (n.history.length === 0) continue;
    const stages = new Set(n.history.map((h) => h.stage));
    const f = await render(
      figuresDir,
      `training-${fileStem(n.name)}`,
      `Training curves, ${n.name}`,
      `Accuracy and loss per epoch of ${n.name}, training (solid) and validation (dashed), stages ${[...stages].join(' then ')}; diamonds mark the kept epochs.`,
      trainingCurves(
        n.history.map((h) => ({ ...h })),
        { selected: n.selected.filter((s) => stages.has(s.stage)), title: `Training curves, ${n.name}` },
      ),
    );
    training.push(f);
    all.push(f);
  }
  const table = data.comparisons[0];
  if (table !== undefined) {
    const rows = table.rows
      .filter((r) => r.auc !== null && r.auc.estimate !== null && r.auc.lo !== null && r.auc.hi !== null)
      .map((r) => {
        const a = r.auc as { estimate: number; lo: number; hi: number };
        return {
          name: r.name,
          value: a.estimate,
          lo: Math.min(a.lo, a.estimate),
          hi: Math.max(a.hi, a.estimate),
        };
      });
    if (rows.length > 0) {
      comparison = await render(
        figuresDir,
        'comparison-auc',
        'AUC with 95% CI',
        'AUC of each row with its 95% stratified bootstrap interval; dashed: chance (0.5).',
        barChartWithIntervals(rows, { metric: 'AUC', reference: 0.5, title: 'AUC with 95% CI' }),
      );
      all.push(comparison);
    }
  }
  return {
    ...(roc ? { roc } : {}),
    ...(conf ? { confusion: conf } : {}),
    ...(cal ? { calibration: cal } : {}),
    ...(calibrationSummary ? { calibrationSummary } : {}),
    training,
    ...(comparison ? { comparison } : {}),
    all,
  };
}
