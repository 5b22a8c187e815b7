/**
 * `--queue rediss://:PASSWORD@HOST:PORT/DB?ca=FILE` against a REAL redis-server with TLS and
 * requirepass (Debian's redis-server is built with TLS; certificates made here with openssl): the
 * password and the TLS options reach ioredis and BullMQ (a sweep of no-op jobs goes through), a
 * wrong password or an untrusted certificate is a clear error naming the masked URL.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { checkRedis, encodeResult, parseQueueUrl, runSweep } from '../../src/workflows/queue/index.js';
import { InputError } from '../../src/util/errors.js';
import { freePort, redisAvailable } from '../helpers/redis.js';

const skip =
  redisAvailable() && spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0
    ? false
    : 'redis-server or openssl is not installed';
/** Set when this redis-server cannot serve TLS (built without it): the test is skipped with it. */
let noTls: string | null = null;

let dir = '';
let port = 0;
let server: ChildProcess | null = null;

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'polarcad-queue-tls-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=polarcad test CA',
  ]);
  openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '1',
    '-extfile',
    'san.ext',
  ]);
  port = await freePort();
  server = spawn(
    'redis-server',
    [
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--tls-cert-file',
      'server.pem',
      '--tls-key-file',
      'server.key',
      '--tls-ca-cert-file',
      'ca.pem',
      '--tls-auth-clients',
      'no',
      '--requirepass',
      's3cret',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let output = '';
  server.stdout?.on('data', (b: Buffer) => (output += b.toString()));
  let exited = false;
  server.once('exit', () => (exited = true));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited) {
      noTls = `redis-server does not serve TLS here: ${output.trim().split('\n').slice(-2).join(' ')}`;
      return;
    }
    const c = new Redis({
      host: '127.0.0.1',
      port,
      password: 's3cret',
      tls: { ca: spawnSync('cat', [join(dir, 'ca.pem')], { encoding: 'utf8' }).stdout },
      lazyConnect: true,
      retryStrategy: () => null,
    });
    c.on('error', () => {});
    try {
      await c.connect();
      await c.ping();
      c.disconnect();
      break;
    } catch {
      c.disconnect();
      if (Date.now() > deadline) throw new Error(`redis-server with TLS on port ${port} did not start`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

after(async () => {
  if (server !== null && server.exitCode === null) {
    const exited = new Promise((r) => server?.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

test(
  'rediss:// with a password and ?ca=FILE: a sweep goes through TLS; wrong password, untrusted certificate and plain redis:// are clear errors',
  { skip },
  async (t) => {
    if (noTls !== null) return t.skip(noTls);
    const url = parseQueueUrl(`rediss://:s3cret@127.0.0.1:${port}/0?ca=${join(dir, 'ca.pem')}`);
    await checkRedis(url);
    const worker = new Worker<{ i: number }, string>(
      'tls',
      async (job) => encodeResult({ twice: job.data.i * 2 }),
      { connection: url.options },
    );
    try {
      const jobs = [0, 1, 2].map((i) => ({ id: `tls-${i}`, label: `tls ${i}`, data: { i } }));
      const texts = await runSweep('noop', jobs, { url, queueName: 'tls' });
      assert.deepEqual(
        texts.map((t) => JSON.parse(t) as unknown),
        [{ twice: 0 }, { twice: 2 }, { twice: 4 }],
      );
    } finally {
      await worker.close();
    }
    const refused = async (text: string, re: RegExp): Promise<void> => {
      await assert.rejects(checkRedis(parseQueueUrl(text), 3000), (e: unknown) => {
        assert.ok(e instanceof InputError, String(e));
        assert.match(e.message, re);
        assert.doesNotMatch(e.message, /s3cret|wr0ng/);
        return true;
      });
    };
    await refused(
      `rediss://:wr0ng@127.0.0.1:${port}/0?ca=${join(dir, 'ca.pem')}`,
      /cannot reach Redis at rediss:\/\/:\*\*\*@127\.0\.0\.1.*(WRONGPASS|invalid)/i,
    );
    await refused(
      `rediss://:s3cret@127.0.0.1:${port}/0`,
      /cannot reach Redis at rediss:\/\/:\*\*\*@.*(self[- ]signed|certificate)/i,
    );
    await refused(`redis://:s3cret@127.0.0.1:${port}/0`, /cannot reach Redis at redis:\/\/:\*\*\*@/);
  },
);
