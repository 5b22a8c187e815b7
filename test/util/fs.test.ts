import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../src/util/errors.js';
import { pathExists, readJsonObject } from '../../src/util/fs.js';

test('pathExists and readJsonObject: object read; missing, non-JSON and non-object files are InputErrors naming the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'polarcad-fs-'));
  try {
    const ok = join(dir, 'ok.json');
    await writeFile(ok, '{"a": 1, "b": [2]}');
    await writeFile(join(dir, 'bad.json'), '{"a": ');
    await writeFile(join(dir, 'arr.json'), '[1, 2]');
    assert.equal(await pathExists(ok), true);
    assert.equal(await pathExists(dir), true);
    assert.equal(await pathExists(join(dir, 'none.json')), false);
    assert.deepEqual(await readJsonObject(ok), { a: 1, b: [2] });
    const named = (file: string, what: RegExp) => (e: unknown) =>
      e instanceof InputError && e.message.startsWith(join(dir, file)) && what.test(e.message);
    await assert.rejects(readJsonObject(join(dir, 'none.json')), named('none.json', /cannot read/));
    await assert.rejects(readJsonObject(join(dir, 'bad.json')), named('bad.json', /not valid JSON/));
    await assert.rejects(readJsonObject(join(dir, 'arr.json')), named('arr.json', /not a JSON object/));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
