/**
 * Feature cache: keys, file format verification (truncation, flipped bytes, wrong magic), hit /
 * miss / corrupt accounting, atomic writes, float16 storage, the in-memory layer.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  CACHE_FORMAT_VERSION,
  FeatureCache,
  decodeEntry,
  defaultCacheDir,
  encodeEntry,
  featureKey,
  type FeatureKeyParts,
  type FeatureTensor,
} from '../../src/engine/cache.js';
import { decodeFloat16, encodeFloat16, fromFloat16Bits, toFloat16Bits } from '../../src/engine/float16.js';
import { InputError } from '../../src/util/errors.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { SHARED_KEY_PARTS, sharedEntry } from './cache-worker.js';

const root = mkdtempSync(join(tmpdir(), 'polarcad-cache-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirCounter = 0;
const freshDir = (): string => join(root, `c${dirCounter++}`);

/** Every file under `dir`, relative paths. */
function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${rel}${e.name}/`);
      else out.push(`${rel}${e.name}`);
    }
  };
  walk(dir, '');
  return out;
}

const BASE: FeatureKeyParts = {
  input: 'a'.repeat(64),
  preprocessing: { size: 96, scaling: 'tf', angle: 0, layout: 'image' },
  backbone: 'MobileNetV2',
  weights: 'random:7',
  architecture: 'arch',
  cutLayers: ['block_16_project_BN'],
  dtype: 'float32',
};

/** A deterministic entry: two tensors, values i * 0.25 - 3 and a ramp (exact in float32). */
function entry(): FeatureTensor[] {
  const a = new Float32Array(2 * 3 * 4).map((_, i) => i * 0.25 - 3);
  const b = new Float32Array(5).map((_, i) => 1000 + i);
  return [
    { name: 'cut_a', dims: [2, 3, 4], data: a },
    { name: 'cut_b', dims: [5], data: b },
  ];
}

describe('featureKey', () => {
  test('identical parts give the same 64-hex key; each part changes it', () => {
    const k = featureKey(BASE);
    assert.match(k, /^[0-9a-f]{64}$/);
    assert.equal(featureKey({ ...BASE, preprocessing: { ...BASE.preprocessing } }), k);
    assert.equal(featureKey({ ...BASE, preprocessing: { ...BASE.preprocessing, angle: -0 } }), k, '-0 and 0 are the same angle');
    const variants: FeatureKeyParts[] = [
      { ...BASE, input: 'b' + 'a'.repeat(63) },
      { ...BASE, preprocessing: { ...BASE.preprocessing, size: 128 } },
      { ...BASE, preprocessing: { ...BASE.preprocessing, scaling: 'caffe' } },
      { ...BASE, preprocessing: { ...BASE.preprocessing, angle: 12.5 } },
      { ...BASE, preprocessing: { ...BASE.preprocessing, layout: 'tile2x2' } },
      { ...BASE, backbone: 'MobileNetV2x' },
      { ...BASE, weights: 'random:8' },
      { ...BASE, architecture: 'arch2' },
      { ...BASE, cutLayers: ['block_15_add'] },
      { ...BASE, cutLayers: ['block_16_project_BN', 'block_15_add'] },
      { ...BASE, dtype: 'float16' },
    ];
    const keys = new Set([k, ...variants.map(featureKey)]);
    assert.equal(keys.size, variants.length + 1);
  });

  test('rejects an empty input hash, weights identity or cut list, and a non-finite angle', () => {
    assert.throws(() => featureKey({ ...BASE, input: '' }), InputError);
    assert.throws(() => featureKey({ ...BASE, weights: '' }), InputError);
    assert.throws(() => featureKey({ ...BASE, cutLayers: [] }), InputError);
    assert.throws(() => featureKey({ ...BASE, preprocessing: { ...BASE.preprocessing, angle: NaN } }), InputError);
  });
});

describe('FeatureCache on disk', () => {
  test('miss, write, hit: values round-trip exactly; stats count them', async () => {
    const cache = new FeatureCache({ dir: freshDir() });
    const key = cache.key(BASE);
    assert.equal(key, featureKey(BASE), 'default dtype float32 is part of the key');
    assert.equal(await cache.get(key), null);
    assert.deepEqual({ ...cache.stats }, { hits: 0, memoryHits: 0, misses: 1, corrupt: 0, writes: 0, bytesRead: 0, bytesWritten: 0 });
    await cache.put(key, entry());
    const got = await cache.get(key);
    assert.ok(got !== null);
    assert.deepEqual(got, entry());
    assert.equal(cache.stats.hits, 1);
    assert.equal(cache.stats.misses, 1);
    assert.equal(cache.stats.writes, 1);
    // file size = 56-byte preamble + metadata JSON + 29 float32 values
    const meta = JSON.stringify({ key, dtype: 'float32', tensors: [{ name: 'cut_a', dims: [2, 3, 4] }, { name: 'cut_b', dims: [5] }] });
    assert.equal(statSync(cache.pathOf(key)).size, 56 + Buffer.byteLength(meta) + 29 * 4);
    assert.equal(cache.stats.bytesWritten, 56 + Buffer.byteLength(meta) + 29 * 4);
    // a second cache object on the same folder (another run / process) hits
    const other = new FeatureCache({ dir: cache.dir });
    assert.deepEqual(await other.get(key), entry());
    assert.equal(other.stats.hits, 1);
  });

  test('layout: <dir>/v1/<first two hex>/<key>.feat, and no temporary files left after writes', async () => {
    const cache = new FeatureCache({ dir: freshDir() });
    const keys = [0, 1, 2, 3, 4].map((i) => cache.key({ ...BASE, preprocessing: { ...BASE.preprocessing, angle: i } }));
    await Promise.all(keys.map((k) => cache.put(k, entry())));
    const files = listFiles(cache.dir).sort();
    assert.deepEqual(files, keys.map((k) => `v${CACHE_FORMAT_VERSION}/${k.slice(0, 2)}/${k}.feat`).sort());
  });

  test('concurrent writers and readers of one key: readers see nothing or the whole entry', async () => {
    const dir = freshDir();
    const a = new FeatureCache({ dir });
    const b = new FeatureCache({ dir });
    const key = a.key(BASE);
    const ops: Promise<unknown>[] = [];
    const seen: (FeatureTensor[] | null)[] = [];
    for (let i = 0; i < 20; i++) {
      ops.push((i % 2 === 0 ? a : b).put(key, entry()));
      ops.push(b.get(key).then((r) => seen.push(r)));
    }
    await Promise.all(ops);
    assert.equal(a.stats.corrupt + b.stats.corrupt, 0);
    for (const r of seen) if (r !== null) assert.deepEqual(r, entry());
    assert.deepEqual(listFiles(dir), [`v1/${key.slice(0, 2)}/${key}.feat`]);
  });

  test('two processes writing and reading one key: no corrupt or wrong reads, one file, no temporaries', async () => {
    const dir = freshDir();
    const worker = fileURLToPath(new URL('./cache-worker.ts', import.meta.url));
    const run = promisify(execFile);
    const N = 100;
    const sync = join(root, 'sync');
    const children = [0, 1].map(async () => JSON.parse((await run(process.execPath, ['--import', 'tsx', worker, dir, String(N), sync])).stdout) as { reads: number; wrong: number; corrupt: number });
    // start both loops together once both processes are up
    const failed = Promise.race(children).then(() => false, () => true);
    let childFailed = false;
    void failed.then((f) => (childFailed = f));
    const deadline = Date.now() + 60_000;
    while (readdirSync(root).filter((f) => f.startsWith('sync.ready.')).length < 2) {
      assert.ok(!childFailed && Date.now() < deadline, 'worker processes did not start');
      await new Promise((r) => setTimeout(r, 10));
    }
    writeFileSync(`${sync}.go`, '');
    const results = await Promise.all(children);
    for (const r of results) assert.deepEqual(r, { reads: N, wrong: 0, corrupt: 0 });
    const cache = new FeatureCache({ dir });
    const key = cache.key(SHARED_KEY_PARTS);
    assert.deepEqual(listFiles(dir), [`v1/${key.slice(0, 2)}/${key}.feat`]);
    assert.deepEqual(await cache.get(key), sharedEntry());
  });

  test('a truncated file is detected, deleted, counted, and recomputed with the right values', async () => {
    const warnings: string[] = [];
    const cache = new FeatureCache({ dir: freshDir(), onWarning: (m) => warnings.push(m) });
    const key = cache.key(BASE);
    await cache.put(key, entry());
    const path = cache.pathOf(key);
    const full = readFileSync(path);
    for (const cut of [full.length - 1, full.length - 4, 60, 30, 0]) {
      writeFileSync(path, full.subarray(0, cut));
      assert.equal(await cache.get(key), null, `truncated to ${cut} bytes`);
      assert.equal(existsSync(path), false, 'corrupt file deleted');
    }
    assert.equal(cache.stats.corrupt, 5);
    assert.equal(warnings.length, 5);
    assert.match(warnings[0], /length \d+ bytes, header says \d+ \(truncated/);
    assert.match(warnings[4], /truncated: 0 bytes/);
    // getOrCompute recomputes and stores
    writeFileSync(path, full.subarray(0, full.length - 8));
    let computed = 0;
    const got = await cache.getOrCompute(key, () => {
      computed++;
      return entry();
    });
    assert.equal(computed, 1);
    assert.deepEqual(got, entry());
    assert.deepEqual(readFileSync(path), full, 'the rewritten file is byte-identical to the original');
    assert.deepEqual(await cache.getOrCompute(key, () => assert.fail('must hit')), entry());
  });

  test('a flipped byte anywhere (payload, metadata, checksum, lengths, magic) is detected', async () => {
    const cache = new FeatureCache({ dir: freshDir() });
    const key = cache.key(BASE);
    const good = encodeEntry(key, entry(), 'float32');
    assert.ok(Array.isArray(decodeEntry(good, key)));
    const where: [number, RegExp][] = [
      [good.length - 1, /checksum/], // last payload byte
      [good.length - 29 * 4, /checksum/], // first payload byte
      [60, /checksum/], // metadata
      [30, /checksum/], // the checksum itself
      [12, /length/], // metadata length
      [16, /length/], // payload length
      [8, /version/],
      [0, /magic/],
    ];
    for (const [i, re] of where) {
      const bad = Buffer.from(good);
      bad[i] ^= 0x01;
      const r = decodeEntry(bad, key);
      assert.equal(typeof r, 'string', `byte ${i}`);
      assert.match(r as string, re, `byte ${i}`);
    }
    // through the cache: flipped payload byte -> miss, corrupt, deleted, recomputed right
    const path = cache.pathOf(key);
    mkdirSync(dirname(path), { recursive: true });
    const bad = Buffer.from(good);
    bad[good.length - 7] ^= 0x80;
    writeFileSync(path, bad);
    const got = await cache.getOrCompute(key, () => entry());
    assert.deepEqual(got, entry());
    assert.equal(cache.stats.corrupt, 1);
    assert.deepEqual(readFileSync(path), good);
  });

  test('a valid file stored under the wrong key is refused', async () => {
    const cache = new FeatureCache({ dir: freshDir() });
    const k1 = cache.key(BASE);
    const k2 = cache.key({ ...BASE, weights: 'random:9' });
    await cache.put(k1, entry());
    mkdirSync(dirname(cache.pathOf(k2)), { recursive: true });
    writeFileSync(cache.pathOf(k2), readFileSync(cache.pathOf(k1)));
    assert.equal(await cache.get(k2), null);
    assert.equal(cache.stats.corrupt, 1);
  });

  test('float16 storage: half the payload, relative error <= 2^-11, out-of-range entries fall back to float32', async () => {
    const cache = new FeatureCache({ dir: freshDir(), dtype: 'float16' });
    const key = cache.key(BASE);
    assert.notEqual(key, featureKey(BASE), 'dtype is part of the key');
    const vals = new Float32Array(1000).map((_, i) => Math.sin(i) * 10 ** ((i % 7) - 3));
    await cache.put(key, [{ name: 'x', dims: [1000], data: vals }]);
    const got = await cache.get(key);
    assert.ok(got !== null);
    let worst = 0;
    for (let i = 0; i < vals.length; i++) {
      // normal range of float16 starts at 2^-14; below it the absolute error is <= 2^-25
      const err = Math.abs(got[0].data[i] - vals[i]);
      worst = Math.max(worst, Math.abs(vals[i]) >= 2 ** -14 ? err / Math.abs(vals[i]) : err <= 2 ** -25 ? 0 : 1);
    }
    assert.ok(worst <= 2 ** -11, `worst relative error ${worst}`);
    assert.equal(cache.stats.bytesWritten < 1000 * 2 + 56 + 200, true);
    // a value beyond 65504 cannot be stored in float16: the entry is kept exactly in float32
    const big = new Float32Array([1, 70000, -3.3]);
    const k2 = cache.key({ ...BASE, input: 'c'.repeat(64) });
    await cache.put(k2, [{ name: 'x', dims: [3], data: big }]);
    assert.deepEqual((await cache.get(k2))?.[0].data, big);
  });

  test('in-memory LRU: hits from memory, copies returned, byte budget evicts the oldest', async () => {
    const one = entry().reduce((s, t) => s + t.data.byteLength, 0); // 116 bytes
    const cache = new FeatureCache({ dir: freshDir(), memoryBytes: 2 * one });
    const keys = ['a', 'b', 'c'].map((c) => cache.key({ ...BASE, input: c.repeat(64) }));
    await cache.put(keys[0], entry());
    const first = await cache.get(keys[0]);
    assert.equal(cache.stats.memoryHits, 1);
    first?.[0].data.fill(42); // the caller's copy: must not poison the cache
    assert.deepEqual(await cache.get(keys[0]), entry());
    await cache.put(keys[1], entry());
    await cache.put(keys[2], entry()); // evicts keys[0] (least recently used)
    await cache.get(keys[0]);
    assert.equal(cache.stats.memoryHits, 2, 'keys[0] came from disk');
    await cache.get(keys[2]);
    assert.equal(cache.stats.memoryHits, 3);
  });

  test('default folder: $POLARCAD_CACHE_DIR, else ~/.cache/polarcad/features', () => {
    const saved = { p: process.env.POLARCAD_CACHE_DIR, x: process.env.XDG_CACHE_HOME };
    try {
      process.env.POLARCAD_CACHE_DIR = '/some/where';
      assert.equal(defaultCacheDir(), '/some/where');
      assert.equal(new FeatureCache().dir, '/some/where');
      delete process.env.POLARCAD_CACHE_DIR;
      delete process.env.XDG_CACHE_HOME;
      assert.equal(defaultCacheDir(), join(homedir(), '.cache', 'polarcad', 'features'));
    } finally {
      for (const [k, v] of [['POLARCAD_CACHE_DIR', saved.p], ['XDG_CACHE_HOME', saved.x]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

describe('float16 conversion', () => {
  test('reference bit patterns (IEEE 754 binary16)', () => {
    // values from the binary16 definition: 1 = 0x3C00, 0.1 -> 0x2E66 (= 0.0999755859375),
    // 1/3 -> 0x3555, max 65504 = 0x7BFF, 65520 rounds (tie to even) to +Inf 0x7C00,
    // smallest subnormal 2^-24 = 0x0001, 2^-25 ties to even -> 0, -2 = 0xC000.
    const cases: [number, number][] = [
      [1, 0x3c00],
      [0.1, 0x2e66],
      [1 / 3, 0x3555],
      [65504, 0x7bff],
      [65520, 0x7c00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000],
      [-2, 0xc000],
      [0, 0],
      [Infinity, 0x7c00],
    ];
    for (const [x, h] of cases) assert.equal(toFloat16Bits(x), h, `${x}`);
    assert.equal(fromFloat16Bits(0x2e66), 0.0999755859375);
    assert.equal(fromFloat16Bits(0x0001), 2 ** -24);
    assert.ok(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN))));
  });

  test('every finite float16 value round-trips exactly', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const finite = all.filter((h) => ((h >>> 10) & 0x1f) !== 31);
    const back = encodeFloat16(decodeFloat16(finite));
    assert.deepEqual(back, finite);
  });
});
