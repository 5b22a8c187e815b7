/**
 * The Redis behind `--queue`: the URL parsed once (redis://HOST:PORT/DB, rediss:// for TLS, an
 * optional user and password), a quick reachability check so a wrong URL is a clear error within
 * seconds, and a watchdog that turns a Redis going away into an error instead of a hang.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Redis } from 'ioredis';
import { InputError, errorMessage } from '../../util/errors.js';

/** How to connect to Redis: a plain object both ioredis and BullMQ take. */
export interface RedisSettings {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
  /** rediss://: TLS, the server's certificate checked against Node's CAs, or `ca` (PEM text) given by ?ca=FILE. */
  readonly tls?: { readonly servername?: string; readonly ca?: string };
  readonly maxRetriesPerRequest: null;
  readonly connectTimeout: number;
  readonly retryStrategy: (times: number) => number;
}

/** A parsed `--queue` URL. */
export interface QueueUrl {
  /** The URL with the password masked, for messages. */
  readonly display: string;
  /** ioredis options (shared by the queue, the events and the workers: BullMQ duplicates them). */
  readonly options: RedisSettings;
}

/**
 * Parse `--queue`: redis://[USER:PASSWORD@]HOST[:PORT][/DB] or rediss://…[?ca=FILE] (TLS; FILE: the
 * PEM certificate of the authority that signed the server's certificate, when it is not one Node
 * trusts). The user and password (percent-encoded in the URL) go to Redis' AUTH.
 * @throws InputError naming the option and the problem
 * @example parseQueueUrl('redis://127.0.0.1:6379/0').options.port // 6379
 */
export function parseQueueUrl(text: string): QueueUrl {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new InputError(`--queue: expected redis://HOST:PORT/DB or rediss://HOST:PORT/DB, got "${text}"`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new InputError(
      `--queue: the scheme must be redis:// or rediss:// (TLS), got "${u.protocol}//" in "${mask(u)}"`,
    );
  if (u.hostname === '') throw new InputError(`--queue: no host in "${mask(u)}"`);
  const port = u.port === '' ? 6379 : Number(u.port);
  const dbText = u.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d+$/.test(dbText))
    throw new InputError(`--queue: the database must be a whole number (/0, /1, …), got "/${dbText}"`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const tls = u.protocol === 'rediss:' ? tlsOptions(u, host) : undefined;
  if (u.protocol !== 'rediss:' && u.search !== '')
    throw new InputError(`--queue: options after "?" are for rediss:// (TLS) only, got "${u.search}"`);
  const options: RedisSettings = {
    host,
    port,
    db: dbText === '' ? 0 : Number(dbText),
    ...(u.username !== '' ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password !== '' ? { password: decodeURIComponent(u.password) } : {}),
    ...(tls !== undefined ? { tls } : {}),
    // BullMQ's blocking connections need this; a lost connection is caught by the watchdog instead
    maxRetriesPerRequest: null,
    connectTimeout: 3000,
    retryStrategy: (times: number) => Math.min(100 * times, 1000),
  };
  return { display: mask(u), options };
}

/** TLS options of a rediss:// URL: SNI by host name (not for an IP address), ?ca=FILE read now. */
function tlsOptions(u: URL, host: string): { servername?: string; ca?: string } {
  const unknown = [...u.searchParams.keys()].filter((k) => k !== 'ca');
  if (unknown.length > 0)
    throw new InputError(
      `--queue: unknown option ${unknown.map((k) => `"${k}"`).join(', ')} (rediss:// takes ?ca=FILE)`,
    );
  const caPath = u.searchParams.get('ca');
  let ca: string | undefined;
  if (caPath !== null)
    try {
      ca = readFileSync(caPath, 'utf8');
    } catch (e) {
      throw new InputError(`--queue: cannot read the CA certificate ?ca=${caPath}: ${errorMessage(e)}`, {
        cause: e,
      });
    }
  if (ca !== undefined && !ca.includes('-----BEGIN CERTIFICATE-----'))
    throw new InputError(
      `--queue: ?ca=${caPath} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----")`,
    );
  return { ...(isIP(host) === 0 ? { servername: host } : {}), ...(ca !== undefined ? { ca } : {}) };
}

function mask(u: URL): string {
  const m = new URL(u.href);
  if (m.password !== '') m.password = '***';
  return m.href;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Connect once and PING, within `timeoutMs`.
 * @throws InputError naming the URL (refused, unknown host, wrong password, no answer)
 * @example await checkRedis(parseQueueUrl('redis://127.0.0.1:6379/0'))
 */
export async function checkRedis(url: QueueUrl, timeoutMs = 4000): Promise<void> {
  let lastError = '';
  const client = new Redis({
    ...url.options,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', (e: unknown) => {
    lastError = errorMessage(e);
  });
  try {
    await withTimeout(
      client.connect().then(() => client.ping()),
      timeoutMs,
      'connect',
    );
  } catch (e) {
    throw new InputError(`--queue: cannot reach Redis at ${url.display}: ${lastError || errorMessage(e)}`, {
      cause: e,
    });
  } finally {
    client.disconnect();
  }
}

/** A running {@link watchRedis}. */
export interface RedisWatch {
  /** Rejects with an InputError once Redis has not answered for the grace period. */
  readonly lost: Promise<never>;
  stop(): void;
}

/**
 * PING Redis every `intervalMs`; when it has not answered for `graceMs`, `lost` rejects with an
 * InputError naming the URL (BullMQ itself would wait for ever).
 * @example const watch = watchRedis(url, 10_000); await Promise.race([work, watch.lost]); watch.stop()
 */
export function watchRedis(url: QueueUrl, graceMs: number, intervalMs = 500): RedisWatch {
  const client = new Redis({
    ...url.options,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => intervalMs,
  });
  let lastError = '';
  client.on('error', (e: unknown) => {
    lastError = errorMessage(e);
  });
  let failingSince: number | null = null;
  let timer: NodeJS.Timeout | undefined;
  let rejectLost: (e: Error) => void = () => {};
  const lost = new Promise<never>((_, reject) => {
    rejectLost = reject;
  });
  lost.catch(() => {}); // observed by the caller's race; never an unhandled rejection
  const tick = async (): Promise<void> => {
    try {
      await withTimeout(client.ping(), Math.max(intervalMs, 1000), 'ping');
      failingSince = null;
    } catch (e) {
      lastError ||= errorMessage(e);
      failingSince ??= Date.now();
      if (Date.now() - failingSince >= graceMs) {
        stop();
        rejectLost(
          new InputError(
            `Redis at ${url.display} went away: no answer for ${Math.round(graceMs / 1000)} s (${lastError}); the queue keeps its jobs, run the command again once Redis is back`,
          ),
        );
        return;
      }
    }
    timer = setTimeout(() => void tick(), intervalMs);
  };
  const stop = (): void => {
    clearTimeout(timer);
    timer = undefined;
    client.disconnect();
  };
  timer = setTimeout(() => void tick(), intervalMs);
  return { lost, stop };
}

/**
 * Close BullMQ objects without waiting for ever on a Redis that went away.
 * @example await closeAll([queue, events], 2000)
 */
export async function closeAll(
  things: readonly { close(): Promise<void>; disconnect?: () => Promise<void> }[],
  timeoutMs = 2000,
): Promise<void> {
  await Promise.all(
    things.map(async (t) => {
      try {
        await withTimeout(t.close(), timeoutMs, 'close');
      } catch {
        await t.disconnect?.().catch(() => {});
      }
    }),
  );
}
