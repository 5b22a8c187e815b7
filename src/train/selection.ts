/**
 * Best-epoch selection, the "greedy" rule of Hai et al. (2022): keep the weights of the epoch with
 * the highest validation accuracy; ties go to the lower validation loss, then to the earlier epoch.
 */

/** Score of one epoch on the selection set. */
export interface EpochScore {
  accuracy: number;
  loss: number;
}

/** Whether `a` is strictly better than `b` (higher accuracy; equal accuracy and lower loss). NaN never wins. */
export function isBetter(a: EpochScore, b: EpochScore): boolean {
  if (Number.isNaN(a.accuracy)) return false;
  if (Number.isNaN(b.accuracy)) return true;
  if (a.accuracy !== b.accuracy) return a.accuracy > b.accuracy;
  if (Number.isNaN(a.loss)) return false;
  return Number.isNaN(b.loss) || a.loss < b.loss;
}

/** Index of the best of `scores` under {@link isBetter} (the earliest among equals); -1 when empty. */
export function bestEpochIndex(scores: readonly EpochScore[]): number {
  let best = -1;
  scores.forEach((s, i) => {
    if (best < 0 || isBetter(s, scores[best])) best = i;
  });
  return best;
}
