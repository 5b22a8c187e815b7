/**
 * NIfTI-1/2 volumes (`.nii`, `.nii.gz`): reading with nifti-reader-js (header, data types,
 * qform/sform affine), gzip with Node's zlib (which, unlike a lenient inflater, rejects a
 * truncated stream), and a minimal NIfTI-1 writer for the synthetic volumes (a 348-byte header
 * with an sform, NIfTI-1 standard, https://nifti.nimh.nih.gov/nifti-1).
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import * as nifti from 'nifti-reader-js';
import { InputError, errorMessage } from '../util/errors.js';
import { resolveLimits, type VolumeLimits } from './limits.js';
import { affineSpacing, type Affine, type Vec3, type Volume } from './types.js';

const GZIP_MAGIC = [0x1f, 0x8b];

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

/** Whether the (decompressed) bytes start with a NIfTI-1 or NIfTI-2 header. */
export function isNiftiBytes(bytes: Uint8Array): boolean {
  if (bytes.length < 348) return false;
  return nifti.isNIFTI(toArrayBuffer(bytes));
}

function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

function gunzip(bytes: Uint8Array, name: string, maxBytes: number): Uint8Array {
  try {
    return gunzipSync(bytes, { maxOutputLength: maxBytes });
  } catch (e) {
    const msg = errorMessage(e);
    if (/maxOutputLength|Cannot create a Buffer larger|buffer.*too large/i.test(msg))
      throw new InputError(`${name}: decompressed volume is larger than the limit of ${maxBytes} bytes`);
    if (/unexpected end/i.test(msg))
      throw new InputError(`${name}: .nii.gz file is truncated (${msg})`, { cause: e });
    throw new InputError(`${name}: corrupt gzip stream (${msg})`, { cause: e });
  }
}

type TypedCtor = new (b: ArrayBuffer) => ArrayLike<number>;
const DATATYPES: Readonly<Record<number, { bytes: number; ctor: TypedCtor; name: string }>> = {
  2: { bytes: 1, ctor: Uint8Array, name: 'uint8' },
  4: { bytes: 2, ctor: Int16Array, name: 'int16' },
  8: { bytes: 4, ctor: Int32Array, name: 'int32' },
  16: { bytes: 4, ctor: Float32Array, name: 'float32' },
  64: { bytes: 8, ctor: Float64Array, name: 'float64' },
  256: { bytes: 1, ctor: Int8Array, name: 'int8' },
  512: { bytes: 2, ctor: Uint16Array, name: 'uint16' },
  768: { bytes: 4, ctor: Uint32Array, name: 'uint32' },
};

/** Check the header's shape: a 3-D volume (a 4-D one only with a single frame). */
function checkShape(dims: readonly number[], name: string): Vec3 {
  const nd = dims[0];
  const shape = dims.slice(1, 1 + Math.max(0, Math.min(nd, 7)));
  if (nd < 3 || (dims[3] ?? 1) <= 1) {
    throw new InputError(
      `${name}: is a 2-D image (${shape.slice(0, 2).join(' x ')}), not a volume; give a reconstructed 3-D SPECT volume`,
    );
  }
  const extra = shape.slice(3).reduce((a, b) => a * Math.max(1, b), 1);
  if (extra > 1) {
    throw new InputError(
      `${name}: has ${extra} volumes (${shape.join(' x ')}); give one reconstructed 3-D volume (e.g. the summed, ungated one)`,
    );
  }
  const d: Vec3 = [dims[1], dims[2], dims[3]];
  if (d.some((x) => !Number.isInteger(x) || x < 2))
    throw new InputError(`${name}: invalid volume dimensions ${d.join(' x ')}`);
  return d;
}

/**
 * Decode a NIfTI volume held in memory (gzip-compressed or not).
 * @throws InputError naming `name`: not NIfTI, truncated, 2-D, too large, unsupported data type.
 * @example
 *   const vol = decodeNifti(await readFile('rest.nii.gz'), 'rest.nii.gz');
 */
export function decodeNifti(bytes: Uint8Array, name: string, limits: VolumeLimits = {}): Volume {
  const { maxVoxels, maxBytes } = resolveLimits(limits);
  if (bytes.length > maxBytes)
    throw new InputError(`${name}: file is ${bytes.length} bytes, over the limit of ${maxBytes}`);
  const raw = isGzip(bytes) ? gunzip(bytes, name, maxBytes) : bytes;
  if (!isNiftiBytes(raw)) throw new InputError(`${name}: is not a NIfTI-1 or NIfTI-2 file`);
  const ab = toArrayBuffer(raw);
  let header: ReturnType<typeof nifti.readHeader>;
  try {
    header = nifti.readHeader(ab);
  } catch (e) {
    throw new InputError(`${name}: unreadable NIfTI header (${errorMessage(e)})`, { cause: e });
  }
  const dims = checkShape(header.dims, name);
  const nVox = dims[0] * dims[1] * dims[2];
  if (nVox > maxVoxels) {
    throw new InputError(
      `${name}: volume has ${nVox} voxels (${dims.join(' x ')}), over the limit of ${maxVoxels}`,
    );
  }
  const dt = DATATYPES[header.datatypeCode];
  if (!dt) throw new InputError(`${name}: unsupported NIfTI data type code ${header.datatypeCode}`);
  const offset = Math.max(352, Math.floor(header.vox_offset));
  const need = nVox * dt.bytes;
  if (raw.length < offset + need) {
    throw new InputError(
      `${name}: NIfTI file is truncated (voxel data has ${Math.max(0, raw.length - offset)} bytes, ${dims.join(' x ')} ${dt.name} needs ${need})`,
    );
  }
  if (!header.littleEndian && dt.bytes > 1)
    throw new InputError(`${name}: big-endian NIfTI files are not supported`);
  const src = new dt.ctor(ab.slice(offset, offset + need));
  const slope = header.scl_slope && Number.isFinite(header.scl_slope) ? header.scl_slope : 1;
  const inter = Number.isFinite(header.scl_inter) ? header.scl_inter : 0;
  const data = new Float32Array(nVox);
  for (let i = 0; i < nVox; i++) data[i] = src[i] * slope + inter;
  const A = header.affine;
  const affine: Affine = [...A[0].slice(0, 4), ...A[1].slice(0, 4), ...A[2].slice(0, 4)];
  const spacing = affineSpacing(affine);
  if (spacing.some((s) => !(s > 0) || !Number.isFinite(s)))
    throw new InputError(`${name}: NIfTI header has no valid voxel size (${spacing.join(', ')})`);
  return { source: name, dims, spacing, affine, data };
}

/**
 * Encode a volume as gzip-compressed NIfTI-1 (`.nii.gz`): int16 with a scale slope chosen so the
 * maximum maps to 32000 (or float32 when `float` is set), sform (code 1) = the volume's affine.
 * @example
 *   await writeFile('phantom.nii.gz', encodeNifti(vol));
 */
export function encodeNifti(vol: Volume, opts: { float?: boolean } = {}): Buffer {
  const [nx, ny, nz] = vol.dims;
  const n = nx * ny * nz;
  const float = opts.float ?? false;
  const hdr = Buffer.alloc(352);
  hdr.writeInt32LE(348, 0); // sizeof_hdr
  hdr.writeInt16LE(3, 40); // dim[0]
  [nx, ny, nz, 1, 1, 1, 1].forEach((d, i) => hdr.writeInt16LE(d, 42 + 2 * i));
  hdr.writeInt16LE(float ? 16 : 4, 70); // datatype
  hdr.writeInt16LE(float ? 32 : 16, 72); // bitpix
  hdr.writeFloatLE(1, 76); // pixdim[0] = qfac
  vol.spacing.forEach((s, i) => hdr.writeFloatLE(s, 80 + 4 * i));
  hdr.writeFloatLE(352, 108); // vox_offset
  let max = 0;
  for (let i = 0; i < n; i++) if (Math.abs(vol.data[i]) > max) max = Math.abs(vol.data[i]);
  const slope = float ? 1 : max > 0 ? max / 32000 : 1;
  hdr.writeFloatLE(slope, 112); // scl_slope
  hdr.writeFloatLE(0, 116); // scl_inter
  hdr.writeUInt8(10, 123); // xyzt_units: mm, s
  hdr.writeInt16LE(0, 252); // qform_code
  hdr.writeInt16LE(1, 254); // sform_code: scanner
  for (let r = 0; r < 3; r++)
    for (let c = 0; c < 4; c++) hdr.writeFloatLE(vol.affine[r * 4 + c], 280 + 16 * r + 4 * c);
  hdr.write('n+1\0', 344, 'latin1');
  const body = Buffer.alloc(n * (float ? 4 : 2));
  for (let i = 0; i < n; i++) {
    if (float) body.writeFloatLE(vol.data[i], 4 * i);
    else body.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(vol.data[i] / slope))), 2 * i);
  }
  return gzipSync(Buffer.concat([hdr, body]));
}
