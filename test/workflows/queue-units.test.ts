/**
 * The pure parts of the job queue (no Redis): the `--queue` URL, job ids from inputs, results with
 * non-finite numbers, paths relative to the shared folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseQueueUrl } from '../../src/workflows/queue/connection.js';
import { canonicalJson, decodeResult, encodeResult, jobIdOf } from '../../src/workflows/queue/codec.js';
import { sharedPath } from '../../src/workflows/queue/experiment-jobs.js';
import { InputError } from '../../src/util/errors.js';

test('parseQueueUrl: redis:// and rediss:// with user, password and database; bad ones name --queue', () => {
  const a = parseQueueUrl('redis://127.0.0.1:6400/3');
  assert.deepEqual(
    [a.options.host, a.options.port, a.options.db, a.options.tls],
    ['127.0.0.1', 6400, 3, undefined],
  );
  const b = parseQueueUrl('rediss://lab:s%40cret@queue.example.org/0');
  assert.equal(b.options.port, 6379);
  assert.equal(b.options.password, 's@cret');
  assert.equal(b.options.username, 'lab');
  assert.deepEqual(b.options.tls, { servername: 'queue.example.org' });
  assert.equal(b.display, 'rediss://lab:***@queue.example.org/0');
  assert.equal(parseQueueUrl('redis://localhost').options.db, 0);
  for (const bad of ['localhost:6379', 'http://h:1/0', 'redis://h:1/x'])
    assert.throws(
      () => parseQueueUrl(bad),
      (e: unknown) => e instanceof InputError && /--queue/.test(e.message),
    );
});

test('parseQueueUrl: rediss:// TLS options: SNI for host names only, ?ca=FILE read as PEM, bad options named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'polarcad-queue-ca-'));
  try {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    writeFileSync(join(dir, 'ca.pem'), pem);
    writeFileSync(join(dir, 'not.pem'), 'hello');
    const a = parseQueueUrl(`rediss://:pw@10.0.0.5:6380/2?ca=${join(dir, 'ca.pem')}`);
    assert.deepEqual(a.options.tls, { ca: pem }); // an IP address: no SNI server name
    assert.deepEqual(
      [a.options.password, a.options.username, a.options.port, a.options.db],
      ['pw', undefined, 6380, 2],
    );
    assert.equal(a.display, `rediss://:***@10.0.0.5:6380/2?ca=${join(dir, 'ca.pem')}`);
    assert.deepEqual(parseQueueUrl('rediss://[::1]:6380').options.tls, {});
    const bad: [string, RegExp][] = [
      [`rediss://h/0?ca=${join(dir, 'missing.pem')}`, /cannot read the CA certificate/],
      [`rediss://h/0?ca=${join(dir, 'not.pem')}`, /is not a PEM certificate/],
      ['rediss://h/0?cert=x', /unknown option "cert"/],
      ['redis://h/0?ca=x', /for rediss:\/\/ \(TLS\) only/],
    ];
    for (const [url, re] of bad)
      assert.throws(
        () => parseQueueUrl(url),
        (e: unknown) => e instanceof InputError && /^--queue: /.test(e.message) && re.test(e.message),
        url,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('job ids: the same inputs in any key order are the same job; another seed is another job', () => {
  const u = { experiment: 'strategies', backbone: 'MobileNetV2', strategy: 'warmup' };
  const id = jobIdOf('experiment', { checksum: 'c', settings: { seed: 1, input: 'stress_ac' }, unit: u });
  assert.match(id, /^experiment-[0-9a-f]{32}$/);
  assert.equal(
    id,
    jobIdOf('experiment', { unit: u, settings: { input: 'stress_ac', seed: 1 }, checksum: 'c' }),
  );
  assert.notEqual(
    id,
    jobIdOf('experiment', { checksum: 'c', settings: { seed: 2, input: 'stress_ac' }, unit: u }),
  );
  assert.equal(canonicalJson({ b: 1, a: { d: undefined, c: 2 } }), '{"a":{"c":2},"b":1}');
});

test('results keep NaN and infinities through the queue', () => {
  const r = decodeResult<{ auc: number; f: number[]; s: string }>(
    encodeResult({ auc: Number.NaN, f: [Infinity, -Infinity, 0.5], s: 'x' }),
  );
  assert.ok(Number.isNaN(r.auc));
  assert.deepEqual(r.f, [Infinity, -Infinity, 0.5]);
  assert.equal(r.s, 'x');
});

test('sharedPath: relative to the shared folder, refused outside it', () => {
  assert.equal(sharedPath('/mnt/lab/study/manifest.csv', '/mnt/lab'), 'study/manifest.csv');
  assert.equal(sharedPath('/data/m.csv', undefined), '/data/m.csv');
  assert.throws(
    () => sharedPath('/data/m.csv', '/mnt/lab'),
    /--shared-dir \/mnt\/lab: the manifest \/data\/m\.csv is not inside it/,
  );
});
