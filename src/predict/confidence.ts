/**
 * The wording of a CAD probability for the reader. Bands (documented in docs/serve.md):
 *   p < 0.15          "low probability of CAD"
 *   0.15 <= p < 0.85  "moderate probability of CAD"
 *   p >= 0.85         "high probability of CAD"
 * The 15% / 85% cut-offs are those the ESC 2019 guidelines on chronic coronary syndromes (Knuuti et
 * al. 2020, Eur Heart J 41:407) use for low / intermediate / high clinical likelihood of CAD. The
 * wording describes the model's output, not the patient: the decision is taken at the model's
 * operating threshold, and the page says the model is a second reader, not a diagnosis.
 */
import { InputError } from '../util/errors.js';

/** Probability bands. */
export type ConfidenceBand = 'low' | 'moderate' | 'high';

/** Lower edges of the 'moderate' and 'high' bands. */
export const CONFIDENCE_BANDS = { moderate: 0.15, high: 0.85 } as const;

/** The band and its wording, e.g. `{ band: 'high', wording: 'high probability of CAD' }`. */
export function confidenceOf(probability: number): { band: ConfidenceBand; wording: string } {
  if (!(probability >= 0 && probability <= 1))
    throw new InputError(`probability must be in [0, 1], got ${probability}`);
  const band: ConfidenceBand =
    probability >= CONFIDENCE_BANDS.high
      ? 'high'
      : probability >= CONFIDENCE_BANDS.moderate
        ? 'moderate'
        : 'low';
  return { band, wording: `${band} probability of CAD` };
}
