/**
 * Dependencies (issue 12, "Also"): `playwright-core` drives the browser tests only, so it is a
 * development dependency and nothing under src/ imports it (an installed polarcad does not pull a
 * browser driver); the server's security headers come from `@fastify/helmet`, a runtime
 * dependency; CI runs `npm audit` on the production dependencies and records the verdict.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

interface PackageJson {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}

/** Every .ts and .js file under `dir`, recursively. */
async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (/\.(ts|js)$/.test(e.name)) out.push(p);
  }
  return out;
}

test('playwright-core is a development dependency only, never imported by src/; helmet is a runtime one', async () => {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
  assert.equal(pkg.dependencies['playwright-core'], undefined);
  assert.ok(pkg.devDependencies['playwright-core'], 'playwright-core in devDependencies');
  assert.ok(pkg.dependencies['@fastify/helmet'], '@fastify/helmet in dependencies');
  const files = await sources(join(ROOT, 'src'));
  assert.ok(files.length > 50, 'the sources were listed');
  for (const f of files)
    assert.doesNotMatch(await readFile(f, 'utf8'), /from ['"]playwright|import\(['"]playwright/, f);
});

test('CI runs npm audit on the production dependencies and records the verdict', async () => {
  const ci = await readFile(join(ROOT, '.ci/run'), 'utf8');
  assert.match(ci, /npm audit --omit=dev --audit-level=high/);
  assert.match(ci, /> "\$audit_log"/);
  assert.match(ci, /audit_log=\.ci\/npm-audit\.log/);
});

/** semver (already installed: npm's own range semantics), loaded untyped. */
const semver = createRequire(import.meta.url)('semver') as {
  minVersion(range: string): { version: string } | null;
  satisfies(version: string, range: string): boolean;
};

test('engines.node is >=20.19 and every runtime package in package-lock.json accepts that floor', async () => {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
  assert.equal(pkg.engines.node, '>=20.19');
  const floor = semver.minVersion(pkg.engines.node)?.version ?? '';
  assert.equal(floor, '20.19.0');
  const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; engines?: { node?: string } | string[] }>;
  };
  const nodeRange = (path: string): string | undefined => {
    const e = lock.packages[path]?.engines;
    return e === undefined || Array.isArray(e) ? undefined : e.node;
  };
  assert.equal(nodeRange(''), '>=20.19', 'package-lock.json agrees with package.json');
  const refused: string[] = [];
  let checked = 0;
  for (const [path, p] of Object.entries(lock.packages)) {
    const range = nodeRange(path);
    if (path === '' || p.dev === true || range === undefined) continue;
    checked++;
    if (!semver.satisfies(floor, range)) refused.push(`${path}: node ${range}`);
  }
  assert.ok(checked > 20, `${checked} runtime packages with engines.node`);
  assert.deepEqual(refused, [], `runtime packages that refuse Node ${floor}`);
  // the floor is tight: yargs 18 under vega-lite refuses an older Node 20
  const yargs = nodeRange('node_modules/vega-lite/node_modules/yargs');
  assert.ok(yargs !== undefined && !semver.satisfies('20.18.0', yargs), `yargs: ${yargs}`);
});
