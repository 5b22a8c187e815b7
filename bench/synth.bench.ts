/**
 * Benchmark: generate and write 1,000 synthetic patients x 4 maps, (a) one PNG per map and
 * (b) one JPEG export page per patient, into a temporary folder, with the default worker pool.
 * Target: under a minute each on 2 cores. Run directly: `node --import tsx bench/synth.bench.ts [patients]`;
 * writes bench/results/synth.json.
 */
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { getColormap } from '../src/polarmap/colormaps.js';
import { synthesizeToDir } from '../src/synth/synthesize.js';

interface Case {
  readonly name: string;
  readonly layout: 'single' | 'page';
  readonly format: 'png' | 'jpeg';
}

const CASES: readonly Case[] = [
  { name: 'single_png', layout: 'single', format: 'png' },
  { name: 'page_jpeg', layout: 'page', format: 'jpeg' },
];

export async function run(patients = 1000): Promise<Record<string, unknown>> {
  const root = await mkdtemp(join(tmpdir(), 'polarcad-synth-bench-'));
  const results: Record<string, unknown> = {
    benchmark: 'synth',
    patients,
    maps: patients * 4,
    cores: availableParallelism(),
    node: process.version,
    date: new Date().toISOString(),
    target_seconds: 60,
  };
  try {
    for (const c of CASES) {
      const t0 = performance.now();
      await synthesizeToDir({ patients, seed: 1 }, join(root, c.name), {
        layout: c.layout,
        format: c.format,
        colormap: getColormap('rainbow'),
        grid: true,
      });
      const seconds = (performance.now() - t0) / 1000;
      results[c.name] = {
        seconds: Math.round(seconds * 100) / 100,
        patients_per_second: Math.round((patients / seconds) * 10) / 10,
      };
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return results;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const n = process.argv[2] ? Number(process.argv[2]) : 1000;
  const r = await run(n);
  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'synth.json');
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify(r, null, 2) + '\n');
  process.stdout.write(JSON.stringify(r, null, 2) + '\n');
}
