/**
 * `polarmapVolumes`: several volumes to polar maps into one output folder, atomically: every
 * volume is processed first; if any fails, nothing is written and every failure is listed.
 */
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify } from '../util/csv.js';
import type { Colormap } from '../polarmap/colormaps.js';
import { writeDirAtomic } from '../util/atomic.js';
import { InputError, InputErrors, errorMessage } from '../util/errors.js';
import {
  volumeFileToPolarMap,
  volumeName,
  writeVolumeOutputs,
  type VolumeMap,
  type VolumeMapOptions,
} from './pipeline.js';

export interface PolarmapRunOptions extends VolumeMapOptions {
  readonly out: string;
  readonly colormap: Colormap;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Process `paths` and write OUT/<name>/{polarmap.png, uptake.png, geometry.json, qc.png} and
 * OUT/summary.csv.
 * @throws InputErrors listing every unusable volume (nothing written)
 * @example
 *   await polarmapVolumes(['rest.nii.gz'], { out: 'maps', colormap: getColormap('rainbow') });
 */
export async function polarmapVolumes(
  paths: readonly string[],
  opts: PolarmapRunOptions,
): Promise<VolumeMap[]> {
  if (paths.length === 0) throw new InputError('polarmap: give at least one volume');
  const names = paths.map(volumeName);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new InputError(`polarmap: two volumes would both be written to ${dup}/; rename one`);
  const maps: VolumeMap[] = [];
  const problems: string[] = [];
  for (const [i, p] of paths.entries()) {
    try {
      maps.push(await volumeFileToPolarMap(p, opts));
    } catch (e) {
      problems.push(e instanceof InputError ? e.message : `${p}: internal error: ${errorMessage(e)}`);
    }
    opts.onProgress?.(i + 1, paths.length);
  }
  if (problems.length > 0)
    throw new InputErrors(
      `polarmap: ${problems.length} unusable volume${problems.length === 1 ? '' : 's'}; nothing was written`,
      problems,
    );
  await writeDirAtomic(resolve(opts.out), 'polarmap', async (tmp) => {
    for (const [i, m] of maps.entries()) await writeVolumeOutputs(m, join(tmp, names[i]), opts.colormap);
    const rows = maps.map((m, i) => [
      names[i],
      m.volume.source,
      m.geometry.method,
      m.geometry.length.toFixed(1),
      m.geometry.radius.toFixed(1),
      m.seconds.toFixed(3),
    ]);
    await writeFile(
      join(tmp, 'summary.csv'),
      stringify([['name', 'source', 'method', 'length_mm', 'radius_mm', 'seconds'], ...rows]),
    );
  });
  return maps;
}
