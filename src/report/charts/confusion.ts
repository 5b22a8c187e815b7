import type { VegaLiteSpec } from './render.js';
import { percent, requireCount } from './validate.js';

/** Counts of a binary confusion matrix (positive = CAD). */
export interface ConfusionCounts {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/** Options for `confusionMatrixChart`. */
export interface ConfusionMatrixOptions {
  positiveLabel?: string;
  negativeLabel?: string;
  title?: string;
  subtitle?: string;
  /** cell side in pixels */
  cell?: number;
}

/** One drawn cell of the matrix. */
export interface ConfusionCell {
  actual: string;
  predicted: string;
  kind: 'TP' | 'FN' | 'FP' | 'TN';
  count: number;
  /** share of the actual class (row): sensitivity for TP, specificity for TN */
  rowFraction: number;
  /** "TP · 84.0%" */
  caption: string;
}

/** The four cells, rows = actual class (positive first), columns = predicted class. */
export function confusionCells(cm: ConfusionCounts, positive = 'CAD', negative = 'Normal'): ConfusionCell[] {
  const pos = cm.tp + cm.fn;
  const neg = cm.tn + cm.fp;
  const cell = (
    actual: string,
    predicted: string,
    kind: ConfusionCell['kind'],
    count: number,
    rowTotal: number,
  ): ConfusionCell => ({
    actual,
    predicted,
    kind,
    count,
    rowFraction: rowTotal > 0 ? count / rowTotal : 0,
    caption: `${kind} · ${percent(count, rowTotal)}`,
  });
  return [
    cell(positive, positive, 'TP', cm.tp, pos),
    cell(positive, negative, 'FN', cm.fn, pos),
    cell(negative, positive, 'FP', cm.fp, neg),
    cell(negative, negative, 'TN', cm.tn, neg),
  ];
}

/**
 * 2x2 confusion matrix as a heatmap: rows the actual class, columns the prediction, shade the
 * share of the actual class (so the diagonal reads as sensitivity and specificity), each cell
 * labelled with its count and percentage. The subtitle gives sensitivity, specificity, accuracy, n.
 */
export function confusionMatrixChart(
  cm: ConfusionCounts,
  options: ConfusionMatrixOptions = {},
): VegaLiteSpec {
  for (const k of ['tp', 'fp', 'tn', 'fn'] as const) requireCount(cm[k], `confusionMatrixChart: ${k}`);
  const positive = options.positiveLabel ?? 'CAD';
  const negative = options.negativeLabel ?? 'Normal';
  const cells = confusionCells(cm, positive, negative);
  const n = cm.tp + cm.fp + cm.tn + cm.fn;
  const side = options.cell ?? 120;
  const order = [positive, negative];
  const subtitle =
    options.subtitle ??
    `Sensitivity ${percent(cm.tp, cm.tp + cm.fn)} · specificity ${percent(cm.tn, cm.tn + cm.fp)} · accuracy ${percent(cm.tp + cm.tn, n)} · n = ${n}`;
  const x = {
    field: 'predicted',
    type: 'nominal' as const,
    sort: order,
    axis: {
      title: 'Predicted',
      orient: 'top' as const,
      labelAngle: 0,
      labelFontSize: 12,
      domain: false,
      ticks: false,
    },
  };
  const y = {
    field: 'actual',
    type: 'nominal' as const,
    sort: order,
    axis: { title: 'Actual', labelFontSize: 12, domain: false, ticks: false },
  };
  // dark cells get white text
  const textColor = { condition: { test: 'datum.rowFraction > 0.55', value: 'white' }, value: '#1a1a1a' };
  return {
    title: { text: options.title ?? 'Confusion matrix', subtitle },
    width: side * 2,
    height: side * 2,
    data: { values: cells },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 2 },
        encoding: {
          x,
          y,
          color: {
            field: 'rowFraction',
            type: 'quantitative',
            scale: { scheme: 'blues', domain: [0, 1] },
            legend: null,
          },
        },
      },
      {
        mark: { type: 'text', fontSize: 22, fontWeight: 'bold', dy: -9 },
        encoding: { x, y, text: { field: 'count', type: 'quantitative', format: 'd' }, color: textColor },
      },
      {
        mark: { type: 'text', fontSize: 11, dy: 14 },
        encoding: { x, y, text: { field: 'caption' }, color: textColor },
      },
    ],
    config: { view: { stroke: null } },
  };
}
