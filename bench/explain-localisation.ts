/**
 * The localisation experiment of test/explain/localisation-harness.ts over several seeds, with and
 * without rotation augmentation of the training maps, plus one explanation timing. Writes
 * bench/results/explain-localisation.json and the figures of docs/explain.md:
 *   docs/images/explain-example.png   the figure of the first held-out study of seed 7
 *   docs/images/explain-montage.png   the figures of the first 6 held-out studies of seed 7
 * (the first ones, not chosen: hits and misses as they come).
 *
 *   node --import tsx bench/explain-localisation.ts [--seeds 7,11,23] [--no-rotation]
 *   node --import tsx bench/explain-localisation.ts --figures-only   (seed 7 without augmentation; no JSON)
 */
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { initBackend } from '../src/engine/backend.js';
import { writeFileAtomic } from '../src/util/atomic.js';
import {
  describeResult,
  runLocalisation,
  type LocalisationResult,
} from '../test/explain/localisation-harness.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const seedsArg = argv.indexOf('--seeds');
const figuresOnly = argv.includes('--figures-only');
const seeds = figuresOnly ? [7] : (seedsArg >= 0 ? argv[seedsArg + 1] : '7,11,23').split(',').map(Number);
const configs: { name: string; patients: number; angles: number[] }[] = [
  { name: 'no augmentation, 320 patients', patients: 320, angles: [0] },
];
if (!argv.includes('--no-rotation') && !figuresOnly)
  configs.push({
    name: 'rotations 0/90/180/270 of each training map, 240 patients',
    patients: 240,
    angles: [0, 90, 180, 270],
  });

await initBackend('wasm');
const t0 = performance.now();
const rows: { config: string; seed: number; result: Omit<LocalisationResult, 'kept'> }[] = [];
let example: LocalisationResult | null = null;
for (const cfg of configs) {
  for (const seed of seeds) {
    const keep = example === null && seed === 7 && cfg.angles.length === 1 ? 6 : 0;
    const r = await runLocalisation({
      patients: cfg.patients,
      seed,
      angles: cfg.angles,
      keep,
      displaySize: keep > 0 ? 320 : 128,
    });
    console.log(`${cfg.name}, seed ${seed}: ${describeResult(r)}`);
    const { kept, ...rest } = r;
    rows.push({ config: cfg.name, seed, result: rest });
    if (kept.length > 0) example = r;
  }
}

if (example !== null) {
  const figs = example.kept.map((k) => Buffer.from(k.explanation.overlayPng));
  await writeFileAtomic(join(root, 'docs', 'images', 'explain-example.png'), figs[0]);
  const metas = await Promise.all(figs.map((b) => sharp(b).metadata()));
  const W = Math.max(...metas.map((m) => m.width ?? 0));
  const H = Math.max(...metas.map((m) => m.height ?? 0));
  const cols = 2;
  const grid = await sharp({
    create: {
      width: W * cols,
      height: H * Math.ceil(figs.length / cols),
      channels: 3,
      background: '#111117',
    },
  })
    .composite(figs.map((b, i) => ({ input: b, left: (i % cols) * W, top: Math.floor(i / cols) * H })))
    .png()
    .toBuffer();
  // sharp resizes before compositing within one pipeline, so scale the finished grid separately
  const montage = await sharp(grid)
    .resize({ width: Math.min(1400, W * cols) })
    .png()
    .toBuffer();
  await writeFileAtomic(join(root, 'docs', 'images', 'explain-montage.png'), montage);
  console.log('figures: docs/images/explain-example.png, docs/images/explain-montage.png');
  console.log(
    example.kept
      .map(
        (k) =>
          `${k.patient.id} ${k.patient.lesions[0].vessel} ${k.patient.lesions[0].kind}: ${k.explanation.sentence} [backbone ${k.explanation.timings.backboneMs.toFixed(0)} ms, head ${k.explanation.timings.headMs.toFixed(0)} ms, figure ${k.explanation.timings.figureMs.toFixed(0)} ms]`,
      )
      .join('\n'),
  );
}

if (figuresOnly) process.exit(0);
const out = {
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    date: new Date().toISOString(),
    loadavgEnd: loadavg(),
  },
  wallSeconds: (performance.now() - t0) / 1000,
  rows,
  exampleTimings: example?.kept.map((k) => k.explanation.timings) ?? [],
};
await writeFileAtomic(
  join(root, 'bench', 'results', 'explain-localisation.json'),
  JSON.stringify(out, null, 2) + '\n',
);
