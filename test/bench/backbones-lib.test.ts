/**
 * Helpers of the backbone forward benchmark (bench/backbones-lib.ts): statistics, repetition
 * schedule, the worker's output protocol, the tfjs/ORT ratio, the Markdown table and the doc
 * block replacement. Expected values are worked out by hand in the comments.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DOC_BEGIN,
  DOC_END,
  errorGist,
  formatWorkerLine,
  markdownTable,
  median,
  mergeRows,
  parseWorkerOutput,
  replaceDocBlock,
  speedRatios,
  summariseBatch,
  timeRuns,
  type BackboneRow,
  type WorkerResult,
} from '../../bench/backbones-lib.js';

function result(engine: WorkerResult['engine'], b1: number, b16: number): WorkerResult {
  return {
    backbone: 'ResNet50V2',
    engine,
    inputSize: 224,
    threads: engine === 'ort' ? 2 : 1,
    setupMs: 100,
    batches: [summariseBatch(1, [b1], true, [b1 * 2]), summariseBatch(16, [b16 * 16], false)],
    peakRssMiB: 812.4,
    baselineRssMiB: 160,
    ...(engine === 'tfjs-wasm' ? { wasmHeapMiB: 600 } : {}),
    outputMaxAbs: 3,
    loadavg: [2, 2.5],
  };
}

describe('median', () => {
  test('odd and even counts, unsorted input left untouched', () => {
    const xs = [5, 1, 3];
    assert.equal(median(xs), 3);
    assert.deepEqual(xs, [5, 1, 3]);
    assert.equal(median([4, 1, 3, 2]), 2.5); // sorted 1 2 3 4 -> (2 + 3) / 2
    assert.equal(median([7]), 7);
  });
  test('empty list is an error', () => {
    assert.throws(() => median([]), RangeError);
  });
});

describe('timeRuns', () => {
  /** A fake clock: each call of fn advances it by `step` ms. */
  function fake(step: number): { now: () => number; fn: () => Promise<void>; calls: () => number } {
    let t = 0;
    let n = 0;
    return {
      now: () => t,
      fn: async () => {
        t += step;
        n++;
      },
      calls: () => n,
    };
  }
  test('keeps running while under budget, up to maxRuns', async () => {
    // 100 ms runs, budget 350 ms: after 3 runs 300 < 350 -> 4th run; 400 >= 350 -> stop.
    const c = fake(100);
    const times = await timeRuns(c.fn, { minRuns: 1, maxRuns: 10, budgetMs: 350 }, c.now);
    assert.deepEqual(times, [100, 100, 100, 100]);
  });
  test('minRuns wins over an exhausted budget; maxRuns caps a generous one', async () => {
    const slow = fake(5000);
    assert.equal((await timeRuns(slow.fn, { minRuns: 3, maxRuns: 7, budgetMs: 8000 }, slow.now)).length, 3);
    const fast = fake(1);
    assert.equal((await timeRuns(fast.fn, { minRuns: 3, maxRuns: 7, budgetMs: 8000 }, fast.now)).length, 7);
  });
  test('a bad schedule is rejected', async () => {
    const c = fake(1);
    await assert.rejects(timeRuns(c.fn, { minRuns: 0, maxRuns: 1, budgetMs: 0 }, c.now), RangeError);
    await assert.rejects(timeRuns(c.fn, { minRuns: 3, maxRuns: 2, budgetMs: 0 }, c.now), RangeError);
  });
});

describe('summariseBatch and speedRatios', () => {
  test('ms per image is the median call time over the batch size', () => {
    // median of 1600, 1700, 3200 = 1700 ms per 16 images = 106.25 -> 106.3 (1 decimal)
    const s = summariseBatch(16, [3200, 1600, 1700], true);
    assert.equal(s.msPerImage, 106.3);
    assert.deepEqual(s.runsMs, [3200, 1600, 1700]);
    assert.equal(s.warmedUp, true);
    assert.equal(s.cpuMsPerImage, undefined);
    // CPU: median of 1500, 1600, 6400 = 1600 / 16 = 100
    assert.equal(summariseBatch(16, [3200, 1600, 1700], true, [6400, 1500, 1600]).cpuMsPerImage, 100);
  });
  test('ratio tfjs / ORT per batch size', () => {
    // 120 / 30 = 4; 90 / 20 = 4.5
    assert.deepEqual(speedRatios(result('tfjs-wasm', 120, 90), result('ort', 30, 20)), { b1: 4, b16: 4.5 });
  });
});

describe('worker output protocol', () => {
  test('the marked line is found among other output', () => {
    const payload = { a: 1, b: [2, 3] };
    const out = `Platform node has already been set.\n${formatWorkerLine({ a: 0 })}noise\n${formatWorkerLine(payload)}`;
    assert.deepEqual(parseWorkerOutput(out), payload);
  });
  test('no marked line is an error', () => {
    assert.throws(() => parseWorkerOutput('hello\n'), /no result line/);
  });
});

describe('markdownTable', () => {
  test('one row per backbone, failures listed', () => {
    const ok: BackboneRow = {
      backbone: 'ResNet50V2',
      inputSize: 224,
      tfjs: result('tfjs-wasm', 1234.5, 90),
      ort: { ...result('ort', 30, 20), parityRelError: 0.0000484 },
      ratio: { b1: 41.16, b16: 4.5 },
    };
    const bad: BackboneRow = { backbone: 'VGG16', inputSize: 224, tfjs: { error: 'timed out after 720 s' }, ort: { skipped: 'x' } };
    const md = markdownTable([ok, bad]);
    const lines = md.split('\n');
    assert.match(lines[0], /^\| Backbone \| Input \| tfjs-wasm b1 /);
    assert.equal(lines[1].split('|').length, lines[0].split('|').length);
    // >= 100 ms printed without decimals (1234.5 -> 1235), below with one; ratio 41.16 -> 41.2x;
    // CPU b1 = 2 x wall (1234.5 * 2 = 2469; 30 * 2 = 60.0), b16 not measured -> '-';
    // parity 4.84e-5 -> toExponential(0) = 5e-5
    assert.equal(lines[2], '| ResNet50V2 | 224 | 1235 | 90.0 | 30.0 | 20.0 | 41.2x | 4.5x | 2469 / - | 60.0 / - | 812 MiB | 600 MiB | 812 MiB | 5e-5 |');
    assert.equal(lines[3], '| VGG16 | 224 | failed | failed | - | - | - | - | - | - | - | - | - | - |');
    assert.match(md, /Failures:\n\n- VGG16 on tfjs-wasm: timed out after 720 s\n$/);
  });
});

describe('replaceDocBlock', () => {
  const heading = '## Forward speed and memory';
  test('appends heading and block once, then replaces only the block', () => {
    const doc = '# Title\n\nintro\n';
    const once = replaceDocBlock(doc, 'table v1\n', heading);
    assert.equal(once, `# Title\n\nintro\n\n${heading}\n\n${DOC_BEGIN}\ntable v1\n${DOC_END}\n`);
    const edited = once.replace('intro', 'intro edited by hand') + 'trailing notes\n';
    const twice = replaceDocBlock(edited, 'table v2', heading);
    assert.equal(twice, edited.replace('table v1', 'table v2'));
  });
  test('a lone marker is an error', () => {
    assert.throws(() => replaceDocBlock(`x\n${DOC_BEGIN}\n`, 't', heading), /unbalanced/);
  });
});

describe('errorGist', () => {
  test('the last error line and the one after it, stack and Node banner dropped', () => {
    const stderr = [
      'EfficientNetB4 (224 px)',
      'Error: parseWat failed:',
      'gemm_simd.wat:41:1: error: unexpected token EOF, expected ).',
      '    at async <anonymous> (/work/main/src/engine/kernels/gemm_simd.ts:120:35)',
      '',
      'Node.js v20.20.2',
      '',
    ].join('\n');
    // lines after filtering: [EfficientNetB4 (224 px), Error: parseWat failed:, gemm_simd.wat...]; the last
    // matching /error/i is the gemm_simd line (index 2), so the gist is that line alone.
    assert.equal(errorGist(stderr), 'gemm_simd.wat:41:1: error: unexpected token EOF, expected ).');
    assert.equal(errorGist('RangeError: x\nmore detail\n    at f (a.ts:1:1)\n'), 'RangeError: x | more detail');
    assert.equal(errorGist('Killed\n'), 'Killed');
    assert.equal(errorGist(`Error: ${'y'.repeat(400)}`).length, 303); // 300 characters + '...'
  });
});

describe('mergeRows', () => {
  test('fresh rows replace old ones, the others are kept, table order', () => {
    const row = (backbone: string, tag: string): BackboneRow => ({ backbone, inputSize: 224, tfjs: { error: tag }, ort: { skipped: tag } });
    const merged = mergeRows([row('A', 'old'), row('B', 'old'), row('C', 'old')], [row('C', 'new'), row('A', 'new')], ['A', 'B', 'C', 'D']);
    assert.deepEqual(
      merged.map((r) => [r.backbone, 'error' in r.tfjs ? r.tfjs.error : '']),
      [
        ['A', 'new'],
        ['B', 'old'],
        ['C', 'new'],
      ],
    );
  });
});
