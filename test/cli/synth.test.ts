import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';

test('polarcad synth writes a cohort and rejects bad options with exit code 2', async () => {
  const root = await mkdtemp(join(tmpdir(), 'polarcad-synth-cli-'));
  const out = join(root, 'cohort');
  try {
    const code = await main([
      'synth',
      '--out',
      out,
      '--patients',
      '3',
      '--map-size',
      '32',
      '--workers',
      '1',
      '--layout',
      'page',
      '--format',
      'jpeg',
      '--seed',
      'abc',
    ]);
    assert.equal(code, 0);
    assert.deepEqual((await readdir(join(out, 'pages'))).sort(), ['P0001.jpg', 'P0002.jpg', 'P0003.jpg']);
    const meta = JSON.parse(await readFile(join(out, 'synth.json'), 'utf8')) as {
      cohort: { seed: unknown; patients: number };
    };
    assert.deepEqual([meta.cohort.seed, meta.cohort.patients], ['abc', 3]);
    assert.equal(
      await main(['synth', '--out', join(root, 'bad'), '--patients', 'x', '--prevalence', '2']),
      2,
    );
    assert.equal(await main(['synth', '--out', join(root, 'bad'), '--colormap', 'jet']), 2);
    assert.deepEqual((await readdir(root)).sort(), ['cohort']);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('polarcad synth --id-prefix gives a second cohort whose ids cannot clash with the first, same maps per index', async () => {
  const root = await mkdtemp(join(tmpdir(), 'polarcad-synth-prefix-'));
  const args = ['--patients', '2', '--map-size', '32', '--workers', '1', '--seed', '7'];
  try {
    assert.equal(await main(['synth', '--out', join(root, 'a'), ...args]), 0);
    assert.equal(await main(['synth', '--out', join(root, 'b'), ...args, '--id-prefix', 'T']), 0);
    const ids = async (d: string): Promise<string[]> =>
      (await readFile(join(root, d, 'manifest.csv'), 'utf8'))
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',')[0]);
    assert.deepEqual(await ids('a'), ['P0001', 'P0002']);
    assert.deepEqual(await ids('b'), ['T0001', 'T0002']);
    // the prefix names the patients only: the same seed draws the same studies
    assert.deepEqual(
      await readFile(join(root, 'b', 'T0002', 'stress_ac.png')),
      await readFile(join(root, 'a', 'P0002', 'stress_ac.png')),
    );
    assert.equal(await main(['synth', '--out', join(root, 'c'), ...args, '--id-prefix', '1x']), 2);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
