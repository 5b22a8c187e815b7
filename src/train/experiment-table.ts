/**
 * The result tables of the experiments (`polarcad experiment ...`): one row per trained
 * configuration with the test metrics of Hai et al. (2022) Tables 3 and 4 (accuracy, AUC,
 * specificity, sensitivity, precision, F1) with their 95% intervals and the training time, written
 * as CSV (machine readable, full precision) and Markdown (rounded, for reports). Rows that were
 * skipped (e.g. no weights on this machine) keep their place with empty metrics and a note.
 */
import { stringify } from '../util/csv.js';

/** Test metrics of one configuration (NaN where undefined, e.g. no positive call). */
export interface ExperimentMetrics {
  readonly accuracy: number;
  readonly auc: number;
  readonly specificity: number;
  readonly sensitivity: number;
  readonly precision: number;
  readonly f1: number;
}

/** One row of an experiment table. */
export interface ExperimentRow {
  /** Row key, e.g. the strategy id or the backbone name. */
  readonly name: string;
  /** Human-readable description (strategy title, backbone + weights...). */
  readonly description: string;
  /** Metrics on the test part; undefined for a skipped row. */
  readonly metrics?: ExperimentMetrics;
  /** Their 95% intervals (Wilson for proportions, bootstrap for AUC and F1; `evaluate/intervals.ts`). */
  readonly intervals?: Partial<Record<MetricColumn, { readonly lo: number; readonly hi: number }>>;
  /** Training time in seconds (feature extraction included); undefined for a skipped row. */
  readonly trainSeconds?: number;
  /** Trainable parameters at the last stage. */
  readonly trainable?: number;
  /** Epochs actually run, per stage ("warmup:12+finetune:3"). */
  readonly epochs?: string;
  /** Run directory relative to the experiment folder. */
  readonly runDir?: string;
  /** Why a row was skipped, or a remark. */
  readonly note?: string;
}

/** The metric columns, in Hai et al.'s Table 4 order. */
export const METRIC_COLUMNS = ['accuracy', 'auc', 'specificity', 'sensitivity', 'precision', 'f1'] as const;
export type MetricColumn = (typeof METRIC_COLUMNS)[number];

/** CSV header of {@link experimentCsv}. */
export const EXPERIMENT_CSV_COLUMNS = [
  'name',
  'description',
  ...METRIC_COLUMNS,
  ...METRIC_COLUMNS.flatMap((m) => [`${m}_lo`, `${m}_hi`] as const),
  'train_seconds',
  'trainable_params',
  'epochs',
  'run_dir',
  'note',
] as const;

const num = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '' : String(x));

/** The table as CSV (header {@link EXPERIMENT_CSV_COLUMNS}; empty cells for undefined / NaN). */
export function experimentCsv(rows: readonly ExperimentRow[]): string {
  const records = rows.map((r) => [
    r.name,
    r.description,
    ...METRIC_COLUMNS.map((k) => num(r.metrics?.[k])),
    ...METRIC_COLUMNS.flatMap((k) => [num(r.intervals?.[k]?.lo), num(r.intervals?.[k]?.hi)]),
    r.trainSeconds === undefined ? '' : r.trainSeconds.toFixed(2),
    num(r.trainable),
    r.epochs ?? '',
    r.runDir ?? '',
    r.note ?? '',
  ]);
  return stringify([[...EXPERIMENT_CSV_COLUMNS], ...records]);
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const pct = (x: number | undefined): string =>
  x === undefined || Number.isNaN(x) ? '—' : (100 * x).toFixed(1);
const frac = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '—' : x.toFixed(3));

/** A metric's cell: the value and, when known, its interval ("75.0 [40.9, 92.9]"). */
function metricCell(r: ExperimentRow, k: MetricColumn): string {
  const f = k === 'auc' ? frac : pct;
  const v = f(r.metrics?.[k]);
  const ci = r.intervals?.[k];
  if (v === '—' || ci === undefined || Number.isNaN(ci.lo) || Number.isNaN(ci.hi)) return v;
  return `${v} [${f(ci.lo)}, ${f(ci.hi)}]`;
}

/**
 * The table as Markdown: metrics in percent with one decimal (AUC as a fraction with three), each
 * with its 95% interval in brackets when known, time in seconds; `title` as a heading and `notes`
 * as a list below.
 * @example experimentMarkdown(rows, 'Training strategies, MobileNetV2', ['seed 1'])
 */
export function experimentMarkdown(
  rows: readonly ExperimentRow[],
  title: string,
  notes: readonly string[] = [],
): string {
  const head = [
    '',
    'Description',
    'Accuracy %',
    'AUC',
    'Specificity %',
    'Sensitivity %',
    'Precision %',
    'F1 %',
    'Training time (s)',
    'Epochs',
    'Note',
  ];
  const lines = [`# ${title}`, '', `| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const r of rows) {
    lines.push(
      `| ${[
        cell(r.name),
        cell(r.description),
        ...METRIC_COLUMNS.map((k) => metricCell(r, k)),
        r.trainSeconds === undefined ? '—' : r.trainSeconds.toFixed(1),
        cell(r.epochs ?? ''),
        cell(r.note ?? ''),
      ].join(' | ')} |`,
    );
  }
  const ci = rows.some((r) => r.intervals !== undefined)
    ? ['brackets: 95% intervals (Wilson for the proportions, stratified bootstrap for AUC and F1)']
    : [];
  if (notes.length + ci.length > 0) lines.push('', ...[...ci, ...notes].map((n) => `- ${n}`));
  return `${lines.join('\n')}\n`;
}
