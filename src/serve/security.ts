/**
 * Who may talk to `polarcad serve`, and from where (docs/security.md):
 *
 *  - Host: a request whose `Host` header is not a name of the address the server listens on (or
 *    one given with `allowedHosts`) is refused with 421, so a page whose DNS name was rebound to
 *    127.0.0.1 cannot read or post through the reader's browser (DNS rebinding).
 *  - Same origin: every state-changing request (POST, PUT, PATCH, DELETE) must prove it comes
 *    from the server's own page or from a program holding a token: a cross-site `Sec-Fetch-Site`
 *    or a foreign `Origin` is refused, and the request must carry the page's anti-forgery token
 *    (header `x-polarcad-csrf`, from the page's `<meta name="polarcad-csrf">` or
 *    `GET /api/session`) or a valid `Authorization: Bearer` access token. A cross-site "simple"
 *    form POST carries neither.
 *  - Authentication (when `auth` is given; always beyond loopback): each reader has an access
 *    token. A program sends `Authorization: Bearer TOKEN`; a browser opens `/?token=TOKEN` once and
 *    gets an HttpOnly, SameSite=Strict session cookie (Secure under TLS). Everything but `/healthz`
 *    answers 401 without one.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { networkInterfaces, hostname } from 'node:os';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InputError } from '../util/errors.js';
import { readInputText } from '../util/read-input.js';

/** A reader and their access token. */
export interface Reader {
  readonly name: string;
  readonly token: string;
}

/** Options of {@link registerSecurity}. */
export interface SecurityOptions {
  /** Readers allowed in (no authentication when absent). */
  readonly readers?: readonly Reader[];
  /** Host names accepted besides the listening address (e.g. the reading room's DNS name). */
  readonly allowedHosts?: readonly string[];
  /** Served over TLS: session cookies are Secure. */
  readonly tls?: boolean;
  /** How long a browser session lasts (default 12 h). */
  readonly sessionMs?: number;
}

/** What {@link registerSecurity} hands the routes. */
export interface Security {
  /** The anti-forgery token of this server's page. */
  readonly csrf: string;
  /** The reader of a request ('local' without authentication). */
  readerOf(req: FastifyRequest): string;
}

const COOKIE = 'polarcad_session';
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Shortest access token accepted from a file (the generated ones have 32 characters). */
export const MIN_TOKEN_LENGTH = 16;

/** A new random access token (24 bytes, base64url). @example generateToken() // 'q3J...' */
export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * Readers from a file: one `name:token` a line, `#` comments and blank lines ignored.
 * @throws InputError naming the file and line: malformed, duplicate name, token shorter than 16
 * @example await loadReaders('/etc/polarcad/readers.txt') // [{ name: 'dr-a', token: '...' }]
 */
export async function loadReaders(path: string): Promise<Reader[]> {
  const text = await readInputText(path, 'table');
  const readers: Reader[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^([A-Za-z0-9._@-]+):(\S+)$/.exec(line);
    if (m === null) throw new InputError(`${path}, line ${i + 1}: expected name:token`);
    if (m[2].length < MIN_TOKEN_LENGTH)
      throw new InputError(
        `${path}, line ${i + 1}: the token of ${m[1]} is shorter than ${MIN_TOKEN_LENGTH} characters`,
      );
    if (readers.some((r) => r.name === m[1]))
      throw new InputError(`${path}, line ${i + 1}: ${m[1]} is listed twice`);
    readers.push({ name: m[1], token: m[2] });
  });
  if (readers.length === 0) throw new InputError(`${path}: no reader (one name:token a line)`);
  return readers;
}

/** Whether an address is a loopback one (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const same = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

function cookieOf(req: FastifyRequest, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

/** The host names (lower case, IPv6 in brackets) this server answers to, without the port. */
function namesOf(app: FastifyInstance, extra: readonly string[]): { names: Set<string>; port: number } {
  const names = new Set(extra.map((h) => h.toLowerCase()));
  const addr = app.server.address();
  if (addr === null || typeof addr === 'string') return { names: new Set([...names, 'localhost']), port: 80 };
  const add = (a: string): void => void names.add(a.includes(':') ? `[${a.toLowerCase()}]` : a.toLowerCase());
  if (isLoopback(addr.address)) ['localhost', '127.0.0.1', '::1'].forEach(add);
  else if (addr.address === '0.0.0.0' || addr.address === '::') {
    for (const list of Object.values(networkInterfaces()))
      for (const i of list ?? []) add(i.address.replace(/%.*$/, ''));
    add(hostname());
    add('localhost');
  } else add(addr.address);
  return { names, port: addr.port };
}

function hostAllowed(host: string | undefined, app: FastifyInstance, extra: readonly string[]): boolean {
  if (host === undefined) return false;
  const { names, port } = namesOf(app, extra);
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host.toLowerCase());
  if (m === null || !names.has(m[1])) return false;
  const p = m[2] === undefined ? null : Number(m[2]);
  return p === port || (p === null && (port === 80 || port === 443));
}

/** Why a state-changing request is not from this server's page, or null when it is. */
function crossSite(req: FastifyRequest, csrf: string, bearerOk: boolean): string | null {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `a ${site} request`;
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    let o: URL;
    try {
      o = new URL(origin);
    } catch {
      return 'a malformed Origin';
    }
    if (o.host.toLowerCase() !== (req.headers.host ?? '').toLowerCase()) return `a request from ${o.origin}`;
  } else if (origin === 'null') return 'a request from an opaque origin';
  const token = req.headers['x-polarcad-csrf'];
  if (bearerOk || (typeof token === 'string' && same(token, csrf))) return null;
  return 'a request without the page token (x-polarcad-csrf) or an access token';
}

const LOGIN_PAGE = `<!doctype html><html lang="en"><meta charset="utf-8"><title>polarcad - sign in</title>
<body><h1>polarcad</h1><p>This server needs your access token. Open the address that
<code>polarcad serve</code> printed (it ends in <code>/?token=...</code>), or ask whoever runs it for your token.</p></body></html>`;

/**
 * Add the Host, same-origin and authentication checks (see the module comment) to `app`.
 * @example const sec = registerSecurity(app, { readers: [{ name: 'reader', token: generateToken() }] });
 */
export function registerSecurity(app: FastifyInstance, opts: SecurityOptions = {}): Security {
  const csrf = generateToken();
  const readers = opts.readers ?? [];
  const sessions = new Map<string, { reader: string; expires: number }>();
  const sessionMs = opts.sessionMs ?? 12 * 3_600_000;
  const who = new WeakMap<FastifyRequest, string>();

  const bearerReader = (req: FastifyRequest): string | null => {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    return m === null ? null : (readers.find((r) => same(r.token, m[1]))?.name ?? null);
  };
  const sessionReader = (req: FastifyRequest): string | null => {
    const id = cookieOf(req, COOKIE);
    const s = id === undefined ? undefined : sessions.get(id);
    if (s === undefined || id === undefined) return null;
    if (s.expires <= Date.now()) {
      sessions.delete(id);
      return null;
    }
    return s.reader;
  };
  const login = (req: FastifyRequest, reply: FastifyReply): boolean => {
    const token = (req.query as { token?: unknown } | undefined)?.token;
    if (req.method !== 'GET' || req.routeOptions.url !== '/' || typeof token !== 'string') return false;
    const reader = readers.find((r) => same(r.token, token));
    if (reader === undefined) return false;
    const id = randomBytes(24).toString('base64url');
    sessions.set(id, { reader: reader.name, expires: Date.now() + sessionMs });
    const secure = opts.tls === true ? '; Secure' : '';
    void reply
      .header(
        'set-cookie',
        `${COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.round(sessionMs / 1000)}${secure}`,
      )
      .redirect('/', 303);
    return true;
  };

  app.addHook('onRequest', async (req, reply) => {
    if (!hostAllowed(req.headers.host, app, opts.allowedHosts ?? []))
      return reply.code(421).send({ error: 'this server does not answer to that Host name' });
    let reader: string | null = 'local';
    const bearer = readers.length > 0 ? bearerReader(req) : null;
    if (readers.length > 0 && req.routeOptions.url !== '/healthz') {
      if (login(req, reply)) return reply;
      reader = bearer ?? sessionReader(req);
      if (reader === null) {
        if (req.method === 'GET' && req.routeOptions.url === '/')
          return reply.code(401).type('text/html; charset=utf-8').send(LOGIN_PAGE);
        return reply.code(401).send({ error: 'authentication required (an access token)' });
      }
    }
    who.set(req, reader ?? 'local');
    if (STATE_CHANGING.has(req.method)) {
      const why = crossSite(req, csrf, bearer !== null);
      if (why !== null)
        return reply
          .code(403)
          .send({ error: `refused: ${why}; use the page of this server or an access token` });
    }
  });
  return { csrf, readerOf: (req) => who.get(req) ?? 'local' };
}
