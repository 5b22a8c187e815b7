import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_LAYOUT,
  DEFAULT_LAYOUT_SPEC,
  formatLayout,
  parseLayout,
  parseLayoutOrThrow,
} from '../../src/domain/layout.js';

test('the default layout string and the parsed default agree (the 2x2 order of VIEWS)', () => {
  assert.deepEqual(parseLayout(DEFAULT_LAYOUT_SPEC), DEFAULT_LAYOUT);
  assert.equal(formatLayout(DEFAULT_LAYOUT), DEFAULT_LAYOUT_SPEC);
});

test('parseLayoutOrThrow: a layout, or a RangeError with parseLayout message', () => {
  assert.deepEqual(parseLayoutOrThrow('rest_ac,-,stress_ac'), [['rest_ac', null, 'stress_ac']]);
  assert.equal(formatLayout(parseLayoutOrThrow(' rest_nac / - , stress_ac ')), 'rest_nac/-,stress_ac');
  assert.throws(
    () => parseLayoutOrThrow('stress_ac,,rest_ac'),
    (e: unknown) => {
      assert.ok(e instanceof RangeError);
      assert.equal(e.message, parseLayout('stress_ac,,rest_ac'));
      assert.equal(e.message, 'empty cell in layout "stress_ac,,rest_ac"');
      return true;
    },
  );
});
