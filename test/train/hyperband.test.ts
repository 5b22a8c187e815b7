import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_HEAD_SPACE,
  hyperband,
  hyperbandPlan,
  parseIntDomain,
  parseRealDomain,
  sMaxOf,
  sampleHeadConfig,
  validateHeadSpace,
  type HyperbandData,
} from '../../src/train/hyperband.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

const DATA: HyperbandData = { train: ['p1', 'p2', 'p3'], validation: ['p4', 'p5'] };

test('bracket sizes equal Li et al. (2017) Table 1 for R = 81, eta = 3', () => {
  // Table 1 of Li et al., JMLR 18(185), 2017 (n_i / r_i per bracket s):
  //   s=4: 81/1 27/3 9/9 3/27 1/81;  s=3: 34/3 11/9 3/27 1/81;  s=2: 15/9 5/27 1/81;  s=1: 8/27 2/81;  s=0: 5/81
  const plan = hyperbandPlan(81, 3);
  assert.deepEqual(
    plan.map((b) => b.s),
    [4, 3, 2, 1, 0],
  );
  assert.deepEqual(
    plan.map((b) => b.n),
    [[81, 27, 9, 3, 1], [34, 11, 3, 1], [15, 5, 1], [8, 2], [5]],
  );
  assert.deepEqual(
    plan.map((b) => b.epochs),
    [[1, 3, 9, 27, 81], [3, 9, 27, 81], [9, 27, 81], [27, 81], [81]],
  );
  for (const b of plan) for (const [i, r] of b.r.entries()) assert.ok(Math.abs(r - b.epochs[i]) < 1e-9);
});

test('s_max = floor(log_eta R) without floating-point drift', () => {
  assert.equal(sMaxOf(81, 3), 4); // Math.log(81)/Math.log(3) = 4.000000000000001 in V8
  assert.equal(sMaxOf(243, 3), 5);
  assert.equal(sMaxOf(100, 3), 4);
  assert.equal(sMaxOf(1, 3), 0);
  assert.equal(sMaxOf(1000, 10), 3); // Math.log(1000)/Math.log(10) = 2.9999999999999996
  // R = 100 (polarcad's default): s_max = 4, B = 500, n_0 = ceil(5 * 81 / 5) = 81, r_0 = 100/81 -> 1 epoch
  const p = hyperbandPlan(100, 3);
  assert.deepEqual(p[0].n, [81, 27, 9, 3, 1]);
  assert.deepEqual(p[0].epochs, [1, 4, 11, 33, 100]);
  assert.deepEqual(p[4].n, [5]);
});

test('bad R / eta are InputErrors', () => {
  assert.throws(() => hyperbandPlan(0, 3), InputError);
  assert.throws(() => hyperbandPlan(81, 1), InputError);
  assert.throws(() => hyperbandPlan(Number.NaN, 3), InputError);
});

/**
 * A known objective: x in [0, 1], y in [0, 1]; the limit score is 1 - (x - 0.3)^2 - (y - 0.8)^2
 * (optimum at (0.3, 0.8)); with e epochs the score approaches it as 1 - 1/(e + 1) times, plus a
 * configuration-independent offset, so successive halving at small budgets ranks correctly.
 */
const target = (c: { x: number; y: number }): number => 1 - (c.x - 0.3) ** 2 - (c.y - 0.8) ** 2;

test('finds the optimum of a known function, runs exactly the planned trials, successive halving keeps the best', async () => {
  const calls: { epochs: number }[] = [];
  const res = await hyperband({
    maxResource: 27,
    eta: 3,
    seed: 7,
    data: DATA,
    sample: (rng) => ({ x: rng.next(), y: rng.next() }),
    evaluate: async (c, epochs) => {
      calls.push({ epochs });
      const s = target(c) * (1 - 1 / (epochs + 1));
      return { score: s, loss: 1 - s };
    },
  });
  const plan = hyperbandPlan(27, 3);
  const planned = plan.reduce((a, b) => a + b.n.reduce((x, y) => x + y, 0), 0);
  assert.equal(res.trials.length, planned);
  assert.equal(calls.length, planned);
  // per bracket and round: exactly n_i trials with r_i epochs
  for (const b of plan) {
    for (let i = 0; i <= b.s; i++) {
      const t = res.trials.filter((x) => x.bracket === b.s && x.round === i);
      assert.equal(t.length, b.n[i], `bracket ${b.s} round ${i}`);
      assert.ok(t.every((x) => x.epochs === b.epochs[i]));
    }
  }
  // successive halving: the survivors of round i are the top floor(n_i/eta) of round i
  for (const b of plan) {
    for (let i = 0; i < b.s; i++) {
      const round = res.trials
        .filter((x) => x.bracket === b.s && x.round === i)
        .sort((a, z) => z.score - a.score);
      const next = new Set(
        res.trials.filter((x) => x.bracket === b.s && x.round === i + 1).map((x) => x.configId),
      );
      assert.deepEqual(new Set(round.slice(0, Math.floor(b.n[i] / 3)).map((x) => x.configId)), next);
    }
  }
  // the best found is the best of all sampled configurations (by limit score), and near the optimum
  const sampled = new Map(res.trials.map((t) => [t.configId, t.config]));
  const bestSampled = Math.max(...[...sampled.values()].map(target));
  assert.equal(target(res.best.config), bestSampled);
  assert.ok(
    Math.abs(res.best.config.x - 0.3) < 0.15 && Math.abs(res.best.config.y - 0.8) < 0.15,
    JSON.stringify(res.best.config),
  );
  assert.equal(res.best.epochs, 27);
  assert.equal(
    res.totalEpochs,
    res.trials.reduce((a, t) => a + t.epochs, 0),
  );
});

test('ties in score are broken by lower validation loss', async () => {
  const res = await hyperband({
    maxResource: 3,
    eta: 3,
    seed: 1,
    data: DATA,
    sample: (rng) => ({ l: rng.next() }),
    evaluate: async (c) => ({ score: 0.5, loss: c.l }),
  });
  const minLoss = Math.min(...res.trials.map((t) => t.loss));
  assert.equal(res.best.loss, minLoss);
});

test('seeded: same seed gives the same trial table; another seed a different one', async () => {
  const run = (seed: number) =>
    hyperband({
      maxResource: 9,
      seed,
      data: DATA,
      sample: (rng) => sampleHeadConfig(DEFAULT_HEAD_SPACE, rng),
      // noisy objective that uses the trial's stream
      evaluate: async (c, epochs, rng) => ({
        score: c.dropout + 0.01 * rng.normal() + epochs / 1000,
        loss: c.units / 512,
      }),
    });
  const strip = (r: Awaited<ReturnType<typeof run>>) => r.trials.map(({ seconds: _s, ...t }) => t);
  const a = await run(3);
  const b = await run(3);
  const c = await run(4);
  assert.deepEqual(strip(a), strip(b));
  assert.notDeepEqual(strip(a), strip(c));
});

test('the objective is given training and validation ids only, never anything else', async () => {
  const withTest = { train: ['a', 'b'], validation: ['c'], test: ['t1', 't2'] };
  const seen = new Set<string>();
  await hyperband({
    maxResource: 3,
    seed: 1,
    data: withTest,
    sample: () => ({}),
    evaluate: async (_c, _e, _r, data) => {
      assert.deepEqual(Object.keys(data).sort(), ['train', 'validation']);
      for (const id of [...data.train, ...data.validation]) seen.add(id);
      return { score: 0, loss: 0 };
    },
  });
  assert.deepEqual([...seen].sort(), ['a', 'b', 'c']);
  await assert.rejects(
    hyperband({
      maxResource: 3,
      seed: 1,
      data: { train: ['a'], validation: ['a'] },
      sample: () => ({}),
      evaluate: async () => ({ score: 0, loss: 0 }),
    }),
    /both training and validation/,
  );
  await assert.rejects(
    hyperband({
      maxResource: 3,
      seed: 1,
      data: { train: ['a'], validation: [] },
      sample: () => ({}),
      evaluate: async () => ({ score: 0, loss: 0 }),
    }),
    /no validation patients/,
  );
});

test('head search space: sampling stays in the space; log-uniform ints cover the range; parsing', () => {
  const rng = new Rng(11);
  for (let i = 0; i < 200; i++) {
    const c = sampleHeadConfig(DEFAULT_HEAD_SPACE, rng);
    assert.ok([64, 128, 256, 512].includes(c.units));
    assert.ok(c.dropout >= 0 && c.dropout <= 0.7);
    assert.equal(c.lrExponent, undefined);
  }
  const space = {
    units: parseIntDomain('16..1024', '--units'),
    dropout: parseRealDomain('0..0.5', '--dropout'),
    lrExponent: parseRealDomain('3,4', '--lr-exponent'),
  };
  validateHeadSpace(space);
  const us: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const c = sampleHeadConfig(space, rng);
    assert.ok(Number.isInteger(c.units) && c.units >= 16 && c.units <= 1024);
    assert.ok(c.lrExponent === 3 || c.lrExponent === 4);
    us.push(c.units);
  }
  // log-uniform: P(units < 128) = log(128/16) / log(1025/16) = 0.49988 (computed with Math.log)
  const below = us.filter((u) => u < 128).length / us.length;
  assert.ok(Math.abs(below - 0.5) < 0.05, `fraction below 128: ${below}`);
  assert.deepEqual(parseIntDomain('64, 128', '--units'), { choices: [64, 128] });
  assert.throws(() => parseIntDomain('64,abc', '--units'), /--units/);
  assert.throws(
    () => validateHeadSpace({ units: { choices: [0] }, dropout: { uniform: [0, 0.7] } }),
    /units/,
  );
  assert.throws(
    () => validateHeadSpace({ units: { choices: [64] }, dropout: { uniform: [0.5, 1.5] } }),
    /dropout/,
  );
});
