/**
 * Writing a synthetic patient's 3-D volumes (`polarcad synth --volumes`): one NIfTI per view under
 * `volumes/<id>/<view>.nii.gz`, the true polar map of each view as a 16-bit grey PNG
 * (`<view>_true.png`, relative uptake x 65535, the same encoding as `polarmap`'s uptake.png) and
 * `truth.json` with the true LV geometry (world mm, RAS+, and voxel indices).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Label } from '../domain/views.js';
import { VIEW_PARTS, VIEWS, VOLUME_COLUMN_OF } from '../domain/views.js';
import { encodeNifti } from '../volume/nifti.js';
import { encodeUptake16 } from '../volume/pipeline.js';
import { invertAffine, type Vec3 } from '../volume/types.js';
import { patientPhantom } from './cohort.js';
import type { CohortOptions } from './types.js';
import { fieldRaster, phantomVolume, sampleAnatomy, volumeAffine, type VolumeTruth } from './volume.js';

/** Expected counts at the hottest myocardium per unit of the scenario's count density. */
export const PEAK_COUNTS_PER_DENSITY = 2;

const r2 = (v: Vec3): number[] => v.map((x) => Math.round(x * 100) / 100);

/**
 * Generate and write patient `index`'s volumes into `dir/volumes/<id>/`; returns the manifest
 * cells (relative paths) of its volume columns.
 */
export async function writePatientVolumes(
  dir: string,
  id: string,
  index: number,
  label: Label,
  cohort: Required<CohortOptions>,
): Promise<Record<string, string>> {
  const { rng, scenario, grid, fields } = patientPhantom(cohort.seed, index, label, cohort);
  const anatomy = sampleAnatomy(rng.fork('volume/anatomy'));
  const rel = `volumes/${id}`;
  await mkdir(join(dir, rel), { recursive: true });
  const cells: Record<string, string> = {};
  let truth: VolumeTruth | undefined;
  for (const v of VIEWS) {
    const peak = scenario.countDensity[VIEW_PARTS[v].phase] * PEAK_COUNTS_PER_DENSITY;
    const out = phantomVolume(grid, fields.views[v], anatomy, peak, rng.fork(`volume/noise/${v}`));
    truth = out.truth;
    await writeFile(join(dir, rel, `${v}.nii.gz`), encodeNifti(out.volume));
    await writeFile(
      join(dir, rel, `${v}_true.png`),
      await encodeUptake16(fieldRaster(grid, fields.views[v])),
    );
    cells[VOLUME_COLUMN_OF[v]] = `${rel}/${v}.nii.gz`;
  }
  const t = truth as VolumeTruth;
  const inv = invertAffine(volumeAffine());
  const vox = (p: Vec3): number[] =>
    [0, 1, 2].map(
      (r) =>
        Math.round(
          (inv[r * 4] * p[0] + inv[r * 4 + 1] * p[1] + inv[r * 4 + 2] * p[2] + inv[r * 4 + 3]) * 100,
        ) / 100,
    );
  const json = {
    coordinates: 'world mm, NIfTI RAS+ (x right, y anterior, z superior); voxel = (i, j, k) indices',
    apexMm: r2(t.apex),
    baseMm: r2(t.base),
    apexVoxel: vox(t.apex),
    baseVoxel: vox(t.base),
    axis: t.axis.map((x) => Math.round(x * 1e4) / 1e4),
    radiusMm: Math.round(t.radius * 10) / 10,
    lengthMm: Math.round(t.length * 10) / 10,
    wallMm: Math.round(t.wallMm * 10) / 10,
    fwhmMm: Math.round(t.fwhmMm * 10) / 10,
    trueMaps: Object.fromEntries(VIEWS.map((v) => [v, `${v}_true.png`])),
  };
  await writeFile(join(dir, rel, 'truth.json'), JSON.stringify(json, null, 2) + '\n');
  return cells;
}
