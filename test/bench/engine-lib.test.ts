/**
 * Helpers of the engine benchmark against PyTorch (bench/engine-lib.ts): ratio orientation per
 * figure, verdicts against the targets (1.5x faster forward, step within 2x, warm-up under
 * 10 s), missing sides, the Markdown table and the docs block replacement.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ENGINE_DOC_BEGIN,
  ENGINE_DOC_END,
  figureRow,
  markdownTable,
  replaceEngineBlock,
  TOP_BLOCKS,
} from '../../bench/engine-lib.js';

test('forward: ratio is PyTorch / polarcad and must reach 1.5', () => {
  const ok = figureRow(
    'forward',
    'ResNet50V2',
    { msPerImage: 20, cpuMsPerImage: 35, peakRssMiB: 400 },
    { msPerImage: 57, cpuMsPerImage: 110, peakRssMiB: 500 },
  );
  assert.equal(ok.ratio, 2.85); // 57 / 20
  assert.equal(ok.cpuRatio, 3.14); // 110 / 35 = 3.142..
  assert.equal(ok.met, true);
  const miss = figureRow(
    'forward',
    'ResNet50V2',
    { msPerImage: 40, peakRssMiB: 400 },
    { msPerImage: 57, peakRssMiB: 500 },
  );
  assert.equal(miss.ratio, 1.43); // 57 / 40 = 1.425
  assert.equal(miss.met, false);
  assert.equal(miss.cpuRatio, undefined);
});

test('step: ratio is polarcad / PyTorch and must stay within 2', () => {
  const ok = figureRow(
    'step',
    'MobileNetV2',
    { msPerStep: 300, peakRssMiB: 1 },
    { msPerStep: 150, peakRssMiB: 1 },
  );
  assert.equal(ok.ratio, 2);
  assert.equal(ok.met, true);
  const miss = figureRow(
    'step',
    'MobileNetV2',
    { msPerStep: 301, peakRssMiB: 1 },
    { msPerStep: 150, peakRssMiB: 1 },
  );
  assert.equal(miss.met, false);
});

test('warm-up: verdict on polarcad seconds alone (< 10 s), even without PyTorch', () => {
  const ok = figureRow(
    'warmup',
    'head',
    { seconds: 9.99, peakRssMiB: 1 },
    { skipped: 'PyTorch is not installed' },
  );
  assert.equal(ok.met, true);
  assert.equal(ok.ratio, undefined);
  assert.equal(
    figureRow('warmup', 'head', { seconds: 10, peakRssMiB: 1 }, { seconds: 5, peakRssMiB: 1 }).met,
    false,
  );
  assert.equal(
    figureRow('warmup', 'head', { seconds: 10, peakRssMiB: 1 }, { seconds: 5, peakRssMiB: 1 }).ratio,
    2,
  );
});

test('a missing side makes the ratio verdict undecidable and is listed under the table', () => {
  const r = figureRow(
    'forward',
    'MobileNetV2',
    { error: 'worker exited with 1: boom' },
    { skipped: 'PyTorch is not installed for /usr/bin/python3' },
  );
  assert.equal(r.met, null);
  const md = markdownTable([r]);
  assert.match(
    md,
    /\| Frozen forward, batch 16 \| MobileNetV2 \| ms\/image \| failed \| not run \| - \| >= 1.5x faster \| \? \|/,
  );
  assert.match(md, /- Frozen forward, batch 16, MobileNetV2, polarcad: worker exited with 1: boom/);
  assert.match(md, /- Frozen forward, batch 16, MobileNetV2, PyTorch: PyTorch is not installed/);
});

test('markdown table: one row per figure with values, ratios, verdicts, CPU and memory', () => {
  const md = markdownTable([
    figureRow(
      'forward',
      'ResNet50V2',
      { msPerImage: 20.04, cpuMsPerImage: 35, peakRssMiB: 401.6 },
      { msPerImage: 57, cpuMsPerImage: 110, peakRssMiB: 500 },
    ),
    figureRow(
      'step',
      'ResNet50V2',
      { msPerStep: 1234, peakRssMiB: 700 },
      { msPerStep: 500, peakRssMiB: 450 },
    ),
  ]);
  const lines = md.trim().split('\n');
  assert.equal(lines.length, 4); // header, rule, 2 rows
  // 57 / 20.04 = 2.844 -> 2.84x; 110 / 35 = 3.143 -> 3.14x; 1234 / 500 = 2.468 -> 2.47x
  assert.equal(
    lines[2],
    '| Frozen forward, batch 16 | ResNet50V2 | ms/image | 20.0 | 57.0 | 2.84x | >= 1.5x faster | yes | 35.0 | 110 | 3.14x | 402 MiB | 500 MiB |',
  );
  assert.equal(
    lines[3],
    '| Training step, top block + head, batch 16 | ResNet50V2 | ms/step | 1234 | 500 | 2.47x | within 2x | **no** | - | - | - | 700 MiB | 450 MiB |',
  );
});

test('docs block: appended once with its heading, then replaced in place; unbalanced markers throw', () => {
  const doc = '# Engine notes\n\n## Feature cache\n\ntext\n';
  const once = replaceEngineBlock(doc, 'TABLE 1', '## Benchmarks against PyTorch');
  assert.equal(
    once,
    `# Engine notes\n\n## Feature cache\n\ntext\n\n## Benchmarks against PyTorch\n\n${ENGINE_DOC_BEGIN}\nTABLE 1\n${ENGINE_DOC_END}\n`,
  );
  const twice = replaceEngineBlock(
    `${once}\n## Later section\n`,
    'TABLE 2\n',
    '## Benchmarks against PyTorch',
  );
  assert.equal(twice.split('## Benchmarks against PyTorch').length, 2, 'heading not repeated');
  assert.ok(twice.includes(`${ENGINE_DOC_BEGIN}\nTABLE 2\n${ENGINE_DOC_END}`));
  assert.ok(!twice.includes('TABLE 1'));
  assert.ok(twice.endsWith('\n## Later section\n'));
  assert.throws(() => replaceEngineBlock(`x ${ENGINE_DOC_BEGIN} y`, 'T', '## H'), /unbalanced/);
});

test('top blocks name the Keras layers the step starts at', () => {
  assert.equal(TOP_BLOCKS.ResNet50V2.firstLayer, 'conv5_block3_preact_bn');
  assert.equal(TOP_BLOCKS.MobileNetV2.firstLayer, 'block_16_expand');
});
