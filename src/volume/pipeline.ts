/**
 * Volume -> polar map, end to end: read, find the LV and fit its geometry (or take the manual
 * override), sample the rays, build the bull's-eye (Germano et al. 1995; Garcia et al. 1985), and
 * produce the outputs: the colour crop exactly as `polarcad prepare` writes it (size x size PNG,
 * disc inscribed, black outside), the relative uptake as a 16-bit grey PNG, per-segment values,
 * the fitted geometry as JSON and the QC picture.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import type { UptakeMap } from '../domain/image.js';
import { getColormap, type Colormap } from '../polarmap/colormaps.js';
import { SEGMENTS } from '../polarmap/geometry.js';
import { renderUptakeMap, segmentMeans } from '../polarmap/read-uptake.js';
import { encodeRgbPng } from '../util/png.js';
import { fitLeftVentricle, type LvGeometry, type LvOverride } from './lv.js';
import type { VolumeLimits } from './limits.js';
import { renderQc } from './qc.js';
import { decodeVolume, readVolume } from './read.js';
import { gridToPolarMap, sampleRays, type RayGrid } from './sample.js';
import { invertAffine, type Vec3, type Volume } from './types.js';

export const DEFAULT_VOLUME_MAP_SIZE = 256;

export interface VolumeMapOptions {
  /** side of the polar-map crop (default 256, as `prepare`) */
  readonly size?: number;
  readonly override?: LvOverride;
  readonly limits?: VolumeLimits;
}

export interface VolumeMap {
  readonly volume: Volume;
  readonly geometry: LvGeometry;
  readonly grid: RayGrid;
  /** relative uptake, 1 = myocardial maximum */
  readonly uptake: UptakeMap;
  /** 17 segment means of the relative uptake (index 0 = segment 1) */
  readonly segments: number[];
  /** seconds spent fitting and sampling (reading excluded) */
  readonly seconds: number;
}

/**
 * A volume in memory to its polar map.
 * @example
 *   const m = volumeToPolarMap(await readVolume('rest.nii.gz'));
 *   m.segments[16]; // apex
 */
export function volumeToPolarMap(vol: Volume, opts: VolumeMapOptions = {}): VolumeMap {
  const t0 = performance.now();
  const geometry = fitLeftVentricle(vol, opts.override);
  const grid = sampleRays(vol, geometry);
  const { uptake } = gridToPolarMap(grid, opts.size ?? DEFAULT_VOLUME_MAP_SIZE);
  const segments = Array.from(segmentMeans(uptake));
  return { volume: vol, geometry, grid, uptake, segments, seconds: (performance.now() - t0) / 1000 };
}

/** Read a volume file (or DICOM folder) and make its polar map. */
export async function volumeFileToPolarMap(path: string, opts: VolumeMapOptions = {}): Promise<VolumeMap> {
  return volumeToPolarMap(await readVolume(path, opts.limits), opts);
}

/** The colour crop, byte for byte what `prepare` writes for a cleaned polar map. */
export async function encodeCrop(m: VolumeMap, cm: Colormap = getColormap('rainbow')): Promise<Buffer> {
  return encodeRgbPng(renderUptakeMap(m.uptake, cm));
}

/** Relative uptake as a 16-bit grey PNG (value / 65535), lossless to 1.5e-5. */
export async function encodeUptake16(map: UptakeMap): Promise<Buffer> {
  const px = new Uint16Array(map.size * map.size);
  for (let i = 0; i < px.length; i++) px[i] = Math.round(Math.min(1, Math.max(0, map.data[i])) * 65535);
  return sharp(px, { raw: { width: map.size, height: map.size, channels: 1 } })
    .toColourspace('grey16')
    .png()
    .toBuffer();
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;
const vec = (v: Vec3, d = 2): number[] => v.map((x) => round(x, d));

function toVoxel(vol: Volume, p: Vec3): number[] {
  const a = invertAffine(vol.affine);
  return [0, 1, 2].map((r) =>
    round(a[r * 4] * p[0] + a[r * 4 + 1] * p[1] + a[r * 4 + 2] * p[2] + a[r * 4 + 3]),
  );
}

/** The fitted geometry and the map's figures as a JSON-ready object (world mm are RAS+). */
export function geometryJson(m: VolumeMap): Record<string, unknown> {
  const g = m.geometry;
  return {
    source: m.volume.source,
    dims: m.volume.dims,
    spacingMm: vec(m.volume.spacing, 3),
    coordinates: 'world mm, NIfTI RAS+ (x right, y anterior, z superior); voxel = (i, j, k) indices',
    method: g.method,
    apexMm: vec(g.apex),
    baseMm: vec(g.base),
    apexVoxel: toVoxel(m.volume, g.apex),
    baseVoxel: toVoxel(m.volume, g.base),
    axis: vec(g.axis, 4),
    anterior: vec(g.anterior, 4),
    lateral: vec(g.lateral, 4),
    lengthMm: round(g.length, 1),
    radiusMm: round(g.radius, 1),
    threshold: Number.isFinite(g.threshold) ? round(g.threshold) : null,
    componentMl: Number.isFinite(g.componentMl) ? round(g.componentMl, 0) : null,
    myocardialMaxCounts: round(m.grid.max, 2),
    segments: SEGMENTS.map((s, i) => ({ id: s.id, name: s.name, uptake: round(m.segments[i], 4) })),
    seconds: round(m.seconds, 3),
  };
}

/** The name of a volume's output folder: its file name without .nii.gz / .nii / .dcm. */
export function volumeName(path: string): string {
  return basename(path.replace(/[\\/]+$/, '')).replace(/\.(nii\.gz|nii|dcm|dicom)$/i, '');
}

/** Write a volume's outputs into `dir` (created): polarmap.png, uptake.png, geometry.json, qc.png. */
export async function writeVolumeOutputs(m: VolumeMap, dir: string, cm: Colormap): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'polarmap.png'), await encodeCrop(m, cm));
  await writeFile(join(dir, 'uptake.png'), await encodeUptake16(m.uptake));
  await writeFile(join(dir, 'geometry.json'), JSON.stringify(geometryJson(m), null, 2) + '\n');
  await writeFile(join(dir, 'qc.png'), await renderQc(m.volume, m.geometry, m.grid, cm));
}

/**
 * An uploaded volume (bytes) to its polar-map crop (PNG), for `serve`: the same crop as `polarmap`.
 * @throws InputError naming `name` on bad input
 */
export async function volumeBytesToCrop(
  bytes: Uint8Array,
  name: string,
  opts: VolumeMapOptions = {},
): Promise<Buffer> {
  return encodeCrop(volumeToPolarMap(decodeVolume(bytes, name, opts.limits), opts));
}
