import type { VegaLiteSpec } from './render.js';
import { identityLine, PALETTE, SIZES } from './theme.js';
import { fixed, requireCount, requireInRange, requireNonEmpty } from './validate.js';

/** One probability bin: mean predicted probability, observed fraction of positives, case count. */
export interface ReliabilityBin {
  meanPredicted: number;
  fractionPositive: number;
  count: number;
}

/** Options for `reliabilityChart`. */
export interface ReliabilityChartOptions {
  title?: string;
  subtitle?: string;
  size?: number;
}

/**
 * Expected calibration error: the count-weighted mean of |fraction positive − mean predicted|
 * over the bins (Naeini et al. 2015; Guo et al. 2017). NaN when every bin is empty.
 */
export function expectedCalibrationError(bins: readonly ReliabilityBin[]): number {
  let n = 0;
  let s = 0;
  for (const b of bins) {
    n += b.count;
    s += b.count * Math.abs(b.fractionPositive - b.meanPredicted);
  }
  return n > 0 ? s / n : Number.NaN;
}

/**
 * Reliability (calibration) diagram: observed fraction of CAD against mean predicted
 * probability per bin, dot area proportional to the bin's count, the diagonal of perfect
 * calibration, and a histogram of counts underneath. Empty bins are not drawn. The subtitle
 * gives the expected calibration error and the number of cases.
 */
export function reliabilityChart(
  bins: readonly ReliabilityBin[],
  options: ReliabilityChartOptions = {},
): VegaLiteSpec {
  requireNonEmpty(bins, 'reliabilityChart: bins');
  const rows = bins.map((b, i) => ({
    meanPredicted: requireInRange(b.meanPredicted, 0, 1, `reliabilityChart: bins[${i}].meanPredicted`),
    fractionPositive: requireInRange(
      b.fractionPositive,
      0,
      1,
      `reliabilityChart: bins[${i}].fractionPositive`,
    ),
    count: requireCount(b.count, `reliabilityChart: bins[${i}].count`),
  }));
  const drawn = rows.filter((r) => r.count > 0).sort((a, b) => a.meanPredicted - b.meanPredicted);
  requireNonEmpty(drawn, 'reliabilityChart: bins with count > 0');
  const n = drawn.reduce((s, r) => s + r.count, 0);
  const size = options.size ?? SIZES.square;
  const x = {
    field: 'meanPredicted',
    type: 'quantitative' as const,
    scale: { domain: [0, 1], nice: false },
    axis: { title: 'Mean predicted probability of CAD', format: '.1f', tickCount: 5 },
  };
  const color = PALETTE[0];
  return {
    title: {
      text: options.title ?? 'Calibration',
      subtitle:
        options.subtitle ??
        `Expected calibration error ${fixed(expectedCalibrationError(drawn), 3)} (n = ${n}). Dashed: perfect calibration.`,
    },
    vconcat: [
      {
        width: size,
        height: size,
        layer: [
          identityLine('meanPredicted', 'fractionPositive', {
            x,
            y: { field: 'fractionPositive', type: 'quantitative' },
          }),
          {
            data: { values: drawn },
            layer: [
              {
                mark: { type: 'line', color, strokeWidth: 1.5 },
                encoding: { x, y: { field: 'fractionPositive', type: 'quantitative' } },
              },
              {
                mark: { type: 'circle', color, opacity: 0.9, stroke: 'white', strokeWidth: 1 },
                encoding: {
                  x,
                  y: {
                    field: 'fractionPositive',
                    type: 'quantitative',
                    scale: { domain: [0, 1], nice: false },
                    axis: { title: 'Observed fraction with CAD', format: '.1f', tickCount: 5 },
                  },
                  size: {
                    field: 'count',
                    type: 'quantitative',
                    scale: { type: 'sqrt', zero: true, range: [0, 400] },
                    legend: {
                      title: 'Cases in bin',
                      symbolFillColor: color,
                      symbolStrokeColor: 'white',
                      orient: 'right',
                    },
                  },
                },
              },
            ],
          },
        ],
      },
      {
        width: size,
        height: 80,
        data: { values: drawn },
        mark: {
          type: 'bar',
          color,
          opacity: 0.8,
          size: Math.max(3, Math.floor(size / Math.max(20, drawn.length * 2))),
        },
        encoding: {
          x: { ...x, axis: { ...x.axis, title: 'Mean predicted probability of CAD' } },
          y: { field: 'count', type: 'quantitative', axis: { title: 'Cases', tickCount: 3 } },
        },
      },
    ],
    resolve: { scale: { x: 'shared' } },
  };
}
