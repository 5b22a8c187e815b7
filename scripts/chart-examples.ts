/**
 * Example figures of the chart layer (src/report/charts), from made-up but plausible numbers
 * (binormal ROC curves, exponential learning curves, a simulated Hyperband run), written to
 * docs/images/examples/*.png. Re-run with `node --import tsx scripts/chart-examples.ts [outDir]`.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  barChartWithIntervals,
  confusionMatrixChart,
  hyperbandChart,
  reliabilityChart,
  renderChart,
  rocChart,
  strategyCurves,
  svgToPng,
  trainingCurves,
} from '../src/report/charts/index.js';
import type { HyperbandTrial, TrainingHistoryRow, VegaLiteSpec } from '../src/report/charts/index.js';
import { Rng } from '../src/util/rng.js';
import { writeFileAtomic } from '../src/util/atomic.js';

/** Standard normal CDF (Abramowitz & Stegun 7.1.26 erf, |error| < 1.5e-7). */
function phi(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

function invPhi(p: number): number {
  let lo = -10;
  let hi = 10;
  for (let i = 0; i < 80; i++) {
    const m = (lo + hi) / 2;
    if (phi(m) < p) lo = m;
    else hi = m;
  }
  return (lo + hi) / 2;
}

/** Binormal ROC curve TPR = Φ(a + b Φ⁻¹(FPR)); its AUC is Φ(a / √(1 + b²)). */
function binormal(a: number, b: number): { points: { fpr: number; tpr: number }[]; auc: number } {
  const points = Array.from({ length: 61 }, (_, k) => {
    const fpr = k / 60;
    return { fpr, tpr: fpr === 0 ? 0 : fpr === 1 ? 1 : phi(a + b * invPhi(fpr)) };
  });
  return { points, auc: phi(a / Math.sqrt(1 + b * b)) };
}

function examples(): Record<string, VegaLiteSpec> {
  const rng = new Rng('chart-examples');
  const resnet = binormal(1.8, 1);
  const vgg = binormal(1.1, 1);
  const sss = binormal(0.9, 1.2);
  const roc = rocChart([
    {
      name: 'ResNet50, fine-tuned',
      ...resnet,
      operatingPoint: { fpr: 0.2, tpr: phi(1.8 + invPhi(0.2)), threshold: 0.5 },
    },
    {
      name: 'VGG16, frozen base',
      ...vgg,
      operatingPoint: { fpr: 0.3, tpr: phi(1.1 + invPhi(0.3)), threshold: 0.42 },
    },
    { name: 'Summed stress score ≥ 4', ...sss },
  ]);

  const history: TrainingHistoryRow[] = [];
  for (let e = 1; e <= 10; e++) {
    history.push({
      stage: 'Head only (frozen base)',
      epoch: e,
      accuracy: 0.6 + 0.2 * (1 - Math.exp(-e / 3)),
      loss: 0.7 * Math.exp(-e / 5) + 0.3,
      valAccuracy: 0.58 + 0.18 * (1 - Math.exp(-e / 3)) + rng.normal(0, 0.006),
      valLoss: 0.72 * Math.exp(-e / 5) + 0.33 + rng.normal(0, 0.005),
    });
  }
  for (let e = 1; e <= 15; e++) {
    history.push({
      stage: 'Fine-tune last block',
      epoch: e,
      accuracy: 0.8 + 0.17 * (1 - Math.exp(-e / 4)),
      loss: 0.35 * Math.exp(-e / 4) + 0.05,
      valAccuracy: 0.77 + 0.1 * (1 - Math.exp(-e / 3)) - 0.004 * Math.max(0, e - 8) + rng.normal(0, 0.004),
      valLoss: 0.38 * Math.exp(-e / 4) + 0.3 + 0.012 * Math.max(0, e - 7) + rng.normal(0, 0.004),
    });
  }
  const best = (stage: string): { stage: string; epoch: number } => {
    const rows = history.filter((r) => r.stage === stage);
    return rows.reduce((b, r) => ((r.valLoss ?? Infinity) < (b.valLoss ?? Infinity) ? r : b));
  };
  const training = trainingCurves(history, {
    selected: [best('Head only (frozen base)'), best('Fine-tune last block')],
  });

  const counts = [40, 25, 18, 12, 10, 9, 12, 16, 22, 36];
  const calibration = reliabilityChart(
    counts.map((count, i) => {
      const p = (i + 0.5) / 10;
      return {
        meanPredicted: p,
        fractionPositive: Math.min(1, Math.max(0, 0.05 + 0.85 * p + rng.normal(0, 0.02))),
        count,
      };
    }),
  );

  const trials: HyperbandTrial[] = [];
  [
    [9, 1],
    [5, 3],
    [3, 9],
  ].forEach(([n, r], bracket) => {
    let configs = Array.from({ length: n }, () => ({
      lr: 10 ** rng.uniform(-5, -2),
      dropout: Math.round(rng.uniform(0, 0.6) * 10) / 10,
    }));
    for (let epochs = r; epochs <= 9; epochs *= 3) {
      const scored = configs.map((config) => ({
        config,
        score:
          0.9 -
          0.05 * Math.abs(Math.log10(config.lr) + 3.7) -
          0.1 * Math.abs(config.dropout - 0.3) -
          0.08 / epochs +
          rng.normal(0, 0.01),
      }));
      for (const s of scored) trials.push({ config: s.config, epochs, score: s.score, bracket });
      configs = scored
        .sort((a, b) => b.score - a.score)
        .slice(0, Math.max(1, Math.floor(configs.length / 3)))
        .map((s) => s.config);
    }
  });

  const run = (
    name: string,
    top: number,
    tau: number,
    drop: number,
  ): { name: string; points: { epoch: number; value: number }[] } => ({
    name,
    points: Array.from({ length: 30 }, (_, i) => ({
      epoch: i + 1,
      value:
        0.5 +
        (top - 0.5) * (1 - Math.exp(-(i + 1) / tau)) -
        drop * Math.max(0, i - 15) +
        rng.normal(0, 0.008),
    })),
  });

  return {
    roc,
    'training-curves': training,
    calibration,
    'confusion-matrix': confusionMatrixChart({ tp: 84, fn: 16, fp: 12, tn: 88 }),
    comparison: barChartWithIntervals(
      [
        { name: 'ResNet50 (fine-tune last block)', value: 0.912, lo: 0.874, hi: 0.946 },
        { name: 'VGG16 (frozen base)', value: 0.861, lo: 0.815, hi: 0.902 },
        { name: 'DenseNet121 (fine-tune last block)', value: 0.889, lo: 0.846, hi: 0.927 },
        { name: 'Summed stress score', value: 0.742, lo: 0.688, hi: 0.793 },
      ],
      { metric: 'AUC', reference: 0.5 },
    ),
    hyperband: hyperbandChart(trials),
    strategies: strategyCurves([
      run('Frozen base, new head', 0.8, 5, 0),
      run('Fine-tune last block', 0.87, 4, 0.001),
      run('Fine-tune all layers', 0.85, 3, 0.004),
      run('From scratch', 0.72, 10, 0),
    ]),
  };
}

async function main(): Promise<void> {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const outDir = process.argv[2] ?? join(root, 'docs', 'images', 'examples');
  for (const [name, spec] of Object.entries(examples())) {
    const chart = await renderChart(spec);
    if (chart.warnings.length > 0) console.warn(`${name}: ${chart.warnings.join('; ')}`);
    await writeFileAtomic(join(outDir, `${name}.png`), await svgToPng(chart.svg, { scale: 2 }));
    console.log(`${name}.png ${chart.width}x${chart.height} (x2)`);
  }
}

await main();
