/**
 * Patient-level, stratified, seeded data splits. Splits are made on patient ids, never on
 * images, so the maps (and augmented copies) of one patient always stay in one part.
 *
 * Determinism: the result depends only on the set of (id, label) pairs and the seed, not on
 * the order of the input (ids are sorted before the seeded shuffle). Output id lists are sorted.
 */
import type { Label } from '../domain/views.js';
import { LABEL_NAMES } from '../domain/views.js';
import { InputError } from '../util/errors.js';
import { Rng } from '../util/rng.js';

export interface SplitItem {
  readonly id: string;
  readonly label: Label;
}

export interface Split {
  readonly train: string[];
  readonly test: string[];
}

const byId = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Ids per class, each list sorted; duplicate ids or bad labels are `InputError`s. */
function groupByClass(items: readonly SplitItem[]): Map<Label, string[]> {
  const seen = new Set<string>();
  const groups = new Map<Label, string[]>();
  for (const { id, label } of items) {
    if (typeof id !== 'string' || id === '') throw new InputError('split: empty patient id');
    if (label !== 0 && label !== 1)
      throw new InputError(`split: patient ${id} has label ${String(label)}, expected 0 or 1`);
    if (seen.has(id)) throw new InputError(`split: patient id ${id} appears more than once`);
    seen.add(id);
    const g = groups.get(label);
    if (g) g.push(id);
    else groups.set(label, [id]);
  }
  for (const g of groups.values()) g.sort(byId);
  return new Map([...groups.entries()].sort((a, b) => a[0] - b[0]));
}

function checkFraction(name: string, f: number): void {
  if (!(f > 0 && f < 1)) throw new InputError(`${name} must be in (0, 1), got ${f}`);
}

/**
 * Stratified hold-out split: within each class, round(n_c * testFraction) patients (at least
 * 1, at most n_c - 1) go to the test part, chosen by a seeded shuffle; the rest train.
 * A class with fewer than 2 patients cannot be split and is an `InputError`.
 */
export function stratifiedHoldout(
  items: readonly SplitItem[],
  opts: { testFraction?: number; seed: number | string },
): Split {
  const testFraction = opts.testFraction ?? 0.2;
  checkFraction('test fraction', testFraction);
  const rng = new Rng(opts.seed);
  const train: string[] = [];
  const test: string[] = [];
  for (const [label, ids] of groupByClass(items)) {
    if (ids.length < 2) {
      throw new InputError(
        `cannot split class ${label} (${LABEL_NAMES[label]}): it has ${ids.length} patient, need at least 2`,
      );
    }
    const nTest = Math.min(ids.length - 1, Math.max(1, Math.round(ids.length * testFraction)));
    const shuffled = rng.fork(`holdout/${label}`).shuffle(ids);
    test.push(...shuffled.slice(0, nTest));
    train.push(...shuffled.slice(nTest));
  }
  return { train: train.sort(byId), test: test.sort(byId) };
}

/**
 * Stratified k-fold cross-validation folds. Each class is shuffled (seeded) and dealt
 * round-robin over the folds, continuing the deal from one class to the next, so every patient
 * is in exactly one test fold, per-class counts of any two folds differ by at most 1, and fold
 * sizes differ by at most 1. Fold f's train part is every other patient.
 * Every class needs at least k patients (else `InputError`).
 */
export function stratifiedKFold(
  items: readonly SplitItem[],
  opts: { k?: number; seed: number | string },
): Split[] {
  const k = opts.k ?? 10;
  if (!Number.isInteger(k) || k < 2)
    throw new InputError(`number of folds k must be an integer >= 2, got ${k}`);
  const groups = groupByClass(items);
  const problems: string[] = [];
  for (const [label, ids] of groups) {
    if (ids.length < k)
      problems.push(
        `class ${label} (${LABEL_NAMES[label]}) has ${ids.length} patients, fewer than k=${k} folds`,
      );
  }
  if (problems.length > 0) throw new InputError(`cannot make ${k} stratified folds: ${problems.join('; ')}`);
  const rng = new Rng(opts.seed);
  const folds: string[][] = Array.from({ length: k }, () => []);
  let deal = 0;
  for (const [label, ids] of groups) {
    for (const id of rng.fork(`kfold/${label}`).shuffle(ids)) {
      folds[deal % k].push(id);
      deal++;
    }
  }
  const all = [...groups.values()].flat().sort(byId);
  return folds.map((fold) => {
    const inTest = new Set(fold);
    return { train: all.filter((id) => !inTest.has(id)), test: fold.sort(byId) };
  });
}

/**
 * Carve a stratified validation part out of a training part (patient level): the same rule as
 * `stratifiedHoldout` with `fraction` (default 0.2) of each class going to validation.
 * `labels` maps every training id to its label; an id without a label is an `InputError`.
 */
export function carveValidation(
  trainIds: readonly string[],
  labels: ReadonlyMap<string, Label> | Readonly<Record<string, Label>>,
  opts: { fraction?: number; seed: number | string },
): { train: string[]; validation: string[] } {
  const get = (id: string): Label | undefined =>
    labels instanceof Map
      ? labels.get(id)
      : Object.prototype.hasOwnProperty.call(labels, id)
        ? (labels as Readonly<Record<string, Label>>)[id]
        : undefined;
  const missing = trainIds.filter((id) => get(id) === undefined);
  if (missing.length > 0) {
    throw new InputError(
      `validation split: no label for patient(s) ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', ...' : ''}`,
    );
  }
  const items = trainIds.map((id) => ({ id, label: get(id) as Label }));
  const { train, test } = stratifiedHoldout(items, {
    testFraction: opts.fraction ?? 0.2,
    seed: `${String(opts.seed)}/validation`,
  });
  return { train, validation: test };
}
