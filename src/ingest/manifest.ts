/**
 * The study manifest: a CSV with one row per patient (format: docs/manifest.md).
 *
 * `loadManifest` parses it with csv-parse, validates each field with zod plus cross-field and
 * cross-row checks, and reports EVERY problem at once (`InputErrors`), each with its row number
 * (header = row 1) and column. `manifestToCsv` writes a manifest back (used by `prepare`).
 */
import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify, unescapeCell } from '../util/csv.js';
import { z } from 'zod';
import type { Box } from '../domain/image.js';
import {
  VIEWS,
  VOLUME_ALIASES,
  VOLUME_COLUMN_OF,
  isView,
  LABEL_NAMES,
  type Label,
  type View,
} from '../domain/views.js';
import { InputError, InputErrors, errorMessage } from '../util/errors.js';
import { sha256File, sha256Hex } from '../util/hash.js';
import { DEFAULT_LAYOUT, formatLayout, parseLayout, type Layout } from '../domain/layout.js';
import { readInputFile } from '../util/read-input.js';

// The layout string lives in src/domain/layout.ts; re-exported for the manifest's callers.
export { DEFAULT_LAYOUT, formatLayout, parseLayout, type Layout };

export interface StudyPage {
  /** absolute path of the page image */
  readonly path: string;
  readonly layout: Layout;
}

export interface StudyRow {
  /** row number in the CSV (header = 1, first patient = 2) */
  readonly row: number;
  readonly patientId: string;
  readonly label: Label | null;
  readonly sex?: 'F' | 'M';
  readonly age?: number;
  /** absolute paths of the single-map images */
  readonly views: Partial<Record<View, string>>;
  /** absolute paths of reconstructed SPECT volumes (files or DICOM folders), per view */
  readonly volumes?: Partial<Record<View, string>>;
  readonly page?: StudyPage;
  /** manual disc boxes, in the view's image (or in the page) */
  readonly boxes: Partial<Record<View, Box>>;
  /** every other column, verbatim */
  readonly clinical: Record<string, string>;
}

export interface Manifest {
  /** absolute path of the CSV */
  readonly path: string;
  /** absolute folder that relative paths are resolved against */
  readonly dir: string;
  /** sha256 (hex) of the CSV's bytes, for run metadata */
  readonly sha256: string;
  /** names of the clinical columns, in file order */
  readonly clinicalColumns: readonly string[];
  readonly rows: readonly StudyRow[];
}

export interface ManifestOptions {
  /** Require at least one CAD and one normal row (training, evaluation). Default false. */
  readonly requireBothClasses?: boolean;
  /** Require every row to have a label. Default false. */
  readonly requireLabels?: boolean;
  /** Check that every referenced image file exists. Default true. */
  readonly checkFiles?: boolean;
}

/** Volume columns: `<state>_volume_<ac|nac>` and the aliases `stress_volume`, `rest_volume` (= AC). */
const VOLUME_COLUMNS: readonly string[] = [
  ...Object.values(VOLUME_COLUMN_OF),
  ...Object.keys(VOLUME_ALIASES),
];

export const REQUIRED_COLUMNS = ['patient_id', 'label'] as const;
const KNOWN_COLUMNS = new Set<string>([
  'patient_id',
  'label',
  'sex',
  'age',
  'page',
  'layout',
  ...VIEWS,
  ...VIEWS.map((v) => `box_${v}`),
  ...VOLUME_COLUMNS,
]);

/** The view of a volume column. */
function volumeView(col: string): View {
  return VOLUME_ALIASES[col] ?? VIEWS.find((v) => VOLUME_COLUMN_OF[v] === col) ?? 'stress_ac';
}

const LABELS: Readonly<Record<string, Label>> = { cad: 1, '1': 1, abnormal: 1, normal: 0, '0': 0 };

/** `CAD`/`1`/`abnormal` -> 1, `normal`/`0` -> 0 (case-insensitive), empty -> null, else undefined. */
export function parseLabel(s: string): Label | null | undefined {
  const t = s.trim().toLowerCase();
  if (t === '') return null;
  return LABELS[t];
}

/** sha256 (hex) of a file's bytes. */
export const hashFile = sha256File;

// --- field schemas (zod) -------------------------------------------------------------------------

const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess(
    (v) => (typeof v === 'string' && v.trim() === '' ? undefined : typeof v === 'string' ? v.trim() : v),
    schema.optional(),
  );

const patientIdSchema = z
  .string()
  .transform((s) => s.trim())
  .pipe(
    z
      .string()
      .min(1, { error: 'patient id is empty' })
      .regex(/^[A-Za-z0-9._-]+$/, { error: 'patient id may contain only letters, digits, "-", "_" and "."' })
      .refine((s) => s !== '.' && s !== '..', { error: 'patient id may not be "." or ".."' }),
  );

const labelSchema = z.string().transform((s, ctx) => {
  const l = parseLabel(s);
  if (l === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `unknown label "${s.trim()}" (expected CAD, 1, abnormal, normal, 0, or empty)`,
    });
    return z.NEVER;
  }
  return l;
});

const sexSchema = optional(
  z
    .string()
    .transform((s) => s.toUpperCase())
    .pipe(z.enum(['F', 'M'], { error: (iss) => `sex must be F or M, got "${String(iss.input)}"` })),
);

const ageSchema = optional(
  z
    .string()
    .regex(/^\d+(\.\d+)?$/, { error: (iss) => `age must be a number of years, got "${String(iss.input)}"` })
    .transform(Number)
    .pipe(
      z.number().max(130, { error: (iss) => `age ${String(iss.input)} is not plausible (0 to 130 years)` }),
    ),
);

const boxSchema = optional(
  z
    .string()
    .regex(/^\d+\s*,\s*\d+\s*,\s*\d+\s*,\s*\d+$/, {
      error: (iss) => `box must be "x,y,width,height" in whole pixels, got "${String(iss.input)}"`,
    })
    .transform((s) => {
      const [x, y, width, height] = s.split(',').map((t) => Number(t.trim()));
      return { x, y, width, height } satisfies Box;
    })
    .refine((b) => b.width > 0 && b.height > 0, { error: 'box width and height must be positive' }),
);

const fixedSchema = z.object({
  patient_id: patientIdSchema,
  label: labelSchema,
  sex: sexSchema,
  age: ageSchema,
});

// --- loading --------------------------------------------------------------------------------------

interface ParsedRecord {
  readonly record: string[];
  readonly line: number;
}

function parseCsv(text: string, path: string): ParsedRecord[] {
  try {
    const out = parse(text, {
      bom: true,
      info: true,
      skip_empty_lines: true,
      relax_column_count: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
    return out.map((o) => ({ record: o.record.map(unescapeCell), line: o.info.lines }));
  } catch (e) {
    throw new InputError(`${path}: not a valid CSV file (${errorMessage(e)})`, { cause: e });
  }
}

/**
 * Load and validate a manifest. All problems (header, every row, cross-row, files) are collected
 * and thrown together as one `InputErrors` whose summary names the file.
 */
export async function loadManifest(path: string, opts: ManifestOptions = {}): Promise<Manifest> {
  const abs = resolve(path);
  const bytes = await readInputFile(abs, 'table').catch((e: unknown) => {
    const missing = (e as { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT';
    throw missing ? new InputError(`${path}: manifest not found`) : e;
  });
  const sha256 = sha256Hex(bytes);
  const dir = dirname(abs);
  const { rows, clinicalColumns, problems } = validateRecords(
    parseCsv(bytes.toString('utf8'), path),
    dir,
    opts,
  );
  if (opts.checkFiles ?? true) problems.push(...(await checkFiles(rows)));
  if (problems.length > 0) {
    throw new InputErrors(
      `${path}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the manifest`,
      problems,
    );
  }
  return { path: abs, dir, sha256, clinicalColumns, rows };
}

/** Headers that users write for a required column. */
const NEAR_NAMES: Readonly<Record<(typeof REQUIRED_COLUMNS)[number], readonly string[]>> = {
  patient_id: ['patient', 'patientid', 'patient_no', 'id', 'pid', 'subject', 'subject_id', 'case', 'case_id'],
  label: ['labels', 'class', 'diagnosis', 'cad', 'target', 'outcome'],
};

/**
 * A hint naming the header the user probably meant for a missing required column (the same name
 * up to case, spaces and dashes, or a usual synonym), or ''.
 * @example columnHint('patient_id', ['patient', 'label']) // ' (column "patient" found: rename it patient_id)'
 */
export function columnHint(column: (typeof REQUIRED_COLUMNS)[number], header: readonly string[]): string {
  const norm = (h: string): string =>
    h
      .trim()
      .toLowerCase()
      .replace(/[\s-]+/g, '_');
  const hit = header.find(
    (h) =>
      norm(h) === column ||
      norm(h).replace(/_/g, '') === column.replace(/_/g, '') ||
      NEAR_NAMES[column].includes(norm(h)),
  );
  return hit === undefined ? '' : ` (column "${hit}" found: rename it ${column})`;
}

function at(row: number, line: number, column?: string): string {
  return `row ${row}${line !== row ? ` (line ${line})` : ''}${column ? `, column ${column}` : ''}`;
}

/** The header's column positions and its problems (unnamed, repeated, missing or unknown columns). */
function validateHeader(first: ParsedRecord): {
  header: string[];
  index: Map<string, number>;
  problems: string[];
} {
  const problems: string[] = [];
  const header = first.record.map((h) => h.trim());
  const headerAt = at(1, first.line);
  const index = new Map<string, number>();
  header.forEach((h, i) => {
    if (h === '') problems.push(`${headerAt}: column ${i + 1} has no name`);
    else if (index.has(h)) problems.push(`${headerAt}: column ${h} appears twice`);
    else index.set(h, i);
  });
  for (const c of REQUIRED_COLUMNS)
    if (!index.has(c)) problems.push(`${headerAt}: missing required column ${c}${columnHint(c, header)}`);
  for (const h of header) {
    if (h.startsWith('box_') && !isView(h.slice(4))) {
      problems.push(
        `${headerAt}: column ${h} names an unknown view "${h.slice(4)}" (expected box_ followed by ${VIEWS.join(', ')})`,
      );
    }
  }
  const hasViewColumn = VIEWS.some((v) => index.has(v)) || VOLUME_COLUMNS.some((c) => index.has(c));
  if (!hasViewColumn && !index.has('page')) {
    problems.push(`${headerAt}: no image column: give view columns (${VIEWS.join(', ')}) or a page column`);
  }
  if (index.has('layout') && !index.has('page'))
    problems.push(`${headerAt}: column layout needs a page column`);
  return { header, index, problems };
}

/** One data row being checked: its fields by column name, where it is, and the problems found. */
interface RowCheck {
  readonly get: (column: string) => string;
  readonly has: (column: string) => boolean;
  readonly here: (column?: string) => string;
  readonly dir: string;
  readonly problems: string[];
}

/** The images of a row: view images, volumes (a view given twice is a problem) and the page. */
function rowImages(
  c: RowCheck,
): Pick<StudyRow, 'views' | 'page'> & { volumes: Partial<Record<View, string>> } {
  const { get, here, dir, problems } = c;
  const views: Partial<Record<View, string>> = {};
  for (const v of VIEWS) {
    const s = get(v);
    if (s !== '') views[v] = resolve(dir, s);
  }
  const volumes: Partial<Record<View, string>> = {};
  for (const col of VOLUME_COLUMNS) {
    const s = get(col);
    if (s === '') continue;
    const v = volumeView(col);
    if (views[v] !== undefined || volumes[v] !== undefined)
      problems.push(
        `${here(col)}: the ${v} view is given twice (an image and a volume, or two volume columns)`,
      );
    else volumes[v] = resolve(dir, s);
  }
  const pageStr = get('page');
  const layoutStr = get('layout');
  const nViews = Object.keys(views).length + Object.keys(volumes).length;
  let page: StudyPage | undefined;
  if (nViews === 0 && pageStr === '') {
    problems.push(`${here()}: no view image and no page (give ${VIEWS.join('/')} columns or a page)`);
  } else if (nViews > 0 && pageStr !== '') {
    problems.push(
      `${here()}: has both view images (${Object.keys(views).join(', ')}) and a page; give one or the other`,
    );
  }
  if (pageStr === '' && layoutStr !== '') problems.push(`${here('layout')}: a layout is given but no page`);
  if (pageStr !== '') {
    const layout = layoutStr === '' ? DEFAULT_LAYOUT : parseLayout(layoutStr);
    if (typeof layout === 'string') problems.push(`${here('layout')}: ${layout}`);
    else page = { path: resolve(dir, pageStr), layout };
  }
  return { views, volumes, ...(page ? { page } : {}) };
}

/** The manual disc boxes of a row; a box for a view the row does not have is a problem. */
function rowBoxes(c: RowCheck, images: Pick<StudyRow, 'views' | 'page'>): Partial<Record<View, Box>> {
  const { get, here, problems } = c;
  const boxes: Partial<Record<View, Box>> = {};
  for (const v of VIEWS) {
    const col = `box_${v}`;
    if (!c.has(col)) continue;
    const parsed = boxSchema.safeParse(get(col));
    if (!parsed.success) {
      for (const iss of parsed.error.issues) problems.push(`${here(col)}: ${iss.message}`);
      continue;
    }
    if (parsed.data === undefined) continue;
    if (get('page') === '' && images.views[v] === undefined)
      problems.push(`${here(col)}: a box is given but there is no ${v} image`);
    else if (images.page && !images.page.layout.some((lr) => lr.includes(v)))
      problems.push(`${here(col)}: a box is given but the layout has no ${v}`);
    else boxes[v] = parsed.data;
  }
  return boxes;
}

/** A patient id seen before (case-insensitive: ids become folder names), or a required label missing. */
function checkIdentity(
  c: RowCheck,
  fixed: z.infer<typeof fixedSchema>,
  rowNo: number,
  firstSeen: Map<string, number>,
  opts: ManifestOptions,
): void {
  const key = fixed.patient_id.toLowerCase();
  const first = firstSeen.get(key);
  if (first !== undefined) {
    c.problems.push(
      `${c.here('patient_id')}: duplicate patient id "${fixed.patient_id}" (first on row ${first})`,
    );
  } else {
    firstSeen.set(key, rowNo);
  }
  if (opts.requireLabels && fixed.label === null)
    c.problems.push(`${c.here('label')}: label is empty but labels are required`);
}

/** With `requireBothClasses`: a problem when the labelled rows are all of one class. */
function checkBothClasses(rows: readonly StudyRow[]): string[] {
  const n = { 0: 0, 1: 0 };
  for (const r of rows) if (r.label !== null) n[r.label]++;
  if (n[0] > 0 && n[1] > 0) return [];
  return [
    `both classes are needed but the manifest has ${n[1]} ${LABEL_NAMES[1]} and ${n[0]} ${LABEL_NAMES[0]} labelled rows`,
  ];
}

function validateRecords(
  records: ParsedRecord[],
  dir: string,
  opts: ManifestOptions,
): { rows: StudyRow[]; clinicalColumns: string[]; problems: string[] } {
  if (records.length === 0)
    return { rows: [], clinicalColumns: [], problems: ['the manifest is empty (no header row)'] };
  const { header, index, problems } = validateHeader(records[0]);
  if (problems.length > 0) return { rows: [], clinicalColumns: [], problems };

  const clinicalColumns = header.filter((h) => !KNOWN_COLUMNS.has(h) && !h.startsWith('box_'));
  const rows: StudyRow[] = [];
  const firstSeen = new Map<string, number>();
  for (let r = 1; r < records.length; r++) {
    const { record, line } = records[r];
    const rowNo = r + 1;
    const here = (col?: string) => at(rowNo, line, col);
    if (record.length !== header.length) {
      problems.push(`${here()}: has ${record.length} fields, the header has ${header.length}`);
      continue;
    }
    const get = (c: string): string => {
      const i = index.get(c);
      return i === undefined ? '' : record[i].trim();
    };
    const check: RowCheck = { get, has: (c) => index.has(c), here, dir, problems };
    const before = problems.length;
    const fixed = fixedSchema.safeParse({
      patient_id: get('patient_id'),
      label: get('label'),
      sex: get('sex'),
      age: get('age'),
    });
    if (!fixed.success) {
      for (const iss of fixed.error.issues)
        problems.push(`${here(String(iss.path[0] ?? ''))}: ${iss.message}`);
    }
    const images = rowImages(check);
    const boxes = rowBoxes(check, images);
    if (fixed.success) checkIdentity(check, fixed.data, rowNo, firstSeen, opts);
    if (problems.length > before || !fixed.success) continue;

    const clinical: Record<string, string> = {};
    for (const c of clinicalColumns) clinical[c] = get(c);
    rows.push({
      row: rowNo,
      patientId: fixed.data.patient_id,
      label: fixed.data.label,
      ...(fixed.data.sex !== undefined ? { sex: fixed.data.sex } : {}),
      ...(fixed.data.age !== undefined ? { age: fixed.data.age } : {}),
      views: images.views,
      ...(Object.keys(images.volumes).length > 0 ? { volumes: images.volumes } : {}),
      ...(images.page ? { page: images.page } : {}),
      boxes,
      clinical,
    });
  }
  if (records.length === 1) problems.push('the manifest has a header but no patient rows');
  if (opts.requireBothClasses && problems.length === 0) problems.push(...checkBothClasses(rows));
  return { rows, clinicalColumns, problems };
}

/** Every referenced image must be an existing regular file. */
async function checkFiles(rows: readonly StudyRow[]): Promise<string[]> {
  const checks: Promise<string | null>[] = [];
  for (const r of rows) {
    const refs: [string, string][] = Object.entries(r.views);
    if (r.page) refs.push(['page', r.page.path]);
    const vols = new Set(Object.values(r.volumes ?? {}));
    for (const [v, p] of Object.entries(r.volumes ?? {})) refs.push([VOLUME_COLUMN_OF[v as View], p]);
    for (const [col, p] of refs) {
      checks.push(
        stat(p).then(
          (s) =>
            s.isFile() || (vols.has(p) && s.isDirectory())
              ? null
              : `row ${r.row}, column ${col}: ${p} is not a file`,
          (e: NodeJS.ErrnoException) =>
            `row ${r.row}, column ${col}: ${e.code === 'ENOENT' ? 'file not found' : `cannot access file (${e.code ?? e.message})`}: ${p}`,
        ),
      );
    }
  }
  return (await Promise.all(checks)).filter((p): p is string => p !== null);
}

/** Path of `p` relative to `dir` with forward slashes, or absolute if it is not below `dir`. */
function portableRelative(dir: string, p: string): string {
  const rel = relative(dir, p);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return p;
  return rel.split(sep).join('/');
}

function formatBox(b: Box): string {
  return `${b.x},${b.y},${b.width},${b.height}`;
}

/**
 * Serialise rows as a manifest CSV whose paths are relative to `dir` (where the CSV will be
 * written). Labels are written as CAD/normal. Round-trips through `loadManifest`.
 */
export function manifestToCsv(
  rows: readonly StudyRow[],
  dir: string,
  clinicalColumns: readonly string[] = [],
): string {
  const usedViews = VIEWS.filter((v) => rows.some((r) => r.views[v] !== undefined));
  const usedBoxes = VIEWS.filter((v) => rows.some((r) => r.boxes[v] !== undefined));
  const hasPage = rows.some((r) => r.page !== undefined);
  const usedVolumes = VIEWS.filter((v) => rows.some((r) => r.volumes?.[v] !== undefined));
  const header = [
    'patient_id',
    'label',
    'sex',
    'age',
    ...usedViews,
    ...(hasPage ? ['page', 'layout'] : []),
    ...usedBoxes.map((v) => `box_${v}`),
    ...usedVolumes.map((v) => VOLUME_COLUMN_OF[v]),
    ...clinicalColumns,
  ];
  const body = rows.map((r) => [
    r.patientId,
    r.label === null ? '' : LABEL_NAMES[r.label],
    r.sex ?? '',
    r.age === undefined ? '' : String(r.age),
    ...usedViews.map((v) => (r.views[v] === undefined ? '' : portableRelative(dir, r.views[v]))),
    ...(hasPage
      ? [r.page ? portableRelative(dir, r.page.path) : '', r.page ? formatLayout(r.page.layout) : '']
      : []),
    ...usedBoxes.map((v) => (r.boxes[v] ? formatBox(r.boxes[v]) : '')),
    ...usedVolumes.map((v) => {
      const p = r.volumes?.[v];
      return p === undefined ? '' : portableRelative(dir, p);
    }),
    ...clinicalColumns.map((c) => r.clinical[c] ?? ''),
  ]);
  return stringify([header, ...body]);
}

/**
 * A row's clinical values as text: age and sex (known columns) and every other column.
 * @example clinicalOfRow(row) // { age: '63', sex: 'M', smoker: 'yes' }
 */
export function clinicalOfRow(row: StudyRow): Record<string, string> {
  return {
    ...row.clinical,
    ...(row.age !== undefined ? { age: String(row.age) } : {}),
    ...(row.sex !== undefined ? { sex: row.sex } : {}),
  };
}
