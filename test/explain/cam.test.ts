/**
 * CAM and Grad-CAM on tiny models with seeded weights:
 * - the Grad-CAM channel weights against central finite differences of a head forward written
 *   by hand in float64 (GAP or GMP, Dense + ReLU, Dense, logit difference), independent of tfjs;
 * - the map against ReLU(sum_k alpha_k A_k) computed by hand;
 * - the head part's probabilities against the full model's `predict`;
 * - CAM == Grad-CAM x h w on a GAP -> Dense(2) head (Zhou et al. 2016 vs Selvaraju et al. 2017);
 * - no tensor leaks; errors for bad cuts, bad inputs, and CAM on a hidden-layer head;
 * - the Explainer end to end (ONNX Runtime backbone part == tfjs intermediate output).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { initBackend, tf } from '../../src/engine/backend.js';
import { cam, camChannelWeights, gradCam, splitAtLayer } from '../../src/explain/cam.js';
import { Explainer, explainInfoFrom, explainStudy } from '../../src/explain/index.js';
import type { RgbImage } from '../../src/domain/image.js';
import { toModelInput } from '../../src/ingest/preprocess.js';
import { InputError } from '../../src/util/errors.js';
import { Rng } from '../../src/util/rng.js';

const IN = 16;

before(async () => {
  await initBackend('wasm');
});

/** Fill every weight of `model` with seeded uniform values in [-scale, scale]. */
function seedWeights(model: tf.LayersModel, seed: number, scale = 0.5): void {
  const rng = new Rng(seed);
  for (const l of model.layers) {
    const ws = l.getWeights();
    if (ws.length === 0) continue;
    l.setWeights(
      ws.map((w) =>
        tf.tensor(
          Array.from({ length: w.size }, () => rng.uniform(-scale, scale)),
          w.shape,
        ),
      ),
    );
  }
}

/** input [IN, IN, 3] -> conv 'feat' (6 filters, stride 2, ReLU) -> pool -> [Dense(hidden, ReLU) -> Dropout] -> Dense(2, softmax). */
function tinyModel(opts: { hidden: number | null; pool: 'avg' | 'max'; seed: number }): tf.LayersModel {
  const input = tf.input({ shape: [IN, IN, 3] });
  let x = tf.layers
    .conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'feat' })
    .apply(input) as tf.SymbolicTensor;
  x = (
    opts.pool === 'avg'
      ? tf.layers.globalAveragePooling2d({ name: 'gap' })
      : tf.layers.globalMaxPooling2d({ name: 'gmp' })
  ).apply(x) as tf.SymbolicTensor;
  if (opts.hidden !== null) {
    x = tf.layers
      .dense({ units: opts.hidden, activation: 'relu', name: 'hidden' })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.dropout({ rate: 0.5, name: 'drop' }).apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers.dense({ units: 2, activation: 'softmax', name: 'out' }).apply(x) as tf.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: x, name: `tiny_${opts.pool}_${opts.hidden ?? 'linear'}` });
  seedWeights(m, opts.seed);
  return m;
}

interface HeadWeights {
  w1: number[][] | null;
  b1: number[] | null;
  w2: number[][];
  b2: number[];
}

function headWeights(model: tf.LayersModel): HeadWeights {
  const get = (name: string): { k: number[][]; b: number[] } => {
    const [k, b] = model.getLayer(name).getWeights();
    return { k: k.arraySync() as number[][], b: b.arraySync() as number[] };
  };
  const out = get('out');
  const hidden = model.layers.some((l) => l.name === 'hidden') ? get('hidden') : null;
  return { w1: hidden?.k ?? null, b1: hidden?.b ?? null, w2: out.k, b2: out.b };
}

/** The head by hand in float64: pooled -> [ReLU(W1 . + b1)] -> W2 . + b2 -> z1 - z0. */
function scoreByHand(
  a: Float64Array,
  shape: readonly [number, number, number],
  hw: HeadWeights,
  pool: 'avg' | 'max',
): number {
  const [h, w, c] = shape;
  const pooled = new Float64Array(c).fill(pool === 'avg' ? 0 : -Infinity);
  for (let p = 0; p < h * w; p++) {
    for (let k = 0; k < c; k++)
      pooled[k] = pool === 'avg' ? pooled[k] + a[p * c + k] / (h * w) : Math.max(pooled[k], a[p * c + k]);
  }
  let v: Float64Array = pooled;
  if (hw.w1 !== null && hw.b1 !== null) {
    const u = hw.b1.length;
    const hid = new Float64Array(u);
    for (let j = 0; j < u; j++) {
      let s = hw.b1[j];
      for (let k = 0; k < c; k++) s += v[k] * hw.w1[k][j];
      hid[j] = Math.max(0, s);
    }
    v = hid;
  }
  const z = [0, 1].map((cls) => v.reduce((s, x, k) => s + x * hw.w2[k][cls], hw.b2[cls]));
  return z[1] - z[0];
}

/** The CAM layer's output for an image, from the tfjs model. */
function featureOf(model: tf.LayersModel, image: Float32Array): Float32Array {
  const sub = tf.model({ inputs: model.inputs, outputs: model.getLayer('feat').output as tf.SymbolicTensor });
  return tf
    .tidy(() => (sub.predict(tf.tensor4d(image, [1, IN, IN, 3])) as tf.Tensor).dataSync() as Float32Array)
    .slice();
}

/** A random positive feature map (no ties, so max pooling is differentiable everywhere). */
function randomFeatures(seed: number, n = 8 * 8 * 6): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.uniform(0.05, 1));
}

function randomImage(seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: IN * IN * 3 }, () => rng.uniform(0, 1));
}

describe('Grad-CAM gradients against finite differences', () => {
  for (const pool of ['avg', 'max'] as const) {
    test(`${pool} pooling -> Dense(5, ReLU) -> Dense(2): alpha_k = mean of d(z1 - z0)/dA by central differences`, () => {
      const model = tinyModel({ hidden: 5, pool, seed: 3 });
      const { head } = splitAtLayer(model, 'feat');
      assert.deepEqual(head.featureShape, [8, 8, 6]);
      assert.equal(head.camWeights, null, 'a hidden layer: CAM does not apply');
      const A = randomFeatures(10);
      const g = gradCam(A, head, 1);
      const hw = headWeights(model);
      const a64 = Float64Array.from(A);
      const [h, w, c] = head.featureShape;
      const eps = 1e-4;
      const fdGrad = new Float64Array(a64.length);
      for (let i = 0; i < a64.length; i++) {
        const keep = a64[i];
        a64[i] = keep + eps;
        const up = scoreByHand(a64, head.featureShape, hw, pool);
        a64[i] = keep - eps;
        const down = scoreByHand(a64, head.featureShape, hw, pool);
        a64[i] = keep;
        fdGrad[i] = (up - down) / (2 * eps);
      }
      // the score itself
      assert.ok(Math.abs(g.score - scoreByHand(a64, head.featureShape, hw, pool)) < 1e-4, `score ${g.score}`);
      let maxAlpha = 0;
      for (let k = 0; k < c; k++) {
        let s = 0;
        for (let p = 0; p < h * w; p++) s += fdGrad[p * c + k];
        const alpha = s / (h * w);
        maxAlpha = Math.max(maxAlpha, Math.abs(alpha));
        assert.ok(
          Math.abs(g.weights[k] - alpha) < 1e-4 + 1e-3 * Math.abs(alpha),
          `channel ${k}: tfjs ${g.weights[k]} vs finite differences ${alpha}`,
        );
      }
      assert.ok(maxAlpha > 1e-3, 'the gradient is not trivially zero');
      // map = ReLU(sum_k alpha_k A_k), by hand from the finite-difference alphas
      for (let p = 0; p < h * w; p++) {
        let s = 0;
        for (let k = 0; k < c; k++) s += g.weights[k] * A[p * c + k];
        assert.ok(Math.abs(g.map[p] - Math.max(0, s)) < 1e-5, `pixel ${p}`);
      }
      // class 0: the score is z0 - z1, so the weights flip sign
      const g0 = gradCam(A, head, 0);
      for (let k = 0; k < c; k++) assert.ok(Math.abs(g0.weights[k] + g.weights[k]) < 1e-6);
      model.dispose();
    });
  }

  test('the head part reproduces the full model (same layers, same weights)', () => {
    const model = tinyModel({ hidden: 4, pool: 'avg', seed: 8 });
    const { head } = splitAtLayer(model, 'feat');
    const img = randomImage(21);
    const g = gradCam(featureOf(model, img), head, 1);
    const want = tf.tidy(
      () => (model.predict(tf.tensor4d(img, [1, IN, IN, 3])) as tf.Tensor).dataSync() as Float32Array,
    );
    assert.ok(Math.abs(g.probabilities[0] - want[0]) < 1e-5 && Math.abs(g.probabilities[1] - want[1]) < 1e-5);
    // logit difference = log(p1 / p0)
    assert.ok(Math.abs(g.score - Math.log(want[1] / want[0])) < 1e-4);
    model.dispose();
  });
});

describe('CAM (Zhou et al. 2016)', () => {
  test('on a GAP -> Dense(2) head, ReLU(CAM) = h w x Grad-CAM (agreement up to a positive scale)', () => {
    const model = tinyModel({ hidden: null, pool: 'avg', seed: 5 });
    const { head } = splitAtLayer(model, 'feat');
    assert.ok(head.camWeights !== null, 'GAP -> Dense: CAM applies');
    const [h, w] = head.featureShape;
    let compared = 0;
    const W = model.getLayer('out').getWeights()[0].arraySync() as number[][];
    const b = head.camWeights.bias;
    for (const seed of [1, 2, 3]) {
      for (const cls of [0, 1]) {
        const A = randomFeatures(seed);
        const g = gradCam(A, head, cls);
        const m = cam(A, head.featureShape, head.camWeights, cls);
        // the Dense kernel by hand: w_k = W[k][cls] - W[k][1 - cls]
        const wk = camChannelWeights(head.camWeights, cls);
        W.forEach((row, k) => assert.ok(Math.abs(wk[k] - (row[cls] - row[1 - cls])) < 1e-7));
        for (let p = 0; p < h * w; p++) {
          assert.ok(
            Math.abs(Math.max(0, m[p]) - h * w * g.map[p]) < 1e-5 * (1 + Math.abs(m[p])),
            `pixel ${p}: CAM ${m[p]} vs ${h * w} x Grad-CAM ${g.map[p]}`,
          );
          if (m[p] > 0) compared++;
        }
        // the class score is the mean of the CAM plus the bias difference
        const mean = m.reduce((s, x) => s + x, 0) / (h * w);
        assert.ok(Math.abs(mean + b[cls] - b[1 - cls] - g.score) < 1e-4);
      }
    }
    assert.ok(compared > 10, 'some positive CAM pixels were compared');
    model.dispose();
  });

  test('CAM weights are only offered for GAP -> Dense heads', () => {
    const gmp = tinyModel({ hidden: null, pool: 'max', seed: 5 });
    assert.equal(splitAtLayer(gmp, 'feat').head.camWeights, null);
    gmp.dispose();
  });
});

describe('no tensor leaks', () => {
  test('gradCam and the head part leave the tensor count unchanged', () => {
    const model = tinyModel({ hidden: 5, pool: 'avg', seed: 4 });
    const { head } = splitAtLayer(model, 'feat');
    const A = featureOf(model, randomImage(4));
    gradCam(A, head, 1); // warm-up
    const before = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) gradCam(A, head, i % 2);
    tf.tidy(() => {
      head.probabilities(tf.tensor4d(A, [1, 8, 8, 6]));
    });
    assert.equal(tf.memory().numTensors, before);
    model.dispose();
  });
});

describe('errors', () => {
  test('bad cuts, feature maps and classes are InputErrors naming the problem', () => {
    const model = tinyModel({ hidden: 5, pool: 'avg', seed: 4 });
    assert.throws(
      () => splitAtLayer(model, 'nope'),
      (e: unknown) => e instanceof InputError && /no top-level layer named "nope"/.test(e.message),
    );
    assert.throws(
      () => splitAtLayer(model, 'out'),
      (e: unknown) => e instanceof InputError && /last layer/.test(e.message),
    );
    assert.throws(
      () => splitAtLayer(model, 'gap'),
      (e: unknown) => e instanceof InputError && /expected a feature map/.test(e.message),
    );
    const { head } = splitAtLayer(model, 'feat');
    assert.throws(
      () => gradCam(new Float32Array(10), head),
      (e: unknown) => e instanceof InputError && /expected 8x8x6/.test(e.message),
    );
    assert.throws(
      () => gradCam(new Float32Array(8 * 8 * 6), head, 2),
      (e: unknown) => e instanceof InputError && /class index/.test(e.message),
    );
    model.dispose();
    // a skip connection across the cut
    const input = tf.input({ shape: [IN, IN, 3] });
    const a = tf.layers
      .conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'a' })
      .apply(input) as tf.SymbolicTensor;
    const b = tf.layers
      .conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'b' })
      .apply(a) as tf.SymbolicTensor;
    const s = tf.layers.add({ name: 'sum' }).apply([a, b]) as tf.SymbolicTensor;
    const o = tf.layers
      .dense({ units: 2, activation: 'softmax', name: 'o' })
      .apply(tf.layers.globalAveragePooling2d({}).apply(s)) as tf.SymbolicTensor;
    const skip = tf.model({ inputs: input, outputs: o });
    assert.throws(
      () => splitAtLayer(skip, 'b'),
      (e: unknown) => e instanceof InputError && /also read \[a\]/.test(e.message),
    );
    skip.dispose();
  });
});

function checkerImage(n: number): RgbImage {
  const data = new Uint8Array(n * n * 3);
  const c = (n - 1) / 2;
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if ((x - c) ** 2 + (y - c) ** 2 > (n / 2) ** 2) continue;
      const o = (y * n + x) * 3;
      data[o] = 40 + ((x * 7 + y * 3) % 200);
      data[o + 1] = y < n / 2 ? 220 : 60;
      data[o + 2] = 90;
    }
  }
  return { width: n, height: n, data };
}

describe('Explainer', () => {
  test('ONNX Runtime feature map equals tfjs; probability equals predict; figure is a PNG of the reported size', async () => {
    const model = tinyModel({ hidden: 5, pool: 'avg', seed: 12 });
    const info = explainInfoFrom({ camLayer: 'feat', inputSize: IN, scaling: 'unit' });
    const ex = await Explainer.create(model, info, { threads: 1 });
    try {
      const img = checkerImage(40);
      const x = toModelInput(img, IN, 'unit');
      const fm = await ex.featureMap(img);
      const want = featureOf(model, x);
      let maxDiff = 0;
      for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(fm[i] - want[i]));
      assert.ok(maxDiff < 1e-4, `ORT vs tfjs feature map max |diff| ${maxDiff}`);
      const e = await ex.explain(img, { displaySize: 64 });
      const p = tf.tidy(
        () => (model.predict(tf.tensor4d(x, [1, IN, IN, 3])) as tf.Tensor).dataSync() as Float32Array,
      );
      assert.ok(Math.abs(e.probability - p[1]) < 1e-4, `${e.probability} vs ${p[1]}`);
      assert.equal(e.method, 'gradcam');
      assert.equal(e.heatmap.width * e.heatmap.height, 64);
      const meta = await sharp(e.overlayPng).metadata();
      assert.equal(meta.format, 'png');
      assert.equal(meta.width, e.figure.width);
      assert.equal(meta.height, e.figure.height);
      const total = e.segments.reduce((s, v) => s + v, 0);
      assert.ok(total === 0 || Math.abs(total - 1) < 1e-9);
      await assert.rejects(
        ex.explain(img, { method: 'cam' }),
        (err: unknown) => err instanceof InputError && /use Grad-CAM/.test(err.message),
      );
      await assert.rejects(
        ex.explain({ width: 40, height: 30, data: new Uint8Array(40 * 30 * 3) }),
        (err: unknown) => err instanceof InputError && /square/.test(err.message),
      );
    } finally {
      await ex.dispose();
      model.dispose();
    }
  });

  test('a GAP -> Dense model is explained by CAM by default, and explainStudy disposes its session', async () => {
    const model = tinyModel({ hidden: null, pool: 'avg', seed: 13 });
    const e = await explainStudy(
      model,
      { camLayer: 'feat', inputSize: IN, scaling: 'unit' },
      checkerImage(32),
      { displaySize: 32, threads: 1 },
    );
    assert.equal(e.method, 'cam');
    // the same study by Grad-CAM: the same heatmap up to scale, hence the same shares
    const g = await explainStudy(
      model,
      { camLayer: 'feat', inputSize: IN, scaling: 'unit' },
      checkerImage(32),
      { displaySize: 32, threads: 1, method: 'gradcam' },
    );
    for (let k = 0; k < 17; k++) assert.ok(Math.abs(e.segments[k] - g.segments[k]) < 1e-5);
    for (let i = 0; i < e.heatmapOnMap.data.length; i++)
      assert.ok(Math.abs(e.heatmapOnMap.data[i] - g.heatmapOnMap.data[i]) < 1e-5);
    model.dispose();
  });

  test('the displayed heatmap is weighted by the evidence for CAD: same Grad-CAM, quiet at P = 0.10, bright at P = 0.95', async () => {
    // GAP -> Dense(2): the output bias moves the probability but not the Grad-CAM (the gradient of
    // z1 - z0 with respect to the features does not depend on the bias), so only the weight differs
    const model = tinyModel({ hidden: null, pool: 'avg', seed: 21 });
    const info = { camLayer: 'feat', inputSize: IN, scaling: 'unit' as const };
    const img = checkerImage(32);
    const opts = { displaySize: 32, threads: 1, method: 'gradcam' as const };
    const base = await explainStudy(model, info, img, opts);
    const out = model.getLayer('out');
    const [k, b] = out.getWeights();
    const b0 = b.arraySync() as number[];
    const at = async (p: number): ReturnType<typeof explainStudy> => {
      const shift = Math.log(p / (1 - p)) - base.score;
      out.setWeights([k, tf.tensor1d([b0[0], b0[1] + shift])]);
      return explainStudy(model, info, img, opts);
    };
    const normal = await at(0.1);
    const cad = await at(0.95);
    assert.ok(Math.abs(normal.probability - 0.1) < 1e-3, `${normal.probability}`);
    assert.ok(Math.abs(cad.probability - 0.95) < 1e-3, `${cad.probability}`);
    for (const e of [base, normal, cad]) {
      assert.equal(e.evidenceWeight, e.probability);
      const rel = e.relativeOnMap.data;
      assert.equal(Math.max(...rel), 1, 'a non-empty relative heatmap has maximum 1');
      let max = 0;
      for (let i = 0; i < rel.length; i++) {
        const d = e.heatmapOnMap.data[i];
        assert.ok(d >= 0 && d <= e.evidenceWeight + 1e-6, `displayed ${d} above the weight ${e.evidenceWeight}`);
        assert.ok(Math.abs(d - rel[i] * e.evidenceWeight) < 1e-6);
        max = Math.max(max, d);
      }
      assert.ok(Math.abs(max - e.evidenceWeight) < 1e-6, `displayed maximum ${max} = P(CAD)`);
    }
    // the same picture up to brightness: same relative heatmap, same shares and words
    for (let i = 0; i < normal.relativeOnMap.data.length; i++)
      assert.ok(Math.abs(normal.relativeOnMap.data[i] - cad.relativeOnMap.data[i]) < 1e-5);
    assert.equal(normal.sentence, cad.sentence);
    assert.ok(Math.max(...normal.heatmapOnMap.data) < 0.2 * Math.max(...cad.heatmapOnMap.data));
    model.dispose();
  });

  test('2x2 tile layout: four views explained together, shares per view sum to 1', async () => {
    const model = tinyModel({ hidden: 5, pool: 'avg', seed: 14 });
    const views = {
      stress_ac: checkerImage(24),
      rest_ac: checkerImage(24),
      stress_nac: checkerImage(24),
      rest_nac: checkerImage(24),
    };
    const e = await explainStudy(
      model,
      { camLayer: 'feat', inputSize: IN, scaling: 'unit', layout: 'tile2x2' },
      views,
      { displaySize: 48, threads: 1 },
    );
    assert.ok(e.views !== undefined);
    assert.deepEqual(Object.keys(e.views).sort(), ['rest_ac', 'rest_nac', 'stress_ac', 'stress_nac']);
    assert.equal(e.heatmapOnMap.size, 48);
    const total = e.segments.reduce((s, v) => s + v, 0);
    assert.ok(total === 0 || Math.abs(total - 1) < 1e-9);
    await assert.rejects(
      explainStudy(
        model,
        { camLayer: 'feat', inputSize: IN, scaling: 'unit', layout: 'tile2x2' },
        { stress_ac: checkerImage(24) },
        { threads: 1 },
      ),
      (err: unknown) => err instanceof InputError && /rest_ac/.test(err.message),
    );
    model.dispose();
  });

  test('model info: defaults from the backbone table, errors name the field', async () => {
    const i = explainInfoFrom({ backbone: 'MobileNetV2' });
    assert.deepEqual([i.camLayer, i.inputSize, i.scaling, i.layout], ['out_relu', 224, 'tf', 'image']);
    assert.throws(
      () => explainInfoFrom({ inputSize: 8, scaling: 'tf' }),
      (e: unknown) => e instanceof InputError && /"camLayer"/.test(e.message),
    );
    assert.throws(
      () => explainInfoFrom({ camLayer: 'x', inputSize: 8, scaling: 'zz' }),
      (e: unknown) => e instanceof InputError && /"scaling"/.test(e.message),
    );
    const model = tinyModel({ hidden: 5, pool: 'avg', seed: 1 });
    await assert.rejects(
      Explainer.create(model, { camLayer: 'feat', inputSize: 32, scaling: 'unit' }),
      (e: unknown) => e instanceof InputError && /inputSize 32/.test(e.message),
    );
    model.dispose();
  });
});
