/**
 * Fixed vectors shared by the evaluate tests: 48 patients (20 CAD), model A coarse (one decimal,
 * many ties), model B finer. The same vectors are written in test/evaluate/reference/reference_values.py,
 * which computed the reference numbers pasted into the tests (scikit-learn 1.2.1, SciPy 1.10.1,
 * statsmodels 0.13.5, NumPy 1.24.2, Debian 12 packages).
 */
import type { Label } from '../../src/domain/views.js';

export const Y: Label[] = [
  1, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0,
  1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1,
];
export const A: number[] = [
  0.6, 0.5, 0.1, 0.3, 0.5, 0.2, 0.8, 0.3, 0.8, 0.5, 0.8, 1.0, 0.0, 0.5, 0.3, 0.2, 0.7, 1.0, 0.0, 0.8, 0.4,
  0.8, 0.5, 0.3, 0.9, 1.0, 0.7, 0.8, 0.7, 0.3, 0.0, 0.2, 0.8, 1.0, 0.6, 0.0, 0.6, 0.4, 0.0, 0.2, 0.3, 1.0,
  1.0, 0.2, 0.2, 0.2, 0.6, 0.7,
];
export const B: number[] = [
  0.64, 0.42, 0.33, 0.31, 0.13, 0.35, 0.61, 0.58, 0.83, 0.7, 0.83, 0.63, 0.56, 0.35, 0.47, 0.09, 0.42, 0.36,
  0.0, 0.64, 0.17, 0.73, 0.8, 0.18, 0.58, 0.74, 0.8, 0.66, 0.66, 0.49, 0.45, 0.14, 0.68, 0.71, 0.14, 0.4,
  0.53, 0.54, 0.39, 0.37, 0.23, 0.68, 0.3, 0.12, 0.42, 0.0, 0.52, 0.35,
];

/** assert |actual - expected| <= tol (relative to max(1, |expected|)). */
export function close(actual: number, expected: number, tol = 1e-12, what = ''): void {
  if (!(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)))) {
    throw new Error(`${what}: expected ${expected}, got ${actual} (tolerance ${tol})`);
  }
}
