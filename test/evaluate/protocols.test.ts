import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Label } from '../../src/domain/views.js';
import type { Split } from '../../src/ingest/splits.js';
import { binaryMetrics } from '../../src/evaluate/metrics.js';
import {
  crossValidate,
  holdout,
  meanSd,
  nestedCrossValidate,
  type FitPredict,
  type Prediction,
} from '../../src/evaluate/protocols.js';
import { close } from './fixtures.js';

/** 50 patients, 20 with CAD; a fake "model" scores each patient from its id and label (a fixed noisy score). */
const ITEMS = Array.from({ length: 50 }, (_, i) => ({
  id: `p${String(i).padStart(2, '0')}`,
  label: (i % 5 < 2 ? 1 : 0) as Label,
}));
const LABEL = new Map(ITEMS.map((it) => [it.id, it.label]));
const SCORE = new Map(
  ITEMS.map((it, i) => [it.id, Math.min(1, Math.max(0, 0.3 + 0.35 * it.label + 0.25 * Math.sin(i * 1.7)))]),
);

function scorer(log?: { train: string[][]; test: string[][] }): FitPredict {
  return async (train, test) => {
    log?.train.push([...train]);
    log?.test.push([...test]);
    return test.map((id) => ({ id, prob: SCORE.get(id) as number }));
  };
}

describe('crossValidate', () => {
  it('tests every patient exactly once, never on a fold it trained on', async () => {
    const log = { train: [] as string[][], test: [] as string[][] };
    const r = await crossValidate(ITEMS, { k: 10, seed: 1 }, scorer(log));
    assert.equal(r.folds.length, 10);
    const tested = log.test.flat().sort();
    assert.deepEqual(tested, ITEMS.map((it) => it.id).sort());
    log.train.forEach((tr, f) => {
      const te = new Set(log.test[f]);
      assert.ok(
        tr.every((id) => !te.has(id)),
        `fold ${f} trains on a test patient`,
      );
      assert.equal(tr.length + te.size, 50);
    });
    // Stratified: 2 CAD + 3 normal in each of the 10 folds.
    for (const f of r.folds)
      assert.deepEqual([f.metrics.tp + f.metrics.fn, f.metrics.tn + f.metrics.fp], [2, 3]);
  });

  it('pooled metrics are the metrics of the concatenated out-of-fold predictions; summary is mean and SD over folds', async () => {
    const r = await crossValidate(ITEMS, { k: 5, seed: 'pool' }, scorer());
    const all = binaryMetrics(
      ITEMS.map((it) => it.label),
      ITEMS.map((it) => SCORE.get(it.id) as number),
    );
    for (const k of ['tp', 'fp', 'tn', 'fn', 'accuracy', 'sensitivity', 'specificity', 'f1', 'auc'] as const)
      close(r.pooled[k], all[k], 1e-14, k);
    assert.equal(r.predictions.length, 50);
    const aucs = r.folds.map((f) => f.metrics.auc);
    const mean = aucs.reduce((s, x) => s + x, 0) / aucs.length;
    close(r.summary.auc.mean, mean, 1e-14, 'mean auc');
    const sd = Math.sqrt(aucs.reduce((s, x) => s + (x - mean) ** 2, 0) / (aucs.length - 1));
    close(r.summary.auc.sd, sd, 1e-14, 'sd auc');
    assert.equal(r.summary.auc.folds, 5);
  });

  it('same seed, same folds; each fold may bring its own threshold', async () => {
    const a = await crossValidate(ITEMS, { k: 5, seed: 7 }, scorer());
    const b = await crossValidate(ITEMS, { k: 5, seed: 7 }, scorer());
    assert.deepEqual(
      a.folds.map((f) => f.testIds),
      b.folds.map((f) => f.testIds),
    );
    const withT = await crossValidate(ITEMS, { k: 5, seed: 7 }, async (train, test, fold) => ({
      predictions: test.map((id) => ({ id, prob: SCORE.get(id) as number })),
      threshold: fold === 0 ? 0 : 0.5,
    }));
    assert.equal(withT.folds[0].threshold, 0);
    assert.equal(withT.folds[0].metrics.tn, 0); // everything called positive at threshold 0
    assert.ok(Number.isNaN(withT.pooled.threshold)); // mixed thresholds
    const sum = (k: 'tp' | 'fp' | 'tn' | 'fn'): number => withT.folds.reduce((s, f) => s + f.metrics[k], 0);
    assert.deepEqual(
      [withT.pooled.tp, withT.pooled.fp, withT.pooled.tn, withT.pooled.fn],
      [sum('tp'), sum('fp'), sum('tn'), sum('fn')],
    );
  });

  it('a model that memorises its training labels gets AUC 0.5 out of fold (no leakage)', async () => {
    const memoriser: FitPredict = async (train, test) => {
      const seen = new Map(train.map((id) => [id, LABEL.get(id) as Label]));
      return test.map((id) => ({ id, prob: seen.has(id) ? (seen.get(id) as number) : 0.5 }));
    };
    const r = await crossValidate(ITEMS, { k: 10, seed: 3 }, memoriser);
    assert.equal(r.pooled.auc, 0.5);
  });

  it('rejects missing, extra, duplicate and out-of-range predictions, naming fold and patient', async () => {
    const bad =
      (f: (test: readonly string[]) => Prediction[]): FitPredict =>
      async (_tr, te) =>
        f(te);
    await assert.rejects(
      crossValidate(
        ITEMS,
        { k: 5, seed: 1 },
        bad((te) => te.slice(1).map((id) => ({ id, prob: 0.5 }))),
      ),
      /fold 0: no prediction for patient/,
    );
    await assert.rejects(
      crossValidate(
        ITEMS,
        { k: 5, seed: 1 },
        bad((te) => [...te, 'zz'].map((id) => ({ id, prob: 0.5 }))),
      ),
      /patient zz, who is not in this fold/,
    );
    await assert.rejects(
      crossValidate(
        ITEMS,
        { k: 5, seed: 1 },
        bad((te) => [...te, te[0]].map((id) => ({ id, prob: 0.5 }))),
      ),
      /predicted more than once/,
    );
    await assert.rejects(
      crossValidate(
        ITEMS,
        { k: 5, seed: 1 },
        bad((te) => te.map((id) => ({ id, prob: 2 }))),
      ),
      /probability 2 for patient/,
    );
    await assert.rejects(
      crossValidate(ITEMS.slice(0, 8), { k: 10, seed: 1 }, scorer()),
      /fewer than k=10 folds/,
    );
  });
});

describe('holdout', () => {
  it('splits 80/20 within each class (Hai et al.) at patient level', async () => {
    const log = { train: [] as string[][], test: [] as string[][] };
    const r = await holdout(ITEMS, { seed: 11 }, scorer(log));
    assert.equal(log.test.length, 1);
    const test = log.test[0];
    assert.equal(test.filter((id) => LABEL.get(id) === 1).length, 4); // 20 CAD * 0.2
    assert.equal(test.filter((id) => LABEL.get(id) === 0).length, 6); // 30 normal * 0.2
    assert.ok(log.train[0].every((id) => !test.includes(id)));
    assert.equal(r.fold.metrics.n, 10);
    const ref = binaryMetrics(
      test.map((id) => LABEL.get(id) as Label),
      test.map((id) => SCORE.get(id) as number),
    );
    assert.deepEqual(r.fold.metrics, ref);
  });
});

describe('nestedCrossValidate', () => {
  it('never passes an outer test patient to select or to fitting', async () => {
    const seenBySelect: {
      outer: number;
      ids: Set<string>;
      inner: readonly Split[];
      train: readonly string[];
    }[] = [];
    const fitted: { train: readonly string[]; test: readonly string[]; config: number }[] = [];
    const r = await nestedCrossValidate(
      ITEMS,
      { outerK: 5, innerK: 4, seed: 'nested' },
      async (train, inner, outer) => {
        const ids = new Set([...train, ...inner.flatMap((s) => [...s.train, ...s.test])]);
        seenBySelect.push({ outer, ids, inner, train });
        // "choose" the inner fold count as the config, scored only on inner folds
        return inner.length * 10 + outer;
      },
      async (train, test, fold, config) => {
        fitted.push({ train, test, config });
        return test.map((id) => ({ id, prob: SCORE.get(id) as number }));
      },
    );
    assert.equal(r.folds.length, 5);
    assert.deepEqual(r.configs, [40, 41, 42, 43, 44]);
    r.folds.forEach((fold, f) => {
      const testIds = new Set(fold.testIds);
      const sel = seenBySelect[f];
      assert.equal(sel.outer, f);
      assert.ok(
        [...sel.ids].every((id) => !testIds.has(id)),
        `outer fold ${f}: select saw a test patient`,
      );
      assert.ok(
        fitted[f].train.every((id) => !testIds.has(id)),
        `outer fold ${f}: fitted on a test patient`,
      );
      assert.equal(fitted[f].config, 40 + f);
      // inner folds partition the outer training part
      assert.equal(sel.inner.length, 4);
      assert.deepEqual(sel.inner.flatMap((s) => s.test).sort(), [...sel.train].sort());
    });
    assert.deepEqual(r.predictions.map((p) => p.id).sort(), ITEMS.map((it) => it.id).sort());
  });
});

describe('meanSd', () => {
  it('skips undefined folds and uses the n-1 SD', () => {
    const m = meanSd([1, 2, NaN, 3, 4]);
    assert.equal(m.mean, 2.5);
    close(m.sd, 1.2909944487358056, 1e-15, 'sd'); // numpy.std([1,2,3,4], ddof=1)
    assert.equal(m.folds, 4);
    assert.ok(Number.isNaN(meanSd([NaN]).mean));
  });
});
