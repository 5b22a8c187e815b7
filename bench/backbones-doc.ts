/**
 * Rewrite the generated table of the "Forward speed and memory" section of docs/backbones.md from
 * bench/results/backbones.json (written by `npm run bench -- backbones`). Only the text between
 * the bench markers changes; the rest of the document is kept as is.
 *
 *   node --import tsx bench/backbones-doc.ts
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/util/atomic.js';
import { markdownTable, replaceDocBlock, type BackboneRow } from './backbones-lib.js';

interface ResultFile {
  machine: { cpus: number; cpuModel: string; node: string; date: string };
  wallSeconds: number;
  figures: { quick: boolean; merged?: boolean; loadavg: { start: number[]; end: number[] }; backbones: BackboneRow[] };
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const docPath = join(root, 'docs', 'backbones.md');
const result = JSON.parse(await readFile(join(root, 'bench', 'results', 'backbones.json'), 'utf8')) as ResultFile;
const { machine, figures } = result;
const loads = figures.backbones.flatMap((r) => [r.tfjs, r.ort]).flatMap((w) => ('loadavg' in w ? w.loadavg : []));
const block =
  `Measured ${machine.date.slice(0, 10)} on ${machine.cpus} x ${machine.cpuModel}, Node ${machine.node}` +
  `${figures.quick ? ' (quick run)' : ''}; ` +
  `${figures.merged === true ? 'rows merged from more than one run (BENCH_MERGE; `measuredAt` per row in the results file where recorded)' : `whole run ${Math.round(result.wallSeconds / 60)} min`}; ` +
  `1-minute load average during the workers ${Math.min(...loads).toFixed(1)}..${Math.max(...loads).toFixed(1)} ` +
  `(the cores were shared with other work, so times are upper bounds). Times are ms per image; ` +
  `memory is per worker process (peak RSS includes Node, tsx and the model; wasm heap is the tfjs-wasm ` +
  `WebAssembly memory, which only grows).\n\n${markdownTable(figures.backbones)}`;
const doc = await readFile(docPath, 'utf8');
await writeFileAtomic(docPath, replaceDocBlock(doc, block, '## Forward speed and memory'));
process.stdout.write(`updated ${docPath}\n`);
