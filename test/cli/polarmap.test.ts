import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { cli } from '../helpers/cli.js';
import { makeNmDicom } from '../helpers/dicom.js';
import { patientPhantom, resolveCohortOptions } from '../../src/synth/cohort.js';
import { phantomVolume, sampleAnatomy } from '../../src/synth/volume.js';
import { encodeNifti } from '../../src/volume/nifti.js';
import { angleDeg, norm, sub, type Vec3 } from '../../src/volume/types.js';

/** One synthetic phantom volume (stress AC) with its true geometry. */
function phantom(seed: number) {
  const opts = resolveCohortOptions({ patients: 1, seed, mapSize: 64 });
  const { rng, grid, fields } = patientPhantom(seed, 0, 0, opts);
  return phantomVolume(grid, fields.views.stress_ac, sampleAnatomy(rng.fork('a')), 120, rng.fork('n'));
}

test('polarcad polarmap: a synthetic volume to a polar map, QC and geometry', async () => {
  const root = await mkdtemp(join(tmpdir(), 'polarcad-polarmap-'));
  try {
    const { volume, truth } = phantom(11);
    const file = join(root, 'stress.nii.gz');
    await writeFile(file, encodeNifti(volume));
    const out = join(root, 'maps');
    const r = await cli(['polarmap', file, '--out', out, '--size', '128']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual((await readdir(join(out, 'stress'))).sort(), [
      'geometry.json',
      'polarmap.png',
      'qc.png',
      'uptake.png',
    ]);
    const meta = await sharp(join(out, 'stress', 'polarmap.png')).metadata();
    assert.deepEqual([meta.width, meta.height, meta.channels], [128, 128, 3]);
    const up = await sharp(join(out, 'stress', 'uptake.png')).metadata();
    assert.equal(up.depth, 'ushort');
    const g = JSON.parse(await readFile(join(out, 'stress', 'geometry.json'), 'utf8')) as {
      axis: Vec3;
      apexMm: Vec3;
      segments: { uptake: number }[];
    };
    assert.ok(angleDeg(g.axis, truth.axis) < 10, `axis ${angleDeg(g.axis, truth.axis)} degrees off`);
    assert.ok(norm(sub(g.apexMm, truth.apex)) < 4, 'apex within one voxel');
    assert.equal(g.segments.length, 17);
    assert.match(await readFile(join(out, 'summary.csv'), 'utf8'), /^name,source,method/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('polarcad polarmap: bad inputs fail naming the file, exit 2, nothing written', async () => {
  const root = await mkdtemp(join(tmpdir(), 'polarcad-polarmap-bad-'));
  try {
    const { volume } = phantom(12);
    const gz = encodeNifti(volume);
    const good = join(root, 'good.nii.gz');
    await writeFile(good, gz);
    const png = join(root, 'map.png');
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } })
      .png()
      .toFile(png);
    const cut = join(root, 'cut.nii.gz');
    await writeFile(cut, gz.subarray(0, gz.length >> 1));
    const ct = join(root, 'ct.dcm');
    const px = new Uint16Array(16);
    const geo = {
      rows: 4,
      columns: 4,
      pixelSpacing: [1, 1] as const,
      orientation: [1, 0, 0, 0, 1, 0] as const,
    };
    await writeFile(ct, makeNmDicom({ ...geo, modality: 'CT', frames: 1, samples: px, position: [0, 0, 0] }));
    const series = join(root, 'series');
    await mkdir(series);
    for (const z of [0, 4, 12])
      await writeFile(
        join(series, `s${z}.dcm`),
        makeNmDicom({ ...geo, modality: 'NM', frames: 1, samples: px, position: [0, 0, z] }),
      );
    const flat = join(root, 'flat.nii.gz');
    await writeFile(flat, encodeNifti({ ...volume, data: new Float32Array(volume.data.length).fill(7) }));

    const out = join(root, 'maps'); // a new path: every input is checked before anything is written
    const cases: [string[], RegExp][] = [
      [[png], /map\.png: is a 2-D PNG image, not a volume/],
      [[cut], /cut\.nii\.gz: \.nii\.gz file is truncated/],
      [[ct], /ct\.dcm: is not a nuclear-medicine image \(modality CT\)/],
      [[series], /series: inconsistent slice spacing: 8\.00 mm between .*s4\.dcm and .*s12\.dcm/],
      [[flat], /flat\.nii\.gz: no left ventricle found/],
      [[good, '--max-voxels', '1000'], /good\.nii\.gz: volume has 196608 voxels .* over the limit of 1000/],
      [[good, cut], /1 unusable volume; nothing was written/],
    ];
    for (const [args, msg] of cases) {
      const r = await cli(['polarmap', ...args, '--out', out]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, msg);
      assert.equal(await stat(out).then(() => true, () => false), false, 'nothing written');
    }
    assert.deepEqual(
      (await readdir(root)).filter((n) => n.startsWith('.')),
      [],
      'no temporary left behind',
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('polarcad prepare: volume columns become polar-map crops', async () => {
  const root = await mkdtemp(join(tmpdir(), 'polarcad-prepare-vol-'));
  try {
    await writeFile(join(root, 'v.nii.gz'), encodeNifti(phantom(13).volume));
    await writeFile(
      join(root, 'm.csv'),
      'patient_id,label,stress_volume,rest_volume_nac\nP1,normal,v.nii.gz,v.nii.gz\n',
    );
    const out = join(root, 'prep');
    const r = await cli(['prepare', join(root, 'm.csv'), '--out', out, '--size', '64']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual((await readdir(join(out, 'P1'))).sort(), ['rest_nac.png', 'stress_ac.png']);
    assert.equal((await sharp(join(out, 'P1', 'stress_ac.png')).metadata()).width, 64);
    assert.match(
      await readFile(join(out, 'manifest.csv'), 'utf8'),
      /P1,normal,,,P1\/stress_ac\.png,P1\/rest_nac\.png/,
    );
    assert.ok((await stat(join(out, 'report.csv'))).isFile());
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
