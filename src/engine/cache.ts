/**
 * The on-disk feature cache: activations of a frozen backbone at a cut point, computed once per
 * (image, preprocessing, weights, cut) and reused across epochs, stages, folds and runs.
 *
 * Key: sha256 of a canonical JSON array (fixed field order, see {@link featureKey}) of the input
 * image's content hash, the preprocessing (size, scaling, rotation angle, layout), backbone name,
 * weights identity, architecture fingerprint, cut layer name(s), storage dtype and the format
 * version. Anything that changes the activations changes the key, so stale entries are never
 * read (they are simply never hit again; delete the folder to reclaim the space).
 *
 * File `<dir>/v1/<key[0:2]>/<key>.feat`, little-endian:
 *
 * | bytes | field |
 * | --- | --- |
 * | 0..8 | magic `PCADFEAT` |
 * | 8..12 | u32 format version (1) |
 * | 12..16 | u32 M: length of the metadata block |
 * | 16..24 | u64 P: payload length in bytes |
 * | 24..56 | sha256 of metadata block + payload |
 * | 56..56+M | metadata: UTF-8 JSON `{key, dtype, tensors: [{name, dims}]}` |
 * | 56+M.. | payload: the tensors in order, row-major, float32 or float16 |
 *
 * A file is used only when magic, version, total length (56 + M + P), checksum, key, dtype and
 * the tensor sizes all agree; otherwise it is counted as corrupt, deleted and reported as a miss,
 * so the caller recomputes it. Writes go to a temporary sibling and are renamed into place
 * (`writeFileAtomic`): readers in this or another process see the old file, the new file or
 * nothing, never a partial one; two processes writing the same key write the same bytes.
 *
 * Privacy: the features are derived from patients' images. The folders are created 0700 and the
 * files 0600 (only the user reads them), and the default folder is made 0700 when found wider.
 * Nothing expires by itself: `polarcad cache info` shows the size and ages, `polarcad cache clear
 * [--older-than DAYS]` removes entries ({@link cacheInfo}, {@link clearCache}).
 */
import { featureCacheDir } from '../util/env.js';
import { createHash } from 'node:crypto';
import { chmod, open, readdir, rm, rmdir, stat } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { InputError } from '../util/errors.js';
import { decodeFloat16, encodeFloat16, fitsFloat16 } from './float16.js';

/** Cache file format version (part of every key and of every file header). */
export const CACHE_FORMAT_VERSION = 1;
const MAGIC = Buffer.from('PCADFEAT', 'ascii');
const PREAMBLE = 56;

/** Storage type of cached activations. float16 halves the disk use at a relative error <= 2^-11. */
export type CacheDtype = 'float32' | 'float16';

/** One cached tensor: a cut layer's activation for one item (no batch axis). */
export interface FeatureTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** What determines an activation; every field is part of the key. */
export interface FeatureKeyParts {
  /** Content hash of the source image(s) (see `imageContentHash`), or of the prepared input. */
  readonly input: string;
  readonly preprocessing: {
    /** Model input side in pixels. */
    readonly size: number;
    /** Keras preprocess_input mode. */
    readonly scaling: string;
    /** Augmentation rotation in degrees (0 = original). */
    readonly angle: number;
    /** 'image' (one map / image) or 'tile2x2' (four views tiled, Apostolopoulos et al. 2020). */
    readonly layout: string;
  };
  /** Backbone name from the table. */
  readonly backbone: string;
  /** sha256 of the weights file, 'random:<seed>' for a seeded random initialisation, or a weight-values hash. */
  readonly weights: string;
  /** Fingerprint of the layers up to the cut (optional; '' when absent). */
  readonly architecture?: string;
  /** Cut layer name(s), in output order. */
  readonly cutLayers: readonly string[];
  readonly dtype: CacheDtype;
}

/**
 * The cache key: sha256 (hex) of a canonical JSON array of the parts in a fixed order.
 * @throws InputError for an empty input hash, weights identity or cut list, or a non-finite angle.
 */
export function featureKey(p: FeatureKeyParts): string {
  if (p.input.length === 0) throw new InputError('feature cache key: the input content hash is empty');
  if (p.weights.length === 0) throw new InputError('feature cache key: the weights identity is empty');
  if (p.cutLayers.length === 0) throw new InputError('feature cache key: no cut layer given');
  const pre = p.preprocessing;
  if (!Number.isFinite(pre.angle))
    throw new InputError(`feature cache key: angle must be finite, got ${pre.angle}`);
  const canonical = JSON.stringify([
    'polarcad-features',
    CACHE_FORMAT_VERSION,
    p.input,
    [pre.size, pre.scaling, pre.angle === 0 ? 0 : pre.angle, pre.layout],
    p.backbone,
    p.weights,
    p.architecture ?? '',
    [...p.cutLayers],
    p.dtype,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

/** Counters of one cache object (cumulative). */
export interface CacheStats {
  /** Entries served (from disk or memory). */
  hits: number;
  /** Of the hits, served from the in-memory layer. */
  memoryHits: number;
  /** Lookups that found nothing usable (absent or corrupt). */
  misses: number;
  /** Files found corrupt or truncated (deleted; each also counts as a miss). */
  corrupt: number;
  /** Entries written. */
  writes: number;
  bytesRead: number;
  bytesWritten: number;
}

/** Options of {@link FeatureCache}. */
export interface FeatureCacheOptions {
  /** Cache folder (default {@link defaultCacheDir}). */
  dir?: string;
  /** Storage dtype (default 'float32'). float16 entries whose values exceed +-65504 are stored as float32. */
  dtype?: CacheDtype;
  /** Byte budget of an in-memory LRU layer in front of the disk (default 0 = off). */
  memoryBytes?: number;
  /** Called with a message for every corrupt file found (default: nothing; it is counted in stats). */
  onWarning?: (message: string) => void;
}

/**
 * Default cache folder: `$POLARCAD_CACHE_DIR` when set (used as is), else
 * `$XDG_CACHE_HOME/polarcad/features`, else `~/.cache/polarcad/features` (src/util/env.ts).
 */
export function defaultCacheDir(): string {
  return featureCacheDir();
}

const KEY_RE = /^[0-9a-f]{64}$/;

interface Meta {
  key: string;
  dtype: CacheDtype;
  tensors: { name: string; dims: number[] }[];
}

function sizeOf(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Serialise an entry (exported for tests and tools). */
export function encodeEntry(key: string, tensors: readonly FeatureTensor[], dtype: CacheDtype): Buffer {
  const effective: CacheDtype =
    dtype === 'float16' && tensors.every((t) => fitsFloat16(t.data)) ? 'float16' : 'float32';
  const meta: Meta = {
    key,
    dtype: effective,
    tensors: tensors.map((t) => ({ name: t.name, dims: [...t.dims] })),
  };
  const metaBuf = Buffer.from(JSON.stringify(meta), 'utf8');
  const parts = tensors.map((t) => {
    if (t.data.length !== sizeOf(t.dims)) {
      throw new Error(
        `feature cache: tensor ${t.name} has ${t.data.length} values for dims [${t.dims.join(', ')}]`,
      );
    }
    const arr = effective === 'float16' ? encodeFloat16(t.data) : t.data;
    return Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength);
  });
  const payloadLen = parts.reduce((s, b) => s + b.length, 0);
  const out = Buffer.allocUnsafe(PREAMBLE + metaBuf.length + payloadLen);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(CACHE_FORMAT_VERSION, 8);
  out.writeUInt32LE(metaBuf.length, 12);
  out.writeBigUInt64LE(BigInt(payloadLen), 16);
  let off = PREAMBLE;
  metaBuf.copy(out, off);
  off += metaBuf.length;
  for (const b of parts) {
    b.copy(out, off);
    off += b.length;
  }
  createHash('sha256').update(out.subarray(PREAMBLE)).digest().copy(out, 24);
  return out;
}

/**
 * Parse and verify an entry. Returns the tensors, or a string saying what is wrong.
 * (Exported for tests and tools.)
 */
export function decodeEntry(buf: Buffer, expectedKey: string): FeatureTensor[] | string {
  if (buf.length < PREAMBLE)
    return `truncated: ${buf.length} bytes, shorter than the ${PREAMBLE}-byte header`;
  if (!buf.subarray(0, 8).equals(MAGIC)) return 'bad magic (not a polarcad feature file)';
  const version = buf.readUInt32LE(8);
  if (version !== CACHE_FORMAT_VERSION) return `format version ${version}, expected ${CACHE_FORMAT_VERSION}`;
  const metaLen = buf.readUInt32LE(12);
  const payloadLen = buf.readBigUInt64LE(16);
  const expected = BigInt(PREAMBLE) + BigInt(metaLen) + payloadLen;
  if (BigInt(buf.length) !== expected)
    return `length ${buf.length} bytes, header says ${expected} (truncated or padded)`;
  const sum = createHash('sha256').update(buf.subarray(PREAMBLE)).digest();
  if (!sum.equals(buf.subarray(24, PREAMBLE))) return 'checksum mismatch (corrupt payload or metadata)';
  let meta: Meta;
  try {
    meta = JSON.parse(buf.subarray(PREAMBLE, PREAMBLE + metaLen).toString('utf8')) as Meta;
  } catch {
    return 'unreadable metadata';
  }
  if (meta.key !== expectedKey) return `file holds key ${String(meta.key)}, expected ${expectedKey}`;
  if (meta.dtype !== 'float32' && meta.dtype !== 'float16') return `unknown dtype ${String(meta.dtype)}`;
  if (!Array.isArray(meta.tensors)) return 'metadata has no tensor list';
  const bytesPer = meta.dtype === 'float16' ? 2 : 4;
  let off = PREAMBLE + metaLen;
  const out: FeatureTensor[] = [];
  for (const t of meta.tensors) {
    if (
      typeof t.name !== 'string' ||
      !Array.isArray(t.dims) ||
      !t.dims.every((d) => Number.isInteger(d) && d >= 0)
    ) {
      return 'malformed tensor entry in metadata';
    }
    const n = sizeOf(t.dims);
    const bytes = n * bytesPer;
    if (off + bytes > buf.length) return `tensor ${t.name} runs past the end of the file`;
    // copy into a fresh, aligned buffer
    const raw = new Uint8Array(bytes);
    raw.set(buf.subarray(off, off + bytes));
    const data =
      meta.dtype === 'float16' ? decodeFloat16(new Uint16Array(raw.buffer)) : new Float32Array(raw.buffer);
    out.push({ name: t.name, dims: t.dims, data });
    off += bytes;
  }
  if (off !== buf.length) return `payload has ${buf.length - off} unexplained trailing bytes`;
  return out;
}

function copyEntry(e: readonly FeatureTensor[]): FeatureTensor[] {
  return e.map((t) => ({ name: t.name, dims: [...t.dims], data: t.data.slice() }));
}

/**
 * A content-addressed store of cut-point activations on disk, with an optional in-memory LRU.
 * Safe to share between processes (atomic rename; identical bytes for identical keys).
 */
export class FeatureCache {
  readonly dir: string;
  readonly dtype: CacheDtype;
  readonly stats: CacheStats = {
    hits: 0,
    memoryHits: 0,
    misses: 0,
    corrupt: 0,
    writes: 0,
    bytesRead: 0,
    bytesWritten: 0,
  };
  private readonly memoryBytes: number;
  private readonly memory = new Map<string, { entry: FeatureTensor[]; bytes: number }>();
  private memoryUsed = 0;
  private readonly onWarning: ((message: string) => void) | undefined;

  constructor(opts: FeatureCacheOptions = {}) {
    if (endianness() !== 'LE') throw new Error('feature cache: only little-endian hosts are supported');
    this.dir = opts.dir ?? defaultCacheDir();
    this.dtype = opts.dtype ?? 'float32';
    if (this.dtype !== 'float32' && this.dtype !== 'float16') {
      throw new InputError(
        `feature cache: dtype must be 'float32' or 'float16', got '${String(this.dtype)}'`,
      );
    }
    this.memoryBytes = opts.memoryBytes ?? 0;
    if (!(this.memoryBytes >= 0))
      throw new InputError(`feature cache: memoryBytes must be >= 0, got ${this.memoryBytes}`);
    this.onWarning = opts.onWarning;
  }

  /** The key of an activation under this cache's storage dtype (see {@link featureKey}). */
  key(parts: Omit<FeatureKeyParts, 'dtype'>): string {
    return featureKey({ ...parts, dtype: this.dtype });
  }

  /** Path of the file of `key`. */
  pathOf(key: string): string {
    if (!KEY_RE.test(key)) throw new Error(`feature cache: malformed key '${key}'`);
    return join(this.dir, `v${CACHE_FORMAT_VERSION}`, key.slice(0, 2), `${key}.feat`);
  }

  /**
   * The entry of `key`, or null (absent, or corrupt: then the file is deleted, `stats.corrupt`
   * counted and `onWarning` called). Returned arrays are the caller's own copies.
   */
  async get(key: string): Promise<FeatureTensor[] | null> {
    const mem = this.memory.get(key);
    if (mem !== undefined) {
      this.memory.delete(key);
      this.memory.set(key, mem);
      this.stats.hits++;
      this.stats.memoryHits++;
      return copyEntry(mem.entry);
    }
    const path = this.pathOf(key);
    let buf: Buffer;
    let ino: number;
    try {
      const fh = await open(path, 'r');
      try {
        ino = (await fh.stat()).ino;
        buf = await fh.readFile();
      } finally {
        await fh.close();
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        this.stats.misses++;
        return null;
      }
      throw e;
    }
    const res = decodeEntry(buf, key);
    if (typeof res === 'string') {
      this.stats.corrupt++;
      this.stats.misses++;
      this.onWarning?.(`feature cache: ${path}: ${res}; deleted, will recompute`);
      await this.removeIfUnchanged(path, ino);
      return null;
    }
    this.stats.hits++;
    this.stats.bytesRead += buf.length;
    this.remember(key, res);
    return copyEntry(res);
  }

  /**
   * Store an entry (atomic write). Returns what a later `get` returns: the same values, or their
   * float16 roundings when stored as float16 (the caller's own copy).
   */
  async put(key: string, tensors: readonly FeatureTensor[]): Promise<FeatureTensor[]> {
    const buf = encodeEntry(key, tensors, this.dtype);
    await this.protect();
    await writeFileAtomic(this.pathOf(key), buf, { mode: 0o600, dirMode: 0o700 });
    this.stats.writes++;
    this.stats.bytesWritten += buf.length;
    const stored = decodeEntry(buf, key);
    if (typeof stored === 'string')
      throw new Error(`internal error: feature cache entry does not verify after encoding (${stored})`);
    this.remember(key, stored);
    return stored;
  }

  /** The entry of `key`, computing and storing it on a miss. */
  async getOrCompute(
    key: string,
    compute: () => Promise<FeatureTensor[]> | FeatureTensor[],
  ): Promise<FeatureTensor[]> {
    const hit = await this.get(key);
    if (hit !== null) return hit;
    return this.put(key, await compute());
  }

  private protected = false;

  /** Make the default cache folder private (0700) once, also when an older polarcad made it 0755. */
  private async protect(): Promise<void> {
    if (this.protected) return;
    this.protected = true;
    if (this.dir !== defaultCacheDir()) return;
    try {
      if (((await stat(this.dir)).mode & 0o077) !== 0) await chmod(this.dir, 0o700);
    } catch {
      /* created 0700 by the first write */
    }
  }

  /** Drop the in-memory layer (the disk is untouched). */
  clearMemory(): void {
    this.memory.clear();
    this.memoryUsed = 0;
  }

  private remember(key: string, entry: FeatureTensor[]): void {
    if (this.memoryBytes <= 0) return;
    const bytes = entry.reduce((s, t) => s + t.data.byteLength, 0);
    if (bytes > this.memoryBytes) return;
    const old = this.memory.get(key);
    if (old !== undefined) {
      this.memory.delete(key);
      this.memoryUsed -= old.bytes;
    }
    this.memory.set(key, { entry: copyEntry(entry), bytes });
    this.memoryUsed += bytes;
    for (const [k, v] of this.memory) {
      if (this.memoryUsed <= this.memoryBytes) break;
      this.memory.delete(k);
      this.memoryUsed -= v.bytes;
    }
  }

  /**
   * Delete a corrupt file unless another process has meanwhile renamed a fresh one into place
   * (a rename gives the path a new inode).
   */
  private async removeIfUnchanged(path: string, ino: number): Promise<void> {
    try {
      if ((await stat(path)).ino !== ino) return;
      await rm(path, { force: true });
    } catch {
      /* already gone */
    }
  }
}

/** What {@link cacheInfo} reports. */
export interface CacheInfo {
  readonly dir: string;
  readonly files: number;
  readonly bytes: number;
  /** Modification times of the oldest and newest entry (ms since the epoch), null when empty. */
  readonly oldest: number | null;
  readonly newest: number | null;
  /** Mode of the folder (e.g. 0o700), null when it does not exist. */
  readonly mode: number | null;
}

/** The entries of folder `d`, or null when it cannot be read (absent, not a folder). */
async function entriesOf(d: string): Promise<Dirent[] | null> {
  try {
    return await readdir(d, { withFileTypes: true });
  } catch {
    return null;
  }
}

/** Every entry file (and stale temporary) under a cache folder, with its size and time. */
async function cacheFiles(dir: string): Promise<{ path: string; size: number; mtimeMs: number }[]> {
  const out: { path: string; size: number; mtimeMs: number }[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await entriesOf(d);
    if (entries === null) return;
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && (e.name.endsWith('.feat') || e.name.endsWith('.tmp'))) {
        const s = await stat(p);
        out.push({ path: p, size: s.size, mtimeMs: s.mtimeMs });
      }
    }
  };
  await walk(dir);
  return out;
}

/**
 * Size, number of entries, ages and mode of a feature cache folder.
 * @example const i = await cacheInfo(defaultCacheDir()); console.log(i.files, i.bytes)
 */
export async function cacheInfo(dir = defaultCacheDir()): Promise<CacheInfo> {
  let mode: number | null = null;
  try {
    mode = (await stat(dir)).mode & 0o777;
  } catch {
    /* no cache yet */
  }
  const files = await cacheFiles(dir);
  const times = files.map((f) => f.mtimeMs);
  return {
    dir,
    files: files.length,
    bytes: files.reduce((s, f) => s + f.size, 0),
    oldest: times.length === 0 ? null : Math.min(...times),
    newest: times.length === 0 ? null : Math.max(...times),
    mode,
  };
}

/**
 * Remove the cache's entries, or only those last written more than `olderThanDays` days ago, and
 * the folders left empty. Only cache files (`*.feat`, temporaries) are removed.
 * @returns the number of files and bytes removed
 * @example await clearCache(defaultCacheDir(), 30) // entries older than 30 days
 */
export async function clearCache(
  dir = defaultCacheDir(),
  olderThanDays?: number,
  now = Date.now(),
): Promise<{ files: number; bytes: number }> {
  const cutoff = olderThanDays === undefined ? Infinity : now - olderThanDays * 86_400_000;
  let files = 0;
  let bytes = 0;
  for (const f of await cacheFiles(dir)) {
    if (f.mtimeMs >= cutoff) continue;
    await rm(f.path, { force: true });
    files++;
    bytes += f.size;
  }
  const prune = async (d: string): Promise<void> => {
    const entries = await entriesOf(d);
    if (entries === null) return;
    for (const e of entries) if (e.isDirectory()) await prune(join(d, e.name));
    if (d !== dir) await rmdir(d).catch(() => undefined);
  };
  await prune(dir);
  return { files, bytes };
}
