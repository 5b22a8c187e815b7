/**
 * The public API as a user gets it: build, `npm pack`, unpack the tarball into a scratch project's
 * node_modules (offline; its dependencies linked from this checkout's node_modules), then
 * `import { train, evaluate, predict, Explainer } from 'polarcad'` from a plain ESM file and from
 * a TypeScript file type-checked against the packed declarations.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';

const root = resolve(import.meta.dirname, '..');
let tmp = '';

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'polarcad-pack-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const run = (cmd: string, args: string[], cwd: string): string =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test('the packed tarball installs offline and exports the typed public API', async () => {
  run('npm', ['run', 'build'], root);
  const packed = JSON.parse(
    run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], root),
  ) as { filename: string; files: { path: string }[] }[];
  const files = packed[0].files.map((f) => f.path);
  assert.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts'), 'dist in the tarball');
  assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('src/')), 'no sources or tests');
  for (const f of ['index.html', 'app.js', 'style.css'])
    assert.ok(files.includes(`dist/serve/static/${f}`), `the serve page's ${f} in the tarball`);

  const app = join(tmp, 'app');
  const pkgDir = join(app, 'node_modules', 'polarcad');
  await mkdir(pkgDir, { recursive: true });
  run('tar', ['xzf', join(tmp, packed[0].filename), '-C', pkgDir, '--strip-components', '1'], tmp);
  const manifest = JSON.parse(await readFile(join(pkgDir, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  for (const dep of Object.keys(manifest.dependencies)) {
    const at = join(app, 'node_modules', dep);
    await mkdir(dirname(at), { recursive: true });
    await symlink(join(root, 'node_modules', dep), at, 'dir');
  }
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await writeFile(
    join(app, 'use.mjs'),
    [
      "import { train, evaluate, predict, Explainer, loadPredictor, INPUT_MODES } from 'polarcad';",
      'console.log(JSON.stringify({',
      '  train: typeof train, evaluate: typeof evaluate, predict: typeof predict,',
      '  explainer: typeof Explainer.create, loadPredictor: typeof loadPredictor, modes: INPUT_MODES,',
      '}));',
    ].join('\n'),
  );
  const got = JSON.parse(run(process.execPath, ['use.mjs'], app)) as Record<string, unknown>;
  assert.deepEqual(got, {
    train: 'function',
    evaluate: 'function',
    predict: 'function',
    explainer: 'function',
    loadPredictor: 'function',
    modes: ['stress_ac', 'rest_ac', 'stress_nac', 'rest_nac', 'tile2x2', 'ac', 'nac'],
  });

  // the declarations type-check a user's call (and reject a wrong option type)
  await writeFile(
    join(app, 'use.ts'),
    [
      "import { train, type TrainRunOptions } from 'polarcad';",
      "const o: TrainRunOptions = { manifest: 'm.csv', backbone: 'MobileNetV2', out: 'runs/a', warmupEpochs: 2 };",
      'export const p: Promise<unknown> = train(o);',
      '// @ts-expect-error seed is a number',
      "export const bad: TrainRunOptions = { ...o, seed: 'one' };",
    ].join('\n'),
  );
  await writeFile(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
      },
      files: ['use.ts'],
    }),
  );
  run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app);

  // `polarcad serve` from the installed package finds its page inside the package, not in src/
  await writeFile(
    join(app, 'page.mjs'),
    [
      "const { staticDir } = await import(new URL('./node_modules/polarcad/dist/serve/server.js', import.meta.url));",
      'console.log(staticDir());',
    ].join('\n'),
  );
  const page = run(process.execPath, ['page.mjs'], app).trim();
  assert.equal(page, join(pkgDir, 'dist', 'serve', 'static') + '/');
  assert.ok((await readFile(join(page, 'index.html'), 'utf8')).includes('<html'), 'the page is there');
});
