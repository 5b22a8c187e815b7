/**
 * The bytes of an encoded image file, below every reader: the format from its magic bytes, and the
 * DICOM primitives (parsing with dicom-parser, numeric attributes, stored samples) that the image
 * readers (`ingest/readers.ts`), the SPECT volume readers (`volume/`) and the DICOM writers
 * (`predict/dicom-out.ts`) share. Errors are `InputError`s naming the file.
 */
import dicomParser from 'dicom-parser';
import type { DataSet } from 'dicom-parser';
import { InputError } from './errors.js';

export type ImageFormat = 'jpeg' | 'png' | 'dicom';

/** Transfer syntaxes `readImage` can decode. */
export const SUPPORTED_TRANSFER_SYNTAXES: Readonly<Record<string, string>> = {
  '1.2.840.10008.1.2': 'implicit VR little endian',
  '1.2.840.10008.1.2.1': 'explicit VR little endian',
  '1.2.840.10008.1.2.2': 'explicit VR big endian',
  '1.2.840.10008.1.2.4.50': 'JPEG baseline (process 1)',
};

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The format of an encoded image from its magic bytes, or null if it is none of ours. */
export function detectFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png';
  if (
    bytes.length >= 132 &&
    bytes[128] === 0x44 && // D
    bytes[129] === 0x49 && // I
    bytes[130] === 0x43 && // C
    bytes[131] === 0x4d // M
  ) {
    return 'dicom';
  }
  return null;
}

/** Parse a DICOM Part 10 file with dicom-parser; errors become `InputError`s naming the file. */
export function parseDicomBytes(bytes: Uint8Array, name: string): DataSet {
  try {
    return dicomParser.parseDicom(bytes);
  } catch (e) {
    // dicom-parser throws strings, Errors or {exception, dataSet} objects.
    const detail =
      typeof e === 'string'
        ? e
        : e instanceof Error
          ? e.message
          : typeof e === 'object' && e !== null && 'exception' in e
            ? String((e as { exception: unknown }).exception)
            : String(e);
    const truncated = /end of buffer|past end|buffer overr|premature|truncat/i.test(detail);
    throw new InputError(
      `${name}: ${truncated ? 'DICOM file is truncated' : 'unreadable DICOM file'} (${detail})`,
      {
        cause: e,
      },
    );
  }
}

/** An US/UL attribute's value, or undefined when absent. */
export function dicomUint(ds: DataSet, tag: string): number | undefined {
  const el = ds.elements[tag];
  if (!el || el.length === 0) return undefined;
  // US in explicit VR; implicit VR files have no VR, and dicom-parser's uint16 works for both.
  return el.length >= 4 && el.vr === 'UL' ? ds.uint32(tag) : ds.uint16(tag);
}

/** Numeric value of an IS/DS string attribute (first value of a multi-valued one). */
export function dicomNumber(ds: DataSet, tag: string): number | undefined {
  const s = ds.string(tag, 0);
  if (s === undefined || s.trim() === '') return undefined;
  const v = Number(s);
  return Number.isFinite(v) ? v : undefined;
}

/** Read `n` grey samples of 8 or 16 bits, keeping the low `bitsStored` bits (sign-extended if signed). */
export function readSamples(
  src: Uint8Array,
  offset: number,
  n: number,
  bitsAllocated: number,
  bitsStored: number,
  signed: boolean,
  littleEndian: boolean,
): Float64Array {
  const out = new Float64Array(n);
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const stored = Math.min(Math.max(bitsStored, 1), bitsAllocated);
  const mask = stored >= 32 ? 0xffffffff : (1 << stored) - 1;
  const signBit = 1 << (stored - 1);
  for (let i = 0; i < n; i++) {
    let v = bitsAllocated === 8 ? src[offset + i] : view.getUint16(offset + 2 * i, littleEndian);
    v &= mask;
    if (signed && v & signBit) v -= 1 << stored;
    out[i] = v;
  }
  return out;
}
