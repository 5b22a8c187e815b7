/**
 * The server's concurrency limiter and in-memory result store, with controllable tasks and a fake
 * clock: at most `concurrency` tasks run, FIFO order, a full queue refuses at once, time limits
 * cover the wait, slots are freed on failure; results expire, `keep` lasts longer, capacity drops
 * the oldest.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Limiter, QueueFullError, TimeoutError } from '../../src/serve/limiter.js';
import { ResultStore, StoreFullError } from '../../src/serve/results.js';

/** A task that finishes when told to. */
function gate(): {
  task: () => Promise<string>;
  open: (v: string) => void;
  fail: (e: Error) => void;
  started: () => boolean;
} {
  let started = false;
  let open!: (v: string) => void;
  let fail!: (e: Error) => void;
  const p = new Promise<string>((res, rej) => {
    open = res;
    fail = rej;
  });
  return {
    task: () => {
      started = true;
      return p;
    },
    open,
    fail,
    started: () => started,
  };
}
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Limiter', () => {
  test('runs at most `concurrency` at once, in FIFO order; refuses beyond the queue', async () => {
    const l = new Limiter(2, 2);
    const g = Array.from({ length: 5 }, gate);
    const done: string[] = [];
    const runs = g.slice(0, 4).map((x, i) =>
      l.run(x.task).then(
        (v) => done.push(`${i}:${v}`),
        (e: Error) => done.push(`${i}:${e.message}`),
      ),
    );
    await tick();
    assert.deepEqual(
      g.map((x) => x.started()),
      [true, true, false, false, false],
    );
    assert.deepEqual(l.stats(), { running: 2, queued: 2, completed: 0, rejected: 0 });
    await assert.rejects(
      l.run(g[4].task),
      (e: unknown) => e instanceof QueueFullError && /busy \(2 studies waiting\)/.test(e.message),
    );
    g[1].open('b');
    await tick();
    assert.deepEqual(
      g.map((x) => x.started()),
      [true, true, true, false, false],
      'the first waiting task starts',
    );
    g[0].fail(new Error('boom'));
    await tick();
    assert.equal(g[3].started(), true, 'a failed task frees its slot');
    g[2].open('c');
    g[3].open('d');
    await Promise.allSettled(runs);
    assert.deepEqual(done, ['1:b', '0:boom', '2:c', '3:d']);
    assert.deepEqual(l.stats(), { running: 0, queued: 0, completed: 4, rejected: 1 });
  });

  test('a time limit covers waiting in the queue; the slot is held until the task settles', async () => {
    const l = new Limiter(1, 5);
    const a = gate();
    const b = gate();
    const first = l.run(a.task);
    const second = l.run(b.task, 30);
    await assert.rejects(
      second,
      (e: unknown) => e instanceof TimeoutError && /longer than 0 s/.test(e.message),
    );
    assert.equal(l.stats().running, 1);
    a.open('a');
    assert.equal(await first, 'a');
    await tick();
    assert.equal(b.started(), true, 'the abandoned task still runs when its turn comes');
    b.open('b');
  });

  test('bad limits are refused', () => {
    assert.throws(() => new Limiter(0, 1), RangeError);
    assert.throws(() => new Limiter(1, -1), RangeError);
  });
});

describe('ResultStore', () => {
  test('expiry, keep, delete and capacities with a fake clock', () => {
    let now = 1000;
    const s = new ResultStore<string>({
      ttlMs: 100,
      keepMs: 10_000,
      capacity: 3,
      keptCapacity: 3,
      now: () => now,
    });
    const a = s.add('a', false);
    const b = s.add('b', true);
    assert.match(a, /^[0-9a-f-]{36}$/);
    assert.notEqual(a, b);
    now += 99;
    assert.equal(s.get(a), 'a');
    now += 1;
    assert.equal(s.get(a), undefined, 'expired at ttl');
    assert.equal(s.get(b), 'b', 'kept');
    const c = s.add('c', true);
    const d = s.add('d', true);
    assert.throws(() => s.add('e', true), StoreFullError, 'a full keep store refuses, it does not evict');
    assert.equal(s.size(), 3);
    assert.equal(s.get(b), 'b', 'a kept result is never dropped for a new one');
    const passing = [1, 2, 3, 4, 5].map((i) => s.add(`p${i}`, false));
    assert.deepEqual(
      [b, c, d].map((id) => s.get(id)),
      ['b', 'c', 'd'],
      'passing uploads never evict kept results',
    );
    assert.deepEqual(
      passing.map((id) => s.get(id) !== undefined),
      [false, false, true, true, true],
      'the oldest passing results go first',
    );
    assert.equal(s.delete(d), true);
    assert.equal(s.delete(d), false);
    now += 10_000;
    assert.equal(s.size(), 0);
  });
});
