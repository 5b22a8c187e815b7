/**
 * Writing a synthetic cohort to disk: images (one per view, or one export page per patient),
 * `manifest.csv` (docs/manifest.md), `ground_truth.csv` and `synth.json`. The whole directory is
 * produced atomically (`writeDirAtomic`); the bytes are deterministic for a given seed.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from '../util/csv.js';
import type { Disc } from '../domain/image.js';
import { LABEL_NAMES, VIEWS, VIEW_CAPTIONS, VOLUME_COLUMN_OF, type View } from '../domain/views.js';
import type { Colormap } from '../polarmap/colormaps.js';
import { writeDirAtomic } from '../util/atomic.js';
import { mapPool } from '../util/pool.js';
import { encode, type ImageFormat } from './draw.js';
import { DEFAULT_LAYOUT_SPEC, parseLayoutOrThrow } from '../domain/layout.js';
import { drawPage, drawSingleMap } from './render.js';
import type { Cohort, CohortOptions, SyntheticPatient } from './types.js';

export interface WriteOptions {
  readonly layout: 'page' | 'single';
  readonly format: ImageFormat;
  readonly colormap: Colormap;
  readonly grid: boolean;
  /** disc arrangement of page exports; default 'stress_ac,rest_ac/stress_nac,rest_nac' */
  readonly pageLayout?: string;
  /** side of single-map images (default 320) */
  readonly canvas?: number;
  /** images encoded at once (sharp runs them on its thread pool); default 4 */
  readonly concurrency?: number;
  /** also write 3-D volumes of every view with their ground truth (volumes/, volumes.csv); synthesizeToDir only */
  readonly volumes?: boolean;
  /** called after each patient's files are written */
  readonly onProgress?: (done: number, total: number) => void;
}

/** What one patient contributes to the CSV files. */
export interface PatientRows {
  readonly manifest: Record<string, string>;
  readonly truth: Record<string, string>;
  /** volume columns (relative paths), with `volumes` */
  readonly volumes?: Record<string, string>;
}

const ext = (f: ImageFormat): string => (f === 'png' ? 'png' : 'jpg');
const fmtDisc = (d: Disc | undefined): string => (d ? `${d.cx},${d.cy},${d.radius}` : '');

/** Lesions as `vessel:stenosis:site:kind:stressDepth:restDepth`, separated by ';'. */
export function formatLesions(p: SyntheticPatient): string {
  return p.lesions
    .map((l) => `${l.vessel}:${l.stenosis}:${l.site}:${l.kind}:${l.stressDepth}:${l.restDepth}`)
    .join(';');
}

/** Render and write one patient's images under `dir`; return its manifest and ground-truth rows. */
export async function writePatient(
  p: SyntheticPatient,
  dir: string,
  opts: WriteOptions,
): Promise<PatientRows> {
  const manifest: Record<string, string> = {
    patient_id: p.id,
    label: LABEL_NAMES[p.label],
    sex: p.sex,
    age: String(p.age),
  };
  const discs: Partial<Record<View, Disc>> = {};
  if (opts.layout === 'single') {
    await mkdir(join(dir, p.id), { recursive: true });
    for (const v of VIEWS) {
      const { drawing, disc } = drawSingleMap(p.maps[v], {
        colormap: opts.colormap,
        caption: VIEW_CAPTIONS[v],
        grid: opts.grid,
        canvas: opts.canvas,
      });
      const rel = `${p.id}/${v}.${ext(opts.format)}`;
      await writeFile(join(dir, rel), await encode(drawing, opts.format));
      manifest[v] = rel;
      discs[v] = disc;
    }
  } else {
    const layout = opts.pageLayout ?? DEFAULT_LAYOUT_SPEC;
    await mkdir(join(dir, 'pages'), { recursive: true });
    const { drawing, discs: d } = drawPage(p, { colormap: opts.colormap, layout, grid: opts.grid });
    const rel = `pages/${p.id}.${ext(opts.format)}`;
    await writeFile(join(dir, rel), await encode(drawing, opts.format));
    manifest.page = rel;
    manifest.layout = layout;
    Object.assign(discs, d);
  }
  const truth: Record<string, string> = {
    patient_id: p.id,
    label: String(p.label),
    sex: p.sex,
    age: String(p.age),
    bmi: p.bmi.toFixed(1),
    study_date: p.studyDate,
    n_vessels: String(p.lesions.length),
    lesions: formatLesions(p),
    variants: p.variants.join(';'),
    sss: String(p.truth.sss),
    srs: String(p.truth.srs),
    sds: String(p.truth.sds),
  };
  for (const v of VIEWS) truth[`disc_${v}`] = fmtDisc(discs[v]);
  for (const v of VIEWS) {
    p.truth.uptake[v].forEach((u, i) => (truth[`${v}_u${i + 1}`] = u.toFixed(4)));
    p.truth.scores[v].forEach((s, i) => (truth[`${v}_s${i + 1}`] = String(s)));
  }
  return { manifest, truth };
}

/** Column order of manifest.csv for a layout. */
export function manifestColumns(layout: 'page' | 'single'): string[] {
  return ['patient_id', 'label', 'sex', 'age', ...(layout === 'single' ? VIEWS : ['page', 'layout'])];
}

/** Column order of ground_truth.csv. */
export function truthColumns(): string[] {
  const cols = [
    'patient_id',
    'label',
    'sex',
    'age',
    'bmi',
    'study_date',
    'n_vessels',
    'lesions',
    'variants',
    'sss',
    'srs',
    'sds',
  ];
  for (const v of VIEWS) cols.push(`disc_${v}`);
  for (const v of VIEWS) {
    for (let i = 1; i <= 17; i++) cols.push(`${v}_u${i}`);
    for (let i = 1; i <= 17; i++) cols.push(`${v}_s${i}`);
  }
  return cols;
}

/** Write manifest.csv, ground_truth.csv and synth.json into `dir` (rows in patient order). */
export async function writeTables(
  dir: string,
  rows: readonly PatientRows[],
  cohort: Required<CohortOptions>,
  opts: WriteOptions,
): Promise<void> {
  const mcols = manifestColumns(opts.layout);
  const tcols = truthColumns();
  await writeFile(
    join(dir, 'manifest.csv'),
    stringify(
      rows.map((r) => mcols.map((c) => r.manifest[c] ?? '')),
      { header: true, columns: mcols },
    ),
  );
  await writeFile(
    join(dir, 'ground_truth.csv'),
    stringify(
      rows.map((r) => tcols.map((c) => r.truth[c] ?? '')),
      { header: true, columns: tcols },
    ),
  );
  if (opts.volumes) {
    const vcols = ['patient_id', 'label', 'sex', 'age', ...VIEWS.map((v) => VOLUME_COLUMN_OF[v])];
    const vrows = rows.map((r) => vcols.map((c) => r.volumes?.[c] ?? r.manifest[c] ?? ''));
    await writeFile(join(dir, 'volumes.csv'), stringify(vrows, { header: true, columns: vcols }));
  }
  const meta = {
    generator: 'polarcad synth',
    cohort,
    images: {
      layout: opts.layout,
      format: opts.format,
      colormap: opts.colormap.name,
      grid: opts.grid,
      pageLayout: opts.layout === 'page' ? (opts.pageLayout ?? DEFAULT_LAYOUT_SPEC) : undefined,
      canvas: opts.canvas,
      volumes: opts.volumes ?? false,
    },
    patients: rows.length,
    cad: rows.filter((r) => r.truth.label === '1').length,
  };
  await writeFile(join(dir, 'synth.json'), JSON.stringify(meta, null, 2) + '\n');
}

/** Check write options; throws RangeError naming the field. */
export function validateWriteOptions(opts: WriteOptions): void {
  if (opts.layout !== 'page' && opts.layout !== 'single')
    throw new RangeError(`layout: must be page or single, got ${String(opts.layout)}`);
  if (opts.format !== 'png' && opts.format !== 'jpeg')
    throw new RangeError(`format: must be png or jpeg, got ${String(opts.format)}`);
  if (opts.layout === 'page') parseLayoutOrThrow(opts.pageLayout ?? DEFAULT_LAYOUT_SPEC);
  if (opts.concurrency !== undefined && (!Number.isInteger(opts.concurrency) || opts.concurrency < 1))
    throw new RangeError(`concurrency: must be a whole number >= 1, got ${opts.concurrency}`);
}

/**
 * Write an in-memory cohort to `outDir` (replaced atomically): images, manifest.csv,
 * ground_truth.csv (label, lesions, variants, disc positions, per view per segment true uptake
 * `<view>_u1..u17` and true score `<view>_s1..s17`) and synth.json.
 */
export async function writeCohort(cohort: Cohort, outDir: string, opts: WriteOptions): Promise<void> {
  validateWriteOptions(opts);
  const n = cohort.patients.length;
  let done = 0;
  await writeDirAtomic(outDir, 'synth', async (tmp) => {
    const rows = await mapPool(cohort.patients, opts.concurrency ?? 4, async (p) => {
      const r = await writePatient(p, tmp, opts);
      opts.onProgress?.(++done, n);
      return r;
    });
    await writeTables(tmp, rows, cohort.options, opts);
  });
}
