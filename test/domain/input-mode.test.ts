import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RgbImage } from '../../src/domain/image.js';
import { INPUT_MODES, INPUT_MODE_SPECS, inputModeSpec, isImage } from '../../src/domain/input-mode.js';
import { VIEWS, isView } from '../../src/domain/views.js';

const img = (v: number): RgbImage => ({ width: 2, height: 2, data: new Uint8Array(12).fill(v) });
const maps = { stress_ac: img(1), rest_ac: img(2), stress_nac: img(3), rest_nac: img(4) };

describe('input modes (one meaning per name)', () => {
  test('a view name reads that map alone, as an image', () => {
    for (const v of VIEWS) {
      const s = INPUT_MODE_SPECS[v];
      assert.deepEqual(s.views, [v]);
      assert.equal(s.layout, 'image');
      assert.equal(s.arrange(maps), maps[v]);
    }
  });
  test('tile2x2 reads the four views in the VIEWS order', () => {
    const s = inputModeSpec('tile2x2');
    assert.deepEqual(s.views, VIEWS);
    assert.equal(s.layout, 'tile2x2');
    assert.deepEqual(s.arrange(maps), maps);
  });
  test('ac / nac: the pair of one correction in both rows of the tile (stress left, rest right)', () => {
    const ac = inputModeSpec('ac').arrange({ stress_ac: maps.stress_ac, rest_ac: maps.rest_ac });
    assert.ok(!isImage(ac));
    assert.deepEqual(ac, {
      stress_ac: maps.stress_ac,
      rest_ac: maps.rest_ac,
      stress_nac: maps.stress_ac,
      rest_nac: maps.rest_ac,
    });
    const nac = inputModeSpec('nac').arrange({ stress_nac: maps.stress_nac, rest_nac: maps.rest_nac });
    assert.deepEqual(nac, {
      stress_ac: maps.stress_nac,
      rest_ac: maps.rest_nac,
      stress_nac: maps.stress_nac,
      rest_nac: maps.rest_nac,
    });
  });
  test('every mode has a spec whose views it needs; a missing view or unknown mode is named', () => {
    for (const m of INPUT_MODES) {
      const s = INPUT_MODE_SPECS[m];
      assert.equal(s.name, m);
      assert.equal(s.layout === 'image', isView(m));
      assert.throws(() => s.arrange({}), /missing/);
    }
    assert.throws(() => inputModeSpec('both'), /unknown model input "both"/);
  });
});
