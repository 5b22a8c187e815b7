/** Size limits of the volume readers (decompression bombs, wrong files). */
export interface VolumeLimits {
  /** largest number of voxels accepted (default 64 Mi: 400^3) */
  readonly maxVoxels?: number;
  /** largest file or decompressed stream, bytes (default 512 MiB) */
  readonly maxBytes?: number;
}

export const DEFAULT_MAX_VOXELS = 64 * 1024 * 1024;
export const DEFAULT_MAX_BYTES = 512 * 1024 * 1024;

export function resolveLimits(l: VolumeLimits = {}): Required<VolumeLimits> {
  return { maxVoxels: l.maxVoxels ?? DEFAULT_MAX_VOXELS, maxBytes: l.maxBytes ?? DEFAULT_MAX_BYTES };
}
