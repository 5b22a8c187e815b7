/**
 * `polarcad predict`: studies from image files or a manifest through a loaded model, with the
 * results as a table, CSV or JSON and, with an output folder, the Grad-CAM overlay figure of each
 * study (`<study>.gradcam.png`).
 *
 * Grouping of image arguments into studies: an export page is a study on its own; single-map
 * images whose names differ only by the view (`P001_stress_ac.png`, `P001_rest_ac.png`) form one
 * study named `P001`; an image whose name names no view is a study on its own. A manifest
 * (docs/manifest.md) gives one study per row (a page, or the view columns); its manual disc boxes
 * are not used here.
 */
import { join, resolve } from 'node:path';
import { stringify } from '../util/csv.js';
import type { Layout } from '../ingest/manifest.js';
import type { Colormap } from '../polarmap/colormaps.js';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError } from '../util/errors.js';
import { MAX_STUDY_FILES, type StudyFile } from '../predict/inputs.js';
import { groupImages, studiesOfManifest, studyInput, type StudySpec } from '../predict/studies.js';

export { groupImages, studiesOfManifest, studyNameOf, type StudySpec } from '../predict/studies.js';
import type { Predictor } from '../predict/predictor.js';
import { predictStudy, type StudyResult } from '../predict/study.js';
import { readInputFile } from '../util/read-input.js';
import { readerResultPdf } from '../report/reader-pdf.js';
import { encapsulatedPdf, inputStudyRefs, secondaryCapture } from '../predict/dicom-out.js';

/** Output formats of `polarcad predict`. */
export const PREDICT_FORMATS = ['table', 'csv', 'json'] as const;
export type PredictFormat = (typeof PREDICT_FORMATS)[number];

/** One row of the output: a result, or the reason the study could not be read. */
export interface PredictRow {
  readonly study: string;
  readonly label: 0 | 1 | null;
  readonly result: StudyResult | null;
  readonly heatmap: string | null;
  readonly error: string | null;
  /** the result as PDF (`pdf`), and as DICOM Secondary Capture + Encapsulated PDF (`dicom`) */
  readonly files?: readonly string[];
}

/** Options of {@link runPredict}. */
export interface RunPredictOptions {
  readonly images?: readonly string[];
  readonly manifest?: string;
  /** Folder for the overlay figures. */
  readonly out?: string;
  readonly layout?: Layout;
  readonly colormap?: Colormap;
  readonly maxPixels?: number;
  /** Refuse studies whose colour map is not the model's (see `colormapWarning`) instead of warning. */
  readonly strict?: boolean;
  /** clinical values for every study given as images (`--clinical-values age=63,sex=M`) */
  readonly clinical?: Readonly<Record<string, string>>;
  /** With `out`: each result as `<study>.pdf` (src/report/reader-pdf.ts). */
  readonly pdf?: boolean;
  /** With `out`: each result as `<study>.sc.dcm` and `<study>.pdf.dcm` (src/predict/dicom-out.ts). */
  readonly dicom?: boolean;
  readonly onProgress?: (done: number, total: number) => void;
}

async function readFiles(spec: StudySpec): Promise<StudyFile[]> {
  if (spec.files.length > MAX_STUDY_FILES)
    throw new InputError(
      `study ${spec.study}: ${spec.files.length} files, at most ${MAX_STUDY_FILES} (one page, or four maps)`,
    );
  const out: StudyFile[] = [];
  for (const f of spec.files) {
    const bytes = await readInputFile(f.path, 'image');
    out.push({ bytes, name: f.path, ...(f.view !== undefined ? { view: f.view } : {}) });
  }
  return out;
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_') || 'study';
}

/**
 * Predict every study. A study that cannot be read becomes a row with its error; the others go on.
 * @throws InputError when neither or both of images and manifest are given.
 */
export async function runPredict(p: Predictor, opts: RunPredictOptions): Promise<PredictRow[]> {
  const hasImages = (opts.images?.length ?? 0) > 0;
  if (hasImages === (opts.manifest !== undefined))
    throw new InputError('give image files or --manifest FILE (one of them)');
  const specs = hasImages
    ? groupImages(opts.images as string[])
    : await studiesOfManifest(opts.manifest as string);
  const rows: PredictRow[] = [];
  const used = new Set<string>();
  for (const spec of specs) {
    try {
      const files = await readFiles(spec);
      const input = await studyInput(spec, files, {
        ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}),
      });
      const { result, images } = await predictStudy(p, input, {
        study: spec.study,
        ...(opts.layout !== undefined ? { layout: opts.layout } : {}),
        ...(opts.colormap !== undefined ? { colormap: opts.colormap } : {}),
        ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}),
        ...(spec.sex !== undefined ? { sex: spec.sex } : {}),
        clinical: { ...opts.clinical, ...spec.clinical },
        ...(opts.strict === true ? { strict: true } : {}),
      });
      let heatmap: string | null = null;
      const written: string[] = [];
      if (opts.out !== undefined) {
        let name = safeName(spec.study);
        for (let k = 2; used.has(name); k++) name = `${safeName(spec.study)}-${k}`;
        used.add(name);
        heatmap = join(resolve(opts.out), `${name}.gradcam.png`);
        const overlay = await images.overlayPng();
        await writeFileAtomic(heatmap, overlay);
        if (opts.pdf === true || opts.dicom === true) {
          const pdf = await readerResultPdf(result, overlay);
          if (opts.pdf === true) {
            const path = join(resolve(opts.out), `${name}.pdf`);
            await writeFileAtomic(path, pdf);
            written.push(path);
          }
          if (opts.dicom === true) {
            const refs = inputStudyRefs(files);
            const sc = join(resolve(opts.out), `${name}.sc.dcm`);
            const doc = join(resolve(opts.out), `${name}.pdf.dcm`);
            await writeFileAtomic(sc, await secondaryCapture(result, overlay, refs));
            await writeFileAtomic(doc, encapsulatedPdf(result, pdf, refs));
            written.push(sc, doc);
          }
        }
      }
      rows.push({
        study: spec.study,
        label: spec.label ?? null,
        result,
        heatmap,
        error: null,
        ...(written.length > 0 ? { files: written } : {}),
      });
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      rows.push({
        study: spec.study,
        label: spec.label ?? null,
        result: null,
        heatmap: null,
        error: e.message,
      });
    }
    opts.onProgress?.(rows.length, specs.length);
  }
  return rows;
}

const f3 = (x: number): string => x.toFixed(3);

function topTerritory(r: StudyResult): string {
  const [v, s] = Object.entries(r.territories).sort((a, b) => b[1] - a[1])[0];
  return `${v} ${Math.round(100 * s)}%`;
}

function scoresCell(r: StudyResult): string {
  const s = r.scores.AC ?? r.scores.NAC;
  return s === null ? 'n/a' : `${s.correction} ${s.sss}/${s.srs}/${s.sds}`;
}

const SOURCE_WORDS = {
  given: 'given with --colormap',
  run: 'recorded with the trained run',
  recognised: 'recognised in the study',
} as const;

/**
 * The line saying which colour map(s) the SSS/SRS/SDS were read with and where each came from
 * (see `studyScores`), or null when no study has scores.
 * @example scoresColormapNote(rows) // 'SSS/SRS/SDS read in colour map hot (recorded with the trained run)'
 */
export function scoresColormapNote(rows: readonly PredictRow[]): string | null {
  const seen = new Set<string>();
  for (const r of rows) {
    const s = r.result?.scores;
    if (s?.available === true && s.colormap !== null && s.colormapSource !== null)
      seen.add(`${s.colormap} (${SOURCE_WORDS[s.colormapSource]})`);
  }
  return seen.size === 0 ? null : `SSS/SRS/SDS read in colour map ${[...seen].join(', ')}`;
}

/** Rows as an aligned text table (errors listed under it). */
export function formatTable(rows: readonly PredictRow[]): string {
  const head = ['study', 'P(CAD)', 'decision', 'confidence', 'top territory', 'SSS/SRS/SDS', 'heatmap'];
  const body = rows
    .filter((r) => r.result !== null)
    .map((r) => {
      const x = r.result as StudyResult;
      return [
        r.study,
        f3(x.probability) + (x.calibrated ? ' (cal.)' : ''),
        x.decision,
        x.confidence.band,
        topTerritory(x),
        scoresCell(x),
        r.heatmap ?? '-',
      ];
    });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  const out = [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)];
  const errors = rows.filter((r) => r.error !== null);
  if (errors.length > 0)
    out.push('', `not read (${errors.length}):`, ...errors.map((r) => `  ${r.study}: ${r.error}`));
  const warned = rows.filter((r) => (r.result?.warnings.length ?? 0) > 0);
  if (warned.length > 0)
    out.push(
      '',
      `WARNING (${warned.length}):`,
      ...warned.map((r) => `  ${r.study}: ${r.result?.warnings.join('; ')}`),
    );
  const written = rows.flatMap((r) => r.files ?? []);
  if (written.length > 0) out.push('', `written: ${written.join(', ')}`);
  const scoreNote = rows.find((r) => r.result !== null && !r.result.scores.available)?.result?.scores.reason;
  if (scoreNote) out.push('', `SSS/SRS/SDS: ${scoreNote}`);
  const cmNote = scoresColormapNote(rows);
  if (cmNote !== null) out.push('', cmNote);
  return out.join('\n') + '\n';
}

/** CSV columns of {@link formatCsv}. */
export const CSV_COLUMNS = [
  'study',
  'label',
  'probability',
  'raw_probability',
  'calibrated',
  'threshold',
  'decision',
  'confidence',
  'lad_share',
  'lcx_share',
  'rca_share',
  'sss_ac',
  'srs_ac',
  'sds_ac',
  'sss_nac',
  'srs_nac',
  'sds_nac',
  'sentence',
  'heatmap',
  'error',
  'warnings',
] as const;

/** Rows as CSV (one line per study, errors included). */
export function formatCsv(rows: readonly PredictRow[]): string {
  return stringify(
    rows.map((r) => {
      const x = r.result;
      const sc = (c: 'AC' | 'NAC', k: 'sss' | 'srs' | 'sds'): number | string => x?.scores[c]?.[k] ?? '';
      return [
        r.study,
        r.label ?? '',
        x?.probability ?? '',
        x?.rawProbability ?? '',
        x === null ? '' : x.calibrated ? 1 : 0,
        x?.threshold ?? '',
        x?.decision ?? '',
        x?.confidence.band ?? '',
        x?.territories.LAD ?? '',
        x?.territories.LCx ?? '',
        x?.territories.RCA ?? '',
        sc('AC', 'sss'),
        sc('AC', 'srs'),
        sc('AC', 'sds'),
        sc('NAC', 'sss'),
        sc('NAC', 'srs'),
        sc('NAC', 'sds'),
        x?.sentence ?? '',
        r.heatmap ?? '',
        r.error ?? '',
        x?.warnings.join('; ') ?? '',
      ];
    }),
    { header: true, columns: [...CSV_COLUMNS] },
  );
}

/** Rows as JSON (the bull's-eye SVG left out; its values are there). */
export function formatJson(rows: readonly PredictRow[]): string {
  return (
    JSON.stringify(
      rows.map((r) => ({
        study: r.study,
        label: r.label,
        ...(r.result !== null
          ? { ...r.result, bullseye: { kind: r.result.bullseye.kind, values: r.result.bullseye.values } }
          : {}),
        heatmap: r.heatmap,
        error: r.error,
      })),
      null,
      2,
    ) + '\n'
  );
}
