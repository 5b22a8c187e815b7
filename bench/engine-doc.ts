/**
 * Rewrite the generated table of section "Benchmarks against PyTorch" in docs/engine.md from
 * bench/results/engine.json (written by `npm run bench -- engine`). Only the text between the
 * markers is replaced; the rest of the file is kept verbatim.
 *
 *   node --import tsx bench/engine-doc.ts
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/util/atomic.js';
import { markdownTable, replaceEngineBlock, type FigureRow } from './engine-lib.js';

const here = dirname(fileURLToPath(import.meta.url));

interface EngineResult {
  machine: { cpuModel: string; cpus: number; date: string; node: string };
  wallSeconds: number;
  figures: {
    pytorch: { torch?: string; torchvision?: string; threads?: number; skipped?: string };
    loadavg: { start: number[]; end: number[] };
    rows: FigureRow[];
  };
}

function loads(rows: readonly FigureRow[]): string {
  const all: number[] = [];
  for (const r of rows) {
    for (const s of [r.polarcad, r.pytorch]) {
      const l = (s as { loadavg?: unknown }).loadavg;
      if (Array.isArray(l)) all.push(...l.filter((x): x is number => typeof x === 'number').slice(0, 2));
    }
  }
  return all.length === 0 ? '-' : `${Math.min(...all).toFixed(1)}-${Math.max(...all).toFixed(1)}`;
}

const res = JSON.parse(await readFile(join(here, 'results', 'engine.json'), 'utf8')) as EngineResult;
const f = res.figures;
const torch =
  f.pytorch.skipped !== undefined
    ? `not run: ${f.pytorch.skipped}`
    : `PyTorch ${f.pytorch.torch} / torchvision ${f.pytorch.torchvision} (Debian), ${f.pytorch.threads} threads`;
const block = [
  `Run of ${res.machine.date.slice(0, 10)} on ${res.machine.cpus} cores (${res.machine.cpuModel}), Node ${res.machine.node}; ${torch}.`,
  `1-minute load average seen by the measurements: ${loads(f.rows)} (the 2 cores were shared with other work; see below).`,
  '',
  markdownTable(f.rows).trimEnd(),
].join('\n');
const docPath = join(here, '..', 'docs', 'engine.md');
const doc = await readFile(docPath, 'utf8');
await writeFileAtomic(docPath, replaceEngineBlock(doc, block, '## Benchmarks against PyTorch'));
process.stdout.write(`${docPath}: table of ${f.rows.length} figures written\n`);
