/**
 * Grad-CAM heatmaps (Selvaraju et al. 2017) of a `polarcad train` run's test patients for the
 * report's grid over true/false positives/negatives (Hai et al. 2022 show such maps, Fig. 5).
 * Uses the explanation module (src/explain: `splitAtLayer`, `gradCam`, `heatmapOnMap`,
 * `blendHeatmap`): the backbone up to the CAM layer runs in ONNX Runtime, the head's gradient in
 * tfjs. Writes RUN/heatmaps/<id>.png and RUN/heatmaps/index.json
 * (`{ items: [{ id, outcome, prob, file, caption }] }`), which `loadReportData` reads.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { initBackend } from '../engine/backend.js';
import { prepareInput, type InputLayout } from '../engine/features.js';
import { OnnxModel } from '../engine/onnx/session.js';
import { gradCam, splitAtLayer } from '../explain/cam.js';
import { blendHeatmap, discMask, heatmapOnMap, toDisplaySize } from '../explain/overlay.js';
import { isView } from '../domain/views.js';
import { loadManifest } from '../ingest/manifest.js';
import type { ScalingMode } from '../models/scaling.js';
import { readImage } from '../ingest/readers.js';
import '../models/layers/keras-layers.js';
import { loadTfjsFolder } from '../models/weights/tfjs-folder.js';
import { InputError } from '../util/errors.js';
import { readPredictions } from './data.js';
import { fileStem } from './figures.js';

/** Options of {@link writeRunHeatmaps}. */
export interface RunHeatmapOptions {
  /** patients per outcome (TP, FP, FN, TN), the most confident first (default 2) */
  readonly perOutcome?: number;
  /** side of each overlay in pixels (default 192) */
  readonly size?: number;
  readonly threshold?: number;
}

/**
 * Heatmaps of up to `perOutcome` test patients per outcome of the run in `runDir` (single-view
 * inputs only). Returns the number written.
 * @throws InputError when the run has no model, manifest or a multi-view input
 */
export async function writeRunHeatmaps(runDir: string, opts: RunHeatmapOptions = {}): Promise<number> {
  const per = opts.perOutcome ?? 2;
  const S = opts.size ?? 192;
  const t = opts.threshold ?? 0.5;
  const info = JSON.parse(await readFile(join(runDir, 'model', 'polarcad.json'), 'utf8')) as {
    camLayer: string;
    inputSize: number;
    scaling: ScalingMode;
    input: string;
  };
  const cfg = JSON.parse(await readFile(join(runDir, 'config.json'), 'utf8')) as {
    resolved: { manifest: { path: string } };
  };
  if (!isView(info.input))
    throw new InputError(
      `${runDir}: heatmaps are drawn for single-view inputs; this model's input is ${info.input}`,
    );
  const view = info.input;
  const preds = await readPredictions(join(runDir, 'predictions.csv'));
  const outcome = (l: number, p: number): 'TP' | 'FP' | 'FN' | 'TN' =>
    l === 1 ? (p >= t ? 'TP' : 'FN') : p >= t ? 'FP' : 'TN';
  const chosen = (['TP', 'FP', 'FN', 'TN'] as const).flatMap((k) =>
    preds
      .filter((p) => outcome(p.label, p.prob) === k)
      .sort((a, b) => Math.abs(b.prob - t) - Math.abs(a.prob - t))
      .slice(0, per)
      .map((p) => ({ ...p, outcome: k })),
  );
  const manifest = await loadManifest(cfg.resolved.manifest.path, { checkFiles: false });
  const rowOf = new Map(manifest.rows.map((r) => [r.patientId, r]));
  await initBackend('wasm');
  const model = await loadTfjsFolder(join(runDir, 'model'));
  const dir = join(runDir, 'heatmaps');
  await mkdir(dir, { recursive: true });
  const items: { id: string; outcome: string; prob: number; file: string; caption: string }[] = [];
  try {
    const split = splitAtLayer(model, info.camLayer);
    const session = await OnnxModel.create(split.exportBackbone());
    try {
      const n = info.inputSize;
      const layout: InputLayout = 'image';
      const mask = discMask(S, 'image');
      for (const p of chosen) {
        const path = rowOf.get(p.id)?.views[view];
        if (path === undefined) continue;
        const img = await readImage(path);
        const res = await session.run(prepareInput(img, 0, layout, n, info.scaling), [1, n, n, 3]);
        const fm = res[session.outputNames[0]];
        const g = gradCam(Float32Array.from(fm.data), split.head, 1);
        const heat = heatmapOnMap(g.map, g.height, g.width, S, mask);
        const over = blendHeatmap(toDisplaySize(img, S), heat, mask);
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
      await session.dispose();
    }
  } finally {
    model.dispose();
  }
  await writeFile(
    join(dir, 'index.json'),
    `${JSON.stringify({ method: 'Grad-CAM (Selvaraju et al. 2017), CAD class, at the CAM layer', camLayer: info.camLayer, threshold: t, items }, null, 2)}\n`,
  );
  return items.length;
}
