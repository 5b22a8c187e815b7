import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricsTable } from '../../src/report/sections/table.js';
import { metricsRowFromIntervals, decisionRuleRow, continuousScoreRow } from '../../src/evaluate/metrics-row.js';
import { metricsWithIntervals } from '../../src/evaluate/intervals.js';
import type { Label } from '../../src/domain/views.js';

const labels: Label[] = [1, 1, 1, 0, 0, 0, 1, 0];
const opts = { seed: 1, resamples: 200 };

/** The Threshold cell (4th column) of the row named `name`. */
function thresholdCellOf(html: string, name: string): string {
  const row = html.split('\n').find((l) => l.includes(`title="`) && l.includes(`>${name}<div`));
  assert.ok(row, `row ${name} rendered`);
  const tds = [...row.matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((m) => m[1]);
  return tds[2];
}

test('rule rows show no probability threshold; model rows show theirs', () => {
  const model = metricsRowFromIntervals(
    { name: 'net', description: 'a network', kind: 'model', evaluatedOn: 'test' },
    metricsWithIntervals(labels, [0.9, 0.8, 0.3, 0.2, 0.1, 0.6, 0.7, 0.4], { ...opts, threshold: 0.42 }),
  );
  const rule = decisionRuleRow(
    { name: 'sss4', description: 'SSS >= 4', kind: 'rule', evaluatedOn: 'test' },
    labels,
    [true, true, false, false, false, true, true, false],
    opts,
  );
  const score = continuousScoreRow(
    { name: 'sss', description: 'SSS', kind: 'score', evaluatedOn: 'test' },
    labels,
    [9, 8, 2, 1, 0, 5, 7, 3],
    opts,
  );
  const html = metricsTable([model, rule, score]);
  assert.match(html, /<th>Threshold<\/th>/);
  assert.equal(thresholdCellOf(html, 'net'), '0.42');
  assert.equal(thresholdCellOf(html, 'sss4'), '–');
  assert.equal(thresholdCellOf(html, 'sss'), '–');
  // the rule's own figures are still printed
  const ruleLine = html.split('\n').find((l) => l.includes('>sss4<div')) ?? '';
  assert.doesNotMatch(ruleLine, /0\.5(?![0-9])<\/td>/);
});
