/**
 * Raster types shared by every stage of the pipeline.
 *
 * Conventions (used everywhere in polarcad):
 * - Images are row-major, origin at the top-left pixel, x to the right, y downwards.
 * - `RgbImage` is 8-bit, 3 interleaved channels (R, G, B), no alpha.
 * - `UptakeMap` is a square float raster of relative tracer uptake in [0, 1] (1 = the
 *   hottest myocardium of that map), with the polar-map disc inscribed in the square: centre
 *   at ((size - 1) / 2, (size - 1) / 2) and radius size / 2. Pixels outside the disc are 0.
 */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** length = width * height * 3 */
  readonly data: Uint8Array;
}

export interface UptakeMap {
  readonly size: number;
  /** length = size * size, row-major */
  readonly data: Float32Array;
}

/** An axis-aligned box in pixel coordinates (inclusive left/top, exclusive right/bottom). */
export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** A polar-map disc found in (or drawn into) an image. */
export interface Disc {
  readonly cx: number;
  readonly cy: number;
  readonly radius: number;
}

export function createRgbImage(width: number, height: number): RgbImage {
  return { width, height, data: new Uint8Array(width * height * 3) };
}

export function createUptakeMap(size: number): UptakeMap {
  return { size, data: new Float32Array(size * size) };
}
