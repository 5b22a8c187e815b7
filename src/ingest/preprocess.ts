/**
 * Model-input preparation: resizing, the 2x2 AC+NAC tile of Apostolopoulos et al. (2020), and
 * `toModelInput` (resize + the per-backbone scaling of `src/domain/scaling.ts`).
 *
 * Resizing filter (`resizeRgb`), separable, per axis:
 * - downsampling (source longer than target along that axis): exact area averaging ("box" /
 *   OpenCV INTER_AREA): every output pixel is the mean of the source pixels it covers, partial
 *   source pixels weighted by the covered fraction. No aliasing, no blur beyond the footprint.
 * - upsampling or same size: bilinear interpolation with half-pixel centres (the
 *   `align_corners=false, half_pixel_centers=true` convention of tf.image.resize and PIL):
 *   output pixel i samples source coordinate (i + 0.5) * src / dst - 0.5, clamped to the edge.
 * Results are rounded to the nearest integer and clamped to [0, 255].
 */
import type { RgbImage } from '../domain/image.js';
import { VIEWS, type View } from '../domain/views.js';
import { scalePixels, type ScalingMode } from '../domain/scaling.js';
import { InputError } from '../util/errors.js';

interface AxisWeights {
  /** for output i: source indices start[i] .. start[i] + count[i] - 1 */
  readonly start: Int32Array;
  readonly count: Int32Array;
  /** weights, `maxTaps` per output pixel */
  readonly weights: Float64Array;
  readonly maxTaps: number;
}

/** Per-axis resampling weights (area averaging when shrinking, bilinear otherwise). */
function axisWeights(src: number, dst: number): AxisWeights {
  const scale = src / dst;
  const start = new Int32Array(dst);
  const count = new Int32Array(dst);
  if (scale > 1) {
    const maxTaps = Math.ceil(scale) + 1;
    const weights = new Float64Array(dst * maxTaps);
    for (let i = 0; i < dst; i++) {
      const a = i * scale;
      const b = Math.min(src, (i + 1) * scale);
      const s0 = Math.floor(a);
      const s1 = Math.min(src - 1, Math.ceil(b) - 1);
      start[i] = s0;
      count[i] = s1 - s0 + 1;
      for (let s = s0; s <= s1; s++) {
        const overlap = Math.min(b, s + 1) - Math.max(a, s);
        weights[i * maxTaps + (s - s0)] = overlap / scale;
      }
    }
    return { start, count, weights, maxTaps };
  }
  const maxTaps = 2;
  const weights = new Float64Array(dst * maxTaps);
  for (let i = 0; i < dst; i++) {
    const x = Math.min(src - 1, Math.max(0, (i + 0.5) * scale - 0.5));
    const x0 = Math.floor(x);
    const f = x - x0;
    start[i] = x0;
    if (x0 + 1 < src && f > 0) {
      count[i] = 2;
      weights[i * 2] = 1 - f;
      weights[i * 2 + 1] = f;
    } else {
      count[i] = 1;
      weights[i * 2] = 1;
    }
  }
  return { start, count, weights, maxTaps };
}

/**
 * The resampling of one axis of {@link resizeRgb} as a dense `dst` x `src` matrix (row i: the
 * weights of output pixel i over the source pixels), before rounding: resizeRgb(img) is
 * round(Ry . img . Rx^T) per channel. Lets other runtimes (the ONNX export of closed-form models)
 * resize exactly as polarcad does.
 */
export function resizeMatrix(src: number, dst: number): Float64Array {
  const w = axisWeights(src, dst);
  const m = new Float64Array(dst * src);
  for (let i = 0; i < dst; i++)
    for (let k = 0; k < w.count[i]; k++) m[i * src + w.start[i] + k] = w.weights[i * w.maxTaps + k];
  return m;
}

/**
 * Resize an RGB image to `width` x `height` (area averaging when shrinking, bilinear with
 * half-pixel centres when enlarging; see the module comment). Returns a new image; the input is
 * returned as a copy when the size is unchanged.
 */
export function resizeRgb(img: RgbImage, width: number, height: number): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`resizeRgb: target size must be positive integers, got ${width}x${height}`);
  }
  if (img.width === width && img.height === height) return { width, height, data: img.data.slice() };
  const sw = img.width;
  const sh = img.height;
  const src = img.data;
  const wx = axisWeights(sw, width);
  const wy = axisWeights(sh, height);
  // horizontal pass: sh rows x width columns
  const tmp = new Float64Array(sh * width * 3);
  for (let y = 0; y < sh; y++) {
    const rowIn = y * sw * 3;
    const rowOut = y * width * 3;
    for (let i = 0; i < width; i++) {
      let r = 0;
      let g = 0;
      let b = 0;
      const s0 = wx.start[i];
      const n = wx.count[i];
      const wOff = i * wx.maxTaps;
      for (let k = 0; k < n; k++) {
        const w = wx.weights[wOff + k];
        const p = rowIn + (s0 + k) * 3;
        r += w * src[p];
        g += w * src[p + 1];
        b += w * src[p + 2];
      }
      const q = rowOut + i * 3;
      tmp[q] = r;
      tmp[q + 1] = g;
      tmp[q + 2] = b;
    }
  }
  // vertical pass
  const out = new Uint8Array(width * height * 3);
  const rowLen = width * 3;
  for (let j = 0; j < height; j++) {
    const s0 = wy.start[j];
    const n = wy.count[j];
    const wOff = j * wy.maxTaps;
    const o = j * rowLen;
    for (let c = 0; c < rowLen; c++) {
      let v = 0;
      for (let k = 0; k < n; k++) v += wy.weights[wOff + k] * tmp[(s0 + k) * rowLen + c];
      out[o + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
    }
  }
  return { width, height, data: out };
}

/**
 * The input tensor data of one image for a backbone: resized to `size` x `size` (see
 * `resizeRgb`; non-square inputs are stretched) and scaled by `mode`. Layout HWC (row-major,
 * channels last), channel order RGB except `caffe` (BGR), length size * size * 3.
 */
export function toModelInput(img: RgbImage, size: number, mode: ScalingMode): Float32Array {
  const resized = img.width === size && img.height === size ? img : resizeRgb(img, size, size);
  return scalePixels(resized.data, mode);
}

/**
 * The combined AC+NAC input of Apostolopoulos et al. (2020): the four polar maps of one
 * patient tiled 2x2 into a `size` x `size` image, each resized to size/2 x size/2, in the
 * `VIEWS` order: top-left stress AC, top-right rest AC, bottom-left stress NAC, bottom-right
 * rest NAC. `size` must be even. A missing view is an `InputError` naming it.
 */
export function tile2x2(maps: Partial<Record<View, RgbImage>>, size: number): RgbImage {
  if (!Number.isInteger(size) || size < 2 || size % 2 !== 0) {
    throw new Error(`tile2x2: size must be an even integer >= 2, got ${size}`);
  }
  const missing = VIEWS.filter((v) => maps[v] === undefined);
  if (missing.length > 0) {
    throw new InputError(`2x2 AC+NAC tile needs all four views; missing: ${missing.join(', ')}`);
  }
  const half = size / 2;
  const out = new Uint8Array(size * size * 3);
  VIEWS.forEach((view, k) => {
    const tile = resizeRgb(maps[view] as RgbImage, half, half);
    const ox = (k % 2) * half;
    const oy = Math.floor(k / 2) * half;
    for (let y = 0; y < half; y++) {
      const src = y * half * 3;
      out.set(tile.data.subarray(src, src + half * 3), ((oy + y) * size + ox) * 3);
    }
  });
  return { width: size, height: size, data: out };
}
