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
