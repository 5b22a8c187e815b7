import { dejaVuTextWidth } from './text-measure.js';
import type { VegaLiteSpec } from './render.js';
import { PALETTE, REFERENCE_GREY } from './theme.js';
import { fixed, requireFinite, requireNonEmpty, requireUniqueNames } from './validate.js';
import { InputError } from '../../util/errors.js';

/** One model's metric with its confidence interval. */
export interface IntervalRow {
  name: string;
  value: number;
  lo: number;
  hi: number;
}

/** Options for `barChartWithIntervals`. */
export interface BarChartWithIntervalsOptions {
  /** metric name, used as the axis title (e.g. "AUC") */
  metric: string;
  /** what the whiskers are (column heading); default "95% CI" */
  intervalLabel?: string;
  /** x-axis domain; default [0, 1] when every value lies in [0, 1], else [min(0, lo), max hi] */
  domain?: [number, number];
  /** a reference value drawn as a dashed line (e.g. 0.5 for AUC) */
  reference?: number;
  /** decimals printed in the value column; default 3 */
  digits?: number;
  title?: string;
  subtitle?: string;
  /** plot width in pixels */
  width?: number;
}

const FONT_SIZE = 11;

/**
 * Horizontal bars of one metric per model with confidence-interval whiskers, in the order given,
 * and a column printing "value [lo, hi]" beside each bar (forest-plot layout), for comparing
 * backbones/strategies as in Apostolopoulos et al. (2020) Table 3 and Hai et al. (2022) Table 3.
 */
export function barChartWithIntervals(
  rows: readonly IntervalRow[],
  options: BarChartWithIntervalsOptions,
): VegaLiteSpec {
  requireNonEmpty(rows, 'barChartWithIntervals: rows');
  requireUniqueNames(
    rows.map((r) => r.name),
    'barChartWithIntervals: rows',
  );
  const digits = options.digits ?? 3;
  const data = rows.map((r, i) => {
    const where = `barChartWithIntervals: rows[${i}] (${r.name})`;
    requireFinite(r.value, `${where}.value`);
    requireFinite(r.lo, `${where}.lo`);
    requireFinite(r.hi, `${where}.hi`);
    if (!(r.lo <= r.value && r.value <= r.hi)) {
      throw new InputError(`${where}: interval [${r.lo}, ${r.hi}] does not contain the value ${r.value}`);
    }
    return { ...r, text: `${fixed(r.value, digits)} [${fixed(r.lo, digits)}, ${fixed(r.hi, digits)}]` };
  });
  const allUnit = data.every((r) => r.lo >= 0 && r.hi <= 1);
  const domain =
    options.domain ??
    (allUnit ? [0, 1] : [Math.min(0, ...data.map((r) => r.lo)), Math.max(...data.map((r) => r.hi))]);
  const intervalLabel = options.intervalLabel ?? '95% CI';
  const heading = `${options.metric} [${intervalLabel}]`;
  const textWidth =
    Math.ceil(
      Math.max(dejaVuTextWidth(heading, 12, true), ...data.map((r) => dejaVuTextWidth(r.text, FONT_SIZE))),
    ) + 6;
  const y = {
    field: 'name',
    type: 'nominal' as const,
    sort: data.map((r) => r.name),
    axis: { title: null, labelFontSize: 12, labelLimit: 260 },
  };
  const step = { step: 30 };
  const x = {
    field: 'value',
    type: 'quantitative' as const,
    scale: { domain, nice: false, zero: false },
    axis: { title: options.metric, tickCount: 5 },
  };
  return {
    title: {
      text: options.title ?? `${options.metric} by model`,
      subtitle: options.subtitle ?? `Bars: point estimate; whiskers: ${intervalLabel}.`,
    },
    data: { values: data },
    hconcat: [
      {
        width: options.width ?? 360,
        height: step,
        layer: [
          {
            mark: { type: 'bar', color: PALETTE[0], opacity: 0.85, height: { band: 0.62 }, clip: true },
            encoding: { x, y },
          },
          ...(options.reference === undefined
            ? []
            : [
                {
                  data: {
                    values: [
                      { reference: requireFinite(options.reference, 'barChartWithIntervals: reference') },
                    ],
                  },
                  mark: {
                    type: 'rule' as const,
                    color: REFERENCE_GREY,
                    strokeDash: [5, 4],
                    strokeWidth: 1.2,
                  },
                  encoding: { x: { field: 'reference', type: 'quantitative' as const } },
                },
              ]),
          {
            mark: { type: 'rule', color: '#1a1a1a', strokeWidth: 1.5, clip: true },
            encoding: { x: { field: 'lo', type: 'quantitative' }, x2: { field: 'hi' }, y },
          },
          {
            mark: { type: 'tick', color: '#1a1a1a', thickness: 1.5, size: 10, clip: true },
            encoding: { x: { field: 'lo', type: 'quantitative' }, y },
          },
          {
            mark: { type: 'tick', color: '#1a1a1a', thickness: 1.5, size: 10, clip: true },
            encoding: { x: { field: 'hi', type: 'quantitative' }, y },
          },
        ],
      },
      {
        width: textWidth,
        height: step,
        title: { text: heading, fontSize: 12, fontWeight: 'bold', anchor: 'start', offset: 6 },
        mark: { type: 'text', align: 'left', fontSize: FONT_SIZE, x: 0 },
        encoding: { y: { ...y, axis: null }, text: { field: 'text' } },
      },
    ],
    spacing: 16,
    config: { view: { stroke: null } },
  };
}
