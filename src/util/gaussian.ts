/** The Gaussian smoothing kernel shared by the synthetic reconstruction (`synth/recon.ts`) and the volume filters (`volume/filter.ts`). */

/** Normalised 1-D Gaussian kernel with radius ceil(3 sigma). */
export function gaussianKernel(sigma: number): Float64Array {
  const rad = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float64Array(2 * rad + 1);
  let s = 0;
  for (let i = -rad; i <= rad; i++) {
    k[i + rad] = Math.exp(-(i * i) / (2 * sigma * sigma));
    s += k[i + rad];
  }
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}
