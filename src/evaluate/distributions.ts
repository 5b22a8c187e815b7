/**
 * The few distribution functions the evaluation statistics need, from @stdlib (maintained,
 * tested against reference implementations). Kept in one module so the rest of src/evaluate
 * imports names, not packages.
 */
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import binomialCdf from '@stdlib/stats-base-dists-binomial-cdf';
import { InputError } from '../util/errors.js';

/** Standard normal CDF. */
export function phi(z: number): number {
  return normalCdf(z, 0, 1);
}

/** Two-sided p-value of a standard normal statistic: 2 Phi(-|z|). */
export function twoSidedNormalP(z: number): number {
  return Math.min(1, 2 * phi(-Math.abs(z)));
}

/** Binomial CDF P(X <= k) for X ~ Bin(n, p). */
export function binomCdf(k: number, n: number, p: number): number {
  return binomialCdf(k, n, p);
}

/** Check a confidence level in (0, 1) and return the two-sided normal quantile z_{1-(1-level)/2}. */
export function zForLevel(level: number): number {
  if (!(level > 0 && level < 1)) throw new InputError(`confidence level must be in (0, 1), got ${level}`);
  return normalQuantile(1 - (1 - level) / 2, 0, 1);
}
