/**
 * `polarcad predict` through `main()`: image arguments grouped into studies (an export page, two
 * single maps of one patient, a non-image), CSV / JSON / table output, overlay files in --out, the
 * exit code when a study cannot be read, --manifest mode, and option errors. `polarcad serve`'s
 * option errors (the server itself is tested in test/serve).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import type * as tf from '@tensorflow/tfjs';
import { main } from '../../src/cli/main.js';
import { CSV_COLUMNS } from '../../src/workflows/predict.js';
import { buildTestModel, pageBytes, singleMapBytes, testPatient, writeTestRun } from '../predict/fixtures.js';

let tmp = '';
let runDir = '';
let model: tf.LayersModel;

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  // only strings are captured: the test runner itself sends its (binary) reports through stdout
  process.stdout.write = ((s: string | Uint8Array, ...rest: unknown[]) =>
    typeof s === 'string'
      ? ((out += s), true)
      : (ow as (...a: unknown[]) => boolean)(s, ...rest)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array, ...rest: unknown[]) =>
    typeof s === 'string'
      ? ((err += s), true)
      : (ew as (...a: unknown[]) => boolean)(s, ...rest)) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'polarcad-cli-predict-'));
  model = await buildTestModel();
  runDir = await writeTestRun(join(tmp, 'run'), model);
  const p = testPatient(0, 1);
  const q = testPatient(1, 0);
  await writeFile(join(tmp, 'P0001_page.png'), await pageBytes(p));
  await writeFile(join(tmp, 'P0002_stress_ac.png'), await singleMapBytes(q, 'stress_ac'));
  await writeFile(join(tmp, 'P0002_rest_ac.png'), await singleMapBytes(q, 'rest_ac'));
  await writeFile(join(tmp, 'notes.png'), 'not an image');
});
after(async () => {
  model?.dispose();
  await rm(tmp, { recursive: true, force: true });
});

describe('polarcad predict', () => {
  test('CSV: one row per study, overlays written, a bad study listed and the exit code non-zero', async () => {
    const out = join(tmp, 'heat');
    const r = await cli([
      'predict',
      runDir,
      join(tmp, 'P0001_page.png'),
      join(tmp, 'P0002_stress_ac.png'),
      join(tmp, 'P0002_rest_ac.png'),
      join(tmp, 'notes.png'),
      '--format',
      'csv',
      '--out',
      out,
      '--threads',
      '1',
    ]);
    assert.equal(r.code, 2, r.err);
    assert.match(
      r.err,
      /1 of 3 studies could not be read:\n {2}- notes: .*notes\.png: is not a JPEG, PNG or DICOM file/,
    );
    const rows = parse(r.out, { columns: true }) as Record<string, string>[];
    assert.deepEqual(Object.keys(rows[0]), [...CSV_COLUMNS]);
    assert.deepEqual(
      rows.map((x) => x['study']),
      ['P0001_page', 'P0002', 'notes'],
    );
    for (const row of rows.slice(0, 2)) {
      const pr = Number(row['probability']);
      assert.ok(pr >= 0 && pr <= 1);
      assert.equal(row['decision'], pr >= 0.5 ? 'CAD' : 'normal');
      assert.ok(
        Math.abs(Number(row['lad_share']) + Number(row['lcx_share']) + Number(row['rca_share']) - 1) < 1e-9,
      );
      assert.ok((await stat(row['heatmap'])).size > 1000, 'overlay written');
      assert.equal(row['error'], '');
    }
    assert.equal(rows[1]['heatmap'], join(out, 'P0002.gradcam.png'));
    assert.match(rows[2]['error'], /not a JPEG, PNG or DICOM/);
    const png = await readFile(join(out, 'P0001_page.gradcam.png'));
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  });

  test('JSON and table formats; the same probability in each', async () => {
    const j = await cli([
      'predict',
      runDir,
      join(tmp, 'P0001_page.png'),
      '--format',
      'json',
      '--threads',
      '1',
    ]);
    assert.equal(j.code, 0, j.err);
    const arr = JSON.parse(j.out) as {
      study: string;
      probability: number;
      confidence: { wording: string };
      scores: { available: boolean; reason: string };
    }[];
    assert.equal(arr.length, 1);
    assert.match(arr[0].confidence.wording, /probability of CAD/);
    assert.equal(arr[0].scores.available, false);
    const t = await cli(['predict', runDir, join(tmp, 'P0001_page.png'), '--threads', '1']);
    assert.equal(t.code, 0, t.err);
    assert.match(
      t.out,
      /^study\s+P\(CAD\)\s+decision\s+confidence\s+top territory\s+SSS\/SRS\/SDS\s+heatmap/,
    );
    assert.ok(t.out.includes(arr[0].probability.toFixed(3)), 'the table shows the JSON probability');
    assert.match(t.out, /SSS\/SRS\/SDS: SSS\/SRS\/SDS need a normal database/);
  });

  test('--manifest: one study per row, labels carried', async () => {
    const m = join(tmp, 'manifest.csv');
    await writeFile(
      m,
      'patient_id,label,page,stress_ac,rest_ac\nP0001,1,P0001_page.png,,\nP0002,0,,P0002_stress_ac.png,P0002_rest_ac.png\n',
    );
    const r = await cli(['predict', runDir, '--manifest', m, '--format', 'csv', '--threads', '1']);
    assert.equal(r.code, 0, r.err);
    const rows = parse(r.out, { columns: true }) as Record<string, string>[];
    assert.deepEqual(
      rows.map((x) => [x['study'], x['label']]),
      [
        ['P0001', '1'],
        ['P0002', '0'],
      ],
    );
  });

  test('option errors', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['predict', runDir, join(tmp, 'P0001_page.png'), '--format', 'xml'],
        /--format must be one of table, csv, json/,
      ],
      [['predict', runDir], /give image files or --manifest FILE/],
      [['predict', join(tmp, 'nowhere'), join(tmp, 'P0001_page.png')], /not a polarcad run directory/],
      [
        ['predict', runDir, join(tmp, 'P0001_page.png'), '--layout', 'stress_ac,bogus'],
        /--layout: unknown view "bogus"/,
      ],
      [['serve', runDir, '--port', '70000'], /--port must be an integer in \[0, 65535\]/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.err, re);
    }
  });
});

/** `polarcad serve RUN --port 0 --threads 1 ...extra`, resolved once it prints its address. */
async function startServe(extra: readonly string[]): Promise<{
  child: ReturnType<typeof spawn>;
  address: string;
  out: () => string;
  err: () => string;
}> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join('src', 'cli', 'bin.ts'),
      'serve',
      runDir,
      '--port',
      '0',
      '--threads',
      '1',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const address = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /at (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
  });
  return { child, address, out: () => out, err: () => err };
}

describe('polarcad serve', () => {
  test(
    'starts on 127.0.0.1, answers /healthz and /api/model, stops cleanly on SIGTERM',
    { timeout: 120_000 },
    async () => {
      const server = await startServe([]);
      const { child, address } = server;
      try {
        const h = (await (await fetch(`${address}/healthz`)).json()) as { status: string };
        assert.equal(h.status, 'ok');
        const c = (await (await fetch(`${address}/api/model`)).json()) as { backbone: string };
        assert.equal(c.backbone, 'MobileNetV2');
      } finally {
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        child.kill('SIGTERM');
        assert.equal(await exited, 0, server.err());
      }
      const lines = server
        .out()
        .split('\n')
        .filter((l) => l.startsWith('{'));
      assert.ok(
        lines.some((l) => (JSON.parse(l) as { route?: string }).route === '/healthz'),
        'request lines on stdout',
      );
    },
  );

  test(
    '--log-file keeps the JSON request log apart: appended to the file (0600), stdout only human lines; a bad --log-level or --log-file is refused',
    { timeout: 120_000 },
    async () => {
      const log = join(runDir, '..', 'serve-log.jsonl');
      await writeFile(log, '{"earlier":"line"}\n');
      const server = await startServe(['--log-file', log]);
      const { child, address } = server;
      try {
        assert.equal((await fetch(`${address}/healthz`)).status, 200);
      } finally {
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        child.kill('SIGTERM');
        assert.equal(await exited, 0, server.err());
      }
      assert.equal(
        server
          .out()
          .split('\n')
          .filter((l) => l.startsWith('{')).length,
        0,
        `stdout: ${server.out()}`,
      );
      const lines = (await readFile(log, 'utf8')).trim().split('\n');
      assert.equal(lines[0], '{"earlier":"line"}', 'the earlier content is kept');
      assert.ok(
        lines.slice(1).some((l) => (JSON.parse(l) as { route?: string }).route === '/healthz'),
        'request lines in the log file',
      );
      for (const [args, re] of [
        [['--log-level', 'loud'], /--log-level must be one of info, warn, error, silent/],
        [['--log-file', join(runDir, 'no-such-dir', 'x.log')], /--log-file .*x\.log: cannot append/],
      ] as const) {
        const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
          const c = spawn(
            process.execPath,
            ['--import', 'tsx', join('src', 'cli', 'bin.ts'), 'serve', runDir, '--port', '0', ...args],
            { stdio: ['ignore', 'ignore', 'pipe'] },
          );
          let e = '';
          c.stderr.on('data', (d: Buffer) => (e += d.toString()));
          c.on('exit', (code) => resolve({ code, err: e }));
        });
        assert.notEqual(r.code, 0, args.join(' '));
        assert.match(r.err, re);
      }
    },
  );
});
