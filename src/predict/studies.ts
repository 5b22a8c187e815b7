/**
 * The studies `polarcad predict` (and the report's heatmaps) read: image paths grouped into studies
 * by their names, or a manifest's rows, each with its files, label, sex and clinical values.
 */
import { basename, extname, resolve } from 'node:path';
import { VIEWS, type View } from '../domain/views.js';
import { clinicalOfRow, loadManifest } from '../ingest/manifest.js';
import { isPreparedManifest } from '../ingest/prepare.js';
import type { Sex } from '../polarmap/normal-database.js';
import type { RgbImage } from '../domain/image.js';
import { decodeImage } from '../ingest/readers.js';
import { viewFromName, type StudyFile } from './inputs.js';
import type { StudyInput } from './study.js';

/** One study to predict: its name and files (paths). */
export interface StudySpec {
  readonly study: string;
  readonly files: readonly { readonly path: string; readonly view?: View }[];
  readonly label?: 0 | 1 | null;
  readonly sex?: Sex;
  /** clinical values (manifest columns, or --clinical-values) for models with a clinical member */
  readonly clinical?: Readonly<Record<string, string>>;
  /**
   * The files are crops of `polarcad prepare` (a prepared manifest's per-view rows): they are read
   * as they are, as `train` and `evaluate` read them, so every command gives one probability per
   * patient. Otherwise they are exports: their discs are found and cleaned first.
   */
  readonly prepared?: boolean;
}

/** The study name of a single-map file: its base name without extension, view token and trailing separators. */
export function studyNameOf(path: string): string {
  const base = basename(path, extname(path));
  const cut = base.replace(/(?:^|[ _.-])(stress|rest)[ _.-]?(n?ac)(?![a-z])/i, '').replace(/[ _.-]+$/, '');
  return cut.length > 0 ? cut : base;
}

/** Group image paths into studies (see the module comment). */
export function groupImages(paths: readonly string[]): StudySpec[] {
  const groups = new Map<string, { path: string; view?: View }[]>();
  const order: string[] = [];
  for (const p of paths) {
    const view = viewFromName(basename(p));
    let key = view === undefined ? basename(p, extname(p)) : studyNameOf(p);
    if (view === undefined && groups.has(key)) key = `${key} (${order.length + 1})`;
    if (!groups.has(key)) {
      groups.set(key, []);
      order.push(key);
    }
    (groups.get(key) as { path: string; view?: View }[]).push({
      path: resolve(p),
      ...(view !== undefined ? { view } : {}),
    });
  }
  return order.map((study) => ({ study, files: groups.get(study) as { path: string; view?: View }[] }));
}

/** Studies of a manifest: one per row. */
export async function studiesOfManifest(path: string): Promise<StudySpec[]> {
  const m = await loadManifest(path);
  const prepared = await isPreparedManifest(m);
  return m.rows.map((r) => ({
    study: r.patientId,
    label: r.label,
    ...(r.sex !== undefined ? { sex: r.sex } : {}),
    clinical: clinicalOfRow(r),
    files:
      r.page !== undefined
        ? [{ path: r.page.path }]
        : VIEWS.filter((v) => r.views[v] !== undefined).map((v) => ({ path: r.views[v] as string, view: v })),
    ...(prepared && r.page === undefined ? { prepared: true } : {}),
  }));
}

/**
 * What {@link predictStudy} reads for a study whose `files` were read: a prepared study's crops
 * decoded as they are (as `train` and `evaluate` read them, so `predict --manifest` and a report's
 * heatmaps give the run's own probability), or the files themselves for exports.
 * @example await studyInput(spec, files) // { maps: { stress_ac: RgbImage, ... }, source: 'maps' }
 */
export async function studyInput(
  spec: Pick<StudySpec, 'prepared'>,
  files: readonly StudyFile[],
  opts: { readonly maxPixels?: number } = {},
): Promise<StudyInput> {
  if (spec.prepared !== true || files.some((f) => f.view === undefined)) return { files };
  const maps: Partial<Record<View, RgbImage>> = {};
  for (const f of files) maps[f.view as View] = await decodeImage(f.bytes, f.name, opts);
  return { maps, source: 'maps' };
}
