/**
 * The files a reader downloads for a result of `polarcad serve`: the second-reader PDF
 * (src/report/reader-pdf.ts) and the two DICOM objects a PACS stores (src/predict/dicom-out.ts: a
 * Secondary Capture of the overlay figure and an Encapsulated PDF of the result), the same files
 * `polarcad predict --out DIR --pdf --dicom` writes. When the study was uploaded as DICOM, the
 * objects join its study: the attributes needed for that (`InputStudyRefs`) are read from the
 * upload at prediction time and kept with the result in memory, never in a log or the JSON answer.
 */
import { encapsulatedPdf, type InputStudyRefs, secondaryCapture } from '../predict/dicom-out.js';
import type { StudyImages, StudyResult } from '../predict/study.js';
import { readerResultPdf } from '../report/reader-pdf.js';

/** What a download is made from: the result, its images and the input study's references. */
export interface DownloadSource {
  readonly result: StudyResult;
  readonly images: StudyImages;
  /** the input study's UIDs and patient attributes when the upload was DICOM, else null */
  readonly refs: InputStudyRefs | null;
}

/** One downloadable file of a result. */
export interface Download {
  /** the route's last segment, e.g. `report.pdf` */
  readonly name: string;
  readonly type: string;
  /** the file name offered to the browser (no patient data, no result id) */
  readonly filename: string;
  readonly make: (s: DownloadSource) => Promise<Uint8Array>;
}

/** The result's PDF (made once per result: the Encapsulated PDF carries the same bytes). */
const pdfCache = new WeakMap<StudyResult, Promise<Uint8Array>>();
function resultPdf(s: DownloadSource): Promise<Uint8Array> {
  let p = pdfCache.get(s.result);
  if (p === undefined) {
    p = s.images.overlayPng().then((png) => readerResultPdf(s.result, png));
    pdfCache.set(s.result, p);
    p.catch(() => pdfCache.delete(s.result));
  }
  return p;
}

/**
 * The downloads of a result: `report.pdf`, `overlay.dcm` (Secondary Capture) and `report.dcm`
 * (Encapsulated PDF).
 * @example for (const d of DOWNLOADS) app.get(`/api/results/:id/${d.name}`, ...)
 */
export const DOWNLOADS: readonly Download[] = [
  {
    name: 'report.pdf',
    type: 'application/pdf',
    filename: 'polarcad-result.pdf',
    make: resultPdf,
  },
  {
    name: 'overlay.dcm',
    type: 'application/dicom',
    filename: 'polarcad-overlay.sc.dcm',
    make: async (s) => secondaryCapture(s.result, await s.images.overlayPng(), s.refs),
  },
  {
    name: 'report.dcm',
    type: 'application/dicom',
    filename: 'polarcad-result.pdf.dcm',
    make: async (s) => encapsulatedPdf(s.result, await resultPdf(s), s.refs),
  },
];
