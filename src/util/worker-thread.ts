/**
 * Starting a worker thread on a module of polarcad, from the built JavaScript (`dist/`) or from the
 * TypeScript sources under tsx (tests, `npm run bench`): a worker does not inherit the tsx loader,
 * so under tsx it is bootstrapped with tsx's ESM API first.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * A worker running the module `name` (without extension) next to the caller's module `here`
 * (its `import.meta.url`).
 * @example startModuleWorker(import.meta.url, './worker', { workerData: job })
 */
export function startModuleWorker(here: string, name: string, options: WorkerOptions = {}): Worker {
  if (!here.endsWith('.ts')) return new Worker(new URL(`${name}.js`, here), options);
  const target = JSON.stringify(new URL(`${name}.ts`, here).href);
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${target}); });`;
  return new Worker(boot, { ...options, eval: true });
}
