/**
 * A second-reader result as DICOM objects a PACS stores (DICOM PS3.3, written with dcmjs):
 *
 *   - a Secondary Capture Image (SOP class 1.2.840.10008.5.1.4.1.1.7, PS3.3 A.8.1): the overlay
 *     figure (map | Grad-CAM overlay | colour scale) as an 8-bit RGB image, conversion type WSD;
 *   - an Encapsulated PDF (SOP class 1.2.840.10008.5.1.4.1.1.104.1, PS3.3 A.45.1): the result's
 *     PDF (src/report/reader-pdf.ts: probability, decision, territory shares, SSS/SRS/SDS, the
 *     figure), with the probability, decision and territory shares also in the Image/Document
 *     Comments so a PACS list shows them.
 *
 * When the input was DICOM, both objects join the input's study (its Study Instance UID, patient
 * and study attributes copied) in a new series each, and reference the input instance (the
 * capture's Source Image Sequence, the document's Source Instance Sequence); otherwise a new study
 * is created and the patient is the study name.
 * New UIDs are UUID-derived (`2.25.<uuid as integer>`, PS3.5 B.2). Explicit VR little endian.
 */
import { randomUUID } from 'node:crypto';
import dcmjs from 'dcmjs';
import type { DataSet } from 'dicom-parser';
import sharp from 'sharp';
import { parseDicomBytes } from '../util/dicom.js';
import type { StudyFile } from './inputs.js';
import type { StudyResult } from './study.js';

/** SOP classes written and read here (PS3.4 B.5). */
export const SOP_CLASSES = {
  secondaryCapture: '1.2.840.10008.5.1.4.1.1.7',
  encapsulatedPdf: '1.2.840.10008.5.1.4.1.1.104.1',
} as const;

const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
/** polarcad's implementation class UID (a fixed UUID-derived UID, PS3.5 B.2). */
const IMPLEMENTATION_CLASS_UID = '2.25.190163546812370946710539281374712653113';

/** What the result objects copy from the input study when it was DICOM. */
export interface InputStudyRefs {
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid?: string;
  readonly sopInstanceUid?: string;
  readonly sopClassUid?: string;
  readonly patientId?: string;
  readonly patientName?: string;
  readonly patientBirthDate?: string;
  readonly patientSex?: string;
  readonly accessionNumber?: string;
  readonly studyId?: string;
  readonly studyDate?: string;
  readonly studyTime?: string;
  readonly referringPhysicianName?: string;
}

/**
 * A new UID from a random UUID (ISO/IEC 9834-8, DICOM PS3.5 B.2: `2.25.` + the UUID as a decimal
 * integer).
 * @example newUid() // '2.25.2106...'
 */
export function newUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString()}`;
}

const isDicom = (b: Uint8Array): boolean =>
  b.length > 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d;

/**
 * The study attributes of the first DICOM file of a study (PS3.3 C.7.1.1 Patient, C.7.2.1 General
 * Study, C.12.1 SOP Common), or null when no file is DICOM or it has no Study Instance UID.
 * @example const refs = inputStudyRefs(files); // refs?.studyInstanceUid
 */
export function inputStudyRefs(files: readonly StudyFile[]): InputStudyRefs | null {
  const f = files.find((x) => isDicom(x.bytes));
  if (f === undefined) return null;
  const ds: DataSet = parseDicomBytes(f.bytes, f.name);
  const s = (tag: string): string | undefined => {
    const v = ds.string(tag)?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const study = s('x0020000d');
  if (study === undefined) return null;
  const pick: [keyof InputStudyRefs, string][] = [
    ['seriesInstanceUid', 'x0020000e'],
    ['sopInstanceUid', 'x00080018'],
    ['sopClassUid', 'x00080016'],
    ['patientId', 'x00100020'],
    ['patientName', 'x00100010'],
    ['patientBirthDate', 'x00100030'],
    ['patientSex', 'x00100040'],
    ['accessionNumber', 'x00080050'],
    ['studyId', 'x00200010'],
    ['studyDate', 'x00080020'],
    ['studyTime', 'x00080030'],
    ['referringPhysicianName', 'x00080090'],
  ];
  const out: Record<string, string> = { studyInstanceUid: study };
  for (const [k, tag] of pick) {
    const v = s(tag);
    if (v !== undefined) out[k] = v;
  }
  return out as unknown as InputStudyRefs;
}

const da = (d: Date): string => d.toISOString().slice(0, 10).replace(/-/g, '');
const tm = (d: Date): string => d.toISOString().slice(11, 19).replace(/:/g, '');

/** Patient, study and common attributes shared by both objects (naturalised dcmjs keywords). */
/** The series polarcad writes its objects in: SOP class, modality, number and description. */
interface OutputSeries {
  readonly sopClassUid: string;
  readonly modality: string;
  readonly seriesNumber: number;
  readonly seriesDescription: string;
}

/** The overlay (Secondary Capture) and report (Encapsulated PDF) series, numbered 9901 and 9902. */
const SERIES = {
  overlay: {
    sopClassUid: SOP_CLASSES.secondaryCapture,
    modality: 'OT',
    seriesNumber: 9901,
    seriesDescription: 'polarcad Grad-CAM overlay',
  },
  pdf: {
    sopClassUid: SOP_CLASSES.encapsulatedPdf,
    modality: 'DOC',
    seriesNumber: 9902,
    seriesDescription: 'polarcad second-reader result',
  },
} as const satisfies Record<string, OutputSeries>;

function common(
  r: StudyResult,
  refs: InputStudyRefs | null,
  o: OutputSeries & { readonly now: Date },
): Record<string, unknown> {
  return {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: o.sopClassUid,
    SOPInstanceUID: newUid(),
    InstanceCreationDate: da(o.now),
    InstanceCreationTime: tm(o.now),
    ContentDate: da(o.now),
    ContentTime: tm(o.now),
    StudyDate: refs?.studyDate ?? da(o.now),
    StudyTime: refs?.studyTime ?? tm(o.now),
    AccessionNumber: refs?.accessionNumber ?? '',
    Modality: o.modality,
    Manufacturer: 'polarcad',
    ReferringPhysicianName: refs?.referringPhysicianName ?? '',
    SeriesDescription: o.seriesDescription,
    ManufacturerModelName: `polarcad second reader (${r.model.backbone})`,
    PatientName: refs?.patientName ?? r.study,
    PatientID: refs?.patientId ?? r.study,
    PatientBirthDate: refs?.patientBirthDate ?? '',
    PatientSex: refs?.patientSex ?? '',
    StudyInstanceUID: refs?.studyInstanceUid ?? newUid(),
    SeriesInstanceUID: newUid(),
    StudyID: refs?.studyId ?? '',
    SeriesNumber: o.seriesNumber,
    InstanceNumber: 1,
  };
}

/**
 * One line for the PACS list (Image Comments, 0020,4000): probability, decision, territories, scores.
 * @example resultComment(result) // 'polarcad second reader (...): P(CAD) 0.812, CAD at threshold 0.5; territories LAD 61% ...'
 */
export function resultComment(r: StudyResult): string {
  const s = r.scores.AC ?? r.scores.NAC;
  const t = r.territories;
  const pct = (x: number): string => `${Math.round(100 * x)}%`;
  return `polarcad second reader (research, not a diagnosis): P(CAD) ${r.probability.toFixed(3)}, ${r.decision} at threshold ${r.threshold}; territories LAD ${pct(t.LAD)} LCx ${pct(t.LCx)} RCA ${pct(t.RCA)}${s ? `; ${s.correction} SSS ${s.sss} SRS ${s.srs} SDS ${s.sds}` : ''}`.slice(
    0,
    10240,
  );
}

function part10(ds: Record<string, unknown>): Uint8Array {
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: ds.SOPClassUID,
    MediaStorageSOPInstanceUID: ds.SOPInstanceUID,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: 'POLARCAD',
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(ds);
  return new Uint8Array(dict.write());
}

const source = (refs: InputStudyRefs | null): Record<string, unknown> =>
  refs?.sopInstanceUid !== undefined && refs.sopClassUid !== undefined
    ? {
        SourceImageSequence: [
          { ReferencedSOPClassUID: refs.sopClassUid, ReferencedSOPInstanceUID: refs.sopInstanceUid },
        ],
      }
    : {};

/** A copy of `bytes` padded with a zero byte to an even length (PS3.5 7.1: values have even length). */
function evenLength(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.byteLength + (bytes.byteLength % 2));
  out.set(bytes);
  return out;
}

/**
 * The overlay figure (PNG) as a Secondary Capture Image (PS3.3 A.8.1), Part 10 bytes.
 * @example await writeFile('P001.sc.dcm', await secondaryCapture(result, png, refs))
 */
export async function secondaryCapture(
  r: StudyResult,
  overlayPng: Uint8Array,
  refs: InputStudyRefs | null,
  now = new Date(),
): Promise<Uint8Array> {
  const { data, info } = await sharp(overlayPng)
    .flatten({ background: '#ffffff' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const pixels = evenLength(data);
  return part10({
    ...common(r, refs, { ...SERIES.overlay, now }),
    ConversionType: 'WSD',
    Laterality: '',
    PatientOrientation: '',
    ImageType: ['DERIVED', 'SECONDARY'],
    DerivationDescription: 'Grad-CAM overlay of the CAD classifier (polarcad)',
    BurnedInAnnotation: 'YES',
    ImageComments: resultComment(r),
    ...source(refs),
    SamplesPerPixel: 3,
    PhotometricInterpretation: 'RGB',
    PlanarConfiguration: 0,
    Rows: info.height,
    Columns: info.width,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelData: pixels.buffer,
    _vrMap: { PixelData: 'OB' },
  });
}

/**
 * The result's PDF as an Encapsulated PDF (PS3.3 A.45.1), Part 10 bytes.
 * @example await writeFile('P001.pdf.dcm', encapsulatedPdf(result, pdfBytes, refs))
 */
export function encapsulatedPdf(
  r: StudyResult,
  pdf: Uint8Array,
  refs: InputStudyRefs | null,
  now = new Date(),
): Uint8Array {
  const doc = evenLength(pdf);
  return part10({
    ...common(r, refs, { ...SERIES.pdf, now }),
    ConversionType: 'WSD',
    AcquisitionDateTime: `${da(now)}${tm(now)}`,
    BurnedInAnnotation: 'YES',
    DocumentTitle: `polarcad second reader: ${r.study}`.slice(0, 64),
    ConceptNameCodeSequence: [
      { CodeValue: '18748-4', CodingSchemeDesignator: 'LN', CodeMeaning: 'Diagnostic imaging report' },
    ],
    ...(refs?.sopInstanceUid !== undefined && refs.sopClassUid !== undefined
      ? {
          SourceInstanceSequence: [
            { ReferencedSOPClassUID: refs.sopClassUid, ReferencedSOPInstanceUID: refs.sopInstanceUid },
          ],
        }
      : {}),
    ImageComments: resultComment(r),
    MIMETypeOfEncapsulatedDocument: 'application/pdf',
    EncapsulatedDocument: doc.buffer,
    _vrMap: { EncapsulatedDocument: 'OB' },
  });
}

/** What {@link readBackDicom} finds in a Part 10 file. */
export interface DicomSummary {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly patientId: string;
  readonly comments: string;
  /** the referenced input instance, when any */
  readonly sourceSopInstanceUid?: string;
  readonly rows?: number;
  readonly columns?: number;
  /** pixel data or encapsulated document bytes */
  readonly payload: Uint8Array;
}

/**
 * Read a file written here back with dcmjs (the round trip its tests check).
 * @example const s = readBackDicom(await readFile('P001.sc.dcm')); // s.studyInstanceUid
 */
export function readBackDicom(bytes: Uint8Array): DicomSummary {
  const { DicomMessage, DicomMetaDictionary } = dcmjs.data;
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const ds = DicomMetaDictionary.naturalizeDataset(DicomMessage.readFile(buf).dict);
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  const seq = (v: unknown): Record<string, unknown> | undefined =>
    Array.isArray(v) && v.length > 0 ? (v[0] as Record<string, unknown>) : undefined;
  const src = seq(ds.SourceImageSequence) ?? seq(ds.SourceInstanceSequence);
  const raw = ds.PixelData ?? ds.EncapsulatedDocument;
  const first = Array.isArray(raw) ? (raw[0] as ArrayBuffer) : (raw as ArrayBuffer);
  const patient = ds.PatientID;
  return {
    sopClassUid: str(ds.SOPClassUID),
    sopInstanceUid: str(ds.SOPInstanceUID),
    studyInstanceUid: str(ds.StudyInstanceUID),
    seriesInstanceUid: str(ds.SeriesInstanceUID),
    patientId: str(patient),
    comments: str(ds.ImageComments),
    ...(src !== undefined ? { sourceSopInstanceUid: str(src.ReferencedSOPInstanceUID) } : {}),
    ...(typeof ds.Rows === 'number' ? { rows: ds.Rows } : {}),
    ...(typeof ds.Columns === 'number' ? { columns: ds.Columns } : {}),
    payload: first === undefined ? new Uint8Array(0) : new Uint8Array(first),
  };
}
