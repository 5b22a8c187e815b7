/**
 * The note on the embedded weights (issue 13): the CLI, the reports and docs/weights.md say
 * "retrained by its authors on a 5-class content-moderation task" and never list the classes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { COMMON, EMBEDDED_MODELS } from '../../src/models/weights/embedded.js';

const CLASS_NAMES = /drawing|hentai|neutral|porn|sexy/i;
const WORDING = 'retrained by its authors on a 5-class content-moderation task';

test('the embedded-weights note says content-moderation task and names no class', async () => {
  assert.ok(COMMON.includes(WORDING), COMMON);
  assert.doesNotMatch(COMMON, CLASS_NAMES);
  for (const m of EMBEDDED_MODELS) {
    assert.ok(m.description.includes(COMMON), m.backbone);
    assert.doesNotMatch(m.description, CLASS_NAMES);
  }
  const doc = await readFile(fileURLToPath(new URL('../../docs/weights.md', import.meta.url)), 'utf8');
  assert.ok(doc.replace(/\s+/g, ' ').includes(WORDING), 'docs/weights.md uses the same wording');
  assert.doesNotMatch(doc, CLASS_NAMES);
});
