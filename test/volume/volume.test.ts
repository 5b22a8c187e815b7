import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { makeNmDicom } from '../helpers/dicom.js';
import { decodeDicomSeries, decodeDicomVolume } from '../../src/volume/dicom.js';
import { decodeNifti, encodeNifti } from '../../src/volume/nifti.js';
import { decodeVolume } from '../../src/volume/read.js';
import { fitLeftVentricle, axisFromAngles } from '../../src/volume/lv.js';
import { gridToPolarMap, sampleRays } from '../../src/volume/sample.js';
import { shortAxisDirections } from '../../src/volume/rays.js';
import { segmentMeans } from '../../src/polarmap/read-uptake.js';
import { dice, fittedWallMask } from '../../src/volume/mask.js';
import { encodeUptake16 } from '../../src/volume/pipeline.js';
import { createUptakeMap } from '../../src/domain/image.js';
import sharp from 'sharp';
import {
  angleDeg,
  invertAffine,
  norm,
  normalize,
  sub,
  symmetricEigen3,
  voxelToWorld,
  type Vec3,
} from '../../src/volume/types.js';
import { shellApex, shellVolume, type ShellSpec } from './fixtures.js';

const TYPICAL: Vec3 = normalize([-1, 1, -1]);

describe('volume geometry helpers', () => {
  it('symmetricEigen3 recovers a known decomposition', () => {
    // A = diag(9, 4, 1) rotated 30 degrees about z: eigenvalues 9, 4, 1, first vector (cos30, sin30, 0)
    const c = Math.cos(Math.PI / 6);
    const s = Math.sin(Math.PI / 6);
    const a = [9 * c * c + 4 * s * s, (9 - 4) * c * s, 0, (9 - 4) * c * s, 9 * s * s + 4 * c * c, 0, 0, 0, 1];
    const { values, vectors } = symmetricEigen3(a);
    assert.deepEqual(
      values.map((v) => Math.round(v * 1e9) / 1e9),
      [9, 4, 1],
    );
    assert.ok(angleDeg(vectors[0], [c, s, 0]) < 1e-6 || angleDeg(vectors[0], [-c, -s, 0]) < 1e-6);
  });

  it('invertAffine inverts a rotation-scaling-translation', () => {
    const a = [0, -4, 0, 10, 3, 0, 0, -5, 0, 0, 2, 7];
    const inv = invertAffine(a);
    const p = voxelToWorld(a, 1, 2, 3);
    assert.deepEqual(
      voxelToWorld(inv, ...p).map((x) => Math.round(x * 1e9) / 1e9),
      [1, 2, 3],
    );
  });

  it('axisFromAngles: azimuth 0 elevation 0 is the patient left; 90/0 anterior', () => {
    assert.ok(angleDeg(axisFromAngles(0, 0), [-1, 0, 0]) < 1e-9);
    assert.ok(angleDeg(axisFromAngles(90, 0), [0, 1, 0]) < 1e-9);
    assert.ok(angleDeg(axisFromAngles(0, 90), [0, 0, -1]) < 1e-9);
  });

  it('short-axis directions: anterior up, lateral towards the patient left, orthonormal', () => {
    const { anterior, lateral } = shortAxisDirections(TYPICAL);
    assert.ok(anterior[1] > 0, 'anterior has a +y (anterior) component');
    assert.ok(lateral[0] < 0, 'lateral points to the patient left (-x in RAS+)');
    assert.ok(Math.abs(norm(anterior) - 1) < 1e-12 && Math.abs(norm(lateral) - 1) < 1e-12);
  });
});

describe('NIfTI', () => {
  const vol = shellVolume({ axis: TYPICAL, base: [10, -15, 20], length: 80, radius: 24, wall: 10 });

  it('round trip through nifti-reader-js keeps dims, affine and values (int16 with slope)', () => {
    const back = decodeNifti(encodeNifti(vol), 'x.nii.gz');
    assert.deepEqual(back.dims, vol.dims);
    assert.deepEqual(back.spacing, [4, 4, 4]);
    back.affine.forEach((v, i) => assert.ok(Math.abs(v - vol.affine[i]) < 1e-4));
    let maxErr = 0;
    for (let i = 0; i < vol.data.length; i++) maxErr = Math.max(maxErr, Math.abs(back.data[i] - vol.data[i]));
    assert.ok(maxErr <= 100 / 32000 + 1e-6, `max error ${maxErr}`);
  });

  it('truncated .nii.gz: a clear error naming the file', () => {
    const gz = encodeNifti(vol);
    assert.throws(
      () => decodeNifti(gz.subarray(0, gz.length >> 1), 'cut.nii.gz'),
      /cut\.nii\.gz: \.nii\.gz file is truncated/,
    );
  });

  it('2-D image and over-size volumes are refused', () => {
    const raw = gunzipSync(encodeNifti(vol));
    raw.writeInt16LE(2, 40); // dim[0] = 2
    raw.writeInt16LE(1, 46); // dim[3] = 1
    assert.throws(
      () => decodeNifti(gzipSync(raw), 'flat.nii'),
      /flat\.nii: is a 2-D image \(64 x 64\), not a volume/,
    );
    assert.throws(
      () => decodeNifti(encodeNifti(vol), 'big.nii.gz', { maxVoxels: 1000 }),
      /big\.nii\.gz: volume has 196608 voxels .* over the limit of 1000/,
    );
  });

  it('a PNG given as a volume is refused by content', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]);
    assert.throws(() => decodeVolume(png, 'map.png'), /map\.png: is a 2-D PNG image, not a volume/);
  });
});

describe('DICOM NM', () => {
  const rows = 4;
  const columns = 5;
  const frames = 3;
  const samples = Uint16Array.from({ length: rows * columns * frames }, (_, i) => i);
  const base = {
    rows,
    columns,
    pixelSpacing: [2, 3] as const,
    orientation: [1, 0, 0, 0, 1, 0] as const,
  };

  it('multi-frame NM: frames are slices, geometry from the Detector Information Sequence, LPS -> RAS', () => {
    const vol = decodeDicomVolume(
      makeNmDicom({
        ...base,
        modality: 'NM',
        frames,
        samples,
        spacingBetweenSlices: 5,
        position: [-10, -20, 30],
        geometryInSequence: true,
      }),
      'tomo.dcm',
    );
    assert.deepEqual(vol.dims, [5, 4, 3]);
    assert.deepEqual(vol.spacing, [3, 2, 5]);
    assert.equal(vol.data[1 + 5 * (2 + 4 * 1)], 1 + 5 * 2 + 20);
    // voxel (1, 2, 1): LPS = (-10 + 1*3, -20 + 2*2, 30 + 5) -> RAS (7, 16, 35)
    assert.deepEqual(voxelToWorld(vol.affine, 1, 2, 1), [7, 16, 35]);
  });

  it('a CT image is refused naming the file and the modality', () => {
    const ct = makeNmDicom({
      ...base,
      modality: 'CT',
      frames: 1,
      samples: samples.subarray(0, 20),
      position: [0, 0, 0],
    });
    assert.throws(
      () => decodeDicomVolume(ct, 'ct.dcm'),
      /ct\.dcm: is not a nuclear-medicine image \(modality CT\)/,
    );
  });

  it('a folder of slices is sorted by position; inconsistent spacing is refused', () => {
    const slice = (z: number, v: number): [string, Uint8Array] => [
      `s${z}.dcm`,
      makeNmDicom({
        ...base,
        modality: 'NM',
        frames: 1,
        samples: new Uint16Array(20).fill(v),
        position: [0, 0, z],
      }),
    ];
    const vol = decodeDicomSeries('dir', [slice(8, 3), slice(0, 1), slice(4, 2)]);
    assert.deepEqual(vol.dims, [5, 4, 3]);
    assert.deepEqual([vol.data[0], vol.data[20], vol.data[40]], [1, 2, 3]);
    assert.equal(vol.spacing[2], 4);
    assert.throws(
      () => decodeDicomSeries('dir', [slice(0, 1), slice(4, 2), slice(12, 3)]),
      /dir: inconsistent slice spacing: 8\.00 mm between s4\.dcm and s12\.dcm/,
    );
  });
});

describe('LV fit on an analytic ellipsoidal shell', () => {
  const spec: ShellSpec = {
    axis: [-0.6, 0.55, -0.58],
    base: [8, -10, 12],
    length: 80,
    radius: 25,
    wall: 10,
    blurMm: 5,
  };
  const vol = shellVolume(spec);
  const g = fitLeftVentricle(vol);

  it('recovers the long axis within 5 degrees and the apex within one voxel', () => {
    assert.ok(angleDeg(g.axis, spec.axis) < 5, `axis off by ${angleDeg(g.axis, spec.axis)}`);
    const apexErr = norm(sub(g.apex, shellApex(spec)));
    assert.ok(apexErr < 4, `apex off by ${apexErr} mm`);
    assert.ok(Math.abs(g.length - spec.length) < 8, `length ${g.length}`);
  });

  it('the fitted wall overlaps the analytic wall (Dice > 0.6)', () => {
    const truthMask = Uint8Array.from(shellVolume({ ...spec, blurMm: 0, background: 0 }).data, (v) =>
      v > 0 ? 1 : 0,
    );
    const d = dice(fittedWallMask(vol, g, sampleRays(vol, g)), truthMask);
    assert.ok(d > 0.6, `Dice ${d}`);
  });

  it('no heart: a volume of uniform background fails clearly', () => {
    const flat = { ...vol, source: 'empty.nii.gz', data: new Float32Array(vol.data.length).fill(5) };
    assert.throws(() => fitLeftVentricle(flat), /empty\.nii\.gz: no left ventricle found/);
  });

  it('manual apex and base are honoured', () => {
    const inv = invertAffine(vol.affine);
    const apexV = voxelToWorld(inv, ...shellApex(spec));
    const baseV = voxelToWorld(inv, ...spec.base);
    const m = fitLeftVentricle(vol, { apexVoxel: apexV, baseVoxel: baseV });
    assert.equal(m.method, 'manual-points');
    assert.ok(angleDeg(m.axis, spec.axis) < 1e-6);
    assert.ok(Math.abs(m.length - 80) < 1e-6);
  });
});

describe('sampling a shell of known uptake', () => {
  it('a lateral half at 50% uptake reads half the uptake of the mirror septal segments', () => {
    const spec: ShellSpec = {
      axis: TYPICAL,
      base: [0, 0, 0],
      length: 80,
      radius: 25,
      wall: 10,
      blurMm: 3,
      uptake: (_p, lat) => (lat > 0 ? 0.5 : 1),
    };
    const vol = shellVolume(spec);
    const { anterior, lateral } = shortAxisDirections(TYPICAL);
    const frame = { apex: shellApex(spec), axis: TYPICAL, anterior, lateral, length: 80, radius: 22 };
    const seg = segmentMeans(gridToPolarMap(sampleRays(vol, frame), 128).uptake);
    // mirror pairs across the septal-lateral line: lateral / septal = 0.5 / 1
    for (const [lat, sep] of [
      [12, 8],
      [11, 9],
      [16, 14],
      [6, 2],
      [5, 3],
    ]) {
      const ratio = seg[lat - 1] / seg[sep - 1];
      assert.ok(ratio > 0.4 && ratio < 0.6, `segment ${lat} / segment ${sep} = ${ratio}`);
    }
  });
});

describe('uptake.png', () => {
  it('16-bit grey round trip keeps relative uptake to 1/65535', async () => {
    const m = createUptakeMap(8);
    for (let i = 0; i < 64; i++) m.data[i] = i / 63;
    const { data, info } = await sharp(await encodeUptake16(m))
      .toColourspace('grey16')
      .raw({ depth: 'ushort' })
      .toBuffer({ resolveWithObject: true });
    assert.equal(info.channels, 1);
    const u = new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
    for (let i = 0; i < 64; i++) assert.ok(Math.abs(u[i] / 65535 - i / 63) <= 1 / 65535, `pixel ${i}`);
  });
});
