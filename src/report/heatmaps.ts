/**
 * Grad-CAM heatmaps (Selvaraju et al. 2017) of a `polarcad train` run's test patients for the
 * report's grid over true/false positives/negatives (Hai et al. 2022 show such maps, Fig. 5).
 * Explains through `Explainer` (src/explain), exactly as `predict` does, for every input mode
 * (single views and tiles), with the run's operating threshold (metrics.json `threshold`).
 * Writes RUN/heatmaps/<id>.png and RUN/heatmaps/index.json
 * (`{ items: [{ id, outcome, prob, file, caption }] }`), which `loadReportData` reads.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { isImage, layoutOf } from '../domain/input-mode.js';
import { Explainer, explainInfoFrom } from '../explain/index.js';
import { blendHeatmap, discMask, toDisplaySize } from '../explain/overlay.js';
import { rowSource } from '../ingest/input-source.js';
import { loadManifest } from '../ingest/manifest.js';
import { tile2x2 } from '../ingest/preprocess.js';
import { runFile } from '../rundir/files.js';
import { openSavedModel } from '../rundir/model.js';
import { readRunConfig, readRunJson } from '../rundir/run.js';
import { readPredictions } from '../rundir/tables.js';
import { InputError } from '../util/errors.js';
import { fileStem } from './figures.js';

/** Options of {@link writeRunHeatmaps}. */
export interface RunHeatmapOptions {
  /** patients per outcome (TP, FP, FN, TN), the most confident first (default 2) */
  readonly perOutcome?: number;
  /** side of each overlay in pixels (default 192) */
  readonly size?: number;
  readonly threshold?: number;
}

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
 * Heatmaps of up to `perOutcome` test patients per outcome of the run in `runDir`, through
 * `Explainer` (Grad-CAM, Selvaraju et al. 2017) at the run's threshold. Returns the number written.
 * @throws InputError when the run has no verified model, manifest or predictions
 * @example await writeRunHeatmaps('runs/mnv2', { perOutcome: 2 })
 */
export async function writeRunHeatmaps(runDir: string, opts: RunHeatmapOptions = {}): Promise<number> {
  const per = opts.perOutcome ?? 2;
  const S = opts.size ?? 192;
  const metrics = await readRunJson(runDir, 'metrics');
  const t = opts.threshold ?? (typeof metrics?.threshold === 'number' ? metrics.threshold : 0.5);
  const manifestPath = (await readRunConfig(runDir))?.resolved?.manifest?.path;
  if (manifestPath === undefined)
    throw new InputError(`${runFile(runDir, 'config')}: no training manifest recorded`);
  const chosen = choosePatients(await readPredictions(runFile(runDir, 'predictions')), t, per);
  const manifest = await loadManifest(manifestPath, { checkFiles: false });
  const rowOf = new Map(manifest.rows.map((r) => [r.patientId, r]));
  const { model, info } = await openSavedModel(runDir);
  const input = info.input ?? 'stress_ac';
  const layout = layoutOf(input);
  const dir = runFile(runDir, 'heatmaps');
  await mkdir(dir, { recursive: true });
  const items: { id: string; outcome: string; prob: number; file: string; caption: string }[] = [];
  const explainInfo = explainInfoFrom({ ...info, layout });
  try {
    const explainer = await Explainer.create(model, explainInfo);
    try {
      const mask = discMask(S, layout);
      const ctx = { manifestPath, command: 'evaluate' as const, requiredBy: `the model's input ${input}` };
      for (const p of chosen) {
        const row = rowOf.get(p.id);
        if (row === undefined) continue;
        const src = await rowSource(row, input, ctx);
        const e = await explainer.explain(src, { method: 'gradcam', displaySize: S });
        const shown = toDisplaySize(isImage(src) ? src : tile2x2(src, S), S);
        const over = blendHeatmap(shown, e.heatmapOnMap.data, mask);
        const file = `${fileStem(p.id)}.png`;
        await writeFile(
          join(dir, file),
          await sharp(Buffer.from(over.data), { raw: { width: S, height: S, channels: 3 } })
            .png()
            .toBuffer(),
        );
        items.push({
          id: p.id,
          outcome: p.outcome,
          prob: p.prob,
          file,
          caption: `${p.label === 1 ? 'CAD' : 'normal'} patient`,
        });
      }
    } finally {
      await explainer.dispose();
    }
  } finally {
    model.dispose();
  }
  await writeFile(
    join(dir, 'index.json'),
    `${JSON.stringify({ method: 'Grad-CAM (Selvaraju et al. 2017), CAD class, at the CAM layer', camLayer: explainInfo.camLayer, threshold: t, items }, null, 2)}\n`,
  );
  return items.length;
}
