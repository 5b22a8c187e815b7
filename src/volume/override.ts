/** Parsing the manual LV override, one place for the command line and the manifest. */
import { InputError } from '../util/errors.js';
import type { LvOverride } from './lv.js';
import type { Vec3 } from './types.js';

function triple(s: string, what: string): Vec3 {
  const parts = s.split(',').map((t) => Number(t.trim()));
  if (parts.length !== 3 || parts.some((x) => !Number.isFinite(x)))
    throw new InputError(`${what}: expected three numbers "i,j,k" (voxel indices), got "${s}"`);
  return parts as unknown as Vec3;
}

/**
 * The override from its text fields: `apex` and `base` as "i,j,k" voxel indices (both or
 * neither), `axis` as "azimuth,elevation" in degrees. `where` prefixes messages (an option or a
 * manifest cell). Empty fields are absent.
 * @example
 *   parseOverride({ apex: '40,31,26', base: '30,38,22' }, '--apex/--base');
 */
export function parseOverride(
  f: { apex?: string; base?: string; axis?: string },
  where: string,
): LvOverride | undefined {
  const apex = f.apex?.trim() ? triple(f.apex, `${where} apex`) : undefined;
  const base = f.base?.trim() ? triple(f.base, `${where} base`) : undefined;
  if ((apex === undefined) !== (base === undefined))
    throw new InputError(`${where}: give both the apex and the base point, or neither`);
  let axisAngles: LvOverride['axisAngles'];
  if (f.axis?.trim()) {
    const p = f.axis.split(',').map((t) => Number(t.trim()));
    if (p.length !== 2 || p.some((x) => !Number.isFinite(x)))
      throw new InputError(`${where} axis: expected "azimuth,elevation" in degrees, got "${f.axis}"`);
    axisAngles = { azimuthDeg: p[0], elevationDeg: p[1] };
  }
  if (apex && axisAngles)
    throw new InputError(`${where}: give either apex and base, or the axis angles, not both`);
  if (!apex && !axisAngles) return undefined;
  return apex && base ? { apexVoxel: apex, baseVoxel: base } : { axisAngles };
}
