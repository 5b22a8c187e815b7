/**
 * Image readers: JPEG, PNG and DICOM files to an 8-bit RGB raster (`RgbImage`).
 *
 * - The format is detected from the file's magic bytes, never from its extension.
 * - JPEG and PNG are decoded with sharp; truncated files are rejected (sharp's `failOn:
 *   'truncated'` for JPEG, plus a walk over the PNG chunk list, because libpng accepts a PNG
 *   whose IEND chunk is missing).
 * - Decompression bombs: the header dimensions are checked against a pixel limit before any
 *   pixel is decoded (default `DEFAULT_MAX_PIXELS`).
 * - DICOM (Part 10 files, parsed with dicom-parser): uncompressed transfer syntaxes (implicit
 *   and explicit VR little endian, explicit VR big endian) and baseline JPEG
 *   (1.2.840.10008.1.2.4.50). Photometric interpretations RGB (planar configuration 0 or 1)
 *   and MONOCHROME1/2 (8 or 16 bits, see `grayToByte` for the grey-level mapping). Only the
 *   first frame is read. Only pixel data and geometry are used: no patient-identifying
 *   attribute is ever read, logged or returned.
 * Every error is an `InputError` whose message starts with the file's path.
 */
import sharp from 'sharp';
import type { Metadata } from 'sharp';
import dicomParser from 'dicom-parser';
import type { DataSet, Element } from 'dicom-parser';
import type { RgbImage } from '../domain/image.js';
import { InputError, errorMessage } from '../util/errors.js';
import { readInputFile } from '../util/read-input.js';
import {
  SUPPORTED_TRANSFER_SYNTAXES,
  detectFormat,
  dicomNumber,
  dicomUint,
  parseDicomBytes,
  readSamples,
} from '../util/dicom.js';

/** Default pixel limit (width * height) of one input image: 50 megapixels. */
export const DEFAULT_MAX_PIXELS = 50_000_000;

export interface ReadImageOptions {
  /** Reject images with more than this many pixels (checked from the header, before decoding). */
  readonly maxPixels?: number;
}

const TS_BIG_ENDIAN = '1.2.840.10008.1.2.2';
const TS_JPEG_BASELINE = '1.2.840.10008.1.2.4.50';

/**
 * Read an image file (JPEG, PNG or DICOM, detected by content) as 8-bit RGB without alpha.
 * @throws InputError naming the file: missing, unreadable, not an image, truncated, too many
 *   pixels, unsupported DICOM encoding.
 */
export async function readImage(path: string, opts: ReadImageOptions = {}): Promise<RgbImage> {
  return decodeImage(await readInputFile(path, 'image'), path, opts);
}

/**
 * Decode an encoded image held in memory. `name` (usually the path) prefixes every error.
 * @see readImage
 */
export async function decodeImage(
  bytes: Uint8Array,
  name: string,
  opts: ReadImageOptions = {},
): Promise<RgbImage> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(maxPixels > 0)) throw new InputError(`maxPixels must be positive, got ${maxPixels}`);
  if (bytes.length === 0) throw new InputError(`${name}: file is empty (not a JPEG, PNG or DICOM file)`);
  const format = detectFormat(bytes);
  switch (format) {
    case 'jpeg':
      return decodeRaster(bytes, name, 'JPEG', maxPixels);
    case 'png':
      checkPngComplete(bytes, name);
      return decodeRaster(bytes, name, 'PNG', maxPixels);
    case 'dicom':
      return decodeDicom(bytes, name, maxPixels);
    default:
      throw new InputError(`${name}: is not a JPEG, PNG or DICOM file`);
  }
}

/**
 * The pixels an encoded image declares in its header (width x height; for DICOM rows x columns),
 * read without decoding any pixel, so a request can be bounded before it is decoded.
 * @throws InputError naming the image when it is not a JPEG, PNG or DICOM file or has no size
 * @example await declaredPixels(pngBytes, 'P001.png') // 65536 for a 256 x 256 map
 */
export async function declaredPixels(bytes: Uint8Array, name: string): Promise<number> {
  const format = detectFormat(bytes);
  if (format === 'dicom') {
    const ds = parseDicomBytes(bytes, name);
    const rows = dicomUint(ds, TAG.rows);
    const cols = dicomUint(ds, TAG.columns);
    if (!rows || !cols) throw new InputError(`${name}: DICOM file has no image size (Rows/Columns missing)`);
    return rows * cols;
  }
  if (format === null) throw new InputError(`${name}: is not a JPEG, PNG or DICOM file`);
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new InputError(`${name}: unreadable ${format.toUpperCase()} file (${errorMessage(e)})`, {
      cause: e,
    });
  }
  if (!meta.width || !meta.height) throw new InputError(`${name}: no image size in its header`);
  return meta.width * meta.height;
}

function checkPixelLimit(name: string, width: number, height: number, maxPixels: number): void {
  if (width * height > maxPixels) {
    throw new InputError(
      `${name}: image has too many pixels (${width} x ${height} = ${width * height} > limit ${maxPixels}); ` +
        `raise the limit (--max-pixels) if this image is genuine`,
    );
  }
}

/** Walk the PNG chunk list: every chunk must be complete and the last one must be IEND. */
function checkPngComplete(bytes: Uint8Array, name: string): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  while (pos + 8 <= bytes.length) {
    const length = view.getUint32(pos);
    const type = String.fromCharCode(bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]);
    const end = pos + 12 + length; // length + type + data + CRC
    if (end > bytes.length) break;
    if (type === 'IEND') return;
    pos = end;
  }
  throw new InputError(`${name}: PNG file is truncated (incomplete chunk or no IEND chunk)`);
}

async function decodeRaster(
  bytes: Uint8Array,
  name: string,
  kind: string,
  maxPixels: number,
): Promise<RgbImage> {
  let meta: Metadata;
  try {
    // Header only: no pixel is decoded here, so no limit yet; ours is checked next.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new InputError(`${name}: unreadable ${kind} file (${errorMessage(e)})`, { cause: e });
  }
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  if (!width || !height) throw new InputError(`${name}: unreadable ${kind} file (no image size in header)`);
  checkPixelLimit(name, width, height, maxPixels);
  try {
    const { data, info } = await sharp(bytes, { failOn: 'truncated', limitInputPixels: maxPixels })
      .autoOrient()
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return toRgb(data, info.width, info.height, info.channels, name);
  } catch (e) {
    const msg = errorMessage(e);
    // libvips keeps one error buffer per process, so under concurrency the message can be lost
    // ("Unknown error"); a JPEG without its end-of-image marker is truncated whatever it says.
    if (
      /premature end|truncat|read error|unexpected end/i.test(msg) ||
      (kind === 'JPEG' && !endsWithJpegEoi(bytes))
    ) {
      throw new InputError(`${name}: ${kind} file is truncated or corrupt (${msg})`, { cause: e });
    }
    throw new InputError(`${name}: unreadable ${kind} file (${msg})`, { cause: e });
  }
}

/** Whether a JPEG stream ends with the EOI marker (FF D9), ignoring trailing zero padding. */
function endsWithJpegEoi(bytes: Uint8Array): boolean {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return end >= 2 && bytes[end - 2] === 0xff && bytes[end - 1] === 0xd9;
}

/** Convert a decoded 1..4-channel raw buffer to an RGB image (grey expanded, alpha dropped). */
function toRgb(data: Uint8Array, width: number, height: number, channels: number, name: string): RgbImage {
  const n = width * height;
  if (channels === 3)
    return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, n * 3).slice() };
  if (channels < 1 || channels > 4)
    throw new InputError(`${name}: unsupported number of channels (${channels})`);
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    if (channels <= 2) {
      const g = data[i * channels];
      out[i * 3] = g;
      out[i * 3 + 1] = g;
      out[i * 3 + 2] = g;
    } else {
      out[i * 3] = data[i * channels];
      out[i * 3 + 1] = data[i * channels + 1];
      out[i * 3 + 2] = data[i * channels + 2];
    }
  }
  return { width, height, data: out };
}

// ---------------------------------------------------------------------------------------------
// DICOM

/** Only these (image-pixel-module) attributes are ever read. */
const TAG = {
  transferSyntax: 'x00020010',
  samplesPerPixel: 'x00280002',
  photometric: 'x00280004',
  planarConfiguration: 'x00280006',
  numberOfFrames: 'x00280008',
  rows: 'x00280010',
  columns: 'x00280011',
  bitsAllocated: 'x00280100',
  bitsStored: 'x00280101',
  pixelRepresentation: 'x00280103',
  windowCenter: 'x00281050',
  windowWidth: 'x00281051',
  rescaleIntercept: 'x00281052',
  rescaleSlope: 'x00281053',
  pixelData: 'x7fe00010',
} as const;

async function decodeDicom(bytes: Uint8Array, name: string, maxPixels: number): Promise<RgbImage> {
  const ds = parseDicomBytes(bytes, name);
  const ts = ds.string(TAG.transferSyntax)?.replace(/\0/g, '').trim() ?? '';
  if (!(ts in SUPPORTED_TRANSFER_SYNTAXES)) {
    throw new InputError(
      `${name}: unsupported DICOM transfer syntax ${ts || '(none)'}; supported: ` +
        Object.entries(SUPPORTED_TRANSFER_SYNTAXES)
          .map(([uid, what]) => `${uid} (${what})`)
          .join(', '),
    );
  }
  const rows = dicomUint(ds, TAG.rows);
  const cols = dicomUint(ds, TAG.columns);
  if (!rows || !cols) throw new InputError(`${name}: DICOM file has no image size (Rows/Columns missing)`);
  checkPixelLimit(name, cols, rows, maxPixels);
  const pixelEl = ds.elements[TAG.pixelData];
  if (!pixelEl) throw new InputError(`${name}: DICOM file has no pixel data`);
  const photometric = (ds.string(TAG.photometric) ?? '').trim().toUpperCase();
  const spp = dicomUint(ds, TAG.samplesPerPixel) ?? (photometric.startsWith('MONOCHROME') ? 1 : 3);

  if (ts === TS_JPEG_BASELINE) return decodeDicomJpeg(ds, pixelEl, name, cols, rows, maxPixels);

  const bitsAllocated = dicomUint(ds, TAG.bitsAllocated) ?? 0;
  const bytesPerSample = bitsAllocated / 8;
  const frameBytes = rows * cols * spp * bytesPerSample;
  if (pixelEl.encapsulatedPixelData)
    throw new InputError(`${name}: DICOM pixel data is encapsulated but transfer syntax ${ts} is not`);
  if (
    pixelEl.dataOffset + Math.min(pixelEl.length, frameBytes) > bytes.length ||
    pixelEl.length < frameBytes
  ) {
    throw new InputError(
      `${name}: DICOM file is truncated (pixel data has ${Math.min(pixelEl.length, bytes.length - pixelEl.dataOffset)} bytes, ` +
        `one ${cols} x ${rows} frame needs ${frameBytes})`,
    );
  }
  const littleEndian = ts !== TS_BIG_ENDIAN;
  if (photometric === 'RGB') {
    if (spp !== 3 || bitsAllocated !== 8) {
      throw new InputError(
        `${name}: unsupported DICOM RGB encoding (${spp} samples, ${bitsAllocated} bits); expected 3 samples of 8 bits`,
      );
    }
    const planar = dicomUint(ds, TAG.planarConfiguration) ?? 0;
    return dicomRgb(ds.byteArray, pixelEl.dataOffset, cols, rows, planar === 1);
  }
  if (photometric === 'MONOCHROME1' || photometric === 'MONOCHROME2') {
    if (spp !== 1 || (bitsAllocated !== 8 && bitsAllocated !== 16)) {
      throw new InputError(
        `${name}: unsupported DICOM ${photometric} encoding (${spp} samples, ${bitsAllocated} bits); expected 1 sample of 8 or 16 bits`,
      );
    }
    const bitsStored = dicomUint(ds, TAG.bitsStored) ?? bitsAllocated;
    const signed = dicomUint(ds, TAG.pixelRepresentation) === 1;
    const raw = readSamples(
      ds.byteArray,
      pixelEl.dataOffset,
      rows * cols,
      bitsAllocated,
      bitsStored,
      signed,
      littleEndian,
    );
    const gray = grayToByte(raw, {
      bitsAllocated,
      slope: dicomNumber(ds, TAG.rescaleSlope) ?? 1,
      intercept: dicomNumber(ds, TAG.rescaleIntercept) ?? 0,
      windowCenter: dicomNumber(ds, TAG.windowCenter),
      windowWidth: dicomNumber(ds, TAG.windowWidth),
      invert: photometric === 'MONOCHROME1',
    });
    return grayToRgb(gray, cols, rows);
  }
  throw new InputError(
    `${name}: unsupported DICOM photometric interpretation ${photometric || '(none)'}; supported: RGB, MONOCHROME1, MONOCHROME2`,
  );
}

function dicomRgb(src: Uint8Array, offset: number, width: number, height: number, planar: boolean): RgbImage {
  const n = width * height;
  if (!planar) return { width, height, data: src.slice(offset, offset + n * 3) };
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    data[i * 3] = src[offset + i];
    data[i * 3 + 1] = src[offset + n + i];
    data[i * 3 + 2] = src[offset + 2 * n + i];
  }
  return { width, height, data };
}

export interface GrayMapping {
  readonly bitsAllocated: number;
  readonly slope: number;
  readonly intercept: number;
  readonly windowCenter?: number;
  readonly windowWidth?: number;
  /** MONOCHROME1: the minimum sample value is white. */
  readonly invert: boolean;
}

/**
 * Map stored grey samples to 0..255 (the "sensible" grey mapping of this reader):
 * 1. modality LUT: `v = raw * slope + intercept` (Rescale Slope/Intercept);
 * 2. VOI LUT: with a window (Window Center/Width, first value) the linear window function of
 *    DICOM PS3.3 C.11.2.1.2.1; without one, 8-bit data is used as is (clamped to 0..255, so an
 *    8-bit secondary capture keeps its grey levels) and wider data is stretched from the
 *    frame's minimum to its maximum;
 * 3. MONOCHROME1 is inverted.
 */
export function grayToByte(raw: Float64Array, m: GrayMapping): Uint8Array {
  const n = raw.length;
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = raw[i] * m.slope + m.intercept;
  const out = new Uint8Array(n);
  if (m.windowCenter !== undefined && m.windowWidth !== undefined && m.windowWidth >= 1) {
    const c = m.windowCenter;
    const w = m.windowWidth;
    for (let i = 0; i < n; i++) {
      const x = v[i];
      let y: number;
      if (x <= c - 0.5 - (w - 1) / 2) y = 0;
      else if (x > c - 0.5 + (w - 1) / 2) y = 255;
      else y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255;
      out[i] = Math.round(Math.min(255, Math.max(0, y)));
    }
  } else if (m.bitsAllocated === 8) {
    for (let i = 0; i < n; i++) out[i] = Math.round(Math.min(255, Math.max(0, v[i])));
  } else {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      if (v[i] < lo) lo = v[i];
      if (v[i] > hi) hi = v[i];
    }
    const scale = hi > lo ? 255 / (hi - lo) : 0;
    for (let i = 0; i < n; i++) out[i] = Math.round((v[i] - lo) * scale);
  }
  if (m.invert) for (let i = 0; i < n; i++) out[i] = 255 - out[i];
  return out;
}

function grayToRgb(gray: Uint8Array, width: number, height: number): RgbImage {
  const data = new Uint8Array(gray.length * 3);
  for (let i = 0; i < gray.length; i++) {
    data[i * 3] = gray[i];
    data[i * 3 + 1] = gray[i];
    data[i * 3 + 2] = gray[i];
  }
  return { width, height, data };
}

async function decodeDicomJpeg(
  ds: DataSet,
  pixelEl: Element,
  name: string,
  cols: number,
  rows: number,
  maxPixels: number,
): Promise<RgbImage> {
  if (!pixelEl.encapsulatedPixelData || !pixelEl.fragments || pixelEl.fragments.length === 0) {
    throw new InputError(`${name}: DICOM JPEG pixel data is not encapsulated or has no fragments`);
  }
  let frame: Uint8Array;
  try {
    const frames = dicomUint(ds, TAG.numberOfFrames) ?? dicomNumber(ds, TAG.numberOfFrames) ?? 1;
    frame =
      frames > 1
        ? dicomParser.readEncapsulatedImageFrame(
            ds,
            pixelEl,
            0,
            dicomParser.createJPEGBasicOffsetTable(ds, pixelEl),
          )
        : dicomParser.readEncapsulatedPixelDataFromFragments(ds, pixelEl, 0, pixelEl.fragments.length);
  } catch (e) {
    throw new InputError(`${name}: DICOM JPEG pixel data is unreadable (${errorMessage(e)})`, { cause: e });
  }
  if (detectFormat(frame) !== 'jpeg')
    throw new InputError(`${name}: DICOM JPEG pixel data does not hold a JPEG stream`);
  const img = await decodeRaster(frame, `${name} (embedded JPEG)`, 'JPEG', maxPixels);
  if (img.width !== cols || img.height !== rows) {
    throw new InputError(
      `${name}: embedded JPEG is ${img.width} x ${img.height} but the DICOM header says ${cols} x ${rows}`,
    );
  }
  return img;
}
