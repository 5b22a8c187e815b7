/**
 * Per-backbone input scaling, part of the model input (Keras keeps `preprocess_input` beside each
 * application; here each row of the backbone table `src/models/table.ts` names its mode, and this
 * module, below the engine that feeds the backbones, says what each mode does). The one place that
 * declares the scaling modes and applies them to pixels.
 */
/**
 * Input scaling of a backbone (Keras `imagenet_utils.preprocess_input` modes):
 * - `raw`:   RGB in [0, 255], unchanged.
 * - `unit`:  RGB / 255, in [0, 1].
 * - `tf`:    RGB / 127.5 - 1, in [-1, 1] (MobileNet, Inception, Xception).
 * - `caffe`: channels reordered to BGR, then the ImageNet mean (B 103.939, G 116.779, R 123.68)
 *            subtracted, no scaling (VGG16, VGG19, ResNet50 v1).
 * - `torch`: RGB / 255, then (x - mean) / sd with ImageNet mean (0.485, 0.456, 0.406) and
 *            SD (0.229, 0.224, 0.225) (DenseNet).
 */
export type ScalingMode = 'raw' | 'unit' | 'tf' | 'caffe' | 'torch';
export const SCALING_MODES: readonly ScalingMode[] = ['raw', 'unit', 'tf', 'caffe', 'torch'];

export function isScalingMode(s: string): s is ScalingMode {
  return (SCALING_MODES as readonly string[]).includes(s);
}

/** ImageNet channel means on the 0..255 scale, in B, G, R order (Keras `caffe` mode). */
export const CAFFE_MEAN_BGR: readonly [number, number, number] = [103.939, 116.779, 123.68];
/** ImageNet channel means and SDs on the 0..1 scale, R, G, B order (Keras `torch` mode). */
export const TORCH_MEAN_RGB: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const TORCH_STD_RGB: readonly [number, number, number] = [0.229, 0.224, 0.225];

/** Apply a scaling mode to interleaved RGB bytes (HWC). See `ScalingMode`. */
export function scalePixels(rgb: Uint8Array, mode: ScalingMode): Float32Array {
  const out = new Float32Array(rgb.length);
  const n = rgb.length;
  switch (mode) {
    case 'raw':
      for (let i = 0; i < n; i++) out[i] = rgb[i];
      break;
    case 'unit':
      for (let i = 0; i < n; i++) out[i] = rgb[i] / 255;
      break;
    case 'tf':
      for (let i = 0; i < n; i++) out[i] = rgb[i] / 127.5 - 1;
      break;
    case 'caffe':
      for (let i = 0; i < n; i += 3) {
        out[i] = rgb[i + 2] - CAFFE_MEAN_BGR[0];
        out[i + 1] = rgb[i + 1] - CAFFE_MEAN_BGR[1];
        out[i + 2] = rgb[i] - CAFFE_MEAN_BGR[2];
      }
      break;
    case 'torch':
      for (let i = 0; i < n; i += 3) {
        for (let c = 0; c < 3; c++) out[i + c] = (rgb[i + c] / 255 - TORCH_MEAN_RGB[c]) / TORCH_STD_RGB[c];
      }
      break;
    default: {
      const never: never = mode;
      throw new Error(`unknown scaling mode ${String(never)}`);
    }
  }
  return out;
}
