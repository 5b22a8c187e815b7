/**
 * The result tables of the experiments (`polarcad experiment ...`): one row per trained
 * configuration with the test metrics of Hai et al. (2022) Tables 3 and 4 (accuracy, AUC,
 * specificity, sensitivity, precision, F1) and the training time, written as CSV (machine
 * readable, full precision) and Markdown (rounded, for reports). Rows that were skipped (e.g. no
 * weights on this machine) keep their place with empty metrics and a note.
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

/** CSV header of {@link experimentCsv}. */
export const EXPERIMENT_CSV_COLUMNS = [
  'name',
  'description',
  ...METRIC_COLUMNS,
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

/**
 * The table as Markdown: metrics in percent with one decimal (AUC as a fraction with three), time in
 * seconds; `title` as a heading and `notes` as a list below.
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
    const m = r.metrics;
    const auc = m === undefined || Number.isNaN(m.auc) ? '—' : m.auc.toFixed(3);
    lines.push(
      `| ${[
        cell(r.name),
        cell(r.description),
        pct(m?.accuracy),
        auc,
        pct(m?.specificity),
        pct(m?.sensitivity),
        pct(m?.precision),
        pct(m?.f1),
        r.trainSeconds === undefined ? '—' : r.trainSeconds.toFixed(1),
        cell(r.epochs ?? ''),
        cell(r.note ?? ''),
      ].join(' | ')} |`,
    );
  }
  if (notes.length > 0) lines.push('', ...notes.map((n) => `- ${n}`));
  return `${lines.join('\n')}\n`;
}
