/**
 * `npm run bench -- accuracy`: the robustness suite of docs/accuracy.md. For each generated cohort
 * (bench/accuracy-lib.ts: SUITE) every closed-form recipe and the paper's two-stage network
 * (`polarcad train --model cnn`, the old default) are trained on the same patients and tested on a
 * separate 400-patient cohort from the same settings. Writes the table to
 * bench/results/accuracy.md (pasted into docs/accuracy.md) and the figures to accuracy.json.
 *
 * Data are generated once under $POLARCAD_SUITE_DIR (default ~/.cache/polarcad/accuracy-suite).
 * POLARCAD_SUITE=c1,c2 runs some cohorts only (replacing their entries of the previous results); POLARCAD_SUITE_OLD=0 skips the two-stage network (=c5,c6: runs it on those cohorts only; elsewhere its previous figures are kept);
 * POLARCAD_SUITE_VARIANTS=0 skips the variants of the default (backbone ensemble, clinical variables, stacker selection).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  fitPolarModel,
  LINEAR_RECIPES,
  PolarModelPredictor,
  type FitPolarOptions,
  type LinearRecipe,
} from '../src/models/linear/polar-model.js';
import { initBackend } from '../src/engine/backend.js';
import { VIEWS } from '../src/domain/views.js';
import {
  cli,
  ensureCohort,
  figures,
  loadCohort,
  markdownTable,
  SUITE,
  trainingPart,
  type RecipeFigures,
} from './accuracy-lib.js';

const OLD = 'cnn (two-stage, stress AC: old default)';

/** Variants of the default recipe measured beside it: a backbone ensemble and clinical variables. */
const VARIANTS: readonly { readonly name: string; readonly options: Partial<FitPolarOptions> }[] = [
  {
    name: 'hybrid, MobileNetV2+InceptionV3 ensemble',
    options: { backbones: ['MobileNetV2', 'InceptionV3'] },
  },
  { name: 'hybrid + clinical (age, sex)', options: { clinical: ['age', 'sex'] } },
  { name: 'hybrid, stacker selects members by CV', options: { stacking: 'select' } },
];

async function oldDefault(
  name: string,
  trainManifest: string,
  testManifest: string,
  dir: string,
): Promise<RecipeFigures> {
  const t0 = performance.now();
  const runDir = join(dir, `${name}-old`);
  await cli([
    'train',
    trainManifest,
    '--backbone',
    'MobileNetV2',
    '--model',
    'cnn',
    '--out',
    runDir,
    '--quiet',
  ]);
  const evalDir = join(dir, `${name}-old-eval`);
  await cli(['evaluate', runDir, testManifest, '--out', evalDir, '--no-report']);
  const seconds = (performance.now() - t0) / 1000;
  const rows = (await readFile(join(evalDir, 'predictions.csv'), 'utf8')).trim().split('\n');
  const head = rows[0].split(',');
  const li = head.indexOf('label');
  const pi = head.indexOf('prob');
  const parsed = rows.slice(1).map((r) => r.split(','));
  return figures(
    parsed.map((c) => (c[li] === '1' || c[li] === 'CAD' ? 1 : 0)),
    parsed.map((c) => Number(c[pi])),
    seconds,
  );
}

export async function run(): Promise<Record<string, unknown>> {
  await initBackend('wasm');
  const dataDir =
    process.env['POLARCAD_SUITE_DIR'] ?? join(homedir(), '.cache', 'polarcad', 'accuracy-suite');
  await mkdir(dataDir, { recursive: true });
  const only = process.env['POLARCAD_SUITE']?.split(',');
  // a run of some cohorts replaces only their entries of the previous results
  const previous: Record<string, Record<string, RecipeFigures>> = await readFile(
    fileURLToPath(new URL('./results/accuracy.json', import.meta.url)),
    'utf8',
  )
    .then(
      (t) =>
        (JSON.parse(t) as { figures?: { results?: Record<string, Record<string, RecipeFigures>> } }).figures
          ?.results ?? {},
    )
    .catch(() => ({}));
  const results: Record<string, Record<string, RecipeFigures>> = only === undefined ? {} : { ...previous };
  for (const c of SUITE.filter((s) => only === undefined || only.includes(s.name))) {
    const trainManifest = await ensureCohort(c, 'train', dataDir);
    const testManifest = await ensureCohort(c, 'test', dataDir);
    const train = await loadCohort(trainManifest);
    const test = await loadCohort(testManifest);
    const fit = trainingPart(train.patients);
    results[c.name] = {};
    const fitted = async (recipe: LinearRecipe, extra: Partial<FitPolarOptions>): Promise<RecipeFigures> => {
      const t0 = performance.now();
      const { model } = await fitPolarModel(fit, {
        recipe,
        views: [...VIEWS],
        colormap: train.colormap,
        seed: 1,
        ...extra,
      });
      const predictor = await PolarModelPredictor.open(model);
      const probs = (
        await predictor.predict(
          test.patients.map((p) => p.crops),
          test.patients.map((p) => p.clinical),
        )
      ).map((p) => p.probability);
      await predictor.dispose();
      return figures(
        test.patients.map((p) => p.label),
        probs,
        (performance.now() - t0) / 1000,
      );
    };
    const runs: [string, LinearRecipe, Partial<FitPolarOptions>][] = [
      ...LINEAR_RECIPES.map((r): [string, LinearRecipe, Partial<FitPolarOptions>] => [r, r, {}]),
      ...(process.env['POLARCAD_SUITE_VARIANTS'] === '0'
        ? []
        : VARIANTS.map((v): [string, LinearRecipe, Partial<FitPolarOptions>] => [
            v.name,
            'hybrid',
            v.options,
          ])),
    ];
    for (const [name, recipe, extra] of runs) {
      results[c.name][name] = await fitted(recipe, extra);
      process.stderr.write(`${c.name} ${name}: ${JSON.stringify(results[c.name][name])}\n`);
    }
    const oldOnly = process.env['POLARCAD_SUITE_OLD'];
    const previousOld = (previous[c.name] as Record<string, RecipeFigures> | undefined)?.[OLD];
    if (oldOnly === '0' || (oldOnly !== undefined && !oldOnly.split(',').includes(c.name))) {
      if (previousOld !== undefined) results[c.name][OLD] = previousOld;
    } else {
      results[c.name][OLD] = await oldDefault(c.name, trainManifest, testManifest, dataDir);
      process.stderr.write(`${c.name} old: ${JSON.stringify(results[c.name][OLD])}\n`);
    }
  }
  const table = markdownTable(results, [...LINEAR_RECIPES, ...VARIANTS.map((v) => v.name), OLD]);
  await writeFile(fileURLToPath(new URL('./results/accuracy.md', import.meta.url)), `${table}\n`);
  return { suite: SUITE, testPatients: 400, results, table };
}
