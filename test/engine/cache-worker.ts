/**
 * Child process of the two-process test in cache.test.ts: writes and reads one key of a shared
 * cache folder `iterations` times and prints {reads, wrong, corrupt} as JSON. To make the two
 * processes overlap, it creates `SYNC.ready.<pid>` and starts when `SYNC.go` exists.
 * Usage: node --import tsx test/engine/cache-worker.ts DIR ITERATIONS SYNC
 */
import { existsSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { FeatureCache, type FeatureTensor } from '../../src/engine/cache.js';

/** The entry both processes write (the same bytes for the same key, as the extractor does). */
export function sharedEntry(): FeatureTensor[] {
  return [{ name: 'cut', dims: [64, 64], data: new Float32Array(64 * 64).map((_, i) => Math.sin(i)) }];
}

export const SHARED_KEY_PARTS = {
  input: 'f'.repeat(64),
  preprocessing: { size: 64, scaling: 'tf', angle: 0, layout: 'image' },
  backbone: 'Test',
  weights: 'random:1',
  cutLayers: ['cut'],
};

async function main(dir: string, iterations: number, sync: string): Promise<void> {
  writeFileSync(`${sync}.ready.${process.pid}`, '');
  while (!existsSync(`${sync}.go`)) await sleep(5);
  const cache = new FeatureCache({ dir });
  const key = cache.key(SHARED_KEY_PARTS);
  const want = sharedEntry()[0].data;
  let reads = 0;
  let wrong = 0;
  for (let i = 0; i < iterations; i++) {
    await cache.put(key, sharedEntry());
    const got = await cache.get(key);
    if (got !== null) {
      reads++;
      if (!got[0].data.every((v, k) => v === want[k])) wrong++;
    }
  }
  process.stdout.write(JSON.stringify({ reads, wrong, corrupt: cache.stats.corrupt }));
}

if (process.argv[1]?.endsWith('cache-worker.ts')) await main(process.argv[2], Number(process.argv[3]), process.argv[4]);
