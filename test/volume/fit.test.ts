/**
 * The LV fit on the cases that defeated a principal-axis fit: a short, wide ventricle with a large
 * defect next to a hotter liver (analytic fixture), an LV whose long axis points against the
 * typical orientation, generated phantoms of the volume bench whose axis or apex the first
 * version missed, and a volume with liver and gut but no heart. Truth is the fixture's geometry
 * or the generator's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cohortLabels, patientPhantom, resolveCohortOptions } from '../../src/synth/cohort.js';
import { phantomVolume, sampleAnatomy } from '../../src/synth/volume.js';
import { PEAK_COUNTS_PER_DENSITY } from '../../src/synth/volume-write.js';
import { VIEW_PARTS } from '../../src/domain/views.js';
import { Rng } from '../../src/util/rng.js';
import { circleFit, fitCylinderAxis, type WallPoint } from '../../src/volume/axis.js';
import { gaussianSmooth } from '../../src/volume/filter.js';
import { fitLeftVentricle } from '../../src/volume/lv.js';
import { angleDeg, norm, normalize, sub, symmetricEigen3, type Vec3 } from '../../src/volume/types.js';
import { shellApex, shellVolume, withBlob, type ShellSpec } from './fixtures.js';

describe('cylinder axis search', () => {
  it('circleFit recovers a circle from an arc of 200 degrees', () => {
    const xs: number[] = [];
    const ys: number[] = [];
    for (let a = 0; a <= 200; a += 5) {
      xs.push(3 + 20 * Math.cos((a * Math.PI) / 180));
      ys.push(-7 + 20 * Math.sin((a * Math.PI) / 180));
    }
    const f = circleFit(xs, ys, new Array<number>(xs.length).fill(1));
    assert.ok(Math.abs(f.xc - 3) < 1e-6 && Math.abs(f.yc + 7) < 1e-6 && Math.abs(f.r - 20) < 1e-6);
    assert.ok(f.rms < 1e-6);
  });

  it('finds the axis of a short, thick cylinder shell where the first principal axis is transverse', () => {
    // length 50 mm, mid-wall radius 26 mm, wall 10 mm: axial variance 50^2/12 = 208 < transverse 26^2/2
    const u: Vec3 = normalize([1, 2, 2]);
    const [a, b] = [normalize([2, -1, 0]), normalize([2, 4, -5])];
    const pts: WallPoint[] = [];
    for (let t = -25; t <= 25; t += 2)
      for (let th = 0; th < 360; th += 6)
        for (const r of [21, 26, 31]) {
          const c = Math.cos((th * Math.PI) / 180) * r;
          const s = Math.sin((th * Math.PI) / 180) * r;
          pts.push({ p: [0, 1, 2].map((k) => t * u[k] + c * a[k] + s * b[k]) as unknown as Vec3, w: 1 });
        }
    const cov = new Array<number>(9).fill(0);
    for (const q of pts)
      for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) cov[i * 3 + j] += q.p[i] * q.p[j];
    const pca = symmetricEigen3(cov).vectors[0];
    assert.ok(angleDeg(pca, u) > 80 && angleDeg(pca, u) < 100, 'PCA picks a transverse axis here');
    const fit = fitCylinderAxis(pts);
    const err = Math.min(angleDeg(fit.u, u), 180 - angleDeg(fit.u, u));
    // slab circles are insensitive to tilts of a few degrees: the coarse axis, refined later by the surface
    assert.ok(err < 5, `cylinder axis off by ${err} degrees`);
    assert.ok(Math.abs(fit.radius - 26) < 1.5, `radius ${fit.radius}`);
  });
});

describe('LV fit where a principal-axis fit fails', () => {
  const axis: Vec3 = normalize([-0.7, 0.5, -0.5]);

  it('short, wide LV with a lateral defect next to a hotter liver: axis within 5 degrees, apex within 4 mm', () => {
    const spec: ShellSpec = {
      axis,
      base: [10, -12, 14],
      length: 55,
      radius: 26,
      wall: 10,
      uptake: (_p, lateral) => (lateral > 5 ? 0.5 : 1),
    };
    const vol = gaussianSmooth(withBlob(shellVolume(spec), [60, 0, -60], [55, 50, 28], 1.5), 5);
    const g = fitLeftVentricle(vol);
    assert.ok(angleDeg(g.axis, axis) < 5, `axis off by ${angleDeg(g.axis, axis)} degrees`);
    assert.ok(norm(sub(g.apex, shellApex(spec))) < 4, `apex off by ${norm(sub(g.apex, shellApex(spec)))} mm`);
  });

  it('an LV pointing to the right, posterior and superior: the closed cap, not the typical orientation, decides', () => {
    const spec: ShellSpec = {
      axis: normalize([0.4, -0.3, 0.85]),
      base: [-5, 8, -25],
      length: 80,
      radius: 24,
      wall: 10,
      blurMm: 5,
    };
    const g = fitLeftVentricle(shellVolume(spec));
    assert.ok(angleDeg(g.axis, spec.axis) < 5, `axis off by ${angleDeg(g.axis, spec.axis)} degrees`);
    assert.ok(norm(sub(g.apex, shellApex(spec))) < 4);
  });

  // generated phantoms (volume bench, seed volume-bench-test) that the PCA fit missed: patient 17
  // (short LV: axis 83 degrees off), 40 (apex and base swapped), 47 (apical defect: apex 12 voxels off)
  for (const index of [17, 40, 47]) {
    it(`bench phantom ${index} (stress AC): axis within 10 degrees, apex within one voxel of the generator's`, () => {
      const seed = 'volume-bench-test';
      const opts = resolveCohortOptions({ patients: 60, seed, mapSize: 128 });
      const label = cohortLabels(new Rng(seed).fork('labels'), 60, 0.5)[index];
      const { rng, scenario, grid, fields } = patientPhantom(seed, index, label, opts);
      const anatomy = sampleAnatomy(rng.fork('volume/anatomy'));
      const peak = scenario.countDensity[VIEW_PARTS.stress_ac.phase] * PEAK_COUNTS_PER_DENSITY;
      const { volume, truth } = phantomVolume(
        grid,
        fields.views.stress_ac,
        anatomy,
        peak,
        rng.fork('volume/noise/stress_ac'),
      );
      const g = fitLeftVentricle(volume);
      assert.ok(angleDeg(g.axis, truth.axis) <= 10, `axis off by ${angleDeg(g.axis, truth.axis)} degrees`);
      assert.ok(norm(sub(g.apex, truth.apex)) <= 4, `apex off by ${norm(sub(g.apex, truth.apex))} mm`);
    });
  }
});

describe('no heart', () => {
  it('liver and gut but no LV: "no left ventricle found", naming the volume', () => {
    const empty = shellVolume({ axis, base: [0, 0, 0], length: 1, radius: 1, wall: 0 });
    const organs = withBlob(
      withBlob(empty, [50, 0, -45], [60, 50, 30], 1),
      [-30, -10, -70],
      [18, 18, 18],
      1.2,
    );
    const vol = { ...gaussianSmooth(organs, 5), source: 'abdomen.nii.gz' };
    assert.throws(() => fitLeftVentricle(vol), /abdomen\.nii\.gz: no left ventricle found/);
  });
});
const axis: Vec3 = normalize([-0.7, 0.5, -0.5]);
