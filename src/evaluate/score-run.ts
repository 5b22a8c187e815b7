/**
 * `polarcad score` end to end: load the manifest, read every study's segment uptake
 * (`readStudies`), run the semi-quantitative baseline (`runSemiquant`) and write, atomically,
 *   OUT/scores.csv       one row per patient (columns: `SCORES_CSV_COLUMNS`)
 *   OUT/metrics.json     `MetricsFile` of the rules and continuous scores (`MetricsRow`s)
 *   OUT/score.json       how: input kind, colour map (and whether recognised), split, and the
 *                        ids of the normal patients each database was fitted on
 *   OUT/normal-db.json   the normal database used (hold-out, all-train, or the given one);
 *                        with `cv`, OUT/normal-db/fold-NN.json, one per fold
 * and optionally a copy of the fitted database elsewhere (`saveNormalDb`).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify } from '../util/csv.js';
import { LABEL_NAMES } from '../domain/views.js';
import { loadManifest } from '../ingest/manifest.js';
import type { Colormap } from '../polarmap/colormaps.js';
import { N_SEGMENTS } from '../polarmap/geometry.js';
import {
  normalDatabaseToJson,
  normalDbColormapWarning,
  saveNormalDatabase,
  type NormalDatabase,
} from '../polarmap/normal-database.js';
import type { StudyScoring } from '../polarmap/scoring.js';
import { VESSELS } from '../polarmap/territories.js';
import { writeDirAtomic } from '../util/atomic.js';
import { InputError } from '../util/errors.js';
import { type MetricsFile, metricsFile } from './metrics-row.js';
import {
  CORRECTIONS,
  type PatientScore,
  type SemiquantOptions,
  type SemiquantResult,
  runSemiquant,
} from './semiquant.js';
import { type ScoreInput, readStudies } from './semiquant-read.js';

const PER_CORRECTION = [
  'sss',
  'srs',
  'sds',
  'sds_segmental',
  'percent_stress',
  'percent_rest',
  'percent_ischaemic',
  'tpd_stress',
  'tpd_rest',
  ...VESSELS.flatMap((v) => [`${v.toLowerCase()}_stress`, `${v.toLowerCase()}_rest`]),
  'rule_sss4',
  'rule_apostolopoulos',
  'unscored',
  'stratum_stress',
  'stratum_rest',
  ...['stress', 'rest'].flatMap((st) => Array.from({ length: N_SEGMENTS }, (_, k) => `${st}_s${k + 1}`)),
] as const;

/**
 * Columns of scores.csv: `patient_id, label, sex, split, fold`, then for `ac` and `nac` each of
 * SSS, SRS, SDS (= SSS - SRS), segmental SDS, percent myocardium (stress, rest, ischaemic),
 * stress and rest TPD (percent), LAD/LCx/RCA summed stress and rest scores, the two rules
 * (1 = CAD), unscored segment count, the normal-database strata used and the 17 stress and 17
 * rest segment scores (`_ac` / `_nac` suffix). Empty cells when the patient lacks that correction.
 */
export const SCORES_CSV_COLUMNS: readonly string[] = [
  'patient_id',
  'label',
  'sex',
  'split',
  'fold',
  ...CORRECTIONS.flatMap((c) => PER_CORRECTION.map((k) => `${k}_${c.toLowerCase()}`)),
];

const r4 = (x: number): string => (Number.isFinite(x) ? String(Math.round(x * 1e4) / 1e4) : '');

function stratumName(s: { correction: string | null; sex: string | null }, fallback: boolean): string {
  return `${s.correction ?? 'any'}/${s.sex ?? 'any'}${fallback ? ' (fallback)' : ''}`;
}

function correctionCells(s: StudyScoring | null): string[] {
  if (s === null) return PER_CORRECTION.map(() => '');
  const t = s.territories;
  return [
    String(s.sss),
    String(s.srs),
    String(s.sds),
    String(s.sdsSegmental),
    r4(s.percent.stress),
    r4(s.percent.rest),
    r4(s.percent.ischaemic),
    r4(s.stress.deficit),
    r4(s.rest.deficit),
    ...VESSELS.flatMap((v) => [String(t.stress[v]), String(t.rest[v])]),
    s.rules.sss4 ? '1' : '0',
    s.rules.apostolopoulos ? '1' : '0',
    String(s.stress.unscored + s.rest.unscored),
    stratumName(s.stress.limits.stratum, s.stress.limits.fallback),
    stratumName(s.rest.limits.stratum, s.rest.limits.fallback),
    ...Array.from(s.stress.scores, String),
    ...Array.from(s.rest.scores, String),
  ];
}

/** scores.csv text (header `SCORES_CSV_COLUMNS`). */
export function scoresToCsv(patients: readonly PatientScore[]): string {
  return stringify([
    SCORES_CSV_COLUMNS,
    ...patients.map((p) => [
      p.id,
      LABEL_NAMES[p.label],
      p.sex ?? '',
      p.split,
      p.fold === null ? '' : String(p.fold),
      ...CORRECTIONS.flatMap((c) => correctionCells(p[c])),
    ]),
  ]);
}

export interface ScoreManifestOptions extends SemiquantOptions {
  /** output folder (replaced only on success) */
  readonly out: string;
  readonly colormap?: Colormap;
  readonly input?: ScoreInput;
  /** also write the fitted normal database here (hold-out and all-train only) */
  readonly saveNormalDb?: string;
  /** crop size for raw exports (default 256) */
  readonly size?: number;
  readonly maxPixels?: number;
  /** refuse a given normal database fitted in another colour map (default: warn) */
  readonly strict?: boolean;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface ScoreManifestResult extends SemiquantResult {
  readonly out: string;
  readonly metricsFile: MetricsFile;
  readonly colormap: {
    readonly name: string;
    readonly recognised: boolean;
    /** given (--colormap), prepared (prepare's report.json) or recognised */
    readonly source: 'given' | 'prepared' | 'recognised';
    readonly coverage: number | null;
    /** why the recognised colour map is unsure, or null */
    readonly doubt: string | null;
    /** a given normal database fitted in another colour map (`normalDbColormapWarning`), or null */
    readonly normalDbWarning: string | null;
  };
  readonly raw: boolean;
}

/**
 * `polarcad score`: see the module comment.
 * @throws InputError (or InputErrors) for a bad manifest, unreadable images, one class only,
 *   too few normals, or `saveNormalDb` with `cv`
 */
export async function scoreManifest(
  manifestPath: string,
  opts: ScoreManifestOptions,
): Promise<ScoreManifestResult> {
  if (opts.saveNormalDb !== undefined && opts.split === 'cv') {
    throw new InputError(
      '--save-normal-db needs --split holdout or all-train (cv fits one database per fold; they are in OUT/normal-db/)',
    );
  }
  const manifest = await loadManifest(manifestPath, { requireLabels: true, requireBothClasses: true });
  const reading = await readStudies(manifest, {
    colormap: opts.colormap,
    input: opts.input,
    size: opts.size,
    maxPixels: opts.maxPixels,
    onProgress: opts.onProgress,
  });
  const normalDbWarning =
    opts.normalDb === undefined ? null : normalDbColormapWarning(opts.normalDb, reading.colormap);
  if (normalDbWarning !== null && opts.strict === true)
    throw new InputError(`${normalDbWarning}; refused (strict)`);
  const result = runSemiquant(reading.studies, opts);
  const file = metricsFile({
    command: 'score',
    manifest: { path: manifest.path, sha256: manifest.sha256 },
    protocol: result.split,
    seed: result.seed,
    rows: result.metrics,
  });
  const colormap = {
    name: reading.colormap,
    recognised: reading.recognised,
    source: reading.source,
    coverage: reading.coverage,
    doubt: reading.doubt,
    normalDbWarning,
  };
  // the normal database records the colour map its normals were read with (a given one keeps its own)
  const stamp = (db: NormalDatabase): NormalDatabase => ({
    ...db,
    colormap: db.colormap ?? reading.colormap,
  });
  const out = resolve(opts.out);
  await writeDirAtomic(out, 'score', async (tmp) => {
    await writeFile(join(tmp, 'scores.csv'), scoresToCsv(result.patients));
    await writeFile(join(tmp, 'metrics.json'), `${JSON.stringify(file, null, 2)}\n`);
    const info = {
      manifest: { path: manifest.path, sha256: manifest.sha256 },
      input: reading.raw ? 'raw' : 'prepared',
      colormap,
      split: result.split,
      seed: result.seed,
      evaluatedOn: result.evaluatedOn,
      patients: {
        total: result.patients.length,
        evaluated: result.patients.filter((p) => p.split === 'test').length,
      },
      normalDatabases: result.databases.map((d) => ({
        fold: d.fold,
        given: opts.normalDb !== undefined,
        normalIds: d.normalIds,
      })),
    };
    await writeFile(join(tmp, 'score.json'), `${JSON.stringify(info, null, 2)}\n`);
    if (result.split === 'cv' && opts.normalDb === undefined) {
      await mkdir(join(tmp, 'normal-db'));
      for (const d of result.databases) {
        await writeFile(
          join(tmp, 'normal-db', `fold-${String(d.fold).padStart(2, '0')}.json`),
          normalDatabaseToJson(stamp(d.db)),
        );
      }
    } else {
      await writeFile(join(tmp, 'normal-db.json'), normalDatabaseToJson(stamp(result.databases[0].db)));
    }
  });
  if (opts.saveNormalDb !== undefined)
    await saveNormalDatabase(opts.saveNormalDb, stamp(result.databases[0].db));
  return { ...result, out, metricsFile: file, colormap, raw: reading.raw };
}
