import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Label } from '../../src/domain/views.js';
import { carveValidation, stratifiedHoldout, stratifiedKFold } from '../../src/ingest/splits.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

/** 70 normal (N000..N069) and 30 CAD (C000..C029) patients. */
const items = [
  ...Array.from({ length: 70 }, (_, i) => ({ id: `N${String(i).padStart(3, '0')}`, label: 0 as Label })),
  ...Array.from({ length: 30 }, (_, i) => ({ id: `C${String(i).padStart(3, '0')}`, label: 1 as Label })),
];
const labelOf = new Map(items.map((p) => [p.id, p.label]));
const countCad = (ids: readonly string[]): number => ids.filter((id) => labelOf.get(id) === 1).length;

describe('stratifiedHoldout', () => {
  it('holds out 20% of each class, patient-level, covering every id once', () => {
    const { train, test } = stratifiedHoldout(items, { seed: 7 });
    assert.equal(test.length, 20); // round(70 * 0.2) + round(30 * 0.2) = 14 + 6
    assert.equal(countCad(test), 6);
    assert.equal(train.length, 80);
    assert.equal(countCad(train), 24);
    assert.equal(new Set([...train, ...test]).size, 100);
    assert.ok(!test.some((id) => train.includes(id)));
  });

  it('is reproducible: same seed same split (whatever the input order); another seed differs', () => {
    const a = stratifiedHoldout(items, { seed: 'abc', testFraction: 0.3 });
    const b = stratifiedHoldout(new Rng(1).shuffle(items), { seed: 'abc', testFraction: 0.3 });
    assert.deepEqual(a, b);
    assert.equal(a.test.length, 30); // 21 + 9
    assert.notDeepEqual(stratifiedHoldout(items, { seed: 'abd', testFraction: 0.3 }).test, a.test);
  });

  it('rejects duplicate ids, one-patient classes and bad fractions with InputError', () => {
    assert.throws(() => stratifiedHoldout([...items, items[3]], { seed: 1 }), (e: unknown) => e instanceof InputError && /N003/.test(e.message));
    assert.throws(() => stratifiedHoldout([...items.slice(0, 10), { id: 'X', label: 1 }], { seed: 1 }), InputError);
    assert.throws(() => stratifiedHoldout(items, { seed: 1, testFraction: 1.2 }), InputError);
  });
});

describe('stratifiedKFold', () => {
  it('puts every patient in exactly one test fold with balanced class counts', () => {
    const folds = stratifiedKFold(items, { k: 10, seed: 3 });
    assert.equal(folds.length, 10);
    const seen = new Map<string, number>();
    for (const f of folds) {
      for (const id of f.test) seen.set(id, (seen.get(id) ?? 0) + 1);
      assert.equal(f.train.length + f.test.length, 100);
      assert.ok(!f.test.some((id) => f.train.includes(id)), 'train and test overlap');
      // 70/10 = 7 normal and 30/10 = 3 CAD per fold exactly
      assert.equal(f.test.length, 10);
      assert.equal(countCad(f.test), 3);
    }
    assert.equal(seen.size, 100);
    assert.ok([...seen.values()].every((n) => n === 1));
  });

  it('keeps per-class counts within 1 when they do not divide evenly', () => {
    const folds = stratifiedKFold(items.slice(0, 67).concat(items.slice(70, 93)), { k: 4, seed: 9 }); // 67 normal, 23 CAD
    const cad = folds.map((f) => countCad(f.test));
    const normal = folds.map((f) => f.test.length - countCad(f.test));
    assert.equal(cad.reduce((a, b) => a + b), 23);
    assert.ok(Math.max(...cad) - Math.min(...cad) <= 1, `CAD per fold ${cad}`);
    assert.ok(Math.max(...normal) - Math.min(...normal) <= 1, `normal per fold ${normal}`);
    const sizes = folds.map((f) => f.test.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `fold sizes ${sizes}`);
  });

  it('is reproducible and errors clearly when a class has fewer patients than folds', () => {
    assert.deepEqual(stratifiedKFold(items, { k: 5, seed: 1 }), stratifiedKFold(new Rng(2).shuffle(items), { k: 5, seed: 1 }));
    const few = [...items.slice(0, 20), ...items.slice(70, 77)];
    assert.throws(
      () => stratifiedKFold(few, { k: 10, seed: 1 }),
      (e: unknown) => e instanceof InputError && /class 1 \(CAD\) has 7 patients, fewer than k=10/.test(e.message),
    );
    assert.throws(() => stratifiedKFold(items, { k: 1, seed: 1 }), InputError);
  });
});

describe('carveValidation', () => {
  it('carves a stratified validation part from the training ids only', () => {
    const { train } = stratifiedHoldout(items, { seed: 5 }); // 56 normal + 24 CAD
    const v = carveValidation(train, labelOf, { fraction: 0.25, seed: 5 });
    assert.equal(v.validation.length, 20); // 14 + 6
    assert.equal(countCad(v.validation), 6);
    assert.equal(v.train.length, 60);
    assert.deepEqual([...v.train, ...v.validation].sort(), [...train].sort());
    // record form of the labels gives the same result
    assert.deepEqual(carveValidation(train, Object.fromEntries(labelOf), { fraction: 0.25, seed: 5 }), v);
  });

  it('names training ids without a label', () => {
    assert.throws(() => carveValidation(['N000', 'ZZZ'], labelOf, { seed: 1 }), (e: unknown) => e instanceof InputError && /ZZZ/.test(e.message));
  });
});
