import { test } from 'node:test';
import assert from 'node:assert/strict';
import { segmentAtNormalised, segmentLabels, SEGMENTS, clockAngleDeg } from '../../src/polarmap/geometry.js';

/** A point at normalised radius r and clock angle a (degrees clockwise from 12 o'clock). */
function at(r: number, a: number): [number, number] {
  const rad = (a * Math.PI) / 180;
  return [r * Math.sin(rad), -r * Math.cos(rad)];
}

test('clock angle: up 0, right 90, down 180, left 270', () => {
  assert.equal(clockAngleDeg(0, -1), 0);
  assert.equal(clockAngleDeg(1, 0), 90);
  assert.equal(clockAngleDeg(0, 1), 180);
  assert.equal(clockAngleDeg(-1, 0), 270);
});

test('AHA layout: anterior top, septum left, lateral right, inferior bottom', () => {
  const cases: [number, number, number][] = [
    [0.1, 0, 17], [0.1, 200, 17],
    [0.4, 0, 13], [0.4, 270, 14], [0.4, 180, 15], [0.4, 90, 16],
    [0.6, 0, 7], [0.6, 300, 8], [0.6, 240, 9], [0.6, 180, 10], [0.6, 120, 11], [0.6, 60, 12],
    [0.9, 0, 1], [0.9, 300, 2], [0.9, 240, 3], [0.9, 180, 4], [0.9, 120, 5], [0.9, 60, 6],
    // boundaries: just either side of 30 degrees and of 9 o'clock
    [0.9, 29, 1], [0.9, 31, 6], [0.9, 269, 3], [0.9, 271, 2], [0.4, 44, 13], [0.4, 46, 16],
    [1.01, 0, 0],
  ];
  for (const [r, a, want] of cases) {
    const [u, v] = at(r, a);
    assert.equal(segmentAtNormalised(u, v), want, `r=${r} angle=${a}`);
  }
  assert.equal(SEGMENTS[2].name, 'basal inferoseptal');
  assert.equal(SEGMENTS[16].name, 'apex');
});

test('ring areas follow the equal-radial-width rings (pixel count vs pi r^2)', () => {
  const size = 801;
  const labels = segmentLabels(size);
  const counts = new Array<number>(18).fill(0);
  for (const l of labels) counts[l]++;
  const R = size / 2;
  const area = (r: number) => Math.PI * (r * R) ** 2;
  const ring = (ids: number[]) => ids.reduce((s, i) => s + counts[i], 0);
  const rel = (got: number, want: number) => Math.abs(got - want) / want;
  assert.ok(rel(counts[17], area(0.25)) < 0.01);
  assert.ok(rel(ring([13, 14, 15, 16]), area(0.5) - area(0.25)) < 0.01);
  assert.ok(rel(ring([7, 8, 9, 10, 11, 12]), area(0.75) - area(0.5)) < 0.01);
  assert.ok(rel(ring([1, 2, 3, 4, 5, 6]), area(1) - area(0.75)) < 0.01);
  // segments of one ring have equal areas
  for (const id of [2, 3, 4, 5, 6]) assert.ok(rel(counts[id], counts[1]) < 0.01, `segment ${id}`);
  for (const id of [14, 15, 16]) assert.ok(rel(counts[id], counts[13]) < 0.01, `segment ${id}`);
});
