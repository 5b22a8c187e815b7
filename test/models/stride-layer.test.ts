/**
 * The layer that segment pooling reads: the deepest feature map with exactly inputSize/stride
 * cells, never a zero-padding layer (its extra row and column would shift every cell against the
 * segment grid), else the nearest 'valid'-padding side.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../../src/engine/backend.js';
import { stride16Layer } from '../../src/models/linear/featurizers.js';

before(async () => {
  await initBackend('cpu');
});

function model(side: number, padding: 'same' | 'valid'): tf.LayersModel {
  const input = tf.input({ shape: [side, side, 3] });
  const a = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 4, padding, name: 'a' }).apply(input);
  const pad = tf.layers
    .zeroPadding2d({
      padding: [
        [0, 1],
        [0, 1],
      ],
      name: 'a_pad',
    })
    .apply(a);
  const b = tf.layers
    .conv2d({ filters: 8, kernelSize: 2, strides: 1, padding: 'valid', name: 'b' })
    .apply(pad);
  const c = tf.layers
    .zeroPadding2d({
      padding: [
        [0, 1],
        [0, 1],
      ],
      name: 'b_pad',
    })
    .apply(b);
  return tf.model({ inputs: input, outputs: c as tf.SymbolicTensor });
}

test('stride layer: exact inputSize/stride side, zero-padding layers skipped', () => {
  const m = model(64, 'same'); // a: 16, a_pad: 17, b: 16, b_pad: 17
  assert.deepEqual(stride16Layer(m, 64, 4), { name: 'b', grid: 16, channels: 8 });
  m.dispose();
});

test("stride layer: 'valid' padding without an exact side takes the nearest (Inception's 17 x 17 at 299 px)", () => {
  const m = model(75, 'valid'); // a: 19 (75/4 = 18.75), a_pad: 20, b: 19, b_pad: 20
  assert.deepEqual(stride16Layer(m, 75, 4), { name: 'b', grid: 19, channels: 8 });
  assert.throws(() => stride16Layer(m, 75, 32), /no layer with a stride-32 feature map/);
  m.dispose();
});
