import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend, tf, wasmBinaryFolder } from '../../src/engine/backend.js';

test('the wasm binaries are found on disk (no network)', () => {
  const dir = wasmBinaryFolder();
  for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm']) {
    assert.ok(fs.existsSync(path.join(dir, f)), f);
  }
});

test('initBackend is idempotent and computes on wasm', async () => {
  const p1 = initBackend();
  const p2 = initBackend();
  assert.equal(p1, p2);
  assert.equal(await p1, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  // 1*4 + 2*5 + 3*6 = 32
  const d = tf.dot(tf.tensor1d([1, 2, 3]), tf.tensor1d([4, 5, 6]));
  assert.equal((await d.data())[0], 32);
  d.dispose();
});

test('initBackend can switch to cpu and back', async () => {
  assert.equal(await initBackend('cpu'), 'cpu');
  assert.equal(await initBackend('wasm'), 'wasm');
});
