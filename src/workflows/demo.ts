/**
 * `polarcad demo`: the whole story offline, on the embedded default weights (no download):
 *   1. generate a synthetic cohort like Hai et al.'s (2022): 218 patients, 51% CAD (src/synth);
 *   2. prepare it: find, crop and clean every polar map (src/ingest/prepare.ts);
 *   3. train polarcad's default model (`hybrid`: every view through the frozen MobileNetV2, segment
 *      pooling, cross-validated ridge heads stacked with the segment uptakes) and, on exactly the
 *      same patients, the network alone (`cnn-segments`) and both simple baselines (segment and
 *      pixel logistic regression), with paired DeLong/McNemar tests, evaluated once on the
 *      stratified held-out 20% (src/workflows/train-linear.ts);
 *   4. score the semi-quantitative baseline on the SAME held-out patients (same seed and split
 *      function; checked), normal database fitted on the training part's normals
 *      (src/evaluate/score-run.ts);
 *   5. optionally heatmaps of test patients: the model's exact evidence per view and segment
 *      (src/report/heatmaps.ts);
 *   6. write demo.json and the report (src/report/html.ts) and return the summary table.
 * Each step reports progress through `onStep` / `onProgress`.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { claimOutputDir } from '../util/output.js';
import { join } from 'node:path';
import { formatMetricsTable, type MetricsRow } from '../evaluate/metrics-row.js';
import { scoreManifest } from '../evaluate/score-run.js';
import { prepare } from '../ingest/prepare.js';
import { getColormap } from '../polarmap/colormaps.js';
import { loadReportData } from '../report/data.js';
import { writeReport } from '../report/html.js';
import { synthesizeToDir } from '../synth/synthesize.js';
import { trainLinear } from './train-linear.js';
import { BASELINE_RECIPES, formatComparison } from './baselines.js';
import { errorMessage } from '../util/errors.js';
import type { PolarModel } from '../models/linear/polar-model.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  readonly out: string;
  /** small and fast (tests, a first look): 40 patients, 200 bootstrap resamples */
  readonly quick?: boolean;
  /** allow an existing empty folder as `out` */
  readonly force?: boolean;
  readonly patients?: number;
  readonly seed?: number;
  /** 'imagenet' (default: the Keras cache, else the embedded default) or a weights file */
  readonly weights?: string;
  /** feature cache folder (default OUT/.cache) */
  readonly cacheDir?: string;
  /** make Grad-CAM heatmaps for the report (default true) */
  readonly heatmaps?: boolean;
  readonly onStep?: (step: number, total: number, text: string) => void;
  readonly onProgress?: (label: string, done: number, total: number) => void;
  readonly onWarning?: (message: string) => void;
}

/** Result of {@link runDemo}. */
export interface DemoResult {
  readonly out: string;
  readonly report: string;
  readonly rows: readonly MetricsRow[];
  readonly table: string;
  readonly seconds: Readonly<Record<string, number>>;
}

/**
 * The train run's test patients and whether the score used the same ones (a warning when not), with
 * the run's config.
 */
async function checkSameSplit(
  out: string,
  patients: readonly { id: string; split?: string }[],
  onWarning: ((message: string) => void) | undefined,
): Promise<{
  trainTest: string[];
  sameSplit: boolean;
}> {
  const cfg = JSON.parse(await readFile(join(out, 'train', 'config.json'), 'utf8')) as {
    resolved: { split: { test: string[] } };
  };
  const trainTest = [...cfg.resolved.split.test].sort();
  const scoreTest = patients
    .filter((p) => p.split === 'test')
    .map((p) => p.id)
    .sort();
  const sameSplit = JSON.stringify(trainTest) === JSON.stringify(scoreTest);
  if (!sameSplit)
    onWarning?.('demo: the network and the semi-quantitative baseline were evaluated on different patients');
  return { trainTest, sameSplit };
}

/** Evidence overlays of the train run's test patients; the note says how many, or why none. */
async function demoHeatmaps(
  out: string,
  timed: <T>(name: string, f: () => Promise<T>) => Promise<T>,
  onWarning: ((message: string) => void) | undefined,
): Promise<string> {
  try {
    const { writeRunHeatmaps } = await import('../report/heatmaps.js');
    const n = await timed('heatmaps', () => writeRunHeatmaps(join(out, 'train'), { perOutcome: 2 }));
    return `heatmaps: ${n} evidence overlays`;
  } catch (e) {
    const note = `heatmaps: not available (${errorMessage(e)})`;
    onWarning?.(`demo: ${note}`);
    return note;
  }
}

const STEPS = 6;

/** What a previous demo wrote into `out` (claimed as a demo folder), removed before a new one. */
const DEMO_OUTPUTS = [
  'cohort',
  'prepared',
  'train',
  'score',
  'figures',
  'heatmaps',
  'demo.json',
  'report.html',
];

async function clearPreviousDemo(out: string): Promise<void> {
  for (const sub of DEMO_OUTPUTS) await rm(join(out, sub), { recursive: true, force: true });
}

/**
 * Run the demo into `opts.out` (see the module comment). An existing folder is written only if it
 * is a previous demo, or empty with `force` (the `--out` rule, src/util/output.ts).
 * @throws InputError when `out` is refused by the `--out` rule, or a step fails on input
 */
export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const out = await claimOutputDir(opts.out, 'demo', { create: true, force: opts.force === true });
  const quick = opts.quick === true;
  const patients = opts.patients ?? (quick ? 40 : 218);
  const seed = opts.seed ?? 1;
  const resamples = quick ? 200 : 2000;
  const step = opts.onStep ?? (() => undefined);
  const seconds: Record<string, number> = {};
  const t00 = performance.now();
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    seconds[name] = (performance.now() - t0) / 1000;
    return r;
  };
  await clearPreviousDemo(out);

  step(1, STEPS, `synth: ${patients} synthetic patients (51% CAD, seed ${seed})`);
  const cohort = await timed('synth', () =>
    synthesizeToDir(
      { patients, prevalence: 0.51, seed, ...(quick ? { mapSize: 64 } : {}) },
      join(out, 'cohort'),
      {
        layout: 'single',
        format: 'png',
        colormap: getColormap('rainbow'),
        grid: true,
        onProgress: (d, t) => opts.onProgress?.('synth', d, t),
      },
    ),
  );

  step(2, STEPS, 'prepare: find, crop and clean every polar map');
  await timed('prepare', () =>
    prepare(join(out, 'cohort', 'manifest.csv'), {
      out: join(out, 'prepared'),
      ...(quick ? { size: 96 } : {}),
      onProgress: (d, t) => opts.onProgress?.('prepare', d, t),
    }),
  );
  const manifest = join(out, 'prepared', 'manifest.csv');

  step(
    3,
    STEPS,
    'train: the default model (every view, MobileNetV2 segment features stacked with segment uptakes) beside the network alone and both baselines, held-out 20% for testing',
  );
  const train = await timed('train', () =>
    trainLinear(
      {
        manifest,
        out: join(out, 'train'),
        recipe: 'hybrid',
        compareWith: ['cnn-segments', ...BASELINE_RECIPES],
        weights: opts.weights ?? 'imagenet',
        seed,
        testFraction: 0.2,
        cacheDir: opts.cacheDir ?? join(out, '.cache'),
      },
      { onProgress: opts.onProgress, onWarning: opts.onWarning },
    ),
  );

  step(
    4,
    STEPS,
    'score: the semi-quantitative baseline (SSS/SRS/SDS, TPD, published rules) on the same held-out patients',
  );
  const score = await timed('score', () =>
    scoreManifest(manifest, {
      out: join(out, 'score'),
      split: 'holdout',
      seed,
      testFraction: 0.2,
      resamples,
      ...(quick ? { minNormals: 5 } : {}),
      onProgress: (d, t) => opts.onProgress?.('score', d, t),
    }),
  );
  const { trainTest, sameSplit } = await checkSameSplit(out, score.patients, opts.onWarning);

  step(5, STEPS, "heatmaps: the model's evidence on test patients (true/false positives/negatives)");
  const heatmapNote =
    opts.heatmaps === false ? 'heatmaps: skipped' : await demoHeatmaps(out, timed, opts.onWarning);

  step(6, STEPS, 'report: one self-contained HTML file');
  seconds.total = (performance.now() - t00) / 1000;
  const facts: Record<string, string> = {
    Cohort: `${cohort.patients} synthetic patients, ${cohort.cad} CAD (${((100 * cohort.cad) / cohort.patients).toFixed(0)}%), seed ${seed}`,
    Model: `hybrid (the default): ${train.model.views.join(', ')} maps; MobileNetV2 features pooled over the 17 segments, stacked with the segment uptakes; every choice by 5-fold cross-validation on the training patients`,
    'Compared with':
      'the network alone (cnn-segments), segment-logistic and pixel-logistic, fitted on the same patients, with paired DeLong/McNemar tests; the semi-quantitative rules',
    Weights: weightsNote(train.model),
    'Evaluated on': `the stratified held-out 20% (${trainTest.length} patients)${sameSplit ? '; network and semi-quantitative rows on the same patients' : ' (WARNING: the score used different patients)'}`,
    'Time (s)': Object.entries(seconds)
      .map(([k, v]) => `${k} ${v.toFixed(0)}`)
      .join(', '),
  };
  await writeFile(
    join(out, 'demo.json'),
    `${JSON.stringify({ polarcad: 'demo', train: 'train', score: 'score', cohort: 'cohort', prepared: 'prepared', quick, seconds, sameSplit, facts, notes: ["The patients are synthetic (polarcad's digital phantom, docs/synth.md): the figures show that the pipeline works, not how it would do on real patients.", heatmapNote] }, null, 2)}\n`,
  );
  const rep = await writeReport(out, { title: 'polarcad demo: CAD from synthetic SPECT polar maps' });
  const data = await loadReportData(out);
  const rows = [...train.rows, ...data.semiquant];
  const table = [
    formatMetricsTable(rows),
    '',
    `paired tests of ${train.rows[0].name} on the same ${trainTest.length} test patients:`,
    ...train.comparisons.map((c) => `  ${formatComparison(c)}`),
  ].join('\n');
  return { out, report: rep.html, rows, table, seconds };
}

/** What the model's network members were initialised with, in words (the weights note of the report). */
function weightsNote(model: PolarModel): string {
  const notes = model.members.flatMap((m) =>
    m.features.kind === 'cnn-segments' ? [`${m.features.backbone}: ${m.features.weightsDescription}`] : [],
  );
  return notes.length > 0 ? [...new Set(notes)].join('; ') : 'no network member';
}
