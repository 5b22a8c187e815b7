import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli } from '../helpers/cli.js';
import { BACKBONES } from '../../src/models/table.js';

let tmp: string;
const savedHome = process.env['HOME'];
const savedKerasHome = process.env['KERAS_HOME'];

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'polarcad-cli-models-'));
  await mkdir(join(tmp, '.keras', 'models'), { recursive: true });
  process.env['HOME'] = tmp;
  delete process.env['KERAS_HOME'];
});
after(async () => {
  if (savedHome === undefined) delete process.env['HOME'];
  else process.env['HOME'] = savedHome;
  if (savedKerasHome !== undefined) process.env['KERAS_HOME'] = savedKerasHome;
  await rm(tmp, { recursive: true, force: true });
});

const run = cli;

interface Row {
  name: string;
  inputSize: number;
  weights: string;
  weightsPath?: string;
  weightsDescription: string;
}

describe('polarcad models', () => {
  it('--json lists every backbone of the table with its weights availability', async () => {
    await writeFile(
      join(tmp, '.keras', 'models', 'resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5'),
      'x',
    );
    const { code, out } = await run(['models', '--json']);
    assert.equal(code, 0);
    const parsed = JSON.parse(out) as { rows: Row[]; notes: string[] };
    assert.deepEqual(
      parsed.rows.map((r) => r.name),
      BACKBONES.map((b) => b.name),
    );
    const by = new Map(parsed.rows.map((r) => [r.name, r]));
    assert.equal(by.get('ResNet152V2')?.weights, 'keras-cache');
    assert.equal(
      by.get('ResNet152V2')?.weightsPath,
      join(tmp, '.keras', 'models', 'resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5'),
    );
    assert.equal(by.get('MobileNetV2')?.weights, 'embedded');
    assert.equal(by.get('InceptionV3')?.weights, 'embedded');
    assert.equal(by.get('VGG16')?.weights, 'unavailable');
    assert.match(
      by.get('VGG16')?.weightsDescription ?? '',
      /vgg16_weights_tf_dim_ordering_tf_kernels_notop\.h5/,
    );
    assert.ok(parsed.notes.some((n) => /Not ImageNet weights/.test(n)));
  });

  it('prints a table with the embedded-weights note', async () => {
    const { code, out } = await run(['models']);
    assert.equal(code, 0);
    const lines = out.split('\n');
    assert.match(lines[0], /^backbone\s+input\s+scaling\s+a\s+features\s+layers\s+params\s+weights$/);
    assert.match(out, /^MobileNetV2\s+224\s+tf\s+3\s+1280\s+154\s+2,257,984\s+embedded/m);
    assert.match(out, /note: embedded \(InceptionV3\): .*8 bits.*Not ImageNet weights/);
  });
});
