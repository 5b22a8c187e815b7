import type { VegaLiteSpec } from './render.js';
import { identityLine, PALETTE, SIZES } from './theme.js';
import { fixed, requireFinite, requireInRange, requireNonEmpty, requireSeries } from './validate.js';

/** One ROC curve: points of (false positive rate, true positive rate), optional AUC and operating point. */
export interface RocCurveInput {
  name: string;
  points: readonly { fpr: number; tpr: number }[];
  auc?: number;
  /** the decision threshold in use and where it sits on the curve */
  operatingPoint?: { fpr: number; tpr: number; threshold: number };
}

/** Options for `rocChart`. */
export interface RocChartOptions {
  title?: string;
  subtitle?: string;
  /** side of the square plot area in pixels */
  size?: number;
}

/** Legend label of a curve: its name and, when known, its AUC to three decimals. */
export function rocLegendLabel(c: Pick<RocCurveInput, 'name' | 'auc'>): string {
  return c.auc === undefined ? c.name : `${c.name} (AUC ${fixed(c.auc, 3)})`;
}

/** The checked curve points (sorted by FPR, then TPR) and operating points, labelled by legend entry. */
function rocData(
  curves: readonly RocCurveInput[],
  labels: readonly string[],
): {
  lines: { curve: string; fpr: number; tpr: number; i: number }[];
  ops: { curve: string; fpr: number; tpr: number; label: string }[];
} {
  const lines: { curve: string; fpr: number; tpr: number; i: number }[] = [];
  const ops: { curve: string; fpr: number; tpr: number; label: string }[] = [];
  curves.forEach((c, k) => {
    const where = `rocChart: curves[${k}] (${c.name})`;
    requireNonEmpty(c.points, `${where}.points`);
    if (c.auc !== undefined) requireInRange(c.auc, 0, 1, `${where}.auc`);
    const pts = c.points.map((p, j) => ({
      fpr: requireInRange(p.fpr, 0, 1, `${where}.points[${j}].fpr`),
      tpr: requireInRange(p.tpr, 0, 1, `${where}.points[${j}].tpr`),
    }));
    pts.sort((a, b) => a.fpr - b.fpr || a.tpr - b.tpr);
    pts.forEach((p, i) => lines.push({ curve: labels[k], fpr: p.fpr, tpr: p.tpr, i }));
    const op = c.operatingPoint;
    if (op !== undefined) {
      ops.push({
        curve: labels[k],
        fpr: requireInRange(op.fpr, 0, 1, `${where}.operatingPoint.fpr`),
        tpr: requireInRange(op.tpr, 0, 1, `${where}.operatingPoint.tpr`),
        label: `t = ${fixed(requireFinite(op.threshold, `${where}.operatingPoint.threshold`), 2)}`,
      });
    }
  });
  return { lines, ops };
}

/**
 * ROC curves (sensitivity against 1 − specificity) with the chance diagonal, a legend carrying
 * each curve's AUC, and the operating point (with its threshold) marked on each curve.
 * Points are drawn in order of increasing FPR (ties by TPR), as a ROC curve is monotone.
 */
export function rocChart(curves: readonly RocCurveInput[], options: RocChartOptions = {}): VegaLiteSpec {
  requireSeries(curves, 'rocChart', 'curves');
  const labels = curves.map(rocLegendLabel);
  const { lines, ops } = rocData(curves, labels);

  const size = options.size ?? SIZES.square;
  const color = {
    field: 'curve',
    type: 'nominal' as const,
    scale: { domain: labels, range: PALETTE.slice(0, labels.length) },
    legend: {
      title: null,
      orient: 'bottom-right' as const,
      fillColor: 'rgba(255,255,255,0.9)',
      strokeColor: '#d0d0d0',
      padding: 8,
      symbolType: 'stroke',
    },
  };
  const x = {
    field: 'fpr',
    type: 'quantitative' as const,
    scale: { domain: [0, 1], nice: false },
    axis: { title: 'False positive rate (1 − specificity)', format: '.1f', tickCount: 5 },
  };
  const y = {
    field: 'tpr',
    type: 'quantitative' as const,
    scale: { domain: [0, 1], nice: false },
    axis: { title: 'True positive rate (sensitivity)', format: '.1f', tickCount: 5 },
  };
  const subtitle =
    options.subtitle ??
    (ops.length > 0 ? 'Dots: operating point (t = decision threshold). Dashed: chance.' : 'Dashed: chance.');
  const label = {
    type: 'text' as const,
    align: 'left' as const,
    dx: 8,
    dy: 12,
    fontSize: 11,
    fontWeight: 'bold' as const,
  };
  return {
    title: { text: options.title ?? 'ROC curve', subtitle },
    width: size,
    height: size,
    layer: [
      identityLine('fpr', 'tpr', { x, y }),
      {
        data: { values: lines },
        mark: { type: 'line', strokeWidth: 2.2 },
        encoding: { x, y, color, order: { field: 'i', type: 'quantitative' } },
      },
      ...(ops.length === 0
        ? []
        : [
            {
              data: { values: ops },
              layer: [
                {
                  mark: {
                    type: 'point' as const,
                    filled: true,
                    size: 110,
                    opacity: 1,
                    stroke: 'white',
                    strokeWidth: 1.5,
                  },
                  encoding: { x, y, color },
                },
                // white halo under the threshold label so it stays legible where it crosses a curve
                {
                  mark: {
                    ...label,
                    stroke: 'white',
                    strokeWidth: 4,
                    strokeJoin: 'round' as const,
                    fill: 'white',
                  },
                  encoding: { x, y, text: { field: 'label' } },
                },
                {
                  mark: label,
                  encoding: { x, y, text: { field: 'label' }, color },
                },
              ],
            },
          ]),
    ],
  };
}
