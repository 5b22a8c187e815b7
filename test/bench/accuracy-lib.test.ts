import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { mergeResults, selectNames, VARIANTS, type RecipeFigures } from '../../bench/accuracy-lib.js';

const fig = (accuracy: number): RecipeFigures => ({
  accuracy,
  accuracyCi: [accuracy - 0.1, accuracy + 0.1],
  auc: 0.9,
  aucCi: [0.8, 1],
  ece: 0.05,
  seconds: 1,
});

test('selectNames: unset = all, 0 = none, NAME|NAME picks (names with commas included), unknown refused', () => {
  const names = VARIANTS.map((v) => v.name);
  assert.deepEqual(selectNames(undefined, names, 'V'), names);
  assert.deepEqual(selectNames('0', names, 'V'), []);
  const two = `${names[0]}|hybrid + label smoothing (0.1)`;
  assert.deepEqual(selectNames(two, names, 'V'), [names[0], 'hybrid + label smoothing (0.1)']);
  assert.throws(() => selectNames('hybrid|nope', ['hybrid'], 'POLARCAD_SUITE_LINEAR'), /POLARCAD_SUITE_LINEAR: unknown name "nope"/);
});

test('mergeResults: a partial run replaces only the figures it measured', () => {
  const previous = { c1: { hybrid: fig(0.9), 'pixel-logistic': fig(0.8) }, c2: { hybrid: fig(0.7) } };
  const merged = mergeResults(previous, [
    { cohort: 'c1', recipe: 'hybrid', figures: fig(0.95) },
    { cohort: 'c3', recipe: 'x', figures: fig(0.5) },
  ]);
  assert.equal(merged['c1']['hybrid'].accuracy, 0.95);
  assert.equal(merged['c1']['pixel-logistic'].accuracy, 0.8);
  assert.equal(merged['c2']['hybrid'].accuracy, 0.7);
  assert.equal(merged['c3']['x'].accuracy, 0.5);
  assert.equal(previous.c1.hybrid.accuracy, 0.9, 'the previous results are not changed');
});
