/**
 * From a manifest to the trainer's {@link Example}s for the experiments and `polarcad tune`, with
 * the input variants of the two papers:
 * - 'stress_ac': the stress attenuation-corrected map alone (Hai et al. 2022);
 * - 'tile2x2': the four maps tiled 2x2, AC top, NAC bottom (Apostolopoulos et al. 2020);
 * - 'ac' / 'nac': the stress/rest pair of one correction in both rows of the 2x2 tile
 *   (Apostolopoulos et al.'s AC-only and NAC-only inputs at the same geometry; the meaning of
 *   `src/domain/input-mode.ts`, shared with train, evaluate and predict).
 * Images are read lazily (only when their features are not cached); the cache key is the sha256
 * of the files' bytes (plus the input variant). The manifest is normally the output of
 * `polarcad prepare` (square disc crops); any square image works.
 *
 * Splits follow Hai et al.'s protocol: a stratified, seeded 80/20 patient split, then a stratified
 * validation part carved from the 80% for selection; test patients are kept apart and never
 * handed to tuning or epoch selection.
 */
import { createHash } from 'node:crypto';
import {
  INPUT_MODE_SPECS,
  type FeatureSource,
  type InputMode,
  type PatientViews,
} from '../domain/input-mode.js';
import type { Label, View } from '../domain/views.js';
import { balanceByAugmentation } from '../ingest/augment.js';
import { hashFile, loadManifest, type Manifest } from '../ingest/manifest.js';
import { readImage } from '../ingest/readers.js';
import { carveValidation, stratifiedHoldout } from '../ingest/splits.js';
import { InputErrors } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import type { Example } from './trainer.js';

/** The input modes the experiments compare (definitions: `src/domain/input-mode.ts`). */
export const INPUT_KINDS = ['stress_ac', 'tile2x2', 'ac', 'nac'] as const satisfies readonly InputMode[];
export type InputKind = (typeof INPUT_KINDS)[number];

/** One labelled patient and the original (unrotated) example of it. */
export interface Patient {
  readonly id: string;
  readonly label: Label;
  readonly example: Example;
}

/** A loaded study for experiments. */
export interface ExperimentData {
  readonly manifest: Manifest;
  readonly input: InputKind;
  readonly patients: readonly Patient[];
}

async function loadSource(paths: Partial<Record<View, string>>, kind: InputKind): Promise<FeatureSource> {
  const spec = INPUT_MODE_SPECS[kind];
  const maps: PatientViews = {};
  for (const v of spec.views) maps[v] = await readImage(paths[v] as string);
  return spec.arrange(maps);
}

/** Cache-key tag of a mode ('ac' / 'nac' changed meaning: black second row -> the pair repeated). */
const keyTag = (kind: InputKind): string =>
  kind === 'ac' || kind === 'nac' ? `${kind}:pair-both-rows` : kind;

/**
 * Load the labelled patients of `manifestPath` for input `kind`. Every row needs a label and the
 * views of the input (every problem reported at once).
 */
export async function loadExperimentData(manifestPath: string, kind: InputKind): Promise<ExperimentData> {
  const manifest = await loadManifest(manifestPath, { requireLabels: true, requireBothClasses: true });
  const views = INPUT_MODE_SPECS[kind].views;
  const problems: string[] = [];
  for (const r of manifest.rows) {
    if (r.page !== undefined)
      problems.push(
        `row ${r.row} (${r.patientId}): an export page; run \`polarcad prepare\` first to cut the maps out`,
      );
    const missing = views.filter((v) => r.views[v] === undefined);
    if (missing.length > 0)
      problems.push(
        `row ${r.row} (${r.patientId}): no ${missing.join(', ')} image (needed by --input ${kind})`,
      );
  }
  if (problems.length > 0)
    throw new InputErrors(`${manifest.path}: cannot use this manifest with --input ${kind}`, problems);
  const patients: Patient[] = [];
  for (const r of manifest.rows) {
    const paths = r.views;
    const h = createHash('sha256').update(`input:${keyTag(kind)};`);
    for (const v of views) h.update(`${v}:${await hashFile(paths[v] as string)};`);
    const label = r.label as Label;
    patients.push({
      id: r.patientId,
      label,
      example: {
        id: r.patientId,
        label,
        angle: 0,
        key: h.digest('hex'),
        load: () => loadSource(paths, kind),
      },
    });
  }
  return { manifest, input: kind, patients };
}

/** Patient ids of the three parts. */
export interface ExperimentSplit {
  readonly train: string[];
  readonly validation: string[];
  readonly test: string[];
}

/**
 * Hai et al.'s protocol: stratified `testFraction` (default 0.2) test part, then `validationFraction`
 * (default 0.2) of the rest as validation, both seeded.
 */
export function splitPatients(
  patients: readonly Patient[],
  seed: number | string,
  opts: { testFraction?: number; validationFraction?: number } = {},
): ExperimentSplit {
  const items = patients.map((p) => ({ id: p.id, label: p.label }));
  const outer = stratifiedHoldout(items, { testFraction: opts.testFraction ?? 0.2, seed });
  const labels = new Map(items.map((p) => [p.id, p.label]));
  const inner = carveValidation(outer.train, labels, { fraction: opts.validationFraction ?? 0.2, seed });
  return { train: inner.train, validation: inner.validation, test: outer.test };
}

/**
 * Training examples of `ids`: the originals, plus rotated copies balancing the classes to
 * `augmentTo` items when given (Apostolopoulos et al. 2020, `balanceByAugmentation`).
 */
export function trainingExamples(
  patients: readonly Patient[],
  ids: readonly string[],
  augmentTo: number | undefined,
  rng: Rng,
): Example[] {
  const byId = new Map(patients.map((p) => [p.id, p]));
  const chosen = ids.map((id) => {
    const p = byId.get(id);
    if (p === undefined) throw new Error(`internal: unknown patient ${id}`);
    return p;
  });
  if (augmentTo === undefined || augmentTo <= 0) return chosen.map((p) => p.example);
  return balanceByAugmentation(chosen, augmentTo, rng).map((a) => {
    const ex = (byId.get(a.id) as Patient).example;
    return { ...ex, angle: a.angle };
  });
}

/** The original examples of `ids` (validation and test parts: never augmented). */
export function examplesOf(patients: readonly Patient[], ids: readonly string[]): Example[] {
  return trainingExamples(patients, ids, undefined, new Rng(0));
}
