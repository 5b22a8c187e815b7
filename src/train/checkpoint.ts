/**
 * Per-stage training checkpoints: one file `<dir>/<stage>.ckpt`, written atomically after every
 * completed epoch, holding a JSON header and named float32 arrays. Format (little-endian):
 * 'PCKPT2\n', uint32 header byte length, header JSON ({ ...meta, arrays: [{ name, length }] }),
 * the arrays' bytes in header order, then the SHA-256 (32 bytes) of everything before it, verified
 * when the checkpoint is read: a changed byte anywhere (header or arrays) refuses the checkpoint.
 * Version-1 files ('PCKPT1\n', no trailer; the header may carry the SHA-256 of the arrays as
 * `sha256`) are still read, with that weaker check.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError } from '../util/errors.js';
import { pathExists } from '../util/fs.js';
import { sha256Hex } from '../util/hash.js';
import { readInputFile } from '../util/read-input.js';

const MAGIC = 'PCKPT2\n';
const MAGIC_V1 = 'PCKPT1\n';
const TRAILER = 32;

/** A decoded checkpoint: its metadata and arrays. */
export interface Checkpoint<M> {
  meta: M;
  arrays: Map<string, Float32Array>;
}

/** Serialise `meta` and `arrays` into one buffer. */
export function encodeCheckpoint<M extends object>(
  meta: M,
  arrays: ReadonlyMap<string, Float32Array>,
): Buffer {
  const list = [...arrays.entries()].map(([name, a]) => ({ name, length: a.length }));
  const body = Buffer.alloc(list.reduce((s, a) => s + a.length * 4, 0));
  let off = 0;
  for (const a of arrays.values()) {
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).copy(body, off);
    off += a.byteLength;
  }
  const header = Buffer.from(JSON.stringify({ ...meta, arrays: list }), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length, 0);
  const content = Buffer.concat([Buffer.from(MAGIC, 'latin1'), len, header, body]);
  return Buffer.concat([content, createHash('sha256').update(content).digest()]);
}

/** The checkpoint without its verified trailer (version 2), or as it is (version 1). */
function verifiedContent(buf: Buffer, where: string): Buffer {
  const magic = buf.subarray(0, MAGIC.length).toString('latin1');
  if (magic === MAGIC_V1) return buf;
  if (magic !== MAGIC || buf.length < MAGIC.length + 4 + TRAILER)
    throw new InputError(`${where}: not a valid polarcad checkpoint (bad magic)`);
  const content = buf.subarray(0, buf.length - TRAILER);
  if (
    !createHash('sha256')
      .update(content)
      .digest()
      .equals(buf.subarray(buf.length - TRAILER))
  )
    throw new InputError(
      `${where}: checksum mismatch (the checkpoint changed or was corrupted after it was written); delete it to restart its stage`,
    );
  return content;
}

/** Parse a buffer written by {@link encodeCheckpoint}; `where` names it in errors. */
export function decodeCheckpoint<M>(file: Buffer, where: string): Checkpoint<M> {
  const bad = (why: string): InputError =>
    new InputError(`${where}: not a valid polarcad checkpoint (${why})`);
  const buf = verifiedContent(file, where);
  if (buf.length < MAGIC.length + 4) throw bad('truncated');
  const hlen = buf.readUInt32LE(MAGIC.length);
  const h0 = MAGIC.length + 4;
  if (h0 + hlen > buf.length) throw bad('truncated header');
  let header: { arrays: { name: string; length: number }[]; sha256?: string } & Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(h0, h0 + hlen).toString('utf8')) as typeof header;
  } catch {
    throw bad('header is not JSON');
  }
  if (!Array.isArray(header?.arrays)) throw bad('header lists no arrays');
  if (header.sha256 !== undefined && sha256Hex(buf.subarray(h0 + hlen)) !== header.sha256)
    throw new InputError(
      `${where}: checksum mismatch (the checkpoint changed or was corrupted after it was written); delete it to restart its stage`,
    );
  const arrays = new Map<string, Float32Array>();
  let off = h0 + hlen;
  for (const { name, length } of header.arrays) {
    if (off + length * 4 > buf.length) throw bad(`truncated array ${name}`);
    const a = new Float32Array(length);
    Buffer.from(a.buffer).set(buf.subarray(off, off + length * 4));
    arrays.set(name, a);
    off += length * 4;
  }
  if (off !== buf.length) throw bad('trailing bytes');
  const { arrays: _list, sha256: _sum, ...meta } = header;
  return { meta: meta as M, arrays };
}

/** Path of a stage's checkpoint. */
export function checkpointPath(dir: string, stage: string): string {
  return join(dir, `${stage}.ckpt`);
}

/** Write a stage checkpoint atomically. */
export async function saveCheckpoint<M extends object>(
  dir: string,
  stage: string,
  meta: M,
  arrays: ReadonlyMap<string, Float32Array>,
): Promise<void> {
  await writeFileAtomic(checkpointPath(dir, stage), encodeCheckpoint(meta, arrays));
}

/** Read a stage checkpoint, or null when there is none. */
export async function loadCheckpoint<M>(dir: string, stage: string): Promise<Checkpoint<M> | null> {
  const p = checkpointPath(dir, stage);
  if (!(await pathExists(p))) return null;
  return decodeCheckpoint<M>(await readInputFile(p, 'model'), p);
}
