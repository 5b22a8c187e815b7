/**
 * Segment pooling: average a CNN feature map over each of the 17 AHA segments of the polar map
 * (Cerqueira et al., Circulation 2002) instead of over the whole map. Global average pooling (the
 * head of Hai et al. 2022) throws away *where* a defect is; a perfusion defect's meaning is its
 * place (the coronary territory), so the pooled features keep one vector per segment.
 *
 * The feature map of an input of side S on a grid of g x g cells: each cell covers (S/g)^2 input
 * pixels; a segment's weight on a cell is the share of the segment's pixels that fall in that
 * cell (so each segment's weights sum to 1). Pooling is linear, which keeps explanations exact:
 * a linear classifier on pooled features attributes its logit to segments without approximation.
 */
import { N_SEGMENTS, segmentLabels } from '../../polarmap/geometry.js';

/** Weights of a g x g feature map for the 17 segments of an input of side `inputSize`. */
export interface SegmentPooling {
  readonly grid: number;
  readonly inputSize: number;
  /** N_SEGMENTS x grid^2, row-major; each row sums to 1 */
  readonly weights: Float64Array;
}

const poolingCache = new Map<string, SegmentPooling>();

/**
 * The pooling weights for a `grid` x `grid` map of an `inputSize` input (cached).
 * @example
 * const sp = segmentPooling(14, 224); // MobileNetV2 block 13 at 224 px
 * sp.weights.length; // 17 * 196
 */
export function segmentPooling(grid: number, inputSize: number): SegmentPooling {
  const key = `${grid}/${inputSize}`;
  const have = poolingCache.get(key);
  if (have !== undefined) return have;
  if (!Number.isInteger(grid) || grid < 1 || !Number.isInteger(inputSize) || inputSize < grid)
    throw new RangeError(
      `segment pooling: grid ${grid} and input side ${inputSize} must be whole numbers with grid <= side`,
    );
  const labels = segmentLabels(inputSize);
  const weights = new Float64Array(N_SEGMENTS * grid * grid);
  for (let y = 0; y < inputSize; y++) {
    const gy = Math.min(grid - 1, Math.floor((y * grid) / inputSize));
    for (let x = 0; x < inputSize; x++) {
      const s = labels[y * inputSize + x];
      if (s === 0) continue;
      const gx = Math.min(grid - 1, Math.floor((x * grid) / inputSize));
      weights[(s - 1) * grid * grid + gy * grid + gx] += 1;
    }
  }
  for (let s = 0; s < N_SEGMENTS; s++) {
    const row = weights.subarray(s * grid * grid, (s + 1) * grid * grid);
    const total = row.reduce((a, b) => a + b, 0);
    if (total === 0)
      throw new RangeError(`segment pooling: segment ${s + 1} covers no pixel at side ${inputSize}`);
    for (let k = 0; k < row.length; k++) row[k] /= total;
  }
  const sp = { grid, inputSize, weights };
  poolingCache.set(key, sp);
  return sp;
}

/**
 * Pool one channels-last feature map (grid x grid x C) over the segments: 17 x C values,
 * segment-major.
 */
export function poolSegments(sp: SegmentPooling, map: ArrayLike<number>, channels: number): Float64Array {
  const cells = sp.grid * sp.grid;
  if (map.length !== cells * channels)
    throw new RangeError(`segment pooling: ${map.length} values, expected ${sp.grid}x${sp.grid}x${channels}`);
  const out = new Float64Array(N_SEGMENTS * channels);
  for (let s = 0; s < N_SEGMENTS; s++) {
    const o = s * channels;
    for (let k = 0; k < cells; k++) {
      const w = sp.weights[s * cells + k];
      if (w === 0) continue;
      const m = k * channels;
      for (let c = 0; c < channels; c++) out[o + c] += w * map[m + c];
    }
  }
  return out;
}
