/**
 * Never answer a stranger (issue 12): `polarcad serve` on a real loopback socket. A cross-site
 * "simple" multipart POST, and one without the page's token, are refused and store nothing; a
 * foreign Host header (DNS rebinding) is refused; a reader's kept results survive a flood of
 * anonymous-looking uploads; with readers configured everything needs a token (Bearer, or the
 * session cookie of /?token=), results belong to their reader, and HTTPS works with a given
 * certificate; huge declared images are refused on their headers; helmet's headers are on every
 * route; `serve --host 0.0.0.0` without TLS is refused unless --insecure.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import type * as tf from '@tensorflow/tfjs';
import { loadPredictor, type Predictor } from '../../src/predict/predictor.js';
import { buildServer, type ServeOptions } from '../../src/serve/server.js';
import { cli } from '../helpers/cli.js';
import { buildTestModel, singleMapBytes, testPatient, writeTestRun } from '../predict/fixtures.js';

let tmp = '';
let run = '';
let model: tf.LayersModel;
let predictor: Predictor;
let map: Uint8Array;
const servers: FastifyInstance[] = [];

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'polarcad-serve-sec-'));
  model = await buildTestModel();
  run = await writeTestRun(join(tmp, 'run'), model);
  predictor = await loadPredictor(run, { threads: 1 });
  map = await singleMapBytes(testPatient(0, 1), 'stress_ac');
});
after(async () => {
  for (const s of servers) await s.close();
  await predictor?.dispose();
  model?.dispose();
  await rm(tmp, { recursive: true, force: true });
});

/** A server listening on 127.0.0.1 (a free port); returns it and its base URL. */
async function serve(opts: ServeOptions = {}): Promise<{ app: FastifyInstance; base: string; port: number }> {
  const app = await buildServer(predictor, { logLevel: 'silent', ...opts });
  servers.push(app);
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, base, port: Number(new URL(base).port) };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw HTTP(S) request with exactly these headers (as a browser or an attacker would send them). */
function send(
  url: string,
  method: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<Answer> {
  const u = new URL(url);
  const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, {
    method,
    headers,
    rejectUnauthorized: false,
  });
  return new Promise((res, rej) => {
    req.on('error', rej);
    req.on('response', (r) => {
      let text = '';
      r.on('data', (b: Buffer) => (text += b.toString()));
      r.on('end', () => res({ status: r.statusCode ?? 0, headers: r.headers, body: text }));
    });
    req.end(body);
  });
}

/** A multipart body with one polar map (and keep=1 when asked). */
async function form(keep = false): Promise<{ body: Buffer; type: string }> {
  const f = new FormData();
  f.append('stress_ac', new Blob([map]), 'upload');
  if (keep) f.append('keep', '1');
  const r = new Request('http://x/', { method: 'POST', body: f });
  return { body: Buffer.from(await r.arrayBuffer()), type: r.headers.get('content-type') as string };
}

async function results(base: string): Promise<number> {
  return (JSON.parse((await send(`${base}/healthz`, 'GET')).body) as { results: number }).results;
}

async function csrfOf(base: string, headers: Record<string, string> = {}): Promise<string> {
  return (JSON.parse((await send(`${base}/api/session`, 'GET', headers)).body) as { csrf: string }).csrf;
}

describe('same origin, Host', () => {
  test('a cross-site simple multipart POST, or one without the page token, is refused and stores nothing', async () => {
    const { base, port } = await serve();
    const f = await form(true);
    const host = `127.0.0.1:${port}`;
    const evil = await send(
      `${base}/api/predict?keep=1`,
      'POST',
      {
        host,
        'content-type': f.type,
        origin: 'http://evil.example',
        'sec-fetch-site': 'cross-site',
      },
      f.body,
    );
    assert.equal(evil.status, 403);
    assert.match(evil.body, /refused: a cross-site request/);
    const bare = await send(`${base}/api/predict`, 'POST', { host, 'content-type': f.type }, f.body);
    assert.equal(bare.status, 403);
    assert.match(bare.body, /without the page token/);
    const foreignOrigin = await send(
      `${base}/api/predict`,
      'POST',
      {
        host,
        'content-type': f.type,
        origin: 'http://evil.example',
        'x-polarcad-csrf': await csrfOf(base),
      },
      f.body,
    );
    assert.equal(foreignOrigin.status, 403);
    assert.equal(await results(base), 0);
    const ok = await send(
      `${base}/api/predict`,
      'POST',
      {
        host,
        'content-type': f.type,
        origin: base,
        'sec-fetch-site': 'same-origin',
        'x-polarcad-csrf': await csrfOf(base),
      },
      f.body,
    );
    assert.equal(ok.status, 200, ok.body);
    assert.equal(await results(base), 1);
  });

  test('a Host that is not the listening address (DNS rebinding) is refused', async () => {
    const { base, port } = await serve();
    for (const host of [`evil.example:${port}`, `127.0.0.1.nip.io:${port}`, 'localhost:1']) {
      const r = await send(`${base}/api/model`, 'GET', { host });
      assert.equal(r.status, 421, host);
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`])
      assert.equal((await send(`${base}/api/model`, 'GET', { host })).status, 200, host);
  });

  test("a reader's kept results are never evicted by other uploads; a full keep store refuses to keep more", async () => {
    const { base } = await serve({ maxResults: 3, maxKept: 1 });
    const token = await csrfOf(base);
    const post = async (keep: boolean): Promise<Answer> => {
      const f = await form(keep);
      return send(
        `${base}/api/predict`,
        'POST',
        { 'content-type': f.type, 'x-polarcad-csrf': token },
        f.body,
      );
    };
    const kept = JSON.parse((await post(true)).body) as { id: string };
    for (let i = 0; i < 6; i++) assert.equal((await post(false)).status, 200);
    assert.equal((await send(`${base}/api/results/${kept.id}`, 'GET')).status, 200);
    const full = await post(true);
    assert.equal(full.status, 507);
    assert.match(full.body, /already keeps 1 results/);
    assert.equal(await results(base), 4);
  });

  test('a kept result cannot be deleted without the page token or from another site', async () => {
    const { base, port } = await serve();
    const token = await csrfOf(base);
    const f = await form(true);
    const kept = JSON.parse(
      (
        await send(
          `${base}/api/predict`,
          'POST',
          { 'content-type': f.type, 'x-polarcad-csrf': token },
          f.body,
        )
      ).body,
    ) as { id: string };
    const url = `${base}/api/results/${kept.id}`;
    assert.equal((await send(url, 'DELETE')).status, 403);
    assert.equal((await send(url, 'DELETE', { 'x-polarcad-csrf': 'guessed-token' })).status, 403);
    const crossSite = {
      'x-polarcad-csrf': token,
      'sec-fetch-site': 'cross-site',
      origin: 'https://evil.example',
    };
    assert.equal((await send(url, 'DELETE', crossSite)).status, 403);
    assert.equal(
      (await send(url, 'DELETE', { host: `evil.example:${port}`, 'x-polarcad-csrf': token })).status,
      421,
    );
    assert.equal((await send(url, 'GET')).status, 200, 'still kept');
    assert.equal((await send(url, 'DELETE', { 'x-polarcad-csrf': token })).status, 200);
    assert.equal((await send(url, 'GET')).status, 404);
  });

  test('security headers come from helmet on every route, the page CSP included', async () => {
    const { base } = await serve();
    for (const path of ['/', '/api/model', '/static/app.js', '/nothing']) {
      const r = await send(`${base}${path}`, 'GET');
      assert.match(
        String(r.headers['content-security-policy']),
        /default-src 'self'.*frame-ancestors 'none'/,
        path,
      );
      assert.equal(r.headers['x-content-type-options'], 'nosniff', path);
      assert.equal(r.headers['x-frame-options'], 'DENY', path);
      assert.equal(r.headers['referrer-policy'], 'no-referrer', path);
      assert.equal(r.headers['cross-origin-opener-policy'], 'same-origin', path);
      assert.doesNotMatch(String(r.headers['content-security-policy']), /upgrade-insecure-requests/);
    }
    assert.match((await send(`${base}/`, 'GET')).body, /<meta name="polarcad-csrf" content="[\w-]{32}"/);
  });

  test('a request whose images declare too many pixels together is refused before decoding', async () => {
    const { base } = await serve({ maxPixels: 30_000_000, maxRequestPixels: 30_000_000 });
    const big = await sharp({ create: { width: 4999, height: 4999, channels: 3, background: '#000' } })
      .png({ compressionLevel: 1 })
      .toBuffer();
    const f = new FormData();
    for (const v of ['stress_ac', 'rest_ac', 'stress_nac', 'rest_nac'])
      f.append(v, new Blob([big]), 'upload');
    const r = new Request('http://x/', { method: 'POST', body: f });
    const answer = await send(
      `${base}/api/predict`,
      'POST',
      {
        'content-type': r.headers.get('content-type') as string,
        'x-polarcad-csrf': await csrfOf(base),
      },
      Buffer.from(await r.arrayBuffer()),
    );
    assert.equal(answer.status, 400);
    assert.match(answer.body, /declare 100\.0 megapixels together, more than the limit of 30\.0 megapixels/);
  });
});

describe('readers with access tokens', () => {
  const alice = { name: 'alice', token: 'alice-token-0123456789abcdef' };
  const bob = { name: 'bob', token: 'bob-token-0123456789abcdef012' };

  test('no token: 401; Bearer, or the cookie of /?token=, lets a reader in; results are their own', async () => {
    const { base } = await serve({ readers: [alice, bob] });
    assert.equal((await send(`${base}/api/model`, 'GET')).status, 401);
    assert.match((await send(`${base}/`, 'GET')).body, /access token/);
    assert.equal((await send(`${base}/healthz`, 'GET')).status, 200);
    assert.equal(
      (await send(`${base}/api/model`, 'GET', { authorization: 'Bearer wrong-token-0123456789' })).status,
      401,
    );
    const bearer = { authorization: `Bearer ${alice.token}` };
    assert.equal((await send(`${base}/api/model`, 'GET', bearer)).status, 200);
    // a program with a Bearer token needs no page token
    const f = await form(true);
    const mine = await send(`${base}/api/predict`, 'POST', { ...bearer, 'content-type': f.type }, f.body);
    assert.equal(mine.status, 200, mine.body);
    const id = (JSON.parse(mine.body) as { id: string }).id;
    assert.equal((await send(`${base}/api/results/${id}`, 'GET', bearer)).status, 200);
    const asBob = { authorization: `Bearer ${bob.token}` };
    assert.equal((await send(`${base}/api/results/${id}`, 'GET', asBob)).status, 404);
    assert.equal((await send(`${base}/api/results/${id}`, 'DELETE', asBob)).status, 404);
    // a browser: /?token= sets an HttpOnly SameSite=Strict cookie; POSTs still need the page token
    const login = await send(`${base}/?token=${bob.token}`, 'GET');
    assert.equal(login.status, 303);
    const cookie = String(login.headers['set-cookie']);
    assert.match(cookie, /HttpOnly; SameSite=Strict/);
    const session = { cookie: cookie.split(';')[0] };
    assert.equal((await send(`${base}/`, 'GET', session)).status, 200);
    const noCsrf = await send(`${base}/api/predict`, 'POST', { ...session, 'content-type': f.type }, f.body);
    assert.equal(noCsrf.status, 403);
    const withCsrf = await send(
      `${base}/api/predict`,
      'POST',
      {
        ...session,
        'content-type': f.type,
        'x-polarcad-csrf': await csrfOf(base, session),
      },
      f.body,
    );
    assert.equal(withCsrf.status, 200, withCsrf.body);
  });

  test('HTTPS with a given certificate; the session cookie is Secure', async () => {
    const key = join(tmp, 'key.pem');
    const cert = join(tmp, 'cert.pem');
    const r = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
    ]);
    assert.equal(r.status, 0, r.stderr.toString());
    const { base } = await serve({
      readers: [alice],
      tls: { cert: await readFile(cert), key: await readFile(key) },
    });
    assert.match(base, /^https:/);
    const login = await send(`${base}/?token=${alice.token}`, 'GET');
    assert.equal(login.status, 303);
    assert.match(String(login.headers['set-cookie']), /; Secure/);
    assert.match(String(login.headers['strict-transport-security']), /max-age=/);
  });
});

/** A self-signed certificate for localhost (openssl); returns the paths of cert and key. */
function selfSigned(name: string): { cert: string; key: string } {
  const key = join(tmp, `${name}-key.pem`);
  const cert = join(tmp, `${name}-cert.pem`);
  const r = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
  ]);
  assert.equal(r.status, 0, r.stderr.toString());
  return { cert, key };
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * `polarcad serve ARGS` in a child process, as an administrator starts it; resolves once it has
 * printed what it prints at start (the address, and the sign-in line or the readers), with that
 * text and a function that stops it (SIGTERM).
 */
function startServe(args: string[]): Promise<{ out: string; stop: () => Promise<void> }> {
  const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/bin.ts'), 'serve', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((res) => p.on('exit', () => res()));
  const stop = async (): Promise<void> => {
    if (p.exitCode === null) p.kill('SIGTERM');
    await exited;
  };
  return new Promise((res, rej) => {
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (/sign in once at|reader\(s\) with access tokens/.test(out)) res({ out, stop });
    });
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.on('exit', (code) => rej(new Error(`serve exited (${code}) before it started: ${err}`)));
  });
}

describe('polarcad serve beyond loopback', () => {
  test(
    'started on 0.0.0.0 with TLS and no token file, it generates a token and prints the sign-in link; --users gives each reader theirs',
    { timeout: 120_000 },
    async () => {
      const { cert, key } = selfSigned('lan');
      const a = await startServe([
        run,
        '--host',
        '0.0.0.0',
        '--port',
        '0',
        '--tls-cert',
        cert,
        '--tls-key',
        key,
      ]);
      try {
        const m = /sign in once at https:\/\/[^:]+:(\d+)\/\?token=([A-Za-z0-9_-]{16,})/.exec(a.out);
        assert.ok(m, a.out);
        const base = `https://127.0.0.1:${m[1]}`;
        assert.equal((await send(`${base}/api/model`, 'GET')).status, 401);
        assert.equal(
          (await send(`${base}/api/model`, 'GET', { authorization: `Bearer ${m[2]}` })).status,
          200,
        );
      } finally {
        await a.stop();
      }
      const users = join(tmp, 'readers.txt');
      await writeFile(users, 'dr-a:aaaaaaaaaaaaaaaa-token-1\n# a comment\ndr-b:bbbbbbbbbbbbbbbb-token-2\n', {
        mode: 0o600,
      });
      const b = await startServe([run, '--host', '0.0.0.0', '--port', '0', '--insecure', '--users', users]);
      try {
        assert.match(b.out, /2 reader\(s\) with access tokens/);
        assert.doesNotMatch(b.out, /token=/);
        const port = /at http:\/\/[^ ]*:(\d+)\//.exec(b.out)?.[1];
        assert.ok(port, b.out);
        const base = `http://127.0.0.1:${port}`;
        assert.equal((await send(`${base}/api/model`, 'GET')).status, 401);
        const asB = { authorization: 'Bearer bbbbbbbbbbbbbbbb-token-2' };
        assert.equal((await send(`${base}/api/model`, 'GET', asB)).status, 200);
      } finally {
        await b.stop();
      }
    },
  );

  test('--host 0.0.0.0 without TLS is refused (unless --insecure); a bad token file is an input error', async () => {
    const r = await cli(['serve', run, '--host', '0.0.0.0', '--port', '0']);
    assert.equal(r.code, 2);
    assert.match(r.err, /beyond loopback: give --tls-cert and --tls-key .* or --insecure/);
    const short = join(tmp, 'short-token');
    await writeFile(short, 'abc\n');
    const t = await cli(['serve', run, '--token-file', short, '--port', '0']);
    assert.equal(t.code, 2);
    assert.match(t.err, /at least 16 characters/);
  });
});
