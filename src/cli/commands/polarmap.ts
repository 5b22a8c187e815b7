/**
 * `polarcad polarmap VOLUME... --out DIR [--colormap rainbow] [--size 256] [--apex i,j,k --base i,j,k |
 * --axis-angles az,el] [--max-voxels N]`: reconstructed SPECT volumes (NIfTI, DICOM NM) to polar maps
 * (library: src/volume, docs/volumes.md).
 */
import { wholeNumber } from '../options/parse.js';
import { withForce } from '../options/out.js';
import { claimOutputDir } from '../../util/output.js';
import type { Command } from 'commander';
import { BUILTIN_COLORMAPS, getColormap, isBuiltinColormap } from '../../polarmap/colormaps.js';
import { InputError } from '../../util/errors.js';
import { DEFAULT_MAX_VOXELS } from '../../volume/limits.js';
import { parseOverride } from '../../volume/override.js';
import { DEFAULT_VOLUME_MAP_SIZE } from '../../volume/pipeline.js';
import { polarmapVolumes } from '../../volume/run.js';
import { createProgress } from '../progress.js';

interface PolarmapCliOptions {
  out: string;
  colormap: string;
  size: string;
  apex?: string;
  base?: string;
  axisAngles?: string;
  maxVoxels: string;
  force?: boolean;
}

export function registerPolarmap(program: Command): void {
  withForce(program.command('polarmap'))
    .description(
      'reconstructed SPECT volumes (NIfTI .nii/.nii.gz, DICOM NM file or folder of slices) to 17-segment polar maps, with QC pictures',
    )
    .argument('<volumes...>', 'volume files or DICOM series folders')
    .requiredOption('--out <dir>', 'output folder (replaced only when every volume succeeds)')
    .option('--colormap <name>', BUILTIN_COLORMAPS.join('|'), 'rainbow')
    .option('--size <pixels>', 'side of the polar-map crops', String(DEFAULT_VOLUME_MAP_SIZE))
    .option('--apex <i,j,k>', 'manual apex (voxel indices; with --base)')
    .option('--base <i,j,k>', 'manual centre of the valve plane (voxel indices; with --apex)')
    .option(
      '--axis-angles <az,el>',
      'manual long axis: azimuth from left towards anterior, elevation towards inferior, degrees',
    )
    .option('--max-voxels <n>', 'reject larger volumes', String(DEFAULT_MAX_VOXELS))
    .action(async (volumes: string[], o: PolarmapCliOptions) => {
      if (!isBuiltinColormap(o.colormap))
        throw new InputError(
          `--colormap: must be one of ${BUILTIN_COLORMAPS.join(', ')}, got "${o.colormap}"`,
        );
      const override = parseOverride(
        { apex: o.apex, base: o.base, axis: o.axisAngles },
        '--apex/--base/--axis-angles',
      );
      await claimOutputDir(o.out, 'polarmap', { inputs: volumes, force: o.force });
      const progress = createProgress('polarmap');
      try {
        const maps = await polarmapVolumes(volumes, {
          out: o.out,
          colormap: getColormap(o.colormap),
          size: wholeNumber('--size', o.size, { min: 16, max: 4096 }),
          override,
          limits: { maxVoxels: wholeNumber('--max-voxels', o.maxVoxels, { min: 8, max: 2 ** 31 }) },
          onProgress: (done, total) => progress.update(done, total),
        });
        progress.stop();
        for (const m of maps)
          process.stdout.write(
            `${m.volume.source}: LV ${m.geometry.length.toFixed(0)} mm long, mid-wall radius ${m.geometry.radius.toFixed(0)} mm (${m.geometry.method}), ${m.seconds.toFixed(2)} s\n`,
          );
        process.stdout.write(
          `polarmap: ${maps.length} polar map${maps.length === 1 ? '' : 's'} into ${o.out}\n`,
        );
      } finally {
        progress.stop();
      }
    });
}
