/**
 * DICOM NM volumes: one multi-frame reconstructed tomogram (NM Image, frames = slices, geometry in
 * the Detector Information Sequence or at the top level), or a folder of single-frame slices of
 * one series (sorted along the slice normal, spacing checked). Parsed with dicom-parser through
 * the ingest readers' helpers; uncompressed transfer syntaxes, 8 or 16-bit samples. Only the
 * geometry and pixel attributes are read: no patient-identifying attribute is touched.
 * Coordinates are converted from DICOM LPS+ to the RAS+ of `types.ts`.
 */
import type { DataSet } from 'dicom-parser';
import {
  SUPPORTED_TRANSFER_SYNTAXES,
  dicomNumber,
  dicomUint,
  parseDicomBytes,
  readSamples,
} from '../util/dicom.js';
import { InputError } from '../util/errors.js';
import { resolveLimits, type VolumeLimits } from './limits.js';
import { cross, dot, type Affine, type Vec3, type Volume } from './types.js';

const TAG = {
  transferSyntax: 'x00020010',
  sopClass: 'x00080016',
  modality: 'x00080060',
  seriesUid: 'x0020000e',
  sliceThickness: 'x00180050',
  spacingBetweenSlices: 'x00180088',
  position: 'x00200032',
  orientation: 'x00200037',
  frames: 'x00280008',
  rows: 'x00280010',
  columns: 'x00280011',
  pixelSpacing: 'x00280030',
  bitsAllocated: 'x00280100',
  bitsStored: 'x00280101',
  pixelRepresentation: 'x00280103',
  intercept: 'x00281052',
  slope: 'x00281053',
  detectorInfo: 'x00540022',
  pixelData: 'x7fe00010',
} as const;

const NM_SOP_CLASSES = new Set(['1.2.840.10008.5.1.4.1.1.20', '1.2.840.10008.5.1.4.1.1.5']);

const str = (ds: DataSet, tag: string): string => (ds.string(tag) ?? '').replace(/\0/g, '').trim();

function numbers(ds: DataSet, tag: string): number[] {
  const s = str(ds, tag);
  if (s === '') return [];
  return s.split('\\').map(Number);
}

/** Geometry attributes, from the top level or the first Detector Information item. */
function geometryOf(ds: DataSet): { position: number[]; orientation: number[] } {
  let position = numbers(ds, TAG.position);
  let orientation = numbers(ds, TAG.orientation);
  const seq = ds.elements[TAG.detectorInfo]?.items?.[0]?.dataSet;
  if (seq) {
    if (position.length !== 3) position = numbers(seq, TAG.position);
    if (orientation.length !== 6) orientation = numbers(seq, TAG.orientation);
  }
  return { position, orientation };
}

interface Slice {
  readonly name: string;
  readonly ds: DataSet;
  readonly rows: number;
  readonly cols: number;
  readonly frames: number;
  readonly position: Vec3;
  readonly rowDir: Vec3;
  readonly colDir: Vec3;
  readonly pixel: readonly [number, number];
}

/** Parse one file and check that it is an uncompressed nuclear-medicine image with geometry. */
function parseSlice(bytes: Uint8Array, name: string): Slice {
  const ds = parseDicomBytes(bytes, name);
  const modality = str(ds, TAG.modality).toUpperCase();
  const sop = str(ds, TAG.sopClass);
  if (modality !== 'NM' && modality !== 'PT' && !NM_SOP_CLASSES.has(sop)) {
    throw new InputError(
      `${name}: is not a nuclear-medicine image (modality ${modality || 'unknown'}); give a reconstructed SPECT (NM) volume`,
    );
  }
  const ts = str(ds, TAG.transferSyntax);
  if (!(ts in SUPPORTED_TRANSFER_SYNTAXES) || ts === '1.2.840.10008.1.2.4.50')
    throw new InputError(
      `${name}: unsupported transfer syntax ${ts || '(none)'} for a volume (uncompressed only)`,
    );
  const rows = dicomUint(ds, TAG.rows);
  const cols = dicomUint(ds, TAG.columns);
  if (!rows || !cols) throw new InputError(`${name}: DICOM file has no image size (Rows/Columns missing)`);
  const frames = dicomNumber(ds, TAG.frames) ?? 1;
  const { position, orientation } = geometryOf(ds);
  const pixel = numbers(ds, TAG.pixelSpacing);
  if (
    position.length !== 3 ||
    orientation.length !== 6 ||
    position.concat(orientation).some((x) => !Number.isFinite(x))
  )
    throw new InputError(
      `${name}: no Image Position/Orientation (Patient): cannot place the slices in space`,
    );
  if (pixel.length !== 2 || !(pixel[0] > 0 && pixel[1] > 0))
    throw new InputError(`${name}: no valid Pixel Spacing`);
  return {
    name,
    ds,
    rows,
    cols,
    frames,
    position: position as unknown as Vec3,
    rowDir: orientation.slice(0, 3) as unknown as Vec3,
    colDir: orientation.slice(3, 6) as unknown as Vec3,
    pixel: [pixel[0], pixel[1]],
  };
}

function readFrames(s: Slice, first: number, count: number, out: Float32Array, at: number): void {
  const ds = s.ds;
  const el = ds.elements[TAG.pixelData];
  if (!el) throw new InputError(`${s.name}: DICOM file has no pixel data`);
  const bits = dicomUint(ds, TAG.bitsAllocated) ?? 16;
  if (bits !== 8 && bits !== 16)
    throw new InputError(`${s.name}: ${bits}-bit samples are not supported (8 or 16)`);
  const n = s.rows * s.cols * count;
  const need = (s.rows * s.cols * (first + count) * bits) / 8;
  if (el.length < need || el.dataOffset + need > ds.byteArray.length)
    throw new InputError(
      `${s.name}: DICOM file is truncated (pixel data has ${Math.min(el.length, ds.byteArray.length - el.dataOffset)} bytes, ${s.frames} frame(s) of ${s.cols} x ${s.rows} need ${(s.rows * s.cols * s.frames * bits) / 8})`,
    );
  const samples = readSamples(
    ds.byteArray,
    el.dataOffset + (s.rows * s.cols * first * bits) / 8,
    n,
    bits,
    dicomUint(ds, TAG.bitsStored) ?? bits,
    dicomUint(ds, TAG.pixelRepresentation) === 1,
    str(ds, TAG.transferSyntax) !== '1.2.840.10008.1.2.2',
  );
  const slope = dicomNumber(ds, TAG.slope) ?? 1;
  const inter = dicomNumber(ds, TAG.intercept) ?? 0;
  for (let i = 0; i < n; i++) out[at + i] = samples[i] * slope + inter;
}

/** LPS voxel geometry -> RAS+ affine. */
function affineOf(s: Slice, sliceStep: number, normal: Vec3, origin: Vec3): Affine {
  const [rowSp, colSp] = s.pixel; // row spacing (between rows, along colDir), column spacing (along rowDir)
  const ci = s.rowDir.map((d) => d * colSp);
  const cj = s.colDir.map((d) => d * rowSp);
  const ck = normal.map((d) => d * sliceStep);
  const lps = [
    [ci[0], cj[0], ck[0], origin[0]],
    [ci[1], cj[1], ck[1], origin[1]],
    [ci[2], cj[2], ck[2], origin[2]],
  ];
  return [...lps[0].map((v) => -v), ...lps[1].map((v) => -v), ...lps[2]];
}

function makeVolume(
  name: string,
  s: Slice,
  nz: number,
  data: Float32Array,
  step: number,
  normal: Vec3,
  origin: Vec3,
): Volume {
  const affine = affineOf(s, step, normal, origin);
  return {
    source: name,
    dims: [s.cols, s.rows, nz],
    spacing: [s.pixel[1], s.pixel[0], Math.abs(step)],
    affine,
    data,
  };
}

function checkSize(name: string, cols: number, rows: number, nz: number, limits: VolumeLimits): void {
  const { maxVoxels } = resolveLimits(limits);
  if (cols * rows * nz > maxVoxels)
    throw new InputError(
      `${name}: volume has ${cols * rows * nz} voxels (${cols} x ${rows} x ${nz}), over the limit of ${maxVoxels}`,
    );
}

/**
 * A multi-frame NM tomogram (frames = slices, spaced by Spacing Between Slices or Slice Thickness).
 * @example
 *   const vol = decodeDicomVolume(await readFile('recon.dcm'), 'recon.dcm');
 */
export function decodeDicomVolume(bytes: Uint8Array, name: string, limits: VolumeLimits = {}): Volume {
  const s = parseSlice(bytes, name);
  if (s.frames < 2) {
    throw new InputError(
      `${name}: is a single 2-D image (${s.cols} x ${s.rows}), not a volume; give a multi-frame reconstruction or the folder of its slices`,
    );
  }
  checkSize(name, s.cols, s.rows, s.frames, limits);
  const step = dicomNumber(s.ds, TAG.spacingBetweenSlices) ?? dicomNumber(s.ds, TAG.sliceThickness);
  if (!(step !== undefined && step !== 0 && Number.isFinite(step)))
    throw new InputError(`${name}: no Spacing Between Slices or Slice Thickness: slice spacing unknown`);
  const data = new Float32Array(s.cols * s.rows * s.frames);
  readFrames(s, 0, s.frames, data, 0);
  return makeVolume(name, s, s.frames, data, Math.abs(step), cross(s.rowDir, s.colDir), s.position);
}

/**
 * A folder of single-frame slices of one series, sorted along the slice normal. Slices must share
 * size, orientation and series, and be equally spaced (1% or 0.05 mm tolerance).
 * @param files [name, bytes] of every DICOM file of the folder
 */
export function decodeDicomSeries(
  dir: string,
  files: readonly (readonly [string, Uint8Array])[],
  limits: VolumeLimits = {},
): Volume {
  if (files.length < 2)
    throw new InputError(`${dir}: a DICOM series folder needs at least 2 slices, found ${files.length}`);
  const slices = files.map(([n, b]) => parseSlice(b, n));
  const first = slices[0];
  const series = str(first.ds, TAG.seriesUid);
  for (const s of slices) {
    if (s.frames > 1)
      throw new InputError(`${s.name}: a multi-frame file in a folder of slices; give the file on its own`);
    if (s.rows !== first.rows || s.cols !== first.cols)
      throw new InputError(
        `${s.name}: slice is ${s.cols} x ${s.rows}, ${first.name} is ${first.cols} x ${first.rows}`,
      );
    if (str(s.ds, TAG.seriesUid) !== series)
      throw new InputError(`${s.name}: belongs to another series than ${first.name}`);
    if (Math.abs(dot(s.rowDir, first.rowDir) - 1) > 1e-3 || Math.abs(dot(s.colDir, first.colDir) - 1) > 1e-3)
      throw new InputError(`${s.name}: slice orientation differs from ${first.name}`);
  }
  checkSize(dir, first.cols, first.rows, slices.length, limits);
  const normal = cross(first.rowDir, first.colDir);
  const sorted = slices.map((s) => ({ s, d: dot(s.position, normal) })).sort((a, b) => a.d - b.d);
  const gaps = sorted.slice(1).map((x, i) => x.d - sorted[i].d);
  const ref = gaps.slice().sort((a, b) => a - b)[Math.floor((gaps.length - 1) / 2)];
  gaps.forEach((g, i) => {
    if (g < 1e-3)
      throw new InputError(
        `${dir}: slices ${sorted[i].s.name} and ${sorted[i + 1].s.name} are at the same position`,
      );
    if (Math.abs(g - ref) > Math.max(0.05, 0.01 * ref))
      throw new InputError(
        `${dir}: inconsistent slice spacing: ${g.toFixed(2)} mm between ${sorted[i].s.name} and ${sorted[i + 1].s.name}, ${ref.toFixed(2)} mm elsewhere (missing or extra slice?)`,
      );
  });
  const plane = first.rows * first.cols;
  const data = new Float32Array(plane * sorted.length);
  sorted.forEach((x, k) => readFrames(x.s, 0, 1, data, k * plane));
  return makeVolume(dir, sorted[0].s, sorted.length, data, ref, normal, sorted[0].s.position);
}
