/**
 * `polarcad demo --quick` end to end through `main()` (40 synthetic patients, the default model on
 * embedded MobileNetV2 beside the network alone and both baselines), then its report in headless Chromium: the page loads with no console error, shows
 * the ROC figure and the tables, and every section is filled. Skips the browser part with a
 * message when /usr/bin/chromium is absent (CI installs it: .ci/run).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cli } from '../helpers/cli.js';

const CHROMIUM = '/usr/bin/chromium';
let dir = '';
let demo = '';
let result: { code: number; out: string; err: string } = { code: -1, out: '', err: '' };

async function hasChromium(): Promise<boolean> {
  try {
    await access(CHROMIUM);
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-demo-'));
  demo = join(dir, 'demo');
  result = await cli(['demo', '--quick', '--out', demo]);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('polarcad demo --quick', () => {
  test('runs the whole story and prints where the report is with the summary table', async () => {
    assert.equal(result.code, 0, result.err);
    for (let i = 1; i <= 6; i++) {
      assert.match(result.err, new RegExp(`\\[${i}/6\\] `), `progress step ${i}`);
      // each step's own time, printed once when it ends (not the time since the start)
      assert.equal(
        result.err.match(new RegExp(`^\\[${i}/6\\] done in \\d+ (s|min \\d\\d s)$`, 'gm'))?.length,
        1,
        `step ${i} time`,
      );
    }
    assert.match(result.out, /report: .*report\.html/);
    // the default model, the network alone, both baselines and the semi-quantitative rules side by
    // side on the same patients, with intervals, and the paired tests in words
    for (const name of ['hybrid', 'cnn-segments', 'segment-logistic', 'pixel-logistic'])
      assert.match(
        result.out,
        new RegExp(`\\n${name}\\s+8\\s+\\d\\.\\d\\d \\[\\d\\.\\d\\d, \\d\\.\\d\\d\\]`),
        name,
      );
    assert.match(result.out, /sss4_ac\s+8\s+/);
    for (const name of ['cnn-segments', 'segment-logistic', 'pixel-logistic'])
      assert.match(
        result.out,
        new RegExp(`vs ${name}: AUC difference -?\\d\\.\\d{3} \\(DeLong p \\d\\.\\d{3}\\)`),
        name,
      );
    const d = JSON.parse(await readFile(join(demo, 'demo.json'), 'utf8'));
    assert.equal(d.sameSplit, true, 'model, baselines and score evaluated on the same patients');
    assert.match(d.facts.Weights, /embedded default/);
    const cfg = JSON.parse(await readFile(join(demo, 'train', 'config.json'), 'utf8'));
    assert.equal(cfg.model, 'hybrid');
    assert.deepEqual(cfg.resolved.views, ['stress_ac', 'rest_ac', 'stress_nac', 'rest_nac']);
    const metrics = JSON.parse(await readFile(join(demo, 'train', 'metrics.json'), 'utf8'));
    assert.deepEqual(
      metrics.rows.map((r: { name: string }) => r.name),
      ['hybrid', 'cnn-segments', 'segment-logistic', 'pixel-logistic'],
    );
    // 40 patients, 51% CAD: 20 CAD (round(40 * 0.51) = 20); 20% held out per class -> 4 + 4
    assert.equal(cfg.resolved.split.test.length, 8);
    const html = await readFile(join(demo, 'report.html'), 'utf8');
    assert.ok(!/https?:\/\//.test(html), 'no http(s) reference');
    assert.ok(!/Not available/.test(html), 'every section filled');
    assert.match(html, /The embedded default was used, not ImageNet weights/);
    const heat = JSON.parse(await readFile(join(demo, 'train', 'heatmaps', 'index.json'), 'utf8'));
    assert.ok(heat.items.length >= 2);
    assert.ok((await stat(join(demo, 'figures', 'roc.png'))).size > 1000);
  });

  test('its report opens in headless Chromium: no console error, ROC figure and tables shown', async (t) => {
    if (!(await hasChromium())) {
      t.skip(
        `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) to run the browser check`,
      );
      return;
    }
    assert.equal(result.code, 0, result.err);
    const { chromium } = await import('playwright-core');
    const profile = await mkdtemp(join(tmpdir(), 'polarcad-chromium-'));
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 1000 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await ctx.newPage();
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('request', (r) => {
        if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) requests.push(r.url());
      });
      const res = await page.goto(pathToFileURL(join(demo, 'report.html')).href, { waitUntil: 'load' });
      assert.ok(res === null || res.ok());
      assert.deepEqual(problems, []);
      assert.deepEqual(requests, [], 'no network request');
      const roc = await page.locator('#fig-roc svg').boundingBox();
      assert.ok(
        roc !== null && roc.width > 200 && roc.height > 200,
        `ROC figure drawn (${JSON.stringify(roc)})`,
      );
      assert.ok((await page.locator('table.metrics').count()) >= 2, 'metric and comparison tables');
      assert.match(await page.locator('#comparison table.metrics').innerText(), /sss4_ac/);
      for (const id of [
        'summary',
        'dataset',
        'metrics',
        'training',
        'comparison',
        'heatmaps',
        'model-card',
      ]) {
        const text = await page.locator(`section#${id}`).innerText();
        assert.ok(text.length > 80, `section ${id} has content`);
      }
      const imgs = await page
        .locator('#heatmaps img')
        .evaluateAll((els) => els.map((e) => (e as unknown as { naturalWidth: number }).naturalWidth));
      assert.ok(imgs.length >= 2 && imgs.every((w) => w > 0), 'heatmaps decoded');
      await page.screenshot({ path: join(dir, 'report.png'), fullPage: true });
      assert.ok((await stat(join(dir, 'report.png'))).size > 10000);
    } finally {
      await ctx.close();
      await rm(profile, { recursive: true, force: true });
    }
  });
});
