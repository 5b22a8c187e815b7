/**
 * Bad input of the volume readers beyond the cases of volume.test.ts and test/cli/polarmap.test.ts:
 * a single-frame NM image given as a volume, a 4-D NIfTI, size limits on files, on decompressed
 * streams and on DICOM volumes, a CT slice in a folder of NM slices. Each is a clear InputError
 * naming the file.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { makeNmDicom } from '../helpers/dicom.js';
import { decodeDicomVolume } from '../../src/volume/dicom.js';
import { decodeNifti, encodeNifti } from '../../src/volume/nifti.js';
import { decodeVolume, readVolume } from '../../src/volume/read.js';
import { InputError } from '../../src/util/errors.js';
import { normalize } from '../../src/volume/types.js';
import { shellVolume } from './fixtures.js';

const geo = {
  rows: 4,
  columns: 5,
  pixelSpacing: [2, 2] as const,
  orientation: [1, 0, 0, 0, 1, 0] as const,
};
const vol = shellVolume({ axis: normalize([-1, 1, -1]), base: [0, 0, 0], length: 80, radius: 24, wall: 10 });

describe('bad volumes', () => {
  it('a single-frame NM image given as a volume is a 2-D image', () => {
    const one = makeNmDicom({
      ...geo,
      modality: 'NM',
      frames: 1,
      samples: new Uint16Array(20),
      position: [0, 0, 0],
    });
    assert.throws(
      () => decodeVolume(one, 'planar.dcm'),
      (e: unknown) =>
        e instanceof InputError &&
        /^planar\.dcm: is a single 2-D image \(5 x 4\), not a volume/.test(e.message),
    );
  });

  it('a 4-D NIfTI with several frames (gated) is refused', () => {
    const raw = gunzipSync(encodeNifti(vol));
    raw.writeInt16LE(4, 40); // dim[0] = 4
    raw.writeInt16LE(8, 48); // dim[4] = 8 frames
    assert.throws(() => decodeNifti(gzipSync(raw), 'gated.nii.gz'), /gated\.nii\.gz: has 8 volumes/);
  });

  it('a DICOM tomogram over the voxel limit is refused before its frames are read', () => {
    const big = makeNmDicom({
      ...geo,
      modality: 'NM',
      frames: 3,
      samples: new Uint16Array(60),
      spacingBetweenSlices: 2,
      position: [0, 0, 0],
    });
    assert.throws(
      () => decodeDicomVolume(big, 'big.dcm', { maxVoxels: 50 }),
      /big\.dcm: volume has 60 voxels \(5 x 4 x 3\), over the limit of 50/,
    );
  });

  it('a .nii.gz that decompresses past the byte limit (a gzip bomb) is refused', () => {
    const bomb = gzipSync(Buffer.alloc(4 << 20)); // 4 MiB of zeros, a few kB compressed
    assert.throws(
      () => decodeVolume(bomb, 'bomb.nii.gz', { maxBytes: 1 << 20 }),
      /bomb\.nii\.gz: decompressed volume is larger than the limit of 1048576 bytes/,
    );
  });

  it('files over the byte limit, and a folder with a CT slice among NM slices, are refused by readVolume', async () => {
    const root = await mkdtemp(join(tmpdir(), 'polarcad-badvol-'));
    try {
      const file = join(root, 'v.nii.gz');
      const gz = encodeNifti(vol);
      await writeFile(file, gz);
      await assert.rejects(
        readVolume(file, { maxBytes: 1000 }),
        new RegExp(`v\\.nii\\.gz: ${gz.length} bytes, larger than the 1000 bytes limit for a volume`),
      );
      const dir = join(root, 'series');
      await mkdir(dir);
      for (const [z, modality] of [
        [0, 'NM'],
        [4, 'CT'],
        [8, 'NM'],
      ] as const)
        await writeFile(
          join(dir, `s${z}.dcm`),
          makeNmDicom({ ...geo, modality, frames: 1, samples: new Uint16Array(20), position: [0, 0, z] }),
        );
      await assert.rejects(readVolume(dir), /s4\.dcm: is not a nuclear-medicine image \(modality CT\)/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
