/**
 * The feature cache holds features of patients' images (issue 12): folders 0700 and files 0600,
 * the default folder made private when an older version left it 0755, and `polarcad cache
 * info|clear [--older-than DAYS]` to see and prune it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { FeatureCache } from '../../src/engine/cache.js';
import { cli } from '../helpers/cli.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-cache-cli-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const tensor = (v: number) => [{ name: 'f', dims: [2], data: new Float32Array([v, v + 1]) }];
const key = (i: number): string => String(i).padStart(64, 'a');
const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;

test('cache folders are created 0700 and entries 0600; the default folder is made private', async () => {
  const root = join(dir, 'features');
  const c = new FeatureCache({ dir: root });
  await c.put(key(1), tensor(1));
  const file = c.pathOf(key(1));
  assert.equal(await mode(file), 0o600);
  for (let d = dirname(file); d !== dir; d = dirname(d)) assert.equal(await mode(d), 0o700, d);

  const legacy = join(dir, 'legacy');
  await mkdir(legacy, { mode: 0o755 });
  await chmod(legacy, 0o755);
  const saved = process.env.POLARCAD_CACHE_DIR;
  process.env.POLARCAD_CACHE_DIR = legacy;
  try {
    await new FeatureCache().put(key(2), tensor(2));
    assert.equal(await mode(legacy), 0o700);
  } finally {
    if (saved === undefined) delete process.env.POLARCAD_CACHE_DIR;
    else process.env.POLARCAD_CACHE_DIR = saved;
  }
});

test('polarcad cache info shows entries and size; clear --older-than prunes by age, clear empties', async () => {
  const root = join(dir, 'cli');
  const c = new FeatureCache({ dir: root });
  for (let i = 0; i < 3; i++) await c.put(key(10 + i), tensor(i));
  const old = new Date(Date.now() - 3 * 86_400_000);
  await utimes(c.pathOf(key(10)), old, old);
  const info = await cli(['cache', 'info', '--dir', root]);
  assert.equal(info.code, 0);
  assert.match(info.out, /mode +0700\n/);
  assert.match(info.out, /entries 3\n/);
  assert.match(info.out, /oldest +3\.0 days/);
  const pruned = await cli(['cache', 'clear', '--older-than', '2', '--dir', root]);
  assert.equal(pruned.code, 0);
  assert.match(pruned.out, /removed 1 entries/);
  assert.equal(await c.get(key(10)), null);
  assert.notEqual(await c.get(key(11)), null);
  const all = await cli(['cache', 'clear', '--dir', root]);
  assert.match(all.out, /removed 2 entries/);
  assert.deepEqual(await readdir(root), []);
  const bad = await cli(['cache', 'clear', '--older-than', 'soon', '--dir', root]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--older-than must be a number of days/);
});
