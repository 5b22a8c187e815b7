/**
 * The recorded colour map (src/polarmap/colormap-record.ts): a table round-trips through its record,
 * a built-in name (files written before tables were recorded) still reads, anything else is null.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { colormapFromRows, getColormap } from '../../src/polarmap/colormaps.js';
import {
  colormapOfRecord,
  recordColormap,
  recordedColormapSchema,
  recordedTable,
} from '../../src/polarmap/colormap-record.js';

test('a user table round-trips through its record (JSON), name and rows', () => {
  const thermal = colormapFromRows('thermal.csv', [
    [0, 0, 0],
    [200, 20, 60],
    [255, 255, 255],
  ]);
  const back = colormapOfRecord(JSON.parse(JSON.stringify(recordColormap(thermal))));
  assert.equal(back.name, 'thermal.csv');
  assert.deepEqual(back.table, thermal.table);
  assert.deepEqual(recordedTable(recordColormap(thermal))?.table, thermal.table);
});

test('recordedTable: a built-in name reads as the built-in table; an unknown name or a bad record is null', () => {
  assert.deepEqual(recordedTable('cool')?.table, getColormap('cool').table);
  assert.equal(recordedTable('thermal.csv'), null);
  assert.equal(recordedTable({ name: 'x', rows: [[0, 0, 0]] }), null, 'one row is not a table');
  assert.equal(recordedTable(undefined), null);
});

test("recordedColormapSchema: prepare's record needs its source, coverage and doubt", () => {
  const rec = {
    ...recordColormap(getColormap('hot')),
    source: 'recognised',
    coverage: 0.72,
    doubt: 'unsure',
  };
  assert.equal(recordedColormapSchema.safeParse(rec).success, true);
  assert.equal(recordedColormapSchema.safeParse({ ...rec, source: 'guessed' }).success, false);
  assert.equal(recordedColormapSchema.safeParse({ ...rec, coverage: 1.5 }).success, false);
});
