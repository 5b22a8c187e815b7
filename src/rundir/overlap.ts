/**
 * The leak guard of `polarcad evaluate`: a model evaluated on patients it was trained on, or whose
 * epochs, threshold or calibration were chosen on them, gives optimistic figures (the "data
 * leakage" of Kaufman et al. 2012, ACM TKDD 6(4):15; Kapoor & Narayanan 2023, Patterns 4(9)).
 * The run directory records its split (src/rundir/run.ts `readRunPatients`); a manifest patient
 * whose `patient_id` is in the run's training or selection patients is "seen". By default
 * `evaluate` refuses such a manifest, naming how many and which; `--allow-overlap` evaluates them
 * apart from the unseen ones (two rows, a warning).
 */
import { basename } from 'node:path';
import { readRunPatients, type RunPatients } from './run.js';
import { InputError } from '../util/errors.js';

/** How the run used a patient: fitted on (`train`) or chose something on (`selection`). */
export type SeenAs = 'train' | 'selection';

/** The manifest patients a run has seen. */
export interface Overlap {
  /** the run directory whose split was read */
  readonly runDir: string;
  /** seen patients, in manifest order, with how the run used them */
  readonly seen: ReadonlyMap<string, SeenAs>;
  /** patients of the manifest */
  readonly total: number;
  /** the manifest is byte for byte the one the run was trained on (same SHA-256) */
  readonly sameManifest: boolean;
}

/**
 * The patients of `patientIds` that `run` trained or selected on.
 * @example findOverlap(['P1', 'P2'], { runDir: 'r', train: ['P1'], selection: [], test: ['P2'] }).seen // Map { 'P1' => 'train' }
 */
export function findOverlap(
  patientIds: readonly string[],
  run: RunPatients,
  manifestSha256?: string,
): Overlap {
  const train = new Set(run.train);
  const selection = new Set(run.selection);
  const seen = new Map<string, SeenAs>();
  for (const id of patientIds) {
    if (train.has(id)) seen.set(id, 'train');
    else if (selection.has(id)) seen.set(id, 'selection');
  }
  return {
    runDir: run.runDir,
    seen,
    total: patientIds.length,
    sameManifest: manifestSha256 !== undefined && manifestSha256 === run.manifestSha256,
  };
}

const LISTED = 12;

/**
 * One sentence naming how many patients overlap, how the run used them, and which (the first
 * dozen ids).
 * @example overlapSummary(o, 'external/manifest.csv') // "128 of 160 patients of manifest.csv ..."
 */
export function overlapSummary(o: Overlap, manifestPath: string): string {
  const ids = [...o.seen.keys()];
  const nTrain = [...o.seen.values()].filter((s) => s === 'train').length;
  const nSel = ids.length - nTrain;
  const how = [
    nTrain > 0 ? `${nTrain} trained on` : '',
    nSel > 0 ? `${nSel} used to select epochs, threshold or calibration` : '',
  ]
    .filter((s) => s !== '')
    .join(', ');
  const list =
    ids.slice(0, LISTED).join(', ') + (ids.length > LISTED ? `, ... (${ids.length - LISTED} more)` : '');
  return `${ids.length} of ${o.total} patients of ${basename(manifestPath)} were seen by the run ${basename(o.runDir)} (${how})${o.sameManifest ? '; it is the very manifest the run was trained on' : ''}: ${list}`;
}

/**
 * The leak guard (see the module comment): reads the run's split and refuses a manifest with seen
 * patients unless `allowOverlap`. Returns the overlap (possibly empty), or null when the model has
 * no run directory or the run records no split (nothing to check against).
 * @example const o = await guardOverlap(run, manifest, { allowOverlap: false }); // throws when seen
 * @throws InputError naming the manifest, how many patients and which
 */
export async function guardOverlap(
  runDir: string | null,
  manifest: {
    readonly path: string;
    readonly sha256: string;
    readonly rows: readonly { patientId: string }[];
  },
  opts: { readonly allowOverlap?: boolean },
): Promise<Overlap | null> {
  if (runDir === null) return null;
  const run = await readRunPatients(runDir);
  if (run === null) return null;
  const o = findOverlap(
    manifest.rows.map((r) => r.patientId),
    run,
    manifest.sha256,
  );
  if (o.seen.size > 0 && opts.allowOverlap !== true)
    throw new InputError(
      `${manifest.path}: ${overlapSummary(o, manifest.path)}. Figures on them would be optimistic: evaluate on patients the run never saw, or give --allow-overlap to report them apart`,
    );
  return o;
}
