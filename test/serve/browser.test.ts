/**
 * End to end in real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core; no
 * browser download): start `polarcad serve` on 127.0.0.1, open the page, upload a generated study
 * (a synthetic export page) and a non-image, wait for the result, check the probability, the
 * confidence wording, the overlay image (decoded by the browser), the bull's-eye, the model card and
 * the error card, download the PNG report and the result's PDF, and save a screenshot (to docs/images/serve-report.png and serve.png
 * when POLARCAD_UPDATE_SCREENSHOTS=1, else to a temporary folder).
 * A second test opens a page of another origin (an attacker's site the reader visits) that posts a
 * study to the server with a cross-site "simple" multipart fetch and a form: nothing is stored.
 * Skipped with a message when /usr/bin/chromium is absent (`.ci/run` installs it).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type * as tf from '@tensorflow/tfjs';
import { loadPredictor, type Predictor } from '../../src/predict/predictor.js';
import { buildServer } from '../../src/serve/server.js';
import sharp from 'sharp';
import { buildTestModel, pageBytes, singleMapBytes, testPatient, writeTestRun } from '../predict/fixtures.js';

const CHROMIUM = '/usr/bin/chromium';
/** The docs' screenshots are refreshed only on request (POLARCAD_UPDATE_SCREENSHOTS=1); otherwise a temp folder. */
const SCREENSHOT =
  process.env.POLARCAD_UPDATE_SCREENSHOTS === '1'
    ? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'images', 'serve.png')
    : join(tmpdir(), `polarcad-serve-shot-${process.pid}`, 'serve.png');
const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is not installed (apt-get install chromium; .ci/run does it)`;

let tmp = '';
let model: tf.LayersModel | undefined;
let predictor: Predictor | undefined;
let app: FastifyInstance | undefined;

before(async () => {
  if (skip) return;
  tmp = await mkdtemp(join(tmpdir(), 'polarcad-browser-'));
  model = await buildTestModel();
  predictor = await loadPredictor(
    await writeTestRun(join(tmp, 'run'), model, { embedded: true, colormap: 'rainbow' }),
    {
      threads: 1,
    },
  );
  app = await buildServer(predictor, { logLevel: 'silent' });
});
after(async () => {
  await app?.close();
  await predictor?.dispose();
  model?.dispose();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test(
  "upload a study in headless Chromium: probability, overlay, bull's-eye, model card, report",
  { skip, timeout: 180_000 },
  async () => {
    const { chromium } = await import('playwright-core');
    const address = await (app as FastifyInstance).listen({ port: 0, host: '127.0.0.1' });
    const pagePath = join(tmp, 'P0001_page.png');
    await writeFile(pagePath, await pageBytes(testPatient(0, 1)));
    const notImage = join(tmp, 'notes.txt');
    await writeFile(notImage, 'not an image');
    const profile = await mkdtemp(join(tmpdir(), 'polarcad-chromium-profile-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      acceptDownloads: true,
      viewport: { width: 1280, height: 1000 },
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
      const page = context.pages()[0] ?? (await context.newPage());
      const external: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith(address) && !r.url().startsWith('blob:') && !r.url().startsWith('data:'))
          external.push(r.url());
      });
      const consoleErrors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') consoleErrors.push(m.text());
      });
      await page.goto(`${address}/`);
      await page.waitForSelector('#card dl', { timeout: 30_000 });
      assert.match((await page.textContent('#card')) ?? '', /Intended use.*second reader/s);
      assert.match((await page.textContent('#card .disclaimer')) ?? '', /not ImageNet weights/);

      await page.setInputFiles('#files', notImage);
      await page.waitForSelector('.study .error:not([hidden])', { timeout: 60_000 });
      assert.match(
        (await page.textContent('.study .error')) ?? '',
        /file 1: is not a JPEG, PNG or DICOM file/,
      );

      await page.setInputFiles('#files', pagePath);
      type Doc = { querySelector(s: string): { complete: boolean; naturalWidth: number } | null };
      await page.waitForFunction(
        () => {
          const img = (globalThis as unknown as { document: Doc }).document.querySelector('.study .overlay');
          return img !== null && img.complete && img.naturalWidth > 0;
        },
        undefined,
        { timeout: 120_000 },
      );
      const pct = (await page.textContent('.study .pct')) ?? '';
      assert.match(pct, /^\d{1,3}%$/);
      assert.match(
        (await page.textContent('.study .wording')) ?? '',
        /(low|moderate|high) probability of CAD/,
      );
      assert.match(
        (await page.textContent('.study .decision')) ?? '',
        /(CAD|normal) at the operating threshold 0\.50/,
      );
      assert.equal(await page.locator('.study .bullseye svg path').count(), 17);
      assert.match((await page.textContent('.study .sentence')) ?? '', /territor/);
      // printed once: the overlay figure carries the sentence as its caption, the paragraph is for screen readers
      assert.ok(
        await page.$eval('.study .sentence', (e) =>
          (e as unknown as { classList: { contains(c: string): boolean } }).classList.contains(
            'visually-hidden',
          ),
        ),
      );
      const overlayWidth = await page.$eval(
        '.study .overlay',
        (i) => (i as unknown as { naturalWidth: number }).naturalWidth,
      );
      assert.ok(overlayWidth > 512, `overlay ${overlayWidth} px wide`);

      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: 30_000 }),
        page.click('.study .download'),
      ]);
      await mkdir(dirname(SCREENSHOT), { recursive: true });
      const saved = join(dirname(SCREENSHOT), 'serve-report.png');
      await download.saveAs(saved);
      const bytes = await readFile(saved);
      assert.deepEqual(
        [...bytes.subarray(0, 8)],
        [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
        'the report is a PNG',
      );
      assert.ok(bytes.length > 20_000, `report ${bytes.length} bytes`);
      // the result card's PDF link downloads the second-reader PDF made by the server
      const [pdfDownload] = await Promise.all([
        page.waitForEvent('download', { timeout: 30_000 }),
        page.click('.study .link-pdf'),
      ]);
      assert.equal(pdfDownload.suggestedFilename(), 'polarcad-result.pdf');
      const pdfPath = join(tmp, 'result.pdf');
      await pdfDownload.saveAs(pdfPath);
      assert.equal((await readFile(pdfPath)).subarray(0, 5).toString('latin1'), '%PDF-');

      // a greyscale copy of a rainbow map: the card warns that the model was trained on rainbow maps
      const grey = join(tmp, 'P0002_stress_ac.png');
      await writeFile(
        grey,
        await sharp(await singleMapBytes(testPatient(1, 0), 'stress_ac'))
          .greyscale()
          .png()
          .toBuffer(),
      );
      await page.setInputFiles('#files', grey);
      await page.waitForSelector('.study .warning:not([hidden])', { timeout: 120_000 });
      assert.match(
        (await page.textContent('.study .warning:not([hidden])')) ?? '',
        /trained on rainbow maps/,
      );
      assert.equal(
        await page.locator('.study .warning:not([hidden])').count(),
        1,
        'only the grey study is warned about',
      );

      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      assert.deepEqual(external, [], 'the page loads nothing from elsewhere');
      assert.deepEqual(
        consoleErrors.filter((e) => !/status of 400/.test(e)),
        [],
        'no console errors (besides the 400 of the bad upload)',
      );
    } finally {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    }
  },
);

test(
  'a page of another origin cannot post a study to the server (cross-site fetch and form)',
  { skip, timeout: 120_000 },
  async () => {
    const { chromium } = await import('playwright-core');
    const target = await buildServer(predictor as Predictor, { logLevel: 'silent' });
    const address = await target.listen({ port: 0, host: '127.0.0.1' });
    const png = Buffer.from(await pageBytes(testPatient(0, 1))).toString('base64');
    const evilHtml = `<!doctype html><html><body><form id="f" method="POST" enctype="multipart/form-data"
      action="${address}/api/predict?keep=1" target="sink"><input name="keep" value="1"></form>
      <iframe name="sink"></iframe><script>
      const bytes = Uint8Array.from(atob('${png}'), (c) => c.charCodeAt(0));
      const form = new FormData();
      form.append('file', new Blob([bytes], { type: 'image/png' }), 'upload.png');
      form.append('keep', '1');
      fetch('${address}/api/predict?keep=1', { method: 'POST', mode: 'no-cors', body: form })
        .catch(() => null)
        .then(() => { document.getElementById('f').submit(); setTimeout(() => (document.title = 'done'), 1500); });
      </script></body></html>`;
    const evil = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end(evilHtml),
    );
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    const evilPort = (evil.address() as { port: number }).port;
    const profile = await mkdtemp(join(tmpdir(), 'polarcad-chromium-profile-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
      ],
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const answers: number[] = [];
      page.on('response', (r) => {
        if (r.url().startsWith(`${address}/api/predict`)) answers.push(r.status());
      });
      // localhost and 127.0.0.1 are different sites' origins here: the attacker's page is http://localhost:PORT
      await page.goto(`http://localhost:${evilPort}/`);
      await page.waitForFunction(
        () => (globalThis as unknown as { document: { title: string } }).document.title === 'done',
        undefined,
        { timeout: 60_000 },
      );
      const health = (await (await fetch(`${address}/healthz`)).json()) as { results: number };
      assert.equal(health.results, 0, 'nothing was stored');
      assert.ok(answers.length >= 1 && answers.every((s) => s === 403), `answers ${answers.join(', ')}`);
    } finally {
      await context.close();
      await rm(profile, { recursive: true, force: true });
      await new Promise((r) => evil.close(r));
      await target.close();
    }
  },
);
