/**
 * Heatmaps of a `polarcad train` run's test patients for the report's grid over true/false
 * positives/negatives (Hai et al. 2022 show such maps, Fig. 5), for every run, of either kind: made
 * by the prediction pipeline of `predict` and `serve` (src/predict/study.ts), so the report, the
 * command line and the page show one picture and one sentence per study. `writeReport` makes them
 * in memory when a run has none; `writeRunHeatmaps` writes RUN/heatmaps/<id>.png and
 * RUN/heatmaps/index.json (`{ items: [{ id, outcome, prob, file, caption }] }`) for the demo.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { discMask, EVIDENCE_LEGEND, renderOverlayFigure } from '../explain/overlay.js';
import type { StudyFile } from '../predict/inputs.js';
import { studiesOfManifest, studyInput } from '../predict/studies.js';
import { loadPredictor } from '../predict/predictor.js';
import { predictStudy } from '../predict/study.js';
import { runFile } from '../rundir/files.js';
import { readPredictions } from '../rundir/tables.js';
import { InputError } from '../util/errors.js';
import { readJsonObject } from '../util/fs.js';
import type { HeatmapItem } from './data.js';
import { fileStem } from './figures.js';

type Outcome = 'TP' | 'FP' | 'FN' | 'TN';

/** Up to `per` test patients per outcome at threshold `t`, the most confident first. */
function choosePatients(
  preds: readonly { id: string; label: number; prob: number }[],
  t: number,
  per: number,
): { id: string; label: number; prob: number; outcome: Outcome }[] {
  const outcome = (l: number, p: number): Outcome =>
    l === 1 ? (p >= t ? 'TP' : 'FN') : p >= t ? 'FP' : 'TN';
  return (['TP', 'FP', 'FN', 'TN'] as const).flatMap((k) =>
    preds
      .filter((p) => outcome(p.label, p.prob) === k)
      .sort((a, b) => Math.abs(b.prob - t) - Math.abs(a.prob - t))
      .slice(0, per)
      .map((p) => ({ ...p, outcome: k })),
  );
}

/**
 * Write the heatmaps of {@link runHeatmapItems} into RUN/heatmaps/ (`<id>.png` and `index.json`),
 * which `loadReportData` reads. Returns the number written.
 * @example await writeRunHeatmaps('runs/mnv2', { perOutcome: 2 })
 */
export async function writeRunHeatmaps(
  runDir: string,
  opts: { readonly perOutcome?: number } = {},
): Promise<number> {
  const items = await runHeatmapItems(runDir, opts);
  const dir = runFile(runDir, 'heatmaps');
  await mkdir(dir, { recursive: true });
  const index = [];
  for (const it of items) {
    const file = `${fileStem(it.id)}.png`;
    await writeFile(join(dir, file), it.png);
    index.push({ id: it.id, outcome: it.outcome, prob: it.prob, file, caption: it.caption });
  }
  await writeFile(
    join(dir, 'index.json'),
    `${JSON.stringify({ method: 'the explanation of polarcad predict (Grad-CAM / CAM of the CAD class, or the segment evidence of a closed-form model)', items: index }, null, 2)}\n`,
  );
  return items.length;
}

/** The manifest holding a run's test patients: a separate test manifest, else the training one. */
async function testManifestOf(runDir: string): Promise<string> {
  const cfg = await readJsonObject(runFile(runDir, 'config'));
  const o = (v: unknown): Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  const options = o(cfg.options);
  const resolved = o(cfg.resolved);
  const path = [options.testManifest, o(resolved.manifest).path, options.manifest].find(
    (x): x is string => typeof x === 'string' && x !== '',
  );
  if (path === undefined) throw new InputError(`${runFile(runDir, 'config')}: no manifest recorded`);
  return path;
}

/**
 * Heatmaps of a `polarcad train` run's test patients, of either kind (a CNN: Grad-CAM or CAM,
 * Selvaraju et al. 2017; a closed-form run: its exact segment evidence for CAD,
 * src/predict/linear-study.ts), made in memory by the prediction pipeline that `predict` and
 * `serve` use (`predictStudy`), so the report shows what a reader would see: the same fixed colour
 * scale (a confident normal study looks quiet), one panel per disc of a multi-view model, and the
 * caption is the result's sentence, read from the same raster as the picture. Up to
 * `perOutcome` patients per outcome (TP, FP, FN, TN), the most confident first.
 * @throws InputError when the run has no verified model, no recorded manifest, or no patient's maps can be read
 * @example const items = await runHeatmapItems('runs/hybrid', { perOutcome: 2 });
 */
export async function runHeatmapItems(
  runDir: string,
  opts: { perOutcome?: number } = {},
): Promise<HeatmapItem[]> {
  const manifestPath = await testManifestOf(runDir);
  const predictor = await loadPredictor(runDir, { threads: 1 });
  const items: HeatmapItem[] = [];
  try {
    const preds = await readPredictions(runFile(runDir, 'predictions'));
    const chosen = choosePatients(preds, predictor.threshold, opts.perOutcome ?? 2);
    // the studies as `polarcad predict --manifest` reads them (files, views, sex, clinical values)
    const specs = new Map((await studiesOfManifest(manifestPath)).map((x) => [x.study, x]));
    for (const p of chosen) {
      const spec = specs.get(p.id);
      if (spec === undefined) continue;
      const files: StudyFile[] = await Promise.all(
        spec.files.map(async (f) => ({
          bytes: new Uint8Array(await readFile(f.path)),
          name: f.path,
          ...(f.view !== undefined ? { view: f.view } : {}),
        })),
      );
      const { result, images } = await predictStudy(predictor, await studyInput(spec, files), {
        study: p.id,
        ...(spec.sex !== undefined ? { sex: spec.sex } : {}),
        clinical: spec.clinical,
      });
      const titles = {
        originalTitle: images.layout === 'image' ? 'Polar map' : 'Polar maps',
        overlayTitle:
          predictor.linear !== null
            ? 'Evidence for CAD per segment (fixed scale)'
            : `${predictor.card.explanation}, CAD class`,
        ...(predictor.linear === null ? { legendLabel: EVIDENCE_LEGEND } : {}),
      };
      const fig = await renderOverlayFigure(
        images.display,
        images.heatmap,
        discMask(images.size, images.layout, 1),
        titles,
        { layout: images.layout },
      );
      items.push({
        id: p.id,
        outcome: p.outcome,
        prob: result.probability,
        png: fig.png,
        caption: `${p.label === 1 ? 'CAD' : 'normal'} patient. ${result.sentence}`,
      });
    }
  } finally {
    await predictor.dispose();
  }
  if (items.length === 0)
    throw new InputError(`${manifestPath}: no test patient of ${runDir} has the maps the model reads`);
  return items;
}
