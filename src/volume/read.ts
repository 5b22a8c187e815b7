/**
 * `readVolume`: a reconstructed SPECT volume from a NIfTI file (`.nii`, `.nii.gz`), a DICOM NM
 * multi-frame file or a folder of single-frame DICOM slices. The kind is recognised by content
 * (gzip / NIfTI header / "DICM"), not by extension; every error is an `InputError` naming the path.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { detectFormat, parseDicomBytes } from '../util/dicom.js';
import { InputError, errorMessage } from '../util/errors.js';
import { readInputFile } from '../util/read-input.js';
import { decodeDicomSeries, decodeDicomVolume } from './dicom.js';
import { resolveLimits, type VolumeLimits } from './limits.js';
import { decodeNifti, isGzip, isNiftiBytes } from './nifti.js';
import type { Volume } from './types.js';

/** A regular file of at most `maxBytes` (no device, FIFO or socket: the one input reader). */
function readLimited(path: string, maxBytes: number): Promise<Buffer> {
  return readInputFile(path, 'volume', maxBytes);
}

/**
 * Whether uploaded bytes hold a volume rather than a 2-D image: gzip or NIfTI, or a DICOM file
 * with more than one frame (a multi-frame tomogram).
 */
export function isVolumeBytes(bytes: Uint8Array): boolean {
  if (isGzip(bytes) || isNiftiBytes(bytes)) return true;
  if (detectFormat(bytes) !== 'dicom') return false;
  try {
    const frames = Number((parseDicomBytes(bytes, 'upload').string('x00280008') ?? '1').trim());
    return frames > 1;
  } catch {
    return false;
  }
}

/** Decode a volume file held in memory (NIfTI or DICOM NM multi-frame), recognised by content. */
export function decodeVolume(bytes: Uint8Array, name: string, limits: VolumeLimits = {}): Volume {
  if (bytes.length === 0) throw new InputError(`${name}: file is empty`);
  if (isGzip(bytes) || isNiftiBytes(bytes)) return decodeNifti(bytes, name, limits);
  const fmt = detectFormat(bytes);
  if (fmt === 'dicom') return decodeDicomVolume(bytes, name, limits);
  if (fmt === 'png' || fmt === 'jpeg')
    throw new InputError(
      `${name}: is a 2-D ${fmt.toUpperCase()} image, not a volume; give a NIfTI or DICOM NM reconstruction`,
    );
  throw new InputError(`${name}: is not a NIfTI (.nii, .nii.gz) or DICOM volume`);
}

/**
 * Read a reconstructed SPECT volume from a file or a folder of DICOM slices.
 * @throws InputError naming the path (missing, unreadable, 2-D, not NM, truncated, too large, ...)
 * @example
 *   const vol = await readVolume('patient001_rest.nii.gz');
 *   vol.dims; // [70, 70, 50]
 */
export async function readVolume(path: string, limits: VolumeLimits = {}): Promise<Volume> {
  const { maxBytes } = resolveLimits(limits);
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(
      code === 'ENOENT' ? `${path}: file not found` : `${path}: cannot read (${code ?? errorMessage(e)})`,
      { cause: e },
    );
  }
  if (!isDir) return decodeVolume(await readLimited(path, maxBytes), path, limits);
  const names = (await readdir(path))
    .filter((n) => !n.startsWith('.') && n.toUpperCase() !== 'DICOMDIR')
    .sort();
  const files: [string, Uint8Array][] = [];
  let total = 0;
  for (const n of names) {
    const p = join(path, n);
    if (!(await stat(p)).isFile()) continue;
    const b = await readLimited(p, maxBytes);
    total += b.length;
    if (total > maxBytes)
      throw new InputError(`${path}: the folder holds more than the limit of ${maxBytes} bytes`);
    if (detectFormat(b) === 'dicom') files.push([p, b]);
  }
  if (files.length === 0) throw new InputError(`${path}: folder holds no DICOM file`);
  if (files.length === 1) return decodeDicomVolume(files[0][1], files[0][0], limits);
  return decodeDicomSeries(path, files, limits);
}
