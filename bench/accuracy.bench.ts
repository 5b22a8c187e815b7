/**
 * `npm run bench -- accuracy`: the robustness suite of docs/accuracy.md. For each generated cohort
 * (bench/accuracy-lib.ts: SUITE) every closed-form recipe and the paper's two-stage network
 * (`polarcad train --model cnn`, the old default) are trained on the same patients and tested on a
 * separate 400-patient cohort from the same settings. Writes the table to
 * bench/results/accuracy.md (pasted into docs/accuracy.md) and the figures to accuracy.json.
 *
 * Data are generated once under $POLARCAD_SUITE_DIR (default ~/.cache/polarcad/accuracy-suite).
 * POLARCAD_SUITE=c1,c2 runs some cohorts only; POLARCAD_SUITE_OLD=0 skips the two-stage network
 * (=c5,c6: runs it on those cohorts only); POLARCAD_SUITE_LINEAR=hybrid|pixel-logistic runs those
 * closed-form recipes only (0 = none); POLARCAD_SUITE_VARIANTS=NAME|NAME runs those variants of the
 * default only (bench/accuracy-lib.ts: VARIANTS; 0 = none). POLARCAD_SUITE_ENSEMBLE=c1,c5 also runs the
 * two-stage network as a fold ensemble of 5 (OLD_ENSEMBLE) on those cohorts (default: none). Every figure not rerun is kept from the
 * previous results (bench/results/accuracy.json), so partial runs wipe nothing.
 * POLARCAD_QUEUE=redis://HOST:PORT/DB runs each unit (one recipe x cohort) as a job on that queue,
 * taken by `node --import tsx bench/accuracy-worker.ts --queue URL --shared-dir SUITE_DIR` on any
 * machine (docs/queue.md); the figures are the same.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LINEAR_RECIPES } from '../src/models/linear/polar-model.js';
import { initBackend } from '../src/engine/backend.js';
import {
  ensureCohort,
  markdownTable,
  mergeResults,
  selectNames,
  OLD,
  OLD_ENSEMBLE,
  runAccuracyUnits,
  SUITE,
  VARIANTS,
  type AccuracyUnit,
  type RecipeFigures,
} from './accuracy-lib.js';

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
  const linear = selectNames(process.env['POLARCAD_SUITE_LINEAR'], LINEAR_RECIPES, 'POLARCAD_SUITE_LINEAR');
  const variants = selectNames(
    process.env['POLARCAD_SUITE_VARIANTS'],
    VARIANTS.map((v) => v.name),
    'POLARCAD_SUITE_VARIANTS',
  );
  const oldOnly = process.env['POLARCAD_SUITE_OLD'];
  const runsOld = (cohort: string): boolean =>
    oldOnly === undefined || (oldOnly !== '0' && oldOnly.split(',').includes(cohort));
  const units: AccuracyUnit[] = [];
  for (const c of SUITE.filter((s) => only === undefined || only.includes(s.name))) {
    const trainManifest = await ensureCohort(c, 'train', dataDir);
    const testManifest = await ensureCohort(c, 'test', dataDir);
    const ensembleOn = process.env['POLARCAD_SUITE_ENSEMBLE']?.split(',') ?? [];
    const recipes = [
      ...linear,
      ...variants,
      ...(runsOld(c.name) ? [OLD] : []),
      ...(ensembleOn.includes(c.name) ? [OLD_ENSEMBLE] : []),
    ];
    for (const recipe of recipes)
      units.push({ cohort: c.name, recipe, trainManifest, testManifest, dataDir });
  }
  // POLARCAD_QUEUE=redis://HOST:PORT/DB: every unit as a job (docs/queue.md)
  const figs = await runAccuracyUnits(units, process.env['POLARCAD_QUEUE'], (line) =>
    process.stderr.write(`${line}\n`),
  );
  const results = mergeResults(
    previous,
    units.map((u, i) => ({ cohort: u.cohort, recipe: u.recipe, figures: figs[i] })),
  );
  const known = [...LINEAR_RECIPES, ...VARIANTS.map((v) => v.name), OLD, OLD_ENSEMBLE];
  const table = markdownTable(
    results,
    known.filter((r) => Object.values(results).some((c) => c[r] !== undefined)),
  );
  await writeFile(fileURLToPath(new URL('./results/accuracy.md', import.meta.url)), `${table}\n`);
  return { suite: SUITE, testPatients: 400, results, table };
}
