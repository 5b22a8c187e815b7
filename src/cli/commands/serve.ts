/**
 * `polarcad serve MODEL [--port 8080] [--host 127.0.0.1] [--normal-db FILE] [--threads 1]
 *   [--concurrency 2] [--queue 32] [--max-file-mb 20] [--token-file F | --users F]
 *   [--tls-cert F --tls-key F] [--allowed-host NAME] [--insecure]`: the reader's web page and JSON
 * API (library: src/serve/server.ts). Beyond loopback it requires authentication (a token is
 * generated and printed when none is given) and TLS, unless `--insecure` (docs/security.md).
 * Stops on SIGINT / SIGTERM.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Command } from 'commander';
import { loadPredictor } from '../../predict/predictor.js';
import { loadNormalDatabase } from '../../polarmap/normal-database.js';
import { buildServer } from '../../serve/server.js';
import {
  MIN_TOKEN_LENGTH,
  generateToken,
  isLoopback,
  loadReaders,
  type Reader,
} from '../../serve/security.js';
import { colormapOption, withColormap } from '../options/colormap.js';
import { runColormap } from '../../predict/study.js';
import { InputError } from '../../util/errors.js';
import { readInputFile, readInputText } from '../../util/read-input.js';
import { onStopSignals } from '../../util/signals.js';

interface ServeCliOptions {
  port: string;
  host: string;
  normalDb?: string;
  colormap?: string;
  threads: string;
  concurrency: string;
  queue: string;
  maxFileMb: string;
  tokenFile?: string;
  users?: string;
  tlsCert?: string;
  tlsKey?: string;
  allowedHost: string[];
  insecure?: boolean;
  strict?: boolean;
  logFile?: string;
  logLevel: string;
}

const LOG_LEVELS = ['info', 'warn', 'error', 'silent'] as const;

/**
 * The JSON request log's destination: appended to --log-file (created 0600, so that the terminal
 * shows only the human lines), else stdout beside them; opened before the server starts so that a
 * bad path is an input error, not a crash.
 */
async function logStreamOf(file: string | undefined): Promise<WriteStream | undefined> {
  if (file === undefined) return undefined;
  const stream = createWriteStream(file, { flags: 'a', mode: 0o600 });
  await new Promise<void>((res, rej) => {
    stream.once('open', () => res());
    stream.once('error', (e: NodeJS.ErrnoException) =>
      rej(new InputError(`--log-file ${file}: cannot append to it (${e.code ?? e.message})`)),
    );
  });
  return stream;
}

/** The readers: from --users, from --token-file, generated beyond loopback, or none. */
async function readersOf(
  o: ServeCliOptions,
  loopback: boolean,
): Promise<{ readers?: Reader[]; generated: boolean }> {
  if (o.users !== undefined && o.tokenFile !== undefined)
    throw new InputError('give --users or --token-file, not both');
  if (o.users !== undefined) return { readers: await loadReaders(o.users), generated: false };
  if (o.tokenFile !== undefined) {
    const token = (await readInputText(o.tokenFile, 'table')).trim();
    if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token))
      throw new InputError(
        `${o.tokenFile}: the token must be one word of at least ${MIN_TOKEN_LENGTH} characters`,
      );
    return { readers: [{ name: 'reader', token }], generated: false };
  }
  return loopback
    ? { generated: false }
    : { readers: [{ name: 'reader', token: generateToken() }], generated: true };
}

/** TLS certificate and key, both or neither. */
async function tlsOf(o: ServeCliOptions): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined))
    throw new InputError('give both --tls-cert and --tls-key');
  if (o.tlsCert === undefined || o.tlsKey === undefined) return undefined;
  return { cert: await readInputFile(o.tlsCert, 'table'), key: await readInputFile(o.tlsKey, 'table') };
}

function int(name: string, s: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(s);
  if (!/^\d+$/.test(s.trim()) || n < min || n > max)
    throw new InputError(`${name} must be an integer in [${min}, ${max}], got "${s}"`);
  return n;
}

export function registerServe(program: Command): void {
  withColormap(
    program.command('serve'),
    'the one recorded with the trained run, else recognised in each study',
  )
    .description(
      "the reader's workstation: a web page and JSON API (POST /api/predict, GET /api/model, GET /healthz) on 127.0.0.1",
    )
    .argument('<model>', 'run directory of polarcad train (or a model folder with polarcad.json)')
    .option('--port <n>', 'TCP port (0 = any free port)', '8080')
    .option(
      '--host <addr>',
      'address to listen on; other than 127.0.0.1 exposes the server to the network',
      '127.0.0.1',
    )
    .option('--normal-db <file>', 'normal database (polarcad score --save-normal-db) for SSS/SRS/SDS')
    .option(
      '--threads <n>',
      'ONNX Runtime intra-op threads; 1 lets two requests overlap on a 2-core machine (measured 14.8 vs 8.3 predictions/s with 2)',
      '1',
    )
    .option('--concurrency <n>', 'predictions at once', '2')
    .option('--queue <n>', 'predictions waiting before the server answers 503', '32')
    .option('--max-file-mb <n>', 'largest upload per file, MiB', '20')
    .option(
      '--token-file <file>',
      'access token of the readers (one word, >= 16 characters); default beyond loopback: a new one, printed',
    )
    .option('--users <file>', 'readers and their access tokens, one name:token a line')
    .option('--tls-cert <file>', 'TLS certificate (PEM): serve HTTPS')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option(
      '--allowed-host <name>',
      'a host name the readers use for this server (repeatable)',
      (v: string, a: string[]) => [...a, v],
      [],
    )
    .option(
      '--strict',
      "refuse a study whose colour map is not the model's training colour map (default: warn)",
    )
    .option(
      '--insecure',
      'allow plain HTTP beyond loopback (a trusted network only; readers still need a token)',
    )
    .option(
      '--log-file <file>',
      'append the JSON request log to FILE (default: stdout, beside the human lines)',
    )
    .option('--log-level <level>', `request log level: ${LOG_LEVELS.join(' | ')}`, 'info')
    .action(async (model: string, o: ServeCliOptions) => {
      const port = int('--port', o.port, 0, 65535);
      const logLevel = LOG_LEVELS.find((l) => l === o.logLevel);
      if (logLevel === undefined)
        throw new InputError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${o.logLevel}"`);
      const loopback = isLoopback(o.host);
      const tls = await tlsOf(o);
      if (!loopback && tls === undefined && o.insecure !== true)
        throw new InputError(
          `--host ${o.host} is beyond loopback: give --tls-cert and --tls-key (readers sign in with an access token), or --insecure for plain HTTP on a trusted network (docs/security.md)`,
        );
      const { readers, generated } = await readersOf(o, loopback);
      const normalDb = o.normalDb === undefined ? undefined : await loadNormalDatabase(o.normalDb);
      const colormap = await colormapOption(o.colormap);
      const threads = int('--threads', o.threads, 1, 256);
      const logStream = await logStreamOf(o.logFile);
      const predictor = await loadPredictor(model, {
        ...(normalDb ? { normalDb } : {}),
        threads,
      });
      const app = await buildServer(predictor, {
        concurrency: int('--concurrency', o.concurrency, 1, 64),
        queue: int('--queue', o.queue, 0, 10_000),
        maxFileBytes: int('--max-file-mb', o.maxFileMb, 1, 1024) * 2 ** 20,
        ...(readers !== undefined ? { readers } : {}),
        ...(tls !== undefined ? { tls } : {}),
        allowedHosts: o.allowedHost,
        strict: o.strict === true,
        ...(colormap !== undefined ? { colormap } : {}),
        logLevel,
        ...(logStream !== undefined ? { logStream } : {}),
      });
      if (!loopback && tls === undefined)
        process.stderr.write(
          `polarcad serve: WARNING: --insecure: plain HTTP on ${o.host}; tokens and studies cross the network unencrypted\n`,
        );
      const address = await app.listen({ port, host: o.host });
      process.stdout.write(
        `polarcad serve: ${predictor.card.backbone} (${predictor.card.input}) at ${address}/  (Ctrl-C stops)\n`,
      );
      if (normalDb !== undefined) {
        const recorded = runColormap(predictor);
        process.stdout.write(
          `polarcad serve: SSS/SRS/SDS read in colour map ${colormap !== undefined ? `${colormap.name} (given with --colormap)` : recorded !== null ? `${recorded.name} (recorded with the trained run)` : '(recognised in each study)'}\n`,
        );
      }
      if (generated && readers !== undefined)
        process.stdout.write(
          `polarcad serve: readers sign in once at ${address}/?token=${readers[0].token}  (keep this token private; a new one each start)\n`,
        );
      else if (readers !== undefined)
        process.stdout.write(`polarcad serve: ${readers.length} reader(s) with access tokens\n`);
      let off = (): void => {};
      await new Promise<void>((res) => {
        off = onStopSignals(['SIGINT', 'SIGTERM'], () => res());
      });
      try {
        await app.close();
        await predictor.dispose();
        logStream?.end();
      } finally {
        off();
      }
    });
}
