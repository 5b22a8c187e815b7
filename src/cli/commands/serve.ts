/**
 * `polarcad serve MODEL [--port 8080] [--host 127.0.0.1] [--normal-db FILE] [--threads 1]
 *   [--concurrency 2] [--queue 32] [--max-file-mb 20]`: the reader's web page and JSON API
 * (library: src/serve/server.ts). Stops on SIGINT / SIGTERM.
 */
import type { Command } from 'commander';
import { loadPredictor } from '../../predict/predictor.js';
import { loadNormalDatabase } from '../../polarmap/normal-database.js';
import { buildServer } from '../../serve/server.js';
import { InputError } from '../../util/errors.js';

interface ServeCliOptions {
  port: string;
  host: string;
  normalDb?: string;
  threads: string;
  concurrency: string;
  queue: string;
  maxFileMb: string;
}

function int(name: string, s: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(s);
  if (!/^\d+$/.test(s.trim()) || n < min || n > max)
    throw new InputError(`${name} must be an integer in [${min}, ${max}], got "${s}"`);
  return n;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
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
    .action(async (model: string, o: ServeCliOptions) => {
      const port = int('--port', o.port, 0, 65535);
      const normalDb = o.normalDb === undefined ? undefined : await loadNormalDatabase(o.normalDb);
      const threads = int('--threads', o.threads, 1, 256);
      const predictor = await loadPredictor(model, {
        ...(normalDb ? { normalDb } : {}),
        threads,
      });
      const app = await buildServer(predictor, {
        concurrency: int('--concurrency', o.concurrency, 1, 64),
        queue: int('--queue', o.queue, 0, 10_000),
        maxFileBytes: int('--max-file-mb', o.maxFileMb, 1, 1024) * 2 ** 20,
      });
      if (o.host !== '127.0.0.1' && o.host !== 'localhost' && o.host !== '::1') {
        process.stderr.write(
          `polarcad serve: WARNING: listening on ${o.host} exposes the page and API to the network without TLS or authentication\n`,
        );
      }
      const address = await app.listen({ port, host: o.host });
      process.stdout.write(
        `polarcad serve: ${predictor.card.backbone} (${predictor.card.input}) at ${address}/  (Ctrl-C stops)\n`,
      );
      await new Promise<void>((res) => {
        const stop = (): void => res();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await app.close();
      await predictor.dispose();
    });
}
