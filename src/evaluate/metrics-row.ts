/**
 * `MetricsRow`: one row of a results table (a network, a semi-quantitative rule, a continuous
 * score, a reader), JSON-ready, with the confidence interval of every figure. The trainer's,
 * the evaluator's and `polarcad score`'s `metrics.json` all hold rows of this shape, so the report
 * can put the networks and the semi-quantitative analysis side by side, as Table 2 of
 * Apostolopoulos et al. (2020) does (semi-quantitative row next to VGG16 and the readers).
 *
 * Intervals: Wilson for accuracy, sensitivity, specificity and precision; stratified percentile
 * bootstrap for F1 and AUC (src/evaluate/intervals.ts, docs/evaluation.md). Undefined figures
 * (0/0, a class missing) are `null` (JSON has no NaN).
 */
import type { PairedComparison } from './paired.js';
import type { Label } from '../domain/views.js';
import { InputError } from '../util/errors.js';
import {
  type BootstrapInterval,
  type Interval,
  type MetricsWithIntervals,
  metricsWithIntervals,
  stratifiedBootstrap,
} from './intervals.js';
import { auc, checkScores, type Confusion } from './metrics.js';

/** The figures of a row, in Hai et al.'s (2022) Table 4 order. */
export const METRICS_ROW_FIGURES = [
  'accuracy',
  'auc',
  'specificity',
  'sensitivity',
  'precision',
  'f1',
] as const;
export type MetricsRowFigure = (typeof METRICS_ROW_FIGURES)[number];

/** The CSV columns of a row's figures with their intervals: `auc`, `auc_lo`, `auc_hi`, ... */
export const METRICS_ROW_CSV_COLUMNS: readonly string[] = METRICS_ROW_FIGURES.flatMap((f) => [
  f,
  `${f}_lo`,
  `${f}_hi`,
]);

/** A row's figures with their intervals as CSV cells, in {@link METRICS_ROW_CSV_COLUMNS} order ('' where undefined). */
export function metricsRowCsvCells(row: Pick<MetricsRow, MetricsRowFigure>): (number | string)[] {
  return METRICS_ROW_FIGURES.flatMap((f) => {
    const v = row[f];
    return [v?.estimate ?? '', v?.lo ?? '', v?.hi ?? ''];
  });
}

/** A figure with its interval; `null`s where undefined. */
export interface IntervalValue {
  readonly estimate: number | null;
  readonly lo: number | null;
  readonly hi: number | null;
  readonly level: number;
  readonly method: 'wilson' | 'bootstrap';
  /** bootstrap only */
  readonly resamples?: number;
}

/** What a row is: a trained network, a decision rule, a continuous score (AUC only), a human reader. */
export type MetricsRowKind = 'model' | 'rule' | 'score' | 'reader';

/** One row of a results table (see the module comment). */
export interface MetricsRow {
  /** short key, unique in a table, e.g. `mobilenet_v2`, `sss4_ac` */
  readonly name: string;
  /** human-readable, e.g. "SSS >= 4 (AC maps)" */
  readonly description: string;
  readonly kind: MetricsRowKind;
  /** which patients the figures are on, e.g. "hold-out test part (20%, seed 1)" */
  readonly evaluatedOn: string;
  readonly n: number;
  readonly positives: number;
  readonly negatives: number;
  /** operating threshold on the row's score (0.5 for probabilities and 0/1 decisions); null for a continuous score */
  readonly threshold: number | null;
  readonly confusion: Confusion | null;
  readonly accuracy: IntervalValue | null;
  readonly sensitivity: IntervalValue | null;
  readonly specificity: IntervalValue | null;
  readonly precision: IntervalValue | null;
  readonly f1: IntervalValue | null;
  readonly auc: IntervalValue | null;
}

/** Identification of a row (everything but the figures). */
export interface MetricsRowMeta {
  readonly name: string;
  readonly description: string;
  readonly kind: MetricsRowKind;
  readonly evaluatedOn: string;
}

const orNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** The threshold figures of a row that has no operating threshold (a continuous score): all null. */
export const NO_THRESHOLD_FIGURES = {
  threshold: null,
  confusion: null,
  accuracy: null,
  sensitivity: null,
  specificity: null,
  precision: null,
  f1: null,
} as const satisfies Partial<MetricsRow>;

/** An `Interval` (or bootstrap interval) as a JSON-ready `IntervalValue`. */
export function intervalValue(
  i: Interval | BootstrapInterval,
  method: 'wilson' | 'bootstrap',
): IntervalValue {
  const base = { estimate: orNull(i.estimate), lo: orNull(i.lo), hi: orNull(i.hi), level: i.level, method };
  return 'resamples' in i ? { ...base, resamples: i.resamples } : base;
}

/** A row from `metricsWithIntervals` output (networks and rules alike). */
export function metricsRowFromIntervals(meta: MetricsRowMeta, m: MetricsWithIntervals): MetricsRow {
  const { tp, fp, tn, fn } = m.metrics;
  return {
    ...meta,
    n: m.metrics.n,
    positives: tp + fn,
    negatives: tn + fp,
    threshold: m.metrics.threshold,
    confusion: { tp, fp, tn, fn },
    accuracy: intervalValue(m.accuracy, 'wilson'),
    sensitivity: intervalValue(m.sensitivity, 'wilson'),
    specificity: intervalValue(m.specificity, 'wilson'),
    precision: intervalValue(m.precision, 'wilson'),
    f1: intervalValue(m.f1, 'bootstrap'),
    auc: intervalValue(m.auc, 'bootstrap'),
  };
}

export interface RowIntervalOptions {
  /** seed of the bootstrap (required: same seed, same interval) */
  readonly seed: number | string;
  /** bootstrap resamples (default 2,000) */
  readonly resamples?: number;
  /** confidence level (default 0.95) */
  readonly level?: number;
}

/**
 * A row for a yes/no decision rule (true = CAD called): the decisions as scores 0/1 at threshold
 * 0.5, so accuracy, sensitivity, specificity, precision (Wilson) and F1 (bootstrap) are those of
 * the rule. The AUC of a 0/1 score is that of its single-point ROC curve, (sensitivity +
 * specificity) / 2 (the balanced accuracy); it is reported with its bootstrap interval.
 */
export function decisionRuleRow(
  meta: MetricsRowMeta,
  labels: readonly Label[],
  decisions: readonly boolean[],
  opts: RowIntervalOptions,
): MetricsRow {
  if (decisions.length !== labels.length)
    throw new InputError(`${meta.name}: ${labels.length} labels but ${decisions.length} decisions`);
  const probs = decisions.map((d) => (d ? 1 : 0));
  return metricsRowFromIntervals(meta, metricsWithIntervals(labels, probs, { ...opts, threshold: 0.5 }));
}

/**
 * A row for a continuous score (higher = more likely CAD, e.g. SSS or TPD): only the AUC (exact
 * Mann-Whitney, ties counted half) with its stratified bootstrap interval; threshold figures are
 * null (a threshold on the score is a decision rule, reported as its own row).
 */
export function continuousScoreRow(
  meta: MetricsRowMeta,
  labels: readonly Label[],
  scores: readonly number[],
  opts: RowIntervalOptions,
): MetricsRow {
  checkScores(labels, scores, meta.name);
  const positives = labels.filter((l) => l === 1).length;
  const a = stratifiedBootstrap(labels, scores, auc, {
    seed: `${String(opts.seed)}/auc`,
    resamples: opts.resamples,
    level: opts.level,
  });
  return {
    ...meta,
    n: labels.length,
    positives,
    negatives: labels.length - positives,
    ...NO_THRESHOLD_FIGURES,
    auc: intervalValue(a, 'bootstrap'),
  };
}

const fmt = (v: IntervalValue | null, digits: number): string =>
  v === null || v.estimate === null
    ? '-'
    : `${v.estimate.toFixed(digits)} [${v.lo === null ? '?' : v.lo.toFixed(digits)}, ${v.hi === null ? '?' : v.hi.toFixed(digits)}]`;

/**
 * A plain-text table of rows (name, n, and each figure as "estimate [lo, hi]"), columns padded,
 * for terminal summaries.
 */
export function formatMetricsTable(rows: readonly MetricsRow[], digits = 2): string {
  const header = ['name', 'n', ...METRICS_ROW_FIGURES];
  const body = rows.map((r) => [r.name, String(r.n), ...METRICS_ROW_FIGURES.map((f) => fmt(r[f], digits))]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((b) => b[c].length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((s, c) => (c < 2 && c > 0 ? s.padStart(widths[c]) : s.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n') + '\n';
}

/** The `metrics.json` a command writes: its rows plus how they were obtained. */
export interface MetricsFile {
  readonly format: 'polarcad-metrics';
  readonly version: 1;
  /** the command that wrote it, e.g. `score`, `train`, `evaluate` */
  readonly command: string;
  /** the manifest evaluated (absolute path) and its sha256 */
  readonly manifest: { readonly path: string; readonly sha256: string };
  /** split protocol, e.g. `holdout`, `cv`, `all-train` */
  readonly protocol: string;
  readonly seed: number | string;
  readonly rows: readonly MetricsRow[];
  /** paired tests of the first row's model against the other models (src/evaluate/paired.ts) */
  readonly comparisons?: readonly PairedComparison[];
}

/** Assemble a `metrics.json` value (rows must have unique names). */
export function metricsFile(fields: Omit<MetricsFile, 'format' | 'version'>): MetricsFile {
  const names = new Set<string>();
  for (const r of fields.rows) {
    if (names.has(r.name)) throw new Error(`metrics file: row name ${r.name} used twice`);
    names.add(r.name);
  }
  return { format: 'polarcad-metrics', version: 1, ...fields };
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function storedInterval(v: unknown, method: 'wilson' | 'bootstrap'): IntervalValue | null {
  if (v === null || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  if (!('estimate' in o)) return null;
  const resamples = num(o.resamples);
  return {
    estimate: num(o.estimate),
    lo: num(o.lo),
    hi: num(o.hi),
    level: num(o.level) ?? 0.95,
    method: o.method === 'wilson' || o.method === 'bootstrap' ? o.method : method,
    ...(resamples !== null ? { resamples } : {}),
  };
}

/**
 * The metrics rows a run or evaluation stored in its metrics.json (read by src/rundir/run.ts
 * `readRunJson`): the intervals computed ONCE when the run was written (its summary printed the
 * same numbers), so a report or a comparison shows those, not a recomputation with another
 * bootstrap seed. Takes `rows` (the `MetricsFile` of evaluate, cv and score, and closed-form runs)
 * or, for CNN runs, the top-level figures (`accuracy`, `auc`, ... as intervals), named by `meta`.
 * Null when there is no file or it has neither.
 * @example const [row] = storedRows(await readRunJson('runs/mnv2', 'metrics'), meta) ?? [];
 */
export function storedRows(m: Record<string, unknown> | null, meta: MetricsRowMeta): MetricsRow[] | null {
  if (m === null) return null;
  if (Array.isArray(m.rows) && m.rows.length > 0) return m.rows as MetricsRow[];
  const auc = storedInterval(m.auc, 'bootstrap');
  const c = m.confusion as Record<string, unknown> | undefined;
  const n = num(m.n);
  if (auc === null || n === null || c === undefined) return null;
  const [tp, fp, tn, fn] = [c.tp, c.fp, c.tn, c.fn].map((x) => num(x) ?? 0);
  return [
    {
      ...meta,
      n,
      positives: tp + fn,
      negatives: tn + fp,
      threshold: num(m.threshold) ?? 0.5,
      confusion: { tp, fp, tn, fn },
      accuracy: storedInterval(m.accuracy, 'wilson'),
      sensitivity: storedInterval(m.sensitivity, 'wilson'),
      specificity: storedInterval(m.specificity, 'wilson'),
      precision: storedInterval(m.precision, 'wilson'),
      f1: storedInterval(m.f1, 'bootstrap'),
      auc,
    },
  ];
}
