import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  REFUSING_LOADER,
  ChartResourceError,
  barChartWithIntervals,
  bestTrial,
  confusionCells,
  confusionMatrixChart,
  dejaVuTextWidth,
  describeConfig,
  expectedCalibrationError,
  formatHyperparameter,
  hyperbandChart,
  placeEpochs,
  reliabilityChart,
  renderChart,
  rocChart,
  rocLegendLabel,
  strategyCurves,
  svgToPng,
  trainingCurves,
  writeChart,
} from '../../src/report/charts/index.js';
import type { HyperbandTrial, TrainingHistoryRow, VegaLiteSpec } from '../../src/report/charts/index.js';
import { InputError } from '../../src/util/errors.js';

// ---------------------------------------------------------------------------------------------
// SVG inspection. Vega's SVG renderer writes one <g class="mark-TYPE role-mark NAME"> per mark
// (line and area marks: one such group per series) and one element with role="graphics-symbol"
// per scene item, whose aria-label lists the item's data fields.

interface MarkGroup {
  type: string;
  name: string;
  items: { label: string; transform: string; text: string }[];
}

function markGroups(svg: string): MarkGroup[] {
  const out: MarkGroup[] = [];
  const re = /<g class="mark-([a-z]+) role-mark ([^"]*)"[^>]*>/g;
  for (let m = re.exec(svg); m !== null; m = re.exec(svg)) {
    const end = svg.indexOf('</g>', re.lastIndex);
    const body = svg.slice(re.lastIndex, end);
    const items = [...body.matchAll(/<(path|line|text)\b([^>]*?)(\/>|>([^<]*)<\/text>)/g)]
      .filter((e) => e[2].includes('role="graphics-symbol"'))
      .map((e) => ({
        label: /aria-label="([^"]*)"/.exec(e[2])?.[1] ?? '',
        transform: /transform="translate\(([^)]*)\)"/.exec(e[2])?.[1] ?? '',
        text: e[4] ?? '',
      }));
    out.push({ type: m[1], name: m[2], items });
  }
  return out;
}

/** Mark groups of `type`, optionally only those named `name` (Vega-Lite's e.g. 'layer_1_marks'). */
function marks(svg: string, type: string, name?: string): MarkGroup[] {
  return markGroups(svg).filter((g) => g.type === type && (name === undefined || g.name === name));
}

function itemCount(groups: MarkGroup[]): number {
  return groups.reduce((s, g) => s + g.items.length, 0);
}

function translate(t: string): [number, number] {
  const [x, y] = t.split(',').map(Number);
  return [x, y];
}

function allText(svg: string): string[] {
  return [...svg.matchAll(/<text\b[^>]*>([^<]*)<\/text>/g)].map((m) => m[1].replace(/&amp;/g, '&'));
}

function assertValidSvg(svg: string): void {
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /<\/svg>$/);
  assert.doesNotMatch(svg, /NaN|undefined|Infinity/, 'no NaN/undefined leaked into the SVG');
  assert.doesNotMatch(svg, /(href|src)="(https?:|file:|\/\/)/, 'no external references');
  // every text is set in the theme font
  for (const m of svg.matchAll(/font-family="([^"]*)"/g)) assert.equal(m[1], 'DejaVu Sans');
}

// ---------------------------------------------------------------------------------------------
// Fixtures

const HISTORY: TrainingHistoryRow[] = [
  ...[1, 2, 3, 4, 5].map((e) => ({
    stage: 'head',
    epoch: e,
    accuracy: 0.6 + 0.04 * e,
    loss: 0.8 - 0.08 * e,
    valAccuracy: 0.58 + 0.035 * e,
    valLoss: 0.82 - 0.07 * e,
  })),
  ...[1, 2, 3, 4].map((e) => ({
    stage: 'fine-tune',
    epoch: e,
    accuracy: 0.82 + 0.03 * e,
    loss: 0.35 - 0.05 * e,
    valAccuracy: 0.78 + 0.02 * e - 0.01 * e * e * 0.5,
    valLoss: 0.4 - 0.02 * e,
  })),
];

const TRIALS: HyperbandTrial[] = [
  { config: { lr: 1e-3, dropout: 0.2 }, epochs: 1, score: 0.7, bracket: 0 },
  { config: { lr: 1e-4, dropout: 0.3 }, epochs: 1, score: 0.75, bracket: 0 },
  { config: { lr: 1e-2, dropout: 0.5 }, epochs: 1, score: 0.6, bracket: 0 },
  { config: { lr: 1e-4, dropout: 0.3 }, epochs: 3, score: 0.82, bracket: 0 },
  { config: { lr: 3e-4, dropout: 0.1 }, epochs: 3, score: 0.8, bracket: 1 },
  { config: { lr: 1e-5, dropout: 0.4 }, epochs: 3, score: 0.71, bracket: 1 },
  { config: { lr: 3e-4, dropout: 0.1 }, epochs: 9, score: 0.86, bracket: 1 },
];

function allBuilderSpecs(): Record<string, VegaLiteSpec> {
  return {
    roc: rocChart([
      {
        name: 'A',
        points: [
          { fpr: 0, tpr: 0 },
          { fpr: 0.2, tpr: 0.8 },
          { fpr: 1, tpr: 1 },
        ],
        auc: 0.8,
        operatingPoint: { fpr: 0.2, tpr: 0.8, threshold: 0.5 },
      },
    ]),
    training: trainingCurves(HISTORY, { selected: [{ stage: 'fine-tune', epoch: 2 }] }),
    reliability: reliabilityChart([
      { meanPredicted: 0.1, fractionPositive: 0, count: 10 },
      { meanPredicted: 0.5, fractionPositive: 0.6, count: 20 },
      { meanPredicted: 0.9, fractionPositive: 0.8, count: 10 },
    ]),
    confusion: confusionMatrixChart({ tp: 84, fn: 16, fp: 12, tn: 88 }),
    comparison: barChartWithIntervals(
      [
        { name: 'ResNet50', value: 0.912, lo: 0.874, hi: 0.946 },
        { name: 'VGG16', value: 0.861, lo: 0.815, hi: 0.902 },
        { name: 'SSS', value: 0.742, lo: 0.688, hi: 0.793 },
      ],
      { metric: 'AUC', reference: 0.5 },
    ),
    hyperband: hyperbandChart(TRIALS),
    strategy: strategyCurves([
      { name: 'frozen', points: [0.6, 0.7, 0.75, 0.74].map((value, i) => ({ epoch: i + 1, value })) },
      { name: 'fine-tune', points: [0.65, 0.8, 0.78, 0.79].map((value, i) => ({ epoch: i + 1, value })) },
    ]),
  };
}

// ---------------------------------------------------------------------------------------------
// Rendering

test('renderChart: standalone SVG with the reported size; PNG is width*scale x height*scale', async () => {
  const spec: VegaLiteSpec = {
    width: 200,
    height: 100,
    data: {
      values: [
        { a: 1, b: 2 },
        { a: 2, b: 3 },
        { a: 3, b: 1 },
      ],
    },
    mark: 'point',
    encoding: { x: { field: 'a', type: 'quantitative' }, y: { field: 'b', type: 'quantitative' } },
  };
  const r = await renderChart(spec);
  assertValidSvg(r.svg);
  assert.deepEqual(r.warnings, []);
  assert.match(
    r.svg,
    new RegExp(`width="${r.width}" height="${r.height}" viewBox="0 0 ${r.width} ${r.height}"`),
  );
  assert.ok(r.width > 200 && r.height > 100, 'axes add to the 200x100 plot area');
  assert.equal(itemCount(marks(r.svg, 'symbol')), 3);
  for (const scale of [1, 2]) {
    const meta = await sharp(await svgToPng(r.svg, { scale })).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, Math.round(r.width * scale));
    assert.equal(meta.height, Math.round(r.height * scale));
  }
  await assert.rejects(svgToPng(r.svg, { scale: 0 }), RangeError);
});

test('every builder renders to a valid SVG, deterministically (also when rendered concurrently)', async () => {
  for (const [name, spec] of Object.entries(allBuilderSpecs())) {
    const a = await renderChart(spec);
    assertValidSvg(a.svg);
    assert.deepEqual(a.warnings, [], `${name}: no Vega-Lite warnings`);
    const [b, c] = await Promise.all([renderChart(spec), renderChart(spec)]);
    assert.equal(b.svg, a.svg, `${name}: same input, same SVG bytes`);
    assert.equal(c.svg, a.svg, `${name}: same input, same SVG bytes`);
  }
});

test('no network: the loader refuses URLs and files; builders never call fetch', async () => {
  await assert.rejects(REFUSING_LOADER.load('https://example.com/x.csv'), ChartResourceError);
  await assert.rejects(REFUSING_LOADER.http('https://example.com/x.csv', {}), ChartResourceError);
  await assert.rejects(REFUSING_LOADER.file('/etc/passwd'), ChartResourceError);
  await assert.rejects(
    REFUSING_LOADER.sanitize('https://example.com/x.csv', { context: 'image' }),
    ChartResourceError,
  );
  // a spec pointing at remote data fails loudly instead of fetching
  await assert.rejects(
    renderChart({
      data: { url: 'https://example.com/data.csv' },
      mark: 'point',
      encoding: { x: { field: 'a', type: 'quantitative' } },
    }),
    (e: unknown) => e instanceof Error && /example\.com/.test(e.message),
  );
  await assert.rejects(
    renderChart({
      data: { values: [{ u: 'https://example.com/i.png' }] },
      mark: 'image',
      encoding: { url: { field: 'u' } },
      width: 10,
      height: 10,
    }),
    (e: unknown) => e instanceof Error && /example\.com/.test(e.message),
  );
  const realFetch = globalThis.fetch;
  let calls = 0;
  globalThis.fetch = (() => {
    calls++;
    throw new Error('network access attempted');
  }) as typeof fetch;
  try {
    for (const spec of Object.values(allBuilderSpecs())) await renderChart(spec);
  } finally {
    globalThis.fetch = realFetch;
  }
  assert.equal(calls, 0);
});

test('writeChart writes <base>.svg and <base>.png and leaves no temporary files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'polarcad-charts-'));
  try {
    const w = await writeChart(allBuilderSpecs().confusion, join(dir, 'sub', 'cm'), { scale: 1.5 });
    assert.deepEqual((await readdir(join(dir, 'sub'))).sort(), ['cm.png', 'cm.svg']);
    const svg = await readFile(w.svgPath, 'utf8');
    assertValidSvg(svg);
    const meta = await sharp(w.pngPath).metadata();
    assert.equal(meta.width, Math.round(w.width * 1.5));
    assert.equal(meta.height, Math.round(w.height * 1.5));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('text metrics: DejaVu Sans advance widths, checked against what librsvg draws', async () => {
  // DejaVu Sans Book: digits advance 1303/2048 em, 'M' 1767/2048 em, space 651/2048 em (hmtx)
  assert.equal(dejaVuTextWidth('0', 2048), 1303);
  assert.equal(dejaVuTextWidth('M M', 2048), 1767 * 2 + 651);
  assert.ok(dejaVuTextWidth('M', 100, true) > dejaVuTextWidth('M', 100), 'bold is wider');
  // independent check: rasterise the same string with librsvg and measure its ink width;
  // ink excludes the first glyph's left and the last glyph's right side bearings (a few px)
  const s = 'Validation accuracy 0123456789';
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="2200" height="140"><rect width="2200" height="140" fill="white"/><text x="20" y="100" font-family="DejaVu Sans" font-size="80">${s}</text></svg>`;
  const { info } = await sharp(Buffer.from(svg))
    .trim({ threshold: 10 })
    .toBuffer({ resolveWithObject: true });
  const predicted = dejaVuTextWidth(s, 80);
  assert.ok(
    Math.abs(info.width - predicted) / predicted < 0.03,
    `ink ${info.width}px vs predicted advance ${predicted.toFixed(1)}px`,
  );
});

// ---------------------------------------------------------------------------------------------
// Builders

test('rocChart: one line per curve, chance diagonal, AUC legend, operating points where they belong', async () => {
  const spec = rocChart(
    [
      {
        name: 'ResNet50',
        points: [
          { fpr: 1, tpr: 1 },
          { fpr: 0, tpr: 0 },
          { fpr: 0.25, tpr: 0.75 },
          { fpr: 0.1, tpr: 0.5 },
        ],
        auc: 0.84375,
        operatingPoint: { fpr: 0.25, tpr: 0.75, threshold: 0.5 },
      },
      {
        name: 'VGG16',
        points: [
          { fpr: 0, tpr: 0 },
          { fpr: 0.5, tpr: 0.7 },
          { fpr: 1, tpr: 1 },
        ],
        auc: 0.6,
      },
    ],
    { size: 300 },
  );
  const { svg } = await renderChart(spec);
  assert.equal(marks(svg, 'line', 'layer_0_marks').length, 1, 'chance diagonal');
  const curves = marks(svg, 'line', 'layer_1_marks');
  assert.equal(curves.length, 2);
  const dots = itemCount(marks(svg, 'symbol', 'layer_2_layer_0_marks'));
  assert.equal(dots, 1, 'only ResNet50 has an operating point');
  const [op] = marks(svg, 'symbol', 'layer_2_layer_0_marks')[0].items;
  // plot area 300x300, domain [0,1] both ways: (fpr 0.25, tpr 0.75) -> (75, 75)
  assert.deepEqual(translate(op.transform), [75, 75]);
  const texts = allText(svg);
  assert.ok(texts.includes('ResNet50 (AUC 0.844)'), texts.join('|'));
  assert.ok(texts.includes('VGG16 (AUC 0.600)'));
  assert.ok(texts.includes('t = 0.50'));
  assert.ok(texts.includes('False positive rate (1 − specificity)'));
  assert.ok(texts.includes('True positive rate (sensitivity)'));
  // points are drawn in FPR order: the ResNet50 path starts at the origin (0, 300) and visits
  // (0.1,0.5) -> (30,150) before (0.25,0.75) -> (75,75)
  const d =
    /<path[^>]*d="([^"]*)"/.exec(svg.slice(svg.indexOf('mark-line role-mark layer_1_marks')))?.[1] ?? '';
  assert.equal(d, 'M0,300L30,150L75,75L300,0');
  assert.equal(rocLegendLabel({ name: 'x' }), 'x');
});

test('rocChart: bad input is an InputError naming the curve, point and field', () => {
  assert.throws(
    () =>
      rocChart([
        {
          name: 'A',
          points: [
            { fpr: 0, tpr: 0 },
            { fpr: 0.3, tpr: 1.2 },
          ],
        },
      ]),
    (e: unknown) => e instanceof InputError && /curves\[0\] \(A\)\.points\[1\]\.tpr/.test(e.message),
  );
  assert.throws(() => rocChart([]), InputError);
  assert.throws(
    () =>
      rocChart([
        { name: 'A', points: [{ fpr: 0, tpr: 0 }] },
        { name: 'A', points: [{ fpr: 0, tpr: 0 }] },
      ]),
    /used twice/,
  );
  assert.throws(
    () => rocChart([{ name: 'A', points: [{ fpr: Number.NaN, tpr: 0 }] }]),
    /fpr must be a finite number/,
  );
});

test('placeEpochs: stages that restart their epoch count are laid end to end', () => {
  const restart = placeEpochs([
    { stage: 'a', epoch: 1 },
    { stage: 'a', epoch: 2 },
    { stage: 'a', epoch: 3 },
    { stage: 'b', epoch: 1 },
    { stage: 'b', epoch: 2 },
  ]);
  assert.deepEqual(restart.stages, ['a', 'b']);
  assert.equal(restart.shifted, true);
  assert.equal(restart.x('b', 1), 4);
  assert.equal(restart.x('b', 2), 5);
  assert.deepEqual(restart.boundaries, [3.5]);
  // Keras initial_epoch: stage b continues at 4, numbers are kept
  const cont = placeEpochs([
    { stage: 'a', epoch: 1 },
    { stage: 'a', epoch: 3 },
    { stage: 'b', epoch: 4 },
    { stage: 'b', epoch: 6 },
  ]);
  assert.equal(cont.shifted, false);
  assert.equal(cont.x('b', 4), 4);
  assert.deepEqual(cont.boundaries, [3.5]);
});

test('trainingCurves: two panels, train and validation per stage, kept epochs marked', async () => {
  const { svg } = await renderChart(
    trainingCurves(HISTORY, {
      selected: [
        { stage: 'head', epoch: 5 },
        { stage: 'fine-tune', epoch: 2 },
      ],
    }),
  );
  for (const panel of ['concat_0', 'concat_1']) {
    const lines = markGroups(svg).filter((g) => g.type === 'line' && g.name.startsWith(panel));
    assert.equal(lines.length, 4, `${panel}: 2 stages x (training, validation)`);
    const points = marks(svg, 'symbol').filter((g) => g.name === `${panel}_layer_1_layer_1_marks`);
    assert.equal(itemCount(points), 18, `${panel}: one dot per epoch per curve (9 epochs x 2)`);
    const kept = marks(svg, 'symbol').filter((g) => g.name === `${panel}_layer_2_marks`);
    assert.equal(itemCount(kept), 2, `${panel}: one diamond per kept epoch`);
    assert.equal(
      itemCount(marks(svg, 'rule').filter((g) => g.name.startsWith(panel))),
      1,
      `${panel}: one stage boundary`,
    );
  }
  // the kept fine-tune epoch 2 sits at x = 5 + 2 = 7 and carries its validation values
  const keptLabels = marks(svg, 'symbol').flatMap((g) =>
    g.name.endsWith('layer_2_marks') ? g.items.map((i) => i.label) : [],
  );
  assert.ok(
    keptLabels.some((l) => /: 7; value: 0\.8; Stage: fine-tune/.test(l)),
    keptLabels.join(' | '),
  );
  assert.ok(
    keptLabels.some((l) => /: 7; value: 0\.36; Stage: fine-tune/.test(l)),
    'val loss 0.4-0.02*2',
  );
  const texts = allText(svg);
  for (const t of [
    'Accuracy',
    'Loss',
    'head',
    'fine-tune',
    'Training',
    'Validation',
    'Kept epoch',
    'Epoch (stages in sequence)',
  ]) {
    assert.ok(texts.includes(t), `missing "${t}"`);
  }
});

test('trainingCurves: history without validation and without selection still renders; bad input rejected', async () => {
  const rows = HISTORY.map(({ stage, epoch, loss, accuracy }) => ({ stage, epoch, loss, accuracy }));
  const { svg } = await renderChart(trainingCurves(rows));
  assert.equal(marks(svg, 'line').length, 4, '2 panels x 2 stages, training only');
  assert.ok(!allText(svg).includes('Validation'));
  assert.throws(
    () => trainingCurves(HISTORY, { selected: [{ stage: 'head', epoch: 9 }] }),
    /selected\[0\].*not in the history/,
  );
  assert.throws(() => trainingCurves([...HISTORY, HISTORY[0]]), /appears twice/);
  assert.throws(() => trainingCurves([{ ...HISTORY[0], loss: Number.NaN }]), /history\[0\]\.loss/);
});

test('reliabilityChart: ECE by hand, one dot and one bar per non-empty bin', async () => {
  const bins = [
    { meanPredicted: 0.1, fractionPositive: 0, count: 10 },
    { meanPredicted: 0.3, fractionPositive: 0, count: 0 },
    { meanPredicted: 0.5, fractionPositive: 0.6, count: 20 },
    { meanPredicted: 0.9, fractionPositive: 0.8, count: 10 },
  ];
  // (10*|0-0.1| + 20*|0.6-0.5| + 10*|0.8-0.9|) / 40 = 4/40
  assert.ok(Math.abs(expectedCalibrationError(bins) - 0.1) < 1e-12);
  assert.ok(
    Number.isNaN(expectedCalibrationError([{ meanPredicted: 0.5, fractionPositive: 0.5, count: 0 }])),
  );
  const { svg } = await renderChart(reliabilityChart(bins));
  assert.equal(itemCount(marks(svg, 'symbol', 'concat_0_layer_1_layer_1_marks')), 3);
  assert.equal(itemCount(marks(svg, 'rect')), 3);
  assert.ok(allText(svg).some((t) => t.startsWith('Expected calibration error 0.100 (n = 40)')));
  assert.throws(
    () => reliabilityChart([{ meanPredicted: 0.5, fractionPositive: 0.5, count: 2.5 }]),
    /count must be a non-negative integer/,
  );
  assert.throws(
    () => reliabilityChart([{ meanPredicted: 0.5, fractionPositive: 0.5, count: 0 }]),
    /count > 0/,
  );
});

test('confusionMatrixChart: four cells with counts and row percentages', async () => {
  const cm = { tp: 84, fn: 16, fp: 12, tn: 88 };
  const cells = confusionCells(cm);
  assert.deepEqual(
    cells.map((c) => [c.actual, c.predicted, c.kind, c.count, c.caption]),
    [
      ['CAD', 'CAD', 'TP', 84, 'TP · 84.0%'],
      ['CAD', 'Normal', 'FN', 16, 'FN · 16.0%'],
      ['Normal', 'CAD', 'FP', 12, 'FP · 12.0%'],
      ['Normal', 'Normal', 'TN', 88, 'TN · 88.0%'],
    ],
  );
  const { svg } = await renderChart(confusionMatrixChart(cm));
  assert.equal(itemCount(marks(svg, 'rect')), 4);
  const texts = allText(svg);
  for (const t of ['84', '16', '12', '88', 'TP · 84.0%', 'TN · 88.0%', 'Predicted', 'Actual'])
    assert.ok(texts.includes(t), t);
  assert.ok(texts.includes('Sensitivity 84.0% · specificity 88.0% · accuracy 86.0% · n = 200'));
  // dark (high-share) cells get white text, light ones dark text
  assert.match(svg, /fill="white"[^>]*>88</);
  assert.match(svg, /fill="#1a1a1a"[^>]*>16</);
  // no actual positives: percentages undefined, shown as a dash
  assert.equal(confusionCells({ tp: 0, fn: 0, fp: 3, tn: 7 })[0].caption, 'TP · —');
  assert.throws(
    () => confusionMatrixChart({ tp: -1, fn: 0, fp: 0, tn: 0 }),
    /tp must be a non-negative integer/,
  );
});

test('barChartWithIntervals: one bar, whisker and label per model, in the given order', async () => {
  const rows = [
    { name: 'ResNet50', value: 0.912, lo: 0.874, hi: 0.946 },
    { name: 'VGG16', value: 0.861, lo: 0.815, hi: 0.902 },
    { name: 'SSS', value: 0.742, lo: 0.688, hi: 0.793 },
  ];
  const { svg } = await renderChart(
    barChartWithIntervals(rows, { metric: 'AUC', reference: 0.5, width: 400 }),
  );
  assert.equal(itemCount(marks(svg, 'rect', 'concat_0_layer_0_marks')), 3, 'bars');
  assert.equal(itemCount(marks(svg, 'rule')), 4, '3 whiskers + the reference line');
  assert.equal(
    itemCount(marks(svg, 'rect', 'concat_0_layer_3_marks')) +
      itemCount(marks(svg, 'rect', 'concat_0_layer_4_marks')),
    6,
    'whisker caps (ticks)',
  );
  assert.equal(itemCount(marks(svg, 'text', 'concat_1_marks')), 3, 'value [CI] column');
  const texts = allText(svg);
  for (const t of ['0.912 [0.874, 0.946]', '0.861 [0.815, 0.902]', '0.742 [0.688, 0.793]', 'AUC [95% CI]'])
    assert.ok(texts.includes(t), t);
  // model names listed top to bottom in input order
  const order = ['ResNet50', 'VGG16', 'SSS'].map((n) => svg.indexOf(`>${n}<`));
  assert.ok(order[0] < order[1] && order[1] < order[2], String(order));
  assert.throws(
    () => barChartWithIntervals([{ name: 'x', value: 0.9, lo: 0.91, hi: 0.95 }], { metric: 'AUC' }),
    /does not contain the value/,
  );
});

test('hyperbandChart: every trial drawn, configurations followed across rungs, best spelled out', async () => {
  assert.equal(formatHyperparameter(0.0001), '1e-4');
  assert.equal(formatHyperparameter(0.000227), '2.27e-4');
  assert.equal(formatHyperparameter(0.3), '0.3');
  assert.equal(formatHyperparameter(128), '128');
  assert.equal(describeConfig({ lr: 1e-4, dropout: 0.3 }), 'dropout=0.3, lr=1e-4');
  assert.equal(bestTrial(TRIALS), TRIALS[6]);
  assert.equal(bestTrial(TRIALS, false), TRIALS[2]);
  // ties: more epochs wins
  assert.equal(bestTrial([TRIALS[3], { ...TRIALS[3], epochs: 9 }]).epochs, 9);
  const { svg } = await renderChart(hyperbandChart(TRIALS));
  assert.equal(itemCount(marks(svg, 'symbol', 'layer_0_layer_1_marks')), TRIALS.length);
  // distinct (bracket, configuration) pairs: 3 in bracket 0, 2 in bracket 1
  assert.equal(marks(svg, 'line').length, 5);
  const best = marks(svg, 'symbol', 'layer_1_marks')[0].items;
  assert.equal(best.length, 1);
  assert.match(best[0].label, /epochs: 9; score: 0\.86/);
  assert.ok(
    allText(svg).includes('Best: dropout=0.1, lr=3e-4 → 0.860 after 9 epochs (bracket 1); 7 trials.'),
  );
  // log-scaled resource axis with one tick per rung
  for (const t of ['1', '3', '9']) assert.ok(allText(svg).includes(t));
  assert.throws(() => hyperbandChart([{ ...TRIALS[0], epochs: 0 }]), /epochs must be positive/);
});

test('strategyCurves: one line per run and the best epoch of each ringed', async () => {
  const runs = [
    { name: 'frozen', points: [0.6, 0.7, 0.75, 0.74, 0.73].map((value, i) => ({ epoch: i + 1, value })) },
    {
      name: 'fine-tune last block',
      points: [0.65, 0.8, 0.78, 0.79, 0.81].map((value, i) => ({ epoch: i + 1, value })),
    },
    {
      name: 'fine-tune all',
      points: [0.66, 0.84, 0.8, 0.77, 0.7].map((value, i) => ({ epoch: i + 1, value })),
    },
  ];
  const { svg } = await renderChart(strategyCurves(runs));
  assert.equal(marks(svg, 'line').length, 3);
  const best = marks(svg, 'symbol', 'layer_1_marks')[0].items;
  assert.equal(best.length, 3);
  // plot width 420 over epochs 1..5 (no nice, no zero): best epochs 3, 5, 2 -> x = 210, 420, 105
  assert.deepEqual(
    best.map((b) => translate(b.transform)[0]),
    [210, 420, 105],
  );
  const texts = allText(svg);
  for (const t of ['frozen', 'fine-tune last block', 'fine-tune all', 'Validation accuracy', '80%'])
    assert.ok(texts.includes(t), t);
  assert.throws(
    () =>
      strategyCurves([
        {
          name: 'a',
          points: [
            { epoch: 1, value: 0.5 },
            { epoch: 1, value: 0.6 },
          ],
        },
      ]),
    /epoch 1 appears twice/,
  );
});
