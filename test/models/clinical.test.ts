import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import {
  encodeClinical,
  encodedNames,
  fitClinicalEncoding,
  missingClinical,
  parseClinicalValues,
} from '../../src/models/linear/clinical.js';
import { clinicalEvidence, fitMember } from '../../src/models/linear/stacked.js';

const train = [
  { age: '60', sex: 'M' },
  { age: '70', sex: 'F' },
  { age: '', sex: 'M' },
  { age: '80', sex: undefined },
];

test('clinical encoding: numeric mean of the given values + missing indicator; categorical levels + indicator', () => {
  const cols = fitClinicalEncoding(['age', 'sex'], train);
  // mean of 60, 70, 80 (the empty value is not counted)
  assert.deepEqual(cols, [
    { name: 'age', kind: 'numeric', mean: 70 },
    { name: 'sex', kind: 'categorical', levels: ['F', 'M'] },
  ]);
  assert.deepEqual(encodedNames(cols), ['age', 'age_missing', 'sex=F', 'sex=M', 'sex_missing']);
  assert.deepEqual(Array.from(encodeClinical(cols, { age: '63', sex: 'F' })), [63, 0, 1, 0, 0]);
  assert.deepEqual(Array.from(encodeClinical(cols, {})), [70, 1, 0, 0, 1]);
  // an unseen level and a non-number are missing
  assert.deepEqual(Array.from(encodeClinical(cols, { age: 'old', sex: 'X' })), [70, 1, 0, 0, 1]);
  assert.deepEqual(missingClinical(cols, { age: 'old', sex: 'M' }), ['age']);
  assert.deepEqual(missingClinical(cols, { age: '50', sex: 'M' }), []);
});

test('clinical encoding refuses a column with no training value; --clinical-values parsing', () => {
  assert.throws(() => fitClinicalEncoding(['bmi'], train), /--clinical bmi: no training patient has a value/);
  assert.deepEqual(parseClinicalValues('age=63, sex=M'), { age: '63', sex: 'M' });
  assert.throws(() => parseClinicalValues('age63'), /NAME=VALUE/);
});

test('clinical member: per-variable evidence sums to the logit minus its value at the training mean', () => {
  const cols = fitClinicalEncoding(['age', 'sex'], train);
  const patients = Array.from({ length: 60 }, (_, i) => ({
    age: String(40 + (i % 30) + (i % 2) * 10),
    sex: i % 3 === 0 ? 'F' : 'M',
  }));
  const labels = patients.map((_, i) => (i % 2 === 1 ? 1 : 0));
  const vectors = patients.map((p) => encodeClinical(cols, p));
  const { member } = fitMember('clinical', { kind: 'clinical', columns: cols }, vectors, labels, { seed: 3 });
  const x = encodeClinical(cols, { age: '75', sex: 'F' });
  const e = clinicalEvidence(member, x, 1);
  assert.deepEqual(Object.keys(e).sort(), ['age', 'sex']);
  let logit = 0;
  x.forEach((v, j) => (logit += (member.weights[j] * (v - member.mean[j])) / member.scale[j]));
  assert.ok(Math.abs(e['age'] + e['sex'] - logit) < 1e-9);
  assert.ok(e['age'] > 0, 'older -> more evidence for CAD in this data');
});
