/**
 * `polarcad evaluate RUN MANIFEST` for a closed-form model (`train --model hybrid|...`): the
 * saved model (verified by src/rundir/linear.ts) predicts every patient of a labelled manifest of
 * prepared crops; metrics with 95% intervals are written like any evaluation
 * (`writeEvaluation`), with the baselines the run saved beside the model (segment and pixel
 * logistic regression fitted on the same training patients) and paired DeLong/McNemar tests on
 * the same new patients. A closed-form model has no validation patients, so `--sensitivity`
 * (a threshold chosen on them) is refused; give `--threshold`.
 */
import { readdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { RgbImage } from '../domain/image.js';
import type { Label, View } from '../domain/views.js';
import { guardOverlap } from '../rundir/overlap.js';
import { subgroupColumns } from '../evaluate/subgroups.js';
import { writeEvaluation, type EvaluateOptions, type EvaluateResult } from './evaluate.js';
import { clinicalOfRow, loadManifest } from '../ingest/manifest.js';
import { readImage } from '../ingest/readers.js';
import { RECIPE_DESCRIPTIONS, type PolarModelPredictor } from '../models/linear/polar-model.js';
import { baselineDir, RUN_FILES } from '../rundir/files.js';
import { openLinearModel } from '../rundir/linear.js';
import { InputError } from '../util/errors.js';

/** Patients predicted per call (bounds the memory of the crops held at once). */
const BATCH = 32;

/**
 * Evaluate a closed-form model on a labelled manifest of prepared crops.
 * @example await evaluateLinear('runs/hybrid', 'external/manifest.csv', { out: 'eval' });
 */
export async function evaluateLinear(
  modelPath: string,
  manifestPath: string,
  opts: EvaluateOptions,
): Promise<EvaluateResult> {
  if (opts.sensitivity !== undefined)
    throw new InputError(
      '--sensitivity chooses the threshold on validation patients, which a closed-form model does not have (its choices are cross-validated): give --threshold',
    );
  if (opts.threshold !== undefined && !(opts.threshold >= 0 && opts.threshold <= 1))
    throw new InputError(`--threshold must be in [0, 1], got ${opts.threshold}`);
  const manifest = await loadManifest(manifestPath, { requireLabels: true, requireBothClasses: true });
  subgroupColumns(manifest, opts.by); // a bad --by fails before inference
  const opened = await openLinearModel(modelPath);
  const model = opened.predictor.model;
  const probs: number[] = [];
  let overlap: Awaited<ReturnType<typeof guardOverlap>> = null;
  const baselines: OpenedBaseline[] = [];
  try {
    baselines.push(...(await openBaselines(opened.runDir)));
    overlap = await guardOverlap(opened.runDir, manifest, opts);
    for (let start = 0; start < manifest.rows.length; start += BATCH) {
      const part = manifest.rows.slice(start, start + BATCH);
      const crops: Partial<Record<View, RgbImage>>[] = [];
      for (const row of part) {
        const c: Partial<Record<View, RgbImage>> = {};
        for (const v of model.views as View[]) {
          const p = row.views[v];
          if (p === undefined)
            throw new InputError(
              `${manifest.path}: row ${row.row} (patient ${row.patientId}): column ${v} is empty; the model reads ${model.views.join(', ')}`,
            );
          c[v] = await readImage(p);
        }
        crops.push(c);
      }
      const clinical = part.map(clinicalOfRow);
      for (const r of await opened.predictor.predict(crops, clinical)) probs.push(r.probability);
      for (const b of baselines)
        for (const r of await b.predictor.predict(crops, clinical)) b.probs.push(r.probability);
      opts.onProgress?.('evaluate', Math.min(manifest.rows.length, start + BATCH), manifest.rows.length);
    }
  } finally {
    await opened.predictor.dispose();
    for (const b of baselines) await b.predictor.dispose();
  }
  const threshold = {
    value: opts.threshold ?? 0.5,
    rule: opts.threshold !== undefined ? `fixed at ${opts.threshold}` : 'default 0.5',
  };
  return writeEvaluation(
    manifest,
    manifest.rows.map((r) => r.label as Label),
    probs,
    threshold,
    opts,
    {
      name: model.recipe,
      description: `${model.recipe}: ${RECIPE_DESCRIPTIONS[model.recipe]}${opened.runDir ? ` (run ${basename(opened.runDir)})` : ''}`,
      info: {
        model: resolve(modelPath),
        run: opened.runDir,
        inference: 'closed-form model (model/linear-model.json, checksum and self-check verified)',
        recipe: model.recipe,
        views: model.views,
      },
      overlap,
      beside: baselines.map((b) => ({
        name: b.name,
        description: b.description,
        probs: b.probs,
      })),
    },
  );
}

interface OpenedBaseline {
  readonly name: string;
  readonly description: string;
  readonly predictor: PolarModelPredictor;
  readonly probs: number[];
}

/**
 * The baselines a closed-form run saved beside its model (RUN/baselines/NAME/), each verified
 * like the model (checksum, self-check); none for a model folder given without its run.
 */
async function openBaselines(runDir: string | null): Promise<OpenedBaseline[]> {
  if (runDir === null) return [];
  const names = await readdir(join(runDir, RUN_FILES.baselines)).catch(() => [] as string[]);
  const out: OpenedBaseline[] = [];
  try {
    for (const name of names.sort()) {
      const { predictor } = await openLinearModel(baselineDir(runDir, name));
      const recipe = predictor.model.recipe;
      out.push({
        name,
        description:
          name === recipe
            ? `${recipe}: ${RECIPE_DESCRIPTIONS[recipe]}`
            : `${name}: ${recipe} fitted on the same training patients`,
        predictor,
        probs: [],
      });
    }
  } catch (e) {
    for (const b of out) await b.predictor.dispose();
    throw e;
  }
  return out;
}
