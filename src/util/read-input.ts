/**
 * The one reader of the files a user hands polarcad (images, DICOM, manifests, models, JSON and
 * CSV tables): only regular files, and only up to a size limit per kind, so a path that is (or is
 * a symlink to) `/dev/zero`, `/dev/urandom`, a FIFO or a socket is refused at once instead of
 * filling memory or hanging, and an oversized file is refused before it is read.
 *
 * The file is opened non-blocking (a FIFO without a writer does not block the open) and checked
 * on the open handle (`fstat`), so what is checked is what is read.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { InputError, errorMessage } from './errors.js';

/** Size limits in bytes per kind of input file. */
export const READ_LIMITS = {
  /** an export page, a polar map or a DICOM file */
  image: 256 * 2 ** 20,
  /** a manifest or another CSV table */
  table: 64 * 2 ** 20,
  /** a JSON file (model topology, configuration, normal database) */
  json: 64 * 2 ** 20,
  /** model weights (tfjs weights.bin, an ONNX file) */
  model: 2 * 2 ** 30,
  /** a SPECT volume file (NIfTI, multi-frame DICOM) or one slice of a DICOM series */
  volume: 512 * 2 ** 20,
} as const;
export type InputKind = keyof typeof READ_LIMITS;

const NAMES: Readonly<Record<InputKind, string>> = {
  image: 'an image',
  table: 'a table',
  json: 'a JSON file',
  model: 'a model file',
  volume: 'a volume',
};

/** A size in words: bytes below 1 MiB (a limit of 1000 bytes is not "0.00 MiB"), else MiB or GiB. */
function mib(n: number): string {
  if (n < 2 ** 20) return `${n} bytes`;
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(0)} GiB` : `${(n / 2 ** 20).toFixed(0)} MiB`;
}

async function openInput(path: string): Promise<FileHandle> {
  try {
    return await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InputError(`${path}: file not found`, { cause: e });
    if (code === 'EISDIR') throw new InputError(`${path}: is a directory, not a file`, { cause: e });
    throw new InputError(`${path}: cannot read file (${code ?? errorMessage(e)})`, { cause: e });
  }
}

/**
 * Read a user's input file whole, refusing anything but a regular file of at most
 * `READ_LIMITS[kind]` (or `maxBytes`) bytes.
 * @throws InputError naming the file: missing, a folder, not a regular file (device, FIFO,
 *   socket), larger than the limit, or unreadable
 * @example const bytes = await readInputFile('P001_stress_ac.png', 'image');
 */
export async function readInputFile(
  path: string,
  kind: InputKind,
  maxBytes = READ_LIMITS[kind],
): Promise<Buffer> {
  return withInputFile(path, kind, (fh) => fh.readFile(), maxBytes);
}

/**
 * Run `use` on the open handle of a user's input file, checked as {@link readInputFile} checks it
 * (a regular file of at most `maxBytes`), for readers that stream instead of reading it whole.
 * @throws InputError naming the file, as readInputFile
 * @example const n = await withInputFile('weights.h5', 'model', async (fh) => (await fh.stat()).size);
 */
export async function withInputFile<T>(
  path: string,
  kind: InputKind,
  use: (fh: FileHandle) => Promise<T>,
  maxBytes = READ_LIMITS[kind],
): Promise<T> {
  const fh = await openInput(path);
  try {
    const s = await fh.stat();
    if (s.isDirectory()) throw new InputError(`${path}: is a directory, not a file`);
    if (!s.isFile())
      throw new InputError(
        `${path}: is not a regular file (a device, FIFO or socket); polarcad reads ${NAMES[kind]} only from a regular file`,
      );
    if (s.size > maxBytes)
      throw new InputError(
        `${path}: ${mib(s.size)}, larger than the ${mib(maxBytes)} limit for ${NAMES[kind]}`,
      );
    return await use(fh);
  } catch (e) {
    if (e instanceof InputError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(`${path}: cannot read file (${code ?? errorMessage(e)})`, { cause: e });
  } finally {
    await fh.close();
  }
}

/**
 * {@link readInputFile} as UTF-8 text.
 * @example const csv = await readInputText('manifest.csv', 'table');
 */
export async function readInputText(path: string, kind: InputKind): Promise<string> {
  return (await readInputFile(path, kind)).toString('utf8');
}

/**
 * {@link readInputText} for a file that the message calls `what`: any failure becomes an
 * InputError "`what` `path`: cannot read file (reason)".
 * @example const text = await readNamedInputText('colour map', 'scale.csv', 'table');
 */
export async function readNamedInputText(what: string, path: string, kind: InputKind): Promise<string> {
  try {
    return await readInputText(path, kind);
  } catch (e) {
    throw new InputError(`${what} ${path}: cannot read file (${errorMessage(e)})`, { cause: e });
  }
}
