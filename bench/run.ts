/**
 * Benchmark runner: `npm run bench [-- NAME...]` runs every `bench/*.bench.ts` (or the named ones),
 * each exporting `run(): Promise<Record<string, unknown>>`, and writes the figures with the machine
 * description to `bench/results/<name>.json`. Speed and memory targets live here, not in timed tests.
 */
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeFileAtomic } from '../src/util/atomic.js';

interface BenchModule {
  run: () => Promise<Record<string, unknown>>;
}

const here = dirname(fileURLToPath(import.meta.url));

function machine(): Record<string, unknown> {
  return {
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    date: new Date().toISOString(),
  };
}

async function main(filters: string[]): Promise<void> {
  const files = (await readdir(here)).filter((f) => f.endsWith('.bench.ts')).sort();
  const chosen = files.filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
  if (chosen.length === 0) {
    process.stderr.write(`no benchmark matches ${filters.join(', ')}; available: ${files.join(', ')}\n`);
    process.exitCode = 2;
    return;
  }
  for (const file of chosen) {
    const name = basename(file, '.bench.ts');
    process.stderr.write(`bench ${name}...\n`);
    const mod = (await import(pathToFileURL(join(here, file)).href)) as BenchModule;
    const t0 = performance.now();
    const figures = await mod.run();
    const result = { name, machine: machine(), wallSeconds: (performance.now() - t0) / 1000, figures };
    await writeFileAtomic(join(here, 'results', `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  }
}

await main(process.argv.slice(2));
