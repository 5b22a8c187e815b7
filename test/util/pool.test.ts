import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { mapPool } from '../../src/util/pool.js';

describe('mapPool', () => {
  it('keeps order and never runs more than `limit` calls at once', async () => {
    let running = 0;
    let peak = 0;
    const delays = [30, 5, 20, 1, 10, 2, 15];
    const out = await mapPool(delays, 2, async (ms, i) => {
      running++;
      peak = Math.max(peak, running);
      await sleep(ms);
      running--;
      return i * 10;
    });
    assert.deepEqual(out, [0, 10, 20, 30, 40, 50, 60]);
    assert.equal(peak, 2);
  });

  it('re-throws the first error and starts no new calls after it', async () => {
    const started: number[] = [];
    await assert.rejects(
      mapPool([0, 1, 2, 3, 4], 1, async (x) => {
        started.push(x);
        if (x === 1) throw new Error('boom 1');
        return x;
      }),
      /boom 1/,
    );
    assert.deepEqual(started, [0, 1]);
    await assert.rejects(
      mapPool([1], 0, async (x) => x),
      /concurrency must be a positive integer/,
    );
    assert.deepEqual(await mapPool([], 2, async (x: number) => x), []);
  });
});
