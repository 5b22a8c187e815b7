/**
 * The studies `polarcad predict` (and the report's heatmaps) read: image paths grouped into studies
 * by their names, or a manifest's rows, each with its files, label, sex and clinical values.
 */
import { basename, extname, resolve } from 'node:path';
import { VIEWS, type View } from '../domain/views.js';
import { clinicalOfRow, loadManifest } from '../ingest/manifest.js';
import type { Sex } from '../polarmap/normal-database.js';
import { viewFromName } from './inputs.js';

/** One study to predict: its name and files (paths). */
export interface StudySpec {
  readonly study: string;
  readonly files: readonly { readonly path: string; readonly view?: View }[];
  readonly label?: 0 | 1 | null;
  readonly sex?: Sex;
  /** clinical values (manifest columns, or --clinical-values) for models with a clinical member */
  readonly clinical?: Readonly<Record<string, string>>;
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
  return m.rows.map((r) => ({
    study: r.patientId,
    label: r.label,
    ...(r.sex !== undefined ? { sex: r.sex } : {}),
    clinical: clinicalOfRow(r),
    files:
      r.page !== undefined
        ? [{ path: r.page.path }]
        : VIEWS.filter((v) => r.views[v] !== undefined).map((v) => ({ path: r.views[v] as string, view: v })),
  }));
}
