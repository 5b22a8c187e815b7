import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { N_SEGMENTS } from '../../src/polarmap/geometry.js';
import { poolSegments, segmentPooling } from '../../src/models/linear/segment-pooling.js';
import {
  applyStacker,
  fitMember,
  fitStacker,
  STACKER_CS,
  memberEvidence,
  predictMember,
} from '../../src/models/linear/stacked.js';
import { Rng } from '../../src/util/rng.js';
import { fitLogisticCV } from '../../src/models/linear/cv.js';

test('segment pooling: the weights of each segment sum to 1, a constant map pools to the constant, a map lit in one cell only lights the segments over it', () => {
  const sp = segmentPooling(14, 224);
  for (let s = 0; s < N_SEGMENTS; s++) {
    const sum = sp.weights.slice(s * 196, (s + 1) * 196).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-12);
  }
  const C = 3;
  const flat = new Float64Array(196 * C).fill(2.5);
  assert.ok(poolSegments(sp, flat, C).every((v) => Math.abs(v - 2.5) < 1e-12));
  // the centre cells belong to the apex (segment 17): light cell (7, 7) only
  const one = new Float64Array(196 * C);
  one[(7 * 14 + 7) * C] = 1;
  const pooled = poolSegments(sp, one, C);
  assert.ok(pooled[16 * C] > 0, 'apex lit');
  assert.equal(pooled[0], 0, 'basal anterior dark');
});

function cohort(n: number, p: number, seed: number): { x: Float64Array[]; y: number[] } {
  const rng = new Rng(seed);
  const x: Float64Array[] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    const v = new Float64Array(p);
    for (let j = 0; j < p; j++) v[j] = rng.normal() + (j < 3 && label === 1 ? 1 : 0);
    x.push(v);
    y.push(label);
  }
  return { x, y };
}

test('member evidence is an exact split of the logit: sum over views and segments = logit - intercept', () => {
  const { x, y } = cohort(60, 34, 1);
  const features = { kind: 'segment' as const, views: ['stress_ac' as const, 'rest_ac' as const] };
  const { member } = fitMember('segment-logistic', features, x, y, { seed: 1 });
  const p = predictMember(member, [x[0]])[0];
  const logit = Math.log(p / (1 - p));
  const e = memberEvidence(member, x[0], 1);
  const total = [...(e.stress_ac ?? []), ...(e.rest_ac ?? [])].reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(total - (logit - member.intercept)) < 1e-9, `${total} vs ${logit - member.intercept}`);
  // scaled by the stacker weight
  const e2 = memberEvidence(member, x[0], 2);
  assert.ok(Math.abs((e2.stress_ac?.[3] ?? 0) - 2 * (e.stress_ac?.[3] ?? 0)) < 1e-12);
});

test('stacker: one member is the identity; two members combine their out-of-fold logits, the informative one weighted more', () => {
  const { y } = cohort(80, 1, 2);
  const rng = new Rng(3);
  const good = Float64Array.from(y, (l) =>
    Math.min(0.99, Math.max(0.01, (l === 1 ? 0.75 : 0.25) + 0.15 * rng.normal())),
  );
  const noise = Float64Array.from(y, () => 0.2 + 0.6 * rng.next());
  const one = fitStacker([good], y, 1);
  assert.deepEqual(one, { weights: [1], intercept: 0, C: null });
  assert.deepEqual([...applyStacker(one, [good])], [...good]);
  const two = fitStacker([good, noise], y, 1);
  assert.ok(two.weights[0] > 3 * Math.abs(two.weights[1]), JSON.stringify(two));
  const p = applyStacker(two, [good, noise]);
  assert.ok(p.every((v) => v >= 0 && v <= 1));
});

test("stacker selection: a pure-noise member is left out (weight 0) and the rest equals the informative member's own stacker", () => {
  const { y } = cohort(120, 1, 4);
  const rng = new Rng(5);
  const good = Float64Array.from(y, (l) =>
    Math.min(0.99, Math.max(0.01, (l === 1 ? 0.7 : 0.3) + 0.2 * rng.normal())),
  );
  const noise = Float64Array.from(y, () => 0.05 + 0.9 * rng.next());
  const sel = fitStacker([noise, good], y, 1, 'select');
  assert.equal(sel.weights[0], 0, JSON.stringify(sel));
  // the chosen candidate is the good member alone: a Platt scaling of its logit, C by the same CV
  const logit = Float64Array.from(good, (p) => Math.log(p / (1 - p)));
  const platt = fitLogisticCV({ n: y.length, p: 1, data: logit }, y, { seed: 1, Cs: STACKER_CS });
  const a = platt.fit.weights[0] / platt.standardiser.scale[0];
  assert.ok(Math.abs(sel.weights[1] - a) < 1e-9, `${sel.weights[1]} vs ${a}`);
  assert.ok(Math.abs(sel.intercept - (platt.fit.intercept - a * platt.standardiser.mean[0])) < 1e-9);
  // 'all' keeps a (small, fitted-to-noise) weight on the noise member
  assert.notEqual(fitStacker([noise, good], y, 1, 'all').weights[0], 0);
});
