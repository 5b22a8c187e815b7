import { InputError } from '../../util/errors.js';
import type { VegaLiteSpec } from './render.js';
import { PALETTE, SIZES } from './theme.js';
import { requireFinite, requireNonEmpty, requireSeries } from './validate.js';

/** One training run (a fine-tuning strategy): its metric per epoch. */
export interface StrategyRun {
  name: string;
  points: readonly { epoch: number; value: number }[];
}

/** Options for `strategyCurves`. */
export interface StrategyCurvesOptions {
  /** y-axis title; default "Validation accuracy" */
  metric?: string;
  /** d3 format of the y axis; default ".0%" (accuracy as a fraction) */
  format?: string;
  /** mark each run's best epoch (max, or min if `higherIsBetter` is false); default true */
  markBest?: boolean;
  higherIsBetter?: boolean;
  title?: string;
  subtitle?: string;
}

/**
 * Validation accuracy against epoch for several runs on one plot, one colour per strategy,
 * each run's best epoch ringed — the comparison of transfer-learning strategies in
 * Hai et al. (2022), Figure 4.
 */
export function strategyCurves(
  runs: readonly StrategyRun[],
  options: StrategyCurvesOptions = {},
): VegaLiteSpec {
  requireSeries(runs, 'strategyCurves', 'runs');
  const higher = options.higherIsBetter ?? true;
  const names = runs.map((r) => r.name);
  const rows: { run: string; epoch: number; value: number }[] = [];
  const best: { run: string; epoch: number; value: number }[] = [];
  let maxPerRun = 0;
  runs.forEach((r, k) => {
    const where = `strategyCurves: runs[${k}] (${r.name})`;
    requireNonEmpty(r.points, `${where}.points`);
    const epochs = new Set<number>();
    const pts = r.points.map((p, j) => {
      requireFinite(p.epoch, `${where}.points[${j}].epoch`);
      requireFinite(p.value, `${where}.points[${j}].value`);
      if (epochs.has(p.epoch)) throw new InputError(`${where}.points[${j}]: epoch ${p.epoch} appears twice`);
      epochs.add(p.epoch);
      return { run: r.name, epoch: p.epoch, value: p.value };
    });
    pts.sort((a, b) => a.epoch - b.epoch);
    maxPerRun = Math.max(maxPerRun, pts.length);
    rows.push(...pts);
    best.push(pts.reduce((b, p) => ((higher ? p.value > b.value : p.value < b.value) ? p : b)));
  });
  const metric = options.metric ?? 'Validation accuracy';
  const color = {
    field: 'run',
    type: 'nominal' as const,
    title: 'Strategy',
    scale: { domain: names, range: PALETTE.slice(0, names.length) },
  };
  const x = {
    field: 'epoch',
    type: 'quantitative' as const,
    title: 'Epoch',
    axis: { format: 'd', tickMinStep: 1 },
    scale: { nice: false, zero: false },
  };
  const y = {
    field: 'value',
    type: 'quantitative' as const,
    title: metric,
    axis: { format: options.format ?? '.0%' },
    scale: { zero: false },
  };
  const markBest = options.markBest ?? true;
  return {
    title: {
      text: options.title ?? `${metric} by strategy`,
      subtitle: options.subtitle ?? (markBest ? 'Open circle: best epoch of each run.' : ''),
    },
    width: SIZES.wide,
    height: SIZES.panelHeight + 40,
    layer: [
      {
        data: { values: rows },
        mark: { type: 'line', strokeWidth: 2, point: maxPerRun <= 40 ? { size: 14, filled: true } : false },
        encoding: { x, y, color: { ...color, legend: { symbolType: 'stroke', symbolStrokeWidth: 3 } } },
      },
      ...(markBest
        ? [
            {
              data: { values: best },
              mark: { type: 'point' as const, filled: false, size: 170, strokeWidth: 2.2, opacity: 1 },
              encoding: { x, y, color },
            },
          ]
        : []),
    ],
  };
}
