/**
 * A queue worker for the accuracy suite (`POLARCAD_QUEUE=redis://… npm run bench -- accuracy`):
 * `node --import tsx bench/accuracy-worker.ts --queue URL --shared-dir SUITE_DIR [--concurrency N]`
 * takes the suite's units (bench/accuracy-lib.ts: accuracyKind) until SIGTERM or Ctrl-C, finishing
 * the unit in flight first (docs/queue.md).
 */
import { parseArgs } from 'node:util';
import { initBackend } from '../src/engine/backend.js';
import { parseQueueUrl, startWorker, workerKind } from '../src/workflows/queue/index.js';
import { accuracyKind } from './accuracy-lib.js';

const { values } = parseArgs({
  options: {
    queue: { type: 'string' },
    'shared-dir': { type: 'string' },
    concurrency: { type: 'string', default: '1' },
  },
});
if (values.queue === undefined || values['shared-dir'] === undefined) {
  process.stderr.write(
    'usage: bench/accuracy-worker.ts --queue URL --shared-dir SUITE_DIR [--concurrency N]\n',
  );
  process.exit(2);
}
await initBackend('wasm');
const w = await startWorker({
  url: parseQueueUrl(values.queue),
  sharedDir: values['shared-dir'],
  concurrency: Math.max(1, Number(values.concurrency) || 1),
  kinds: [workerKind(accuracyKind)],
  log: (line) => process.stdout.write(`${line}\n`),
});
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.once(signal, () => {
    process.stdout.write(`${signal}: finishing the unit in flight, then stopping\n`);
    void w.close();
  });
await w.stopped;
