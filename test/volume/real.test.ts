/**
 * The three real PhysioNet rest volumes (`../shared/datasets/physionet-mps-rest-volumes`, next to
 * the repository, never copied into it): each is read, its LV found, and the fitted wall compared
 * with the network masks provided with them (Dice); the polar map must look like a rest perfusion
 * map (every segment has uptake, the map is not dominated by a few hot rays).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { dice, fittedWallMask } from '../../src/volume/mask.js';
import { volumeToPolarMap } from '../../src/volume/pipeline.js';
import { readVolume } from '../../src/volume/read.js';
import { norm, sub, voxelToWorld } from '../../src/volume/types.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIR = resolve(REPO_ROOT, '../shared/datasets/physionet-mps-rest-volumes');
const skip = existsSync(join(DIR, 'patient001_rest.nii.gz'))
  ? false
  : `real volumes not found: ${DIR} (see its README)`;

describe('the three real PhysioNet rest volumes', { skip }, () => {
  for (const n of [1, 2, 3]) {
    const name = `patient00${n}`;
    it(`${name}: LV found, wall overlapping the network mask, a plausible rest map`, async () => {
      const vol = await readVolume(join(DIR, `${name}_rest.nii.gz`));
      assert.deepEqual(vol.dims, [70, 70, 50]);
      const m = volumeToPolarMap(vol, { size: 128 });
      const g = m.geometry;
      assert.equal(g.method, 'auto');
      assert.ok(g.length > 55 && g.length < 110, `length ${g.length} mm`);
      assert.ok(g.radius > 15 && g.radius < 32, `radius ${g.radius} mm`);
      const ref = await readVolume(join(DIR, `${name}_lv_mask_predicted.nii.gz`));
      const d = dice(fittedWallMask(vol, g, m.grid), ref.data);
      assert.ok(d > 0.45, `Dice ${d.toFixed(3)} against the network mask`);
      // the mid-wall apex lies on the network's LV wall (within 2 voxels of a mask voxel)
      let nearest = Infinity;
      const [nx, ny] = ref.dims;
      ref.data.forEach((v, p) => {
        if (v > 0) {
          const q = voxelToWorld(ref.affine, p % nx, Math.floor(p / nx) % ny, Math.floor(p / (nx * ny)));
          nearest = Math.min(nearest, norm(sub(q, g.apex)));
        }
      });
      assert.ok(nearest <= 8, `the apex is ${nearest.toFixed(1)} mm from the network's wall`);
      // a rest map: every segment has uptake, the median segment above 40% of the maximum
      // (patient003 has a focal anterior hot spot: its other segments are near half of it)
      const seg = m.segments.slice().sort((a, b) => a - b);
      assert.ok(seg[0] > 0.25, `lowest segment ${seg[0]}`);
      assert.ok(seg[8] > 0.4, `median segment ${seg[8]}`);
    });
  }
});
