/**
 * `npm run check:arch` (scripts/check-arch.ts) in CI: the checker finds a folder cycle and a long
 * function in a small tree written here, and finds none in `src/`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { checkArchitecture, cyclicComponents, MAX_FUNCTION_LINES } from '../scripts/check-arch.js';

const root = resolve(import.meta.dirname, '..');
let tmp = '';

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'polarcad-arch-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function put(path: string, text: string): Promise<void> {
  await mkdir(join(tmp, path, '..'), { recursive: true });
  await writeFile(join(tmp, path), text);
}

test('Tarjan components: a 2-cycle and a 3-cycle found, a chain and a self-loop are not cycles', () => {
  const g = new Map<string, Map<string, string>>([
    ['a', new Map([['b', '']])],
    ['b', new Map([['a', '']])],
    ['c', new Map([['d', '']])],
    ['d', new Map([['e', '']])],
    ['e', new Map([['c', '']])],
    [
      'f',
      new Map([
        ['f', ''],
        ['a', ''],
      ]),
    ],
  ]);
  assert.deepEqual(cyclicComponents(g), [
    ['a', 'b'],
    ['c', 'd', 'e'],
  ]);
});

test('a folder cycle through a type-only and a dynamic import, and a long function, are reported', async () => {
  await put('src/low/a.ts', "import type { B } from '../high/b.js';\nexport type A = B;\n");
  await put('src/high/b.ts', "export type B = number;\nexport const load = () => import('../low/a.js');\n");
  await put(
    'src/mid/c.ts',
    "import { load } from '../high/b.js';\n// import '../low/a.js' in a comment\nexport { load };\n",
  );
  await put('src/index.ts', "export * from './low/a.js';\nexport * from './high/b.js';\n");
  const body = Array.from({ length: MAX_FUNCTION_LINES - 1 }, (_, i) => `  const v${i} = ${i};`).join('\n');
  await put('src/mid/long.ts', `export function long(): void {\n${body}\n}\n`);
  const report = checkArchitecture(join(tmp, 'src'));
  assert.deepEqual(report.cycles, [['high', 'low']]);
  assert.deepEqual(report.cycleEdges.sort(), ['high/b.ts -> low/a.ts', 'low/a.ts -> high/b.ts']);
  assert.deepEqual(report.longFunctions, [
    { file: join('mid', 'long.ts'), line: 1, name: 'long', lines: MAX_FUNCTION_LINES + 1 },
  ]);
});

test('src/ has no folder-level import cycle and no function over the limit (npm run check:arch)', () => {
  const report = checkArchitecture(join(root, 'src'));
  assert.deepEqual(report.cycles, [], report.cycleEdges.join('\n'));
  assert.deepEqual(report.longFunctions, []);
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/check-arch.ts', 'src'], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.match(out, /check:arch ok/);
});
