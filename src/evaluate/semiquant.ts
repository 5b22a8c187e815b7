/**
 * The semi-quantitative baseline (`polarcad score`): per patient, 17-segment stress and rest
 * scores for each correction (AC, NAC), SSS / SRS / SDS, percent myocardium, a simplified TPD,
 * per-territory sums and the decisions of the published rules (SSS >= 4, Hachamovitch et al.
 * 1998; the AC/NAC rule of Apostolopoulos et al. 2020), scored against a normal database fitted
 * on the TRAINING part's normal patients only; then the rules' metrics on the test part with
 * confidence intervals, and the AUC of SSS and TPD as continuous scores, as `MetricsRow`s that
 * sit next to the networks' rows (Apostolopoulos et al. 2020, Table 2).
 *
 * Splits (patient level, stratified, seeded; src/ingest/splits.ts):
 * - `holdout` (default): `stratifiedHoldout` 80/20 with the seed, the same call as the hold-out
 *   protocol (src/evaluate/protocols.ts) and so the same test patients as the networks;
 * - `cv`: `stratifiedKFold` (10 folds by default), the database refitted on each fold's
 *   training normals, every patient scored once (out of fold), metrics on all of them;
 * - `all-train`: one database on all normals, every patient scored with it (resubstitution:
 *   the normals' own scores are optimistic; for describing a cohort, not for comparisons).
 * With a given normal database nothing is fitted; `holdout` still evaluates the test part only.
 * Formulas: docs/scoring.md.
 */
import { correctionViews } from '../domain/input-mode.js';
import { LABEL_NAMES, type Label, type View } from '../domain/views.js';
import { stratifiedHoldout, stratifiedKFold, type Split } from '../ingest/splits.js';
import {
  type Correction,
  type NormalDatabase,
  type NormalSample,
  DEFAULT_MIN_STUDIES,
  buildNormalDatabase,
  viewAcquisition,
} from '../polarmap/normal-database.js';
import { type ScoringOptions, type StudyScoring, scoreStudy } from '../polarmap/scoring.js';
import { InputError } from '../util/errors.js';
import { type MetricsRow, continuousScoreRow, decisionRuleRow } from './metrics-row.js';
import type { StudyUptake } from './semiquant-read.js';

export type SemiquantSplit = 'holdout' | 'cv' | 'all-train';
export const SEMIQUANT_SPLITS: readonly SemiquantSplit[] = ['holdout', 'cv', 'all-train'];

export const CORRECTIONS: readonly Correction[] = ['AC', 'NAC'];

export interface SemiquantOptions {
  readonly split?: SemiquantSplit;
  /** seed of the split and of the bootstrap intervals (default 1) */
  readonly seed?: number | string;
  /** test fraction of `holdout` (default 0.2) */
  readonly testFraction?: number;
  /** folds of `cv` (default 10) */
  readonly folds?: number;
  /** normal studies needed per view for a stratum to be used (default 20) */
  readonly minNormals?: number;
  /** use this database instead of fitting one */
  readonly normalDb?: NormalDatabase;
  readonly scoring?: ScoringOptions;
  /** bootstrap resamples of the AUC / F1 intervals (default 2,000) */
  readonly resamples?: number;
}

/** One fitted (or given) normal database and who it was fitted on. */
export interface FittedDatabase {
  /** fold number (1-based) for `cv`, null otherwise */
  readonly fold: number | null;
  readonly db: NormalDatabase;
  /** ids of the normal patients it was fitted on (empty for a given database) */
  readonly normalIds: readonly string[];
}

/** The scores of one patient. */
export interface PatientScore {
  readonly id: string;
  readonly label: Label;
  readonly sex?: 'F' | 'M';
  /** part the patient is in: for `cv` always 'test' (scored out of fold) */
  readonly split: 'train' | 'test';
  readonly fold: number | null;
  /** scoring per correction; null when the patient lacks that stress/rest pair */
  readonly AC: StudyScoring | null;
  readonly NAC: StudyScoring | null;
}

export interface SemiquantResult {
  readonly split: SemiquantSplit;
  readonly seed: number | string;
  /** what the metrics are on, in words */
  readonly evaluatedOn: string;
  readonly patients: readonly PatientScore[];
  readonly metrics: readonly MetricsRow[];
  readonly databases: readonly FittedDatabase[];
}

/** Normal-database samples (one per view present) of the normal patients among `ids`. */
export function normalSamples(studies: readonly StudyUptake[], ids: ReadonlySet<string>): NormalSample[] {
  const out: NormalSample[] = [];
  for (const s of studies) {
    if (s.label !== 0 || !ids.has(s.id)) continue;
    for (const [view, segments] of Object.entries(s.segments) as [View, Float64Array][]) {
      out.push({
        ...viewAcquisition(view),
        ...(s.sex ? { sex: s.sex } : {}),
        segments,
        id: `${s.id}/${view}`,
      });
    }
  }
  return out;
}

/**
 * Fit a normal database on the normal patients among `trainIds`. Every view that any study has
 * needs at least `minNormals` normal training studies (the pooled stratum of that state and
 * correction; sex strata below that are used when they are large enough, else they fall back).
 * @throws InputError saying how many there are and what to do otherwise
 */
export function fitNormalDatabase(
  studies: readonly StudyUptake[],
  trainIds: readonly string[],
  opts: { minNormals?: number; where?: string } = {},
): FittedDatabase & { fold: null } {
  const minNormals = opts.minNormals ?? DEFAULT_MIN_STUDIES;
  if (!Number.isInteger(minNormals) || minNormals < 2)
    throw new InputError(`--min-normals must be an integer >= 2, got ${minNormals}`);
  const ids = new Set(trainIds);
  const normals = studies.filter((s) => s.label === 0 && ids.has(s.id));
  const views = new Set(studies.flatMap((s) => Object.keys(s.segments) as View[]));
  const short: string[] = [];
  for (const v of views) {
    const k = normals.filter((s) => s.segments[v] !== undefined).length;
    if (k < minNormals) short.push(`${v}: ${k}`);
  }
  if (short.length > 0) {
    throw new InputError(
      `normal database${opts.where ? ` (${opts.where})` : ''}: too few normal patients in the training part ` +
        `(${short.join(', ')}; at least ${minNormals} per view are needed, the default of 20 keeps the SD estimates ` +
        `within about 16%); use a larger cohort, --min-normals N (>= 2) for a small one, or a fitted database with --normal-db FILE`,
    );
  }
  const db = buildNormalDatabase(normalSamples(studies, ids), { minStudies: minNormals });
  return { fold: null, db, normalIds: normals.map((s) => s.id).sort() };
}

/**
 * Score one patient against `db`: `scoreStudy` for each correction whose stress and rest views
 * the patient has (normal limits by state, correction and sex, with fallback).
 */
export function scorePatient(
  s: StudyUptake,
  db: NormalDatabase,
  opts: ScoringOptions = {},
): { AC: StudyScoring | null; NAC: StudyScoring | null } {
  const out: { AC: StudyScoring | null; NAC: StudyScoring | null } = { AC: null, NAC: null };
  for (const c of CORRECTIONS) {
    const v = correctionViews(c);
    const stress = s.segments[v.stress];
    const rest = s.segments[v.rest];
    if (!stress || !rest) continue;
    try {
      out[c] = scoreStudy({ stress, rest, correction: c, ...(s.sex ? { sex: s.sex } : {}) }, db, opts);
    } catch (e) {
      if (e instanceof InputError)
        throw new InputError(`patient ${s.id} (row ${s.row}), ${c}: ${e.message}`, { cause: e });
      throw e;
    }
  }
  return out;
}

/** The rows of the metrics table: both rules per correction, then SSS and stress TPD as continuous scores. */
export function semiquantMetrics(
  patients: readonly PatientScore[],
  opts: { seed: number | string; resamples?: number; evaluatedOn: string },
): MetricsRow[] {
  const rows: MetricsRow[] = [];
  const boot = (name: string) => ({ seed: `${String(opts.seed)}/score/${name}`, resamples: opts.resamples });
  for (const c of CORRECTIONS) {
    const ps = patients.filter((p) => p.split === 'test' && p[c] !== null);
    if (ps.length === 0) continue;
    const labels = ps.map((p) => p.label);
    const sc = ps.map((p) => p[c] as StudyScoring);
    const lc = c.toLowerCase();
    const meta = (name: string, description: string, kind: 'rule' | 'score') => ({
      name,
      description,
      kind,
      evaluatedOn: opts.evaluatedOn,
    });
    const classes = new Set(labels);
    if (classes.size < 2) {
      throw new InputError(
        `semi-quantitative metrics (${c}): the evaluated patients are all ${LABEL_NAMES[labels[0]]}; both classes are needed`,
      );
    }
    rows.push(
      decisionRuleRow(
        meta(`sss4_${lc}`, `SSS >= 4 (${c} maps)`, 'rule'),
        labels,
        sc.map((s) => s.rules.sss4),
        boot(`sss4_${lc}`),
      ),
      decisionRuleRow(
        meta(
          `apostolopoulos_${lc}`,
          c === 'AC'
            ? 'Apostolopoulos 2020 rule, AC: SSS > 0 and SDS > 0'
            : 'Apostolopoulos 2020 rule, NAC: SSS > 3 and SDS > 1',
          'rule',
        ),
        labels,
        sc.map((s) => s.rules.apostolopoulos),
        boot(`apostolopoulos_${lc}`),
      ),
      continuousScoreRow(
        meta(`sss_${lc}`, `SSS as a continuous score (${c} maps)`, 'score'),
        labels,
        sc.map((s) => s.sss),
        boot(`sss_${lc}`),
      ),
      continuousScoreRow(
        meta(
          `tpd_${lc}`,
          `stress TPD (simplified, segment-based) as a continuous score (${c} maps)`,
          'score',
        ),
        labels,
        sc.map((s) => s.stress.deficit),
        boot(`tpd_${lc}`),
      ),
    );
  }
  return rows;
}

function describeSplit(
  split: SemiquantSplit,
  seed: number | string,
  o: SemiquantOptions,
  given: boolean,
): string {
  const db = given
    ? 'given normal database'
    : split === 'cv'
      ? 'normal database refitted per fold on its training normals'
      : split === 'holdout'
        ? "normal database fitted on the training part's normals"
        : 'normal database fitted on all normals (resubstitution, optimistic)';
  if (split === 'holdout')
    return `hold-out test part (${Math.round((o.testFraction ?? 0.2) * 100)}%, stratified, seed ${String(seed)}); ${db}`;
  if (split === 'cv')
    return `all patients, out of fold (${o.folds ?? 10}-fold stratified CV, seed ${String(seed)}); ${db}`;
  return `all patients; ${db}`;
}

/**
 * Run the semi-quantitative baseline on studies already read (`readStudies`): split, fit the
 * normal database(s) on training normals, score every patient, and compute the metric rows on
 * the evaluated patients (see the module comment).
 * @throws InputError for one class only, too few normals, bad options
 */
export function runSemiquant(studies: readonly StudyUptake[], opts: SemiquantOptions = {}): SemiquantResult {
  const split = opts.split ?? 'holdout';
  const seed = opts.seed ?? 1;
  if (!SEMIQUANT_SPLITS.includes(split))
    throw new InputError(`--split must be one of ${SEMIQUANT_SPLITS.join(', ')}, got ${String(split)}`);
  const n = { 0: 0, 1: 0 };
  for (const s of studies) n[s.label]++;
  if (n[0] === 0 || n[1] === 0) {
    throw new InputError(
      `semi-quantitative scoring needs both classes, the manifest has ${n[1]} ${LABEL_NAMES[1]} and ${n[0]} ${LABEL_NAMES[0]} patients`,
    );
  }
  const items = studies.map((s) => ({ id: s.id, label: s.label }));
  const byId = new Map(studies.map((s) => [s.id, s]));
  const scoring = opts.scoring ?? {};
  const patients: PatientScore[] = [];
  const databases: FittedDatabase[] = [];
  const scoreAll = (
    ids: readonly string[],
    part: 'train' | 'test',
    fold: number | null,
    db: NormalDatabase,
  ): void => {
    for (const id of ids) {
      const s = byId.get(id) as StudyUptake;
      patients.push({
        id,
        label: s.label,
        ...(s.sex ? { sex: s.sex } : {}),
        split: part,
        fold,
        ...scorePatient(s, db, scoring),
      });
    }
  };
  const fit = (train: readonly string[], fold: number | null): FittedDatabase => {
    if (opts.normalDb) return { fold, db: opts.normalDb, normalIds: [] };
    const f = fitNormalDatabase(studies, train, {
      minNormals: opts.minNormals,
      where: fold === null ? undefined : `fold ${fold}`,
    });
    return { ...f, fold };
  };

  if (split === 'holdout') {
    const sp: Split = stratifiedHoldout(items, { testFraction: opts.testFraction ?? 0.2, seed });
    const f = fit(sp.train, null);
    databases.push(f);
    scoreAll(sp.train, 'train', null, f.db);
    scoreAll(sp.test, 'test', null, f.db);
  } else if (split === 'cv') {
    const folds = stratifiedKFold(items, { k: opts.folds ?? 10, seed });
    folds.forEach((sp, i) => {
      const f = fit(sp.train, i + 1);
      databases.push(f);
      scoreAll(sp.test, 'test', i + 1, f.db);
    });
  } else {
    const all = studies.map((s) => s.id);
    const f = fit(all, null);
    databases.push(f);
    scoreAll(all, 'test', null, f.db);
  }
  const order = new Map(studies.map((s, i) => [s.id, i]));
  patients.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
  const evaluatedOn = describeSplit(split, seed, opts, opts.normalDb !== undefined);
  const metrics = semiquantMetrics(patients, { seed, resamples: opts.resamples, evaluatedOn });
  return { split, seed, evaluatedOn, patients, metrics, databases };
}
