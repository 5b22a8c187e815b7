import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { RgbImage } from '../../src/domain/image.js';
import { assignLayout, prepare, type PrepareReport } from '../../src/ingest/prepare.js';
import { loadManifest, DEFAULT_LAYOUT } from '../../src/ingest/manifest.js';
import { readImage } from '../../src/ingest/readers.js';
import { InputErrors } from '../../src/util/errors.js';
import { OUTPUT_MARKER, writeOutputMarker } from '../../src/util/output.js';
import { cli } from '../helpers/cli.js';
import { paintDisc, gridSvg, overlaySvg } from './fixtures.js';
import { makeDicom, TS } from '../helpers/dicom.js';

let dir: string;
let k = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'polarcad-prepare-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Uniform uptake `level` over the whole disc, so a crop's centre colour identifies its disc. */
const flat = (level: number) => (): number => level;

async function png(img: RgbImage, name: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(
    p,
    await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
      .png()
      .toBuffer(),
  );
  return p;
}

async function jpeg(img: RgbImage, name: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(
    p,
    await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
      .jpeg({ quality: 95 })
      .toBuffer(),
  );
  return p;
}

/** A 120 x 130 single-map export: one hot-scale disc (r = 45) with a white segment grid. */
async function single(
  level = 0.8,
): Promise<{ img: RgbImage; disc: { cx: number; cy: number; radius: number } }> {
  const disc = { cx: 59.5, cy: 66.5, radius: 45 };
  const img: RgbImage = { width: 120, height: 130, data: new Uint8Array(120 * 130 * 3) };
  paintDisc(img, disc.cx, disc.cy, disc.radius, 'hot', flat(level));
  return { img: await overlaySvg(img, gridSvg(disc.cx, disc.cy, disc.radius)), disc };
}

/** The page's true discs (reading order) and their uptake levels (distinct, to tell views apart). */
const PAGE_DISCS = [
  { cx: 80.5, cy: 80.5, radius: 60 },
  { cx: 240.5, cy: 81, radius: 60 },
  { cx: 80, cy: 220.5, radius: 60 },
  { cx: 241, cy: 220, radius: 60 },
];
const PAGE_LEVELS = [0.45, 0.6, 0.75, 0.9];

/** A 320 x 300 page with four discs in 2 x 2, each with a grid. */
async function page(): Promise<RgbImage> {
  const img: RgbImage = { width: 320, height: 300, data: new Uint8Array(320 * 300 * 3) };
  PAGE_DISCS.forEach((d, i) => paintDisc(img, d.cx, d.cy, d.radius, 'hot', flat(PAGE_LEVELS[i])));
  return overlaySvg(img, PAGE_DISCS.map((d) => gridSvg(d.cx, d.cy, d.radius)).join(''));
}

async function manifest(lines: string[]): Promise<string> {
  const p = join(dir, `manifest${k++}.csv`);
  await writeFile(p, lines.join('\n') + '\n');
  return p;
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

/** Mean RGB of the 5 x 5 centre of a crop. */
function centreColour(img: RgbImage): number[] {
  const c = Math.floor(img.width / 2);
  const s = [0, 0, 0];
  for (let y = c - 2; y <= c + 2; y++)
    for (let x = c - 2; x <= c + 2; x++)
      for (let ch = 0; ch < 3; ch++) s[ch] += img.data[(y * img.width + x) * 3 + ch] / 25;
  return s;
}

describe('assignLayout', () => {
  it('sorts discs into the layout grid whatever their order', () => {
    const shuffled = [PAGE_DISCS[3], PAGE_DISCS[0], PAGE_DISCS[2], PAGE_DISCS[1]];
    assert.deepEqual(assignLayout(shuffled, DEFAULT_LAYOUT), {
      stress_ac: PAGE_DISCS[0],
      rest_ac: PAGE_DISCS[1],
      stress_nac: PAGE_DISCS[2],
      rest_nac: PAGE_DISCS[3],
    });
    assert.deepEqual(
      assignLayout(PAGE_DISCS, [
        ['stress_ac', null],
        [null, 'rest_ac'],
      ]),
      { stress_ac: PAGE_DISCS[0], rest_ac: PAGE_DISCS[3] },
    );
  });

  it('explains a mismatch between the discs found and the layout', () => {
    assert.equal(
      assignLayout(PAGE_DISCS.slice(0, 3), DEFAULT_LAYOUT),
      'found 3 discs, the layout "stress_ac,rest_ac/stress_nac,rest_nac" has 4',
    );
    const row = PAGE_DISCS.map((d, i) => ({ ...d, cx: 80 + 150 * i, cy: 80 }));
    assert.equal(
      assignLayout(row, DEFAULT_LAYOUT),
      'found discs in 1 row of 4, the layout "stress_ac,rest_ac/stress_nac,rest_nac" expects 2+2',
    );
  });
});

describe('prepare: good input', () => {
  it('single-map images (PNG, JPEG, DICOM), pages and manual boxes', async () => {
    const a = await single(0.8);
    const b = await single(0.5);
    await png(a.img, 'a.png');
    await jpeg(b.img, 'b.jpg');
    await writeFile(
      join(dir, 'c.dcm'),
      makeDicom({
        transferSyntax: TS.explicitLE,
        rows: 130,
        columns: 120,
        photometric: 'RGB',
        samplesPerPixel: 3,
        bitsAllocated: 8,
        pixelData: a.img.data,
      }),
    );
    const pg = await page();
    await png(pg, 'page.png');
    // a single-map image with TWO discs: only a manual box makes it usable
    const two: RgbImage = { width: 240, height: 130, data: new Uint8Array(240 * 130 * 3) };
    paintDisc(two, 59.5, 66.5, 45, 'hot', flat(0.8));
    paintDisc(two, 179.5, 66.5, 45, 'hot', flat(0.5));
    await png(two, 'two.png');
    const m = await manifest([
      'patient_id,label,sex,age,stress_ac,rest_ac,page,layout,box_rest_ac,site',
      'S1,CAD,M,60,a.png,b.jpg,,,,north',
      'S2,normal,F,55,c.dcm,two.png,,,"135,22,90,90",south',
      'S3,0,,,,,page.png,,,north',
      'S4,1,,,,,page.png,"stress_nac,-/rest_nac,stress_ac",,east',
    ]);
    const out = join(dir, 'out-good');
    const progress: number[] = [];
    const report = await prepare(m, { out, size: 64, onProgress: (d, t) => progress.push(d * 100 + t) });
    assert.deepEqual(progress, [104, 204, 304, 404]);
    assert.deepEqual(report.patients, { total: 4, ok: 4, skipped: 0 });
    assert.deepEqual(report.problems, []);
    assert.deepEqual((await readdir(out)).sort(), [
      OUTPUT_MARKER,
      'S1',
      'S2',
      'S3',
      'S4',
      'manifest.csv',
      'report.csv',
      'report.json',
    ]);
    assert.deepEqual((await readdir(join(out, 'S3'))).sort(), [
      'rest_ac.png',
      'rest_nac.png',
      'stress_ac.png',
      'stress_nac.png',
    ]);
    assert.deepEqual((await readdir(join(out, 'S4'))).sort(), [
      'rest_nac.png',
      'stress_ac.png',
      'stress_nac.png',
    ]);

    const byKey = new Map(report.images.map((r) => [`${r.patientId}/${r.view}`, r]));
    // discs found where they were drawn (within 1.5 px), assigned to the right views
    const near = (key: string, want: { cx: number; cy: number; radius: number }): void => {
      const d = byKey.get(key)?.disc;
      assert.ok(d, key);
      assert.ok(
        Math.abs(d.cx - want.cx) < 1.5 &&
          Math.abs(d.cy - want.cy) < 1.5 &&
          Math.abs(d.radius - want.radius) < 1.5,
        `${key}: ${JSON.stringify(d)}`,
      );
    };
    near('S1/stress_ac', a.disc);
    near('S1/rest_ac', b.disc);
    near('S2/stress_ac', a.disc);
    near('S3/stress_ac', PAGE_DISCS[0]);
    near('S3/rest_ac', PAGE_DISCS[1]);
    near('S3/stress_nac', PAGE_DISCS[2]);
    near('S3/rest_nac', PAGE_DISCS[3]);
    near('S4/stress_nac', PAGE_DISCS[0]);
    near('S4/rest_nac', PAGE_DISCS[2]);
    near('S4/stress_ac', PAGE_DISCS[3]);
    // the box: centre (135 + 45 - 0.5, 22 + 45 - 0.5), radius 45 (UptakeMap convention)
    assert.deepEqual(byKey.get('S2/rest_ac')?.disc, { cx: 179.5, cy: 66.5, radius: 45 });
    assert.equal(byKey.get('S2/rest_ac')?.discFrom, 'box');
    assert.equal(byKey.get('S2/rest_ac')?.discsFound, null);
    assert.equal(byKey.get('S3/stress_ac')?.discsFound, 4);
    for (const r of report.images) {
      assert.equal(r.status, 'ok');
      assert.ok((r.gridPixelsFilled ?? -1) >= 0);
    }
    assert.ok((byKey.get('S1/stress_ac')?.gridPixelsFilled ?? 0) > 50, 'the white grid was filled in');

    // crops: size x size, black corners, centre colour = the disc's hot-scale colour
    const hot = (level: number): number[] => {
      // hot stops (colormaps.ts): 0 black, 1/3 red, 2/3 yellow, 1 white; entry = round(level * 255)
      const t = Math.round(level * 255) / 255;
      return t <= 2 / 3
        ? [255, Math.round((t - 1 / 3) * 3 * 255), 0]
        : [255, 255, Math.round((t - 2 / 3) * 3 * 255)];
    };
    const checkCrop = async (file: string, level: number): Promise<void> => {
      const img = await readImage(join(out, file));
      assert.equal(img.width, 64);
      assert.equal(img.height, 64);
      assert.deepEqual(Array.from(img.data.subarray(0, 3)), [0, 0, 0], `${file} corner`);
      const c = centreColour(img);
      const want = hot(level);
      for (let ch = 0; ch < 3; ch++)
        assert.ok(Math.abs(c[ch] - want[ch]) < 12, `${file}: centre ${c} vs ${want}`);
    };
    await checkCrop('S1/stress_ac.png', 0.8);
    await checkCrop('S1/rest_ac.png', 0.5);
    await checkCrop('S2/rest_ac.png', 0.5);
    for (const [i, v] of ['stress_ac', 'rest_ac', 'stress_nac', 'rest_nac'].entries())
      await checkCrop(`S3/${v}.png`, PAGE_LEVELS[i]);
    await checkCrop('S4/stress_ac.png', PAGE_LEVELS[3]);

    // the output manifest points at the crops and is valid input
    const again = await loadManifest(join(out, 'manifest.csv'));
    assert.deepEqual(
      again.rows.map((r) => [r.patientId, r.label, r.clinical.site, Object.keys(r.views).join('+')]),
      [
        ['S1', 1, 'north', 'stress_ac+rest_ac'],
        ['S2', 0, 'south', 'stress_ac+rest_ac'],
        ['S3', 0, 'north', 'stress_ac+rest_ac+stress_nac+rest_nac'],
        ['S4', 1, 'east', 'stress_ac+stress_nac+rest_nac'],
      ],
    );
    assert.equal(again.rows[0].views.stress_ac, join(out, 'S1', 'stress_ac.png'));
    assert.equal(again.rows[0].age, 60);
    const csv = (await readFile(join(out, 'report.csv'), 'utf8')).trim().split('\n');
    assert.equal(
      csv[0],
      'patient_id,row,view,source,discs_found,disc_from,cx,cy,radius,grid_pixels_filled,output,status,reason',
    );
    assert.equal(csv.length, 1 + 2 + 2 + 4 + 3);
    const json = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as PrepareReport;
    assert.equal(json.manifestSha256, (await loadManifest(m)).sha256);
    assert.equal(json.images.length, 11);
  });

  it('--views: only the listed views, and each row must have them', async () => {
    const a = await single(0.8);
    await png(a.img, 'v.png');
    const m = await manifest(['patient_id,label,stress_ac,rest_ac', 'V1,1,v.png,v.png', 'V2,0,v.png,']);
    const out = join(dir, 'out-views');
    const r1 = await prepare(m, { out, size: 32, views: ['stress_ac'] });
    assert.deepEqual(r1.patients, { total: 2, ok: 2, skipped: 0 });
    assert.deepEqual(await readdir(join(out, 'V1')), ['stress_ac.png']);
    await assert.rejects(
      prepare(m, { out: join(dir, 'out-views2'), size: 32, views: ['rest_ac'] }),
      (e: unknown) => {
        assert.ok(e instanceof InputErrors);
        assert.deepEqual(e.problems, [
          'row 3 (patient V2), rest_ac: no rest_ac image in the manifest (asked for by --views)',
        ]);
        return true;
      },
    );
  });
});

describe('prepare: bad input', () => {
  let m: string;
  const files: Record<string, string> = {};
  before(async () => {
    const good = await single(0.7);
    files.good = await png(good.img, 'good.png');
    files.notImage = join(dir, 'notes.png');
    await writeFile(files.notImage, 'this is a text file\n');
    const jpg = await sharp(good.img.data, { raw: { width: 120, height: 130, channels: 3 } })
      .jpeg()
      .toBuffer();
    files.truncated = join(dir, 'cut.jpg');
    await writeFile(files.truncated, jpg.subarray(0, jpg.length >> 1));
    const big: RgbImage = { width: 200, height: 200, data: new Uint8Array(200 * 200 * 3) };
    paintDisc(big, 99.5, 99.5, 80, 'hot', flat(0.7));
    files.big = await png(big, 'big.png');
    files.blank = await png({ width: 120, height: 130, data: new Uint8Array(120 * 130 * 3) }, 'blank.png');
    files.unreadable = join(dir, 'garbage.png');
    const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    // a PNG signature followed by a complete but nonsensical chunk list ending in IEND
    const iend = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
    await writeFile(files.unreadable, Buffer.concat([sig, iend]));
    m = await manifest([
      'patient_id,label,stress_ac',
      'B1,1,good.png',
      'B2,0,notes.png',
      'B3,1,cut.jpg',
      'B4,0,big.png',
      'B5,1,blank.png',
      'B6,0,garbage.png',
      'B7,1,good.png',
    ]);
  });

  const expectedProblems = (): RegExp[] => [
    new RegExp(`^row 3 \\(patient B2\\), stress_ac: ${files.notImage}: is not a JPEG, PNG or DICOM file$`),
    new RegExp(
      `^row 4 \\(patient B3\\), stress_ac: ${files.truncated}: JPEG file is truncated or corrupt \\(`,
    ),
    new RegExp(
      `^row 5 \\(patient B4\\), stress_ac: ${files.big}: image has too many pixels \\(200 x 200 = 40000 > limit 20000\\)`,
    ),
    new RegExp(`^row 6 \\(patient B5\\), stress_ac: ${files.blank}: no polar-map disc found$`),
    new RegExp(`^row 7 \\(patient B6\\), stress_ac: ${files.unreadable}: unreadable PNG file \\(`),
  ];

  it('fails listing every problem with row, patient and file, and leaves no output behind', async () => {
    const out = join(dir, 'out-bad');
    await assert.rejects(prepare(m, { out, size: 32, maxPixels: 20000 }), (e: unknown) => {
      assert.ok(e instanceof InputErrors, String(e));
      assert.match(e.message, new RegExp(`^${m}: 5 unusable images; nothing was written`));
      assert.equal(e.problems.length, 5);
      expectedProblems().forEach((re, i) => assert.match(e.problems[i], re));
      return true;
    });
    assert.equal(await exists(out), false);
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.startsWith('.out-bad')),
      [],
      'no temporary folder left',
    );
  });

  it('keeps an existing output folder untouched when the run fails', async () => {
    const out = join(dir, 'out-existing');
    await mkdir(out);
    await writeOutputMarker(out, 'prepare'); // a previous prepare output: the run may replace it
    await writeFile(join(out, 'marker.txt'), 'old');
    await assert.rejects(prepare(m, { out, size: 32, maxPixels: 20000 }), InputErrors);
    assert.deepEqual((await readdir(out)).sort(), [OUTPUT_MARKER, 'marker.txt']);
  });

  it('a missing file is caught by the manifest check, before any work', async () => {
    const mm = await manifest(['patient_id,label,stress_ac', 'M1,1,good.png', 'M2,0,missing.png']);
    const out = join(dir, 'out-missing');
    await assert.rejects(prepare(mm, { out }), (e: unknown) => {
      assert.ok(e instanceof InputErrors);
      assert.deepEqual(e.problems, [`row 3, column stress_ac: file not found: ${join(dir, 'missing.png')}`]);
      return true;
    });
    assert.equal(await exists(out), false);
  });

  it('a page with the wrong number of discs is a per-row problem', async () => {
    const single2 = await single(0.6);
    await png(single2.img, 'page-one-disc.png');
    const mm = await manifest(['patient_id,label,page', 'G1,1,page-one-disc.png']);
    await assert.rejects(prepare(mm, { out: join(dir, 'out-page') }), (e: unknown) => {
      assert.ok(e instanceof InputErrors);
      const p = join(dir, 'page-one-disc.png');
      const msg = `${p}: found 1 disc, the layout "stress_ac,rest_ac/stress_nac,rest_nac" has 4`;
      // once per patient, not once per view
      assert.deepEqual(e.problems, [`row 2 (patient G1), stress_ac, rest_ac, stress_nac, rest_nac: ${msg}`]);
      return true;
    });
  });

  it('--skip-bad leaves those patients out and records why', async () => {
    const out = join(dir, 'out-skip');
    const report = await prepare(m, { out, size: 32, maxPixels: 20000, skipBad: true });
    assert.deepEqual(report.patients, { total: 7, ok: 2, skipped: 5 });
    assert.deepEqual((await readdir(out)).sort(), [
      OUTPUT_MARKER,
      'B1',
      'B7',
      'manifest.csv',
      'report.csv',
      'report.json',
    ]);
    const rows = (await loadManifest(join(out, 'manifest.csv'))).rows;
    assert.deepEqual(
      rows.map((r) => r.patientId),
      ['B1', 'B7'],
    );
    const json = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as PrepareReport;
    assert.deepEqual(
      json.images.map((r) => [r.patientId, r.status]),
      [
        ['B1', 'ok'],
        ['B2', 'error'],
        ['B3', 'error'],
        ['B4', 'error'],
        ['B5', 'error'],
        ['B6', 'error'],
        ['B7', 'ok'],
      ],
    );
    expectedProblems().forEach((re, i) =>
      assert.match(
        `row ${json.images[i + 1].row} (patient ${json.images[i + 1].patientId}), stress_ac: ${json.images[i + 1].reason}`,
        re,
      ),
    );
    const csv = await readFile(join(out, 'report.csv'), 'utf8');
    assert.match(csv, /B5,6,stress_ac,[^\n]*blank\.png,0,,,,,,,error,[^\n]*no polar-map disc found/);
  });
});

describe('polarcad prepare (CLI)', () => {
  const run = cli;

  it('prepares a manifest and exits 0; bad input exits 2 with every problem and no output', async () => {
    const a = await single(0.8);
    await png(a.img, 'cli.png');
    await writeFile(join(dir, 'cli-text.png'), 'not an image');
    const good = await manifest([
      'patient_id,label,stress_ac,rest_ac',
      'C1,1,cli.png,cli.png',
      'C2,0,cli.png,cli.png',
    ]);
    const out = join(dir, 'out-cli');
    const ok = await run(['prepare', good, '--out', out, '--size', '48', '--views', 'stress_ac']);
    assert.equal(ok.code, 0, ok.err);
    assert.equal(
      ok.out,
      `prepared 2 of 2 patients into ${out}\ncolour map hot (recognised, coverage 96.0%)\n`,
    );
    assert.equal(ok.err, '', 'no progress bar when stderr is not a TTY');
    assert.equal((await readImage(join(out, 'C2', 'stress_ac.png'))).width, 48);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as PrepareReport;
    assert.deepEqual(report.views, ['stress_ac']);
    assert.equal(report.size, 48);

    const bad = await manifest(['patient_id,label,stress_ac', 'C1,1,cli.png', 'C2,0,cli-text.png']);
    const out2 = join(dir, 'out-cli-bad');
    const fail = await run(['prepare', bad, '--out', out2]);
    assert.equal(fail.code, 2);
    assert.match(fail.err, new RegExp(`^polarcad: ${bad}: 1 unusable image; nothing was written`));
    assert.match(
      fail.err,
      /row 3 \(patient C2\), stress_ac: .*cli-text\.png: is not a JPEG, PNG or DICOM file/,
    );
    assert.equal(await exists(out2), false);

    const skip = await run(['prepare', bad, '--out', out2, '--skip-bad']);
    assert.equal(skip.code, 0, skip.err);
    assert.equal(
      skip.out,
      `prepared 1 of 2 patients into ${out2} (1 skipped, see report.csv)\ncolour map hot (recognised, coverage 97.1%)\n`,
    );

    // --quiet: nothing on stdout or stderr, same output; errors are still reported
    const quiet = await run(['prepare', bad, '--out', out2, '--skip-bad', '--quiet', '--force']);
    assert.equal(quiet.code, 0, quiet.err);
    assert.equal(quiet.out, '');
    assert.equal(quiet.err, '');
    assert.equal((await loadManifest(join(out2, 'manifest.csv'))).rows.length, 1);
    const quietFail = await run(['prepare', bad, '--out', join(dir, 'out-cli-quiet'), '--quiet']);
    assert.equal(quietFail.code, 2);
    assert.match(quietFail.err, /row 3 \(patient C2\), stress_ac: .*is not a JPEG, PNG or DICOM file/);

    const opt = await run(['prepare', good, '--out', out2, '--views', 'stress_ac,stress']);
    assert.equal(opt.code, 2);
    assert.match(opt.err, /--views: unknown view stress; expected all or a comma-separated list/);
    const size = await run(['prepare', good, '--out', out2, '--size', 'big']);
    assert.equal(size.code, 2);
    assert.match(size.err, /--size must be a whole number >= 0, got "big"/);
  });
});
