import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { kerasLayerOrder, topCutSums } from '../../src/models/layer-order.js';
import { unfreezableParams } from '../../src/models/unfreeze.js';

/**
 * in -> a -> b -+
 *  \------> r --+-> y = add(order)
 * Dense sizes: a = Dense(3) on 2 inputs (9 params), b = Dense(4) on a (16), r = Dense(4) on in (12).
 */
function residual(mergeOrder: 'b,r' | 'r,b'): tf.LayersModel {
  const input = tf.input({ shape: [2], name: 'in' });
  const a = tf.layers.dense({ units: 3, name: 'a' }).apply(input) as tf.SymbolicTensor;
  const b = tf.layers.dense({ units: 4, name: 'b' }).apply(a) as tf.SymbolicTensor;
  const r = tf.layers.dense({ units: 4, name: 'r' }).apply(input) as tf.SymbolicTensor;
  const y = tf.layers.add({ name: 'y' }).apply(mergeOrder === 'b,r' ? [b, r] : [r, b]) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: y });
}

const names = (ls: readonly tf.layers.Layer[]): string[] => ls.map((l) => l.name);

test('Keras order: depth first, ties by depth-first discovery index (merge inputs in call order)', () => {
  // Hand-applied Keras _map_graph_network. add([b, r]): DFS from y discovers y0 b1 a2 in3 r4;
  // depths y0, b1, r1, a2, in3 -> [in, a, b, r, y]. add([r, b]): y0 r1 in2 b3 a4 -> [in, a, r, b, y].
  const m1 = residual('b,r');
  assert.deepEqual(names(kerasLayerOrder(m1)), ['in', 'a', 'b', 'r', 'y']);
  assert.deepEqual(names(m1.layers), ['in', 'a', 'b', 'r', 'y']);
  const m2 = residual('r,b');
  assert.deepEqual(names(kerasLayerOrder(m2)), ['in', 'a', 'r', 'b', 'y']);
  assert.deepEqual(names(m2.layers), ['in', 'a', 'r', 'b', 'y']);
  m1.dispose();
  m2.dispose();
});

test('Keras order: a longer branch puts its layers deeper than a parallel short one', () => {
  // in -> c1 -> c2 -> c3 -+-> concat ; in -> s -+ . Depths: concat 0, c3 1, s 1, c2 2, c1 3, in 4.
  const input = tf.input({ shape: [2], name: 'in' });
  let x = input;
  for (const n of ['c1', 'c2', 'c3'])
    x = tf.layers.dense({ units: 2, name: n }).apply(x) as tf.SymbolicTensor;
  const s = tf.layers.dense({ units: 2, name: 's' }).apply(input) as tf.SymbolicTensor;
  const y = tf.layers.concatenate({ name: 'concat' }).apply([s, x]) as tf.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: y });
  // DFS from concat: concat0, s1, in2, c3 3, c2 4, c1 5 -> depth-1 tie [s, c3] by index.
  assert.deepEqual(names(kerasLayerOrder(m)), ['in', 'c1', 'c2', 's', 'c3', 'concat']);
  assert.deepEqual(names(m.layers), names(kerasLayerOrder(m)));
  m.dispose();
});

test('topCutSums: every consumer-closed set, not only the Keras top-k prefixes', () => {
  const m = residual('b,r');
  // Consumer-closed sets without the input (a needs b; b, r need y):
  // {} 0, {y} 0, {y,r} 12, {y,b} 16, {y,b,a} 25, {y,b,r} 28, {y,a,b,r} 37.
  assert.deepEqual(topCutSums(m, unfreezableParams, 1000), [0, 12, 16, 25, 28, 37]);
  // Keras order [in, a, b, r, y] gives only the prefixes from the top: 0, 12, 28, 37.
  assert.deepEqual(topCutSums(m, unfreezableParams, 27), [0, 12, 16, 25]);
  assert.throws(() => topCutSums(m, () => -1, 10), /must be >= 0/);
  assert.throws(() => topCutSums(m, unfreezableParams, 1000, 3), /more than 3 cuts/);
  m.dispose();
});
