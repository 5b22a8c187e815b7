/**
 * A patient's predicted probability of CAD as a run records it (predictions.csv, read by
 * src/rundir/tables.ts) and as the evaluation's paired tests compare it (src/evaluate/paired.ts).
 */
import type { Label } from './views.js';

/** One patient's probability of CAD. */
export interface PatientPrediction {
  readonly id: string;
  readonly label: Label;
  readonly prob: number;
  readonly fold?: number;
  /** the `split` column, when written (e.g. `test`; `unseen` / `train` / `selection` of `evaluate --allow-overlap`) */
  readonly split?: string;
}
