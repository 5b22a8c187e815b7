/**
 * `polarcad compare RUN... [--names a,b,c] --out DIR`: several runs (train runs of either kind,
 * evaluate or cv folders) side by side on the patients they have in common, with paired tests:
 * DeLong's test of two correlated AUCs (DeLong et al. 1988, Biometrics 44:837) and McNemar's test
 * of two accuracies on the same patients (McNemar 1947, Psychometrika 12:153), for every pair.
 * Each run's figures carry 95% intervals (src/evaluate/intervals.ts); when the common patients
 * are all of a run's patients its stored row is shown (one interval everywhere, issue 13).
 *
 * Writes DIR/compare.md (the tables in Markdown), DIR/compare.csv (one row per run),
 * DIR/pairs.csv (one row per pair), DIR/compare.json, and DIR/roc.svg|png (the ROC curves
 * overlaid), atomically.
 */
import { basename, join, resolve } from 'node:path';
import type { Label } from '../domain/views.js';
import {
  METRICS_ROW_CSV_COLUMNS,
  METRICS_ROW_FIGURES,
  metricsRowCsvCells,
  type IntervalValue,
  type MetricsRow,
} from '../evaluate/metrics-row.js';
import { rocCurve } from '../evaluate/metrics.js';
import { commonPatients, formatP, pairedTests, probsFor, type RunPair } from '../evaluate/paired.js';
import { rocChart } from '../report/charts/roc.js';
import { writeChart } from '../report/charts/render.js';
import { loadReportData, storedOrRecomputed, type NetworkResult } from '../report/data.js';
import { jsonText } from '../rundir/run.js';
import { writeDirAtomic, writeFileAtomic } from '../util/atomic.js';
import { stringify } from '../util/csv.js';
import { InputError } from '../util/errors.js';

/** Options of {@link compareRuns}. */
export interface CompareOptions {
  readonly out: string;
  /** one name per run (default: each run's model name, made unique with its folder name) */
  readonly names?: readonly string[];
  /** bootstrap seed of recomputed intervals (default 1) */
  readonly seed?: number | string;
}

export type { RunPair } from '../evaluate/paired.js';

/** Result of {@link compareRuns}. */
export interface CompareResult {
  readonly out: string;
  readonly patients: number;
  readonly rows: readonly MetricsRow[];
  readonly pairs: readonly RunPair[];
  readonly markdown: string;
}

const f3 = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(3);
const iv = (v: IntervalValue | null): string =>
  v === null || v.estimate === null ? '–' : `${f3(v.estimate)} [${f3(v.lo)}, ${f3(v.hi)}]`;
const pv = formatP;

async function loadRun(dir: string): Promise<NetworkResult> {
  const data = await loadReportData(dir);
  const n = data.networks[0];
  if (n === undefined)
    throw new InputError(`${dir}: no per-patient predictions to compare (a train, evaluate or cv folder)`);
  return n;
}

/** The Markdown tables of a comparison. */
function markdownOf(rows: readonly MetricsRow[], pairs: readonly RunPair[], patients: number): string {
  const head = ['run', 'n', ...METRICS_ROW_FIGURES];
  const lines = [
    `# Runs compared on their ${patients} common test patients`,
    '',
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map(
      (r) => `| ${[r.name, String(r.n), ...METRICS_ROW_FIGURES.map((f) => iv(r[f]))].join(' | ')} |`,
    ),
    '',
    '95% intervals: Wilson (accuracy, sensitivity, specificity, precision), stratified bootstrap (AUC, F1).',
    '',
    '## Paired tests',
    '',
    '| A | B | AUC A − B [95% CI] | DeLong p | accuracy A − B | A right, B wrong | A wrong, B right | McNemar p |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...pairs.map(
      (p) =>
        `| ${p.a} | ${p.b} | ${f3(p.aucDifference)} [${f3(p.aucDifferenceCi[0])}, ${f3(p.aucDifferenceCi[1])}] | ${pv(p.delongP)} | ${f3(p.accuracyA - p.accuracyB)} | ${p.aRightBWrong} | ${p.aWrongBRight} | ${pv(p.mcnemarP)} (${p.mcnemarMethod}) |`,
    ),
    '',
    'DeLong et al. (1988) for two correlated AUCs; McNemar (1947) on the discordant patients, exact when fewer than 25. No correction for multiple comparisons.',
    '',
  ];
  return lines.join('\n');
}

/** A run being compared: its name in the tables, its folder and its results. */
interface ComparedRun {
  readonly name: string;
  readonly dir: string;
  readonly net: NetworkResult;
}

/** The runs with their names: given (`names`), else the runs' own, made unique by the folder name. */
async function namedRuns(dirs: readonly string[], o: CompareOptions): Promise<ComparedRun[]> {
  if (dirs.length < 2) throw new InputError(`compare: give at least 2 runs, got ${dirs.length}`);
  if (o.names !== undefined && o.names.length !== dirs.length)
    throw new InputError(`--names: ${o.names.length} names for ${dirs.length} runs`);
  const runs: ComparedRun[] = [];
  for (const [k, d] of dirs.entries()) {
    const net = await loadRun(d);
    let name = o.names?.[k]?.trim() || net.name;
    if (o.names === undefined && runs.some((r) => r.name === name))
      name = `${net.name} (${basename(resolve(d))})`;
    if (name === '' || runs.some((r) => r.name === name))
      throw new InputError(`--names: "${name}" is used twice; give each run its own name`);
    runs.push({ name, dir: resolve(d), net });
  }
  return runs;
}

/** Each run's metrics row on the common patients: its stored row when it has no other patients. */
async function commonRows(
  runs: readonly ComparedRun[],
  ids: readonly string[],
  labels: readonly Label[],
  probsOf: readonly number[][],
  seed: number | string,
): Promise<MetricsRow[]> {
  const rows: MetricsRow[] = [];
  for (const [k, r] of runs.entries()) {
    const t = r.net.row.threshold ?? 0.5;
    const preds = ids.map((id, i) => ({ id, label: labels[i], prob: probsOf[k][i] }));
    const meta = {
      name: r.name,
      description: r.net.description,
      evaluatedOn: `${ids.length} test patients common to ${runs.length} runs`,
    };
    rows.push(
      preds.length === r.net.predictions.length
        ? { ...r.net.row, ...meta }
        : await storedOrRecomputed(r.dir, meta, preds, t, `${String(seed)}/compare`),
    );
  }
  return rows;
}

/** compare.csv: one row per run, each figure with its interval. */
function compareCsv(runs: readonly ComparedRun[], rows: readonly MetricsRow[]): string {
  return stringify(
    rows.map((r, k) => [r.name, runs[k].dir, r.n, r.threshold ?? '', ...metricsRowCsvCells(r)]),
    { header: true, columns: ['run', 'dir', 'n', 'threshold', ...METRICS_ROW_CSV_COLUMNS] },
  );
}

/** pairs.csv: one row per pair of runs. */
function pairsCsv(pairs: readonly RunPair[]): string {
  return stringify(
    pairs.map((p) => [
      p.a,
      p.b,
      p.aucA,
      p.aucB,
      p.aucDifference,
      p.aucDifferenceCi[0],
      p.aucDifferenceCi[1],
      p.delongP,
      p.accuracyA,
      p.accuracyB,
      p.aRightBWrong,
      p.aWrongBRight,
      p.mcnemarP,
      p.mcnemarMethod,
    ]),
    {
      header: true,
      columns: [
        'a',
        'b',
        'auc_a',
        'auc_b',
        'auc_difference',
        'auc_difference_lo',
        'auc_difference_hi',
        'delong_p',
        'accuracy_a',
        'accuracy_b',
        'a_right_b_wrong',
        'a_wrong_b_right',
        'mcnemar_p',
        'mcnemar_method',
      ],
    },
  );
}

/** The ROC curves of the runs on the common patients, as one chart written to `path` (.svg, .png). */
async function writeRocChart(
  path: string,
  runs: readonly ComparedRun[],
  rows: readonly MetricsRow[],
  labels: readonly Label[],
  probsOf: readonly number[][],
): Promise<void> {
  await writeChart(
    rocChart(
      runs.map((r, k) => {
        const auc = rows[k].auc?.estimate;
        return {
          name: r.name,
          points: rocCurve(labels, probsOf[k]).filter(
            (p) => Number.isFinite(p.fpr) && Number.isFinite(p.tpr),
          ),
          ...(auc !== null && auc !== undefined ? { auc } : {}),
        };
      }),
      { title: `ROC curves on ${labels.length} common test patients` },
    ),
    path,
  );
}

/**
 * Compare runs on their common test patients (see the module comment).
 * @example await compareRuns(['runs/hybrid', 'runs/mnv2'], { out: 'cmp', names: ['hybrid', 'cnn'] });
 * @throws InputError for fewer than 2 runs, names that do not match or repeat, or too few common patients
 */
export async function compareRuns(dirs: readonly string[], o: CompareOptions): Promise<CompareResult> {
  const runs = await namedRuns(dirs, o);
  const { ids, labels } = commonPatients(runs.map((r) => ({ dir: r.dir, predictions: r.net.predictions })));
  const probsOf = runs.map((r) => probsFor(r.net.predictions, ids));
  const rows = await commonRows(runs, ids, labels, probsOf, o.seed ?? 1);
  const pairs = pairedTests(
    labels,
    runs.map((r, k) => ({ name: r.name, probs: probsOf[k], threshold: rows[k].threshold ?? 0.5 })),
  );
  const markdown = markdownOf(rows, pairs, ids.length);
  const out = resolve(o.out);
  await writeDirAtomic(out, 'compare', async (tmp) => {
    await writeFileAtomic(join(tmp, 'compare.md'), markdown);
    await writeFileAtomic(join(tmp, 'compare.csv'), compareCsv(runs, rows));
    await writeFileAtomic(join(tmp, 'pairs.csv'), pairsCsv(pairs));
    await writeFileAtomic(
      join(tmp, 'compare.json'),
      jsonText({
        polarcad: 'compare',
        runs: runs.map((r) => ({ name: r.name, dir: r.dir })),
        patients: ids,
        rows,
        pairs,
      }),
    );
    await writeRocChart(join(tmp, 'roc'), runs, rows, labels, probsOf);
  });
  return { out, patients: ids.length, rows, pairs, markdown };
}
