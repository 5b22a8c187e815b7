/**
 * The `--out` rule of every command, in one place: polarcad never replaces or writes into
 * something it did not write itself.
 *
 * `--out` may be
 *   - a new path (created; its parent folders too), or
 *   - an existing folder that polarcad wrote for the same kind of output, recognised by its marker
 *     file {@link OUTPUT_MARKER} (`{"tool":"polarcad","kind":"prepare",...}`): only then is it
 *     replaced (atomically, `writeDirAtomic`) or written into (`train`, `cv`, `predict`), or
 *   - an existing empty folder, with `--force`.
 * Anything else (a regular file, a user's folder, another command's output) is refused with an
 * `InputError` that names the path. An `--out` inside an input folder, or an input inside `--out`,
 * is refused too (replacing the folder would delete the input). A folder that cannot be written
 * (EACCES, EROFS, EPERM) is an input error naming the path, not an internal error.
 *
 * Commands that write one file (`export --out FILE`, `report --out FILE`) follow the same rule
 * for files ({@link claimOutputFile}): a new path, or a regular file polarcad wrote as that kind
 * (recognised by its content: {@link OUTPUT_FILE_KINDS}); never a folder, a device or a user's file.
 */
import { access, mkdir, readdir, realpath, stat, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { InputError } from './errors.js';
import { readInputFile, readInputText } from './read-input.js';

/** The kinds of output folder the commands write (one per command that writes a folder). */
export const OUTPUT_KINDS = [
  'prepare',
  'synth',
  'evaluate',
  'score',
  'cv',
  'tune',
  'experiment',
  'demo',
  'train',
  'predict',
  'polarmap',
  'compare',
  'report',
] as const;
export type OutputKind = (typeof OUTPUT_KINDS)[number];

/** The marker file polarcad writes into each output folder it creates. */
export const OUTPUT_MARKER = '.polarcad-output.json';

/** Options of {@link claimOutputDir}. */
export interface ClaimOptions {
  /** Input files or folders of the command: `--out` may neither be inside one nor contain one. */
  inputs?: readonly string[];
  /** Allow an existing empty folder (it is marked as this kind of output). */
  force?: boolean;
  /** Create the folder (and its marker) now; for commands that write into it in place. */
  create?: boolean;
}

/** What {@link checkOutputDir} found at the path. */
export type OutputState = 'new' | 'own' | 'empty';

const WRITE_ERRORS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT', 'ENOTDIR', 'EEXIST', 'EISDIR']);

/**
 * An error of writing under `path` as an `InputError` naming it when the cause is the place
 * (permissions, read-only or full file system), else the error itself.
 * @example throw writeError(out, e)
 */
export function writeError(path: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === undefined || !WRITE_ERRORS.has(code)) return e;
  const why =
    code === 'EACCES' || code === 'EPERM'
      ? 'permission denied'
      : code === 'EROFS'
        ? 'read-only file system'
        : code === 'ENOSPC' || code === 'EDQUOT'
          ? 'no space left'
          : code === 'EISDIR'
            ? 'a folder is in the way'
            : 'a file is in the way';
  return new InputError(`--out ${path}: cannot write there (${why}, ${code})`, { cause: e });
}

/** The kind recorded by the marker of `dir`, or null when it has none (or it is unreadable). */
export async function readOutputMarker(dir: string): Promise<OutputKind | null> {
  try {
    const v = JSON.parse(await readInputText(join(dir, OUTPUT_MARKER), 'json')) as {
      tool?: unknown;
      kind?: unknown;
    };
    return v.tool === 'polarcad' && (OUTPUT_KINDS as readonly unknown[]).includes(v.kind)
      ? (v.kind as OutputKind)
      : null;
  } catch {
    return null;
  }
}

/** Write the marker that makes `dir` recognisable as polarcad's `kind` output. */
export async function writeOutputMarker(dir: string, kind: OutputKind): Promise<void> {
  const body = { tool: 'polarcad', kind }; // no date: outputs stay byte-for-byte reproducible
  await writeFile(join(dir, OUTPUT_MARKER), `${JSON.stringify(body)}\n`);
}

/**
 * Check the `--out` rule for `out` (see the module comment) without changing anything.
 * @returns 'new' (nothing there), 'own' (polarcad's `kind` output) or 'empty' (an empty folder,
 *   only with `force`)
 * @throws InputError naming the path for anything else
 * @example await checkOutputDir('runs/eval', 'evaluate') // 'new'
 */
export async function checkOutputDir(out: string, kind: OutputKind, force = false): Promise<OutputState> {
  const abs = resolve(out);
  let s;
  try {
    s = await stat(abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'new';
    throw writeError(out, e);
  }
  if (!s.isDirectory())
    throw new InputError(
      `--out ${out}: is a file, not a folder polarcad wrote; it is left untouched (choose a new path)`,
    );
  const marked = await readOutputMarker(abs);
  if (marked === kind) return 'own';
  if (marked !== null)
    throw new InputError(
      `--out ${out}: holds the output of polarcad ${marked}, not of ${kind}; it is left untouched (choose another path)`,
    );
  const names = await readdir(abs);
  if (names.length === 0) {
    if (force) return 'empty';
    throw new InputError(
      `--out ${out}: is an existing empty folder; pass --force to write there, or choose a new path`,
    );
  }
  throw new InputError(
    `--out ${out}: exists and was not written by polarcad ${kind} (no ${OUTPUT_MARKER}); it is left untouched (choose a new path)`,
  );
}

/** `p` with symbolic links resolved as far as it exists (so two spellings of a folder compare equal). */
async function canonical(p: string): Promise<string> {
  const abs = resolve(p);
  try {
    return await realpath(abs);
  } catch {
    const parent = dirname(abs);
    return parent === abs ? abs : join(await canonical(parent), basename(abs));
  }
}

function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Refuse an `out` that is inside one of `inputs` (for a file input: its own path) or contains one.
 * @throws InputError naming both paths
 */
export async function checkOutputApart(out: string, inputs: readonly string[]): Promise<void> {
  const o = await canonical(out);
  for (const input of inputs) {
    const i = await canonical(input);
    let inputIsDir = false;
    try {
      inputIsDir = (await stat(i)).isDirectory();
    } catch {
      /* a missing input is reported by its reader */
    }
    if (isInside(i, o))
      throw new InputError(
        `--out ${out}: contains the input ${input}; writing there could delete it (choose a path outside the inputs)`,
      );
    if (inputIsDir && isInside(o, i))
      throw new InputError(`--out ${out}: is inside the input folder ${input}; choose a path outside it`);
  }
}

/** Whether the folder that will hold `abs` can be written (its nearest existing ancestor). */
async function checkWritable(out: string, abs: string): Promise<void> {
  let p = abs;
  for (;;) {
    try {
      await access(p, constants.F_OK);
      break;
    } catch {
      const parent = dirname(p);
      if (parent === p) break;
      p = parent;
    }
  }
  try {
    await access(p, constants.W_OK);
  } catch (e) {
    throw writeError(out, e);
  }
}

/**
 * The one call each command makes for its `--out` folder: check the rule (see the module
 * comment), that it is apart from the inputs and writable; with `force`, claim an empty folder
 * (mark it); with `create`, create the folder and its marker now.
 * @returns the absolute path
 * @throws InputError naming the path when the rule refuses it
 * @example const out = await claimOutputDir(o.out, 'prepare', { inputs: [manifest], force: o.force });
 */
export async function claimOutputDir(
  out: string,
  kind: OutputKind,
  opts: ClaimOptions = {},
): Promise<string> {
  const abs = resolve(out);
  const state = await checkOutputDir(out, kind, opts.force === true);
  await checkOutputApart(out, opts.inputs ?? []);
  await checkWritable(out, abs);
  if (state === 'empty' || (state === 'new' && opts.create === true)) {
    try {
      await mkdir(abs, { recursive: true });
      await writeOutputMarker(abs, kind);
    } catch (e) {
      throw writeError(out, e);
    }
  }
  return abs;
}

/** A kind of single output file: what it is, and how polarcad recognises one it wrote. */
interface OutputFileKind {
  readonly what: string;
  readonly isOwn: (bytes: Buffer) => boolean | Promise<boolean>;
}

/** The single files polarcad writes under `--out FILE`, each recognised by its own content. */
export const OUTPUT_FILE_KINDS = {
  /** `polarcad export`: the ONNX metadata carries `polarcad.format` = `polarcad-onnx/1` */
  onnx: { what: 'an ONNX export of polarcad export', isOwn: (b) => b.includes('polarcad-onnx/1') },
  /** `polarcad report`: the HTML page ends with polarcad's footer */
  html: {
    what: 'an HTML report of polarcad report',
    isOwn: (b) => b.includes('<footer>Written by polarcad on'),
  },
  /** `polarcad score --save-normal-db`: the JSON's format is `polarcad-normal-db` */
  normaldb: {
    what: 'a normal database of polarcad score',
    isOwn: (b) => /"format"\s*:\s*"polarcad-normal-db"/.test(b.toString('utf8')),
  },
  /** `polarcad report --pdf`: the PDF's creator is polarcad */
  pdf: {
    what: 'a PDF report of polarcad',
    isOwn: async (b) => {
      try {
        const { PDFDocument } = await import('pdf-lib');
        const doc = await PDFDocument.load(b, { updateMetadata: false });
        return doc.getCreator() === 'polarcad';
      } catch {
        return false;
      }
    },
  },
} as const satisfies Record<string, OutputFileKind>;
export type OutputFileKindName = keyof typeof OUTPUT_FILE_KINDS;

/**
 * The one call of a command that writes a single file under `--out FILE`: `out` may be a new path
 * or a regular file polarcad wrote as `kind` (then it is replaced, atomically, by the writer);
 * a folder, a device or FIFO, or any other file (the user's manifest, a run's weights.bin) is
 * refused and left untouched. It must not be inside an input folder either, and its folder must
 * be writable.
 * @returns the absolute path
 * @throws InputError naming the path when the rule refuses it
 * @example await claimOutputFile('exports/mnv2.onnx', 'onnx', { inputs: ['runs/mnv2/model'] })
 */
export async function claimOutputFile(
  out: string,
  kind: OutputFileKindName,
  opts: { inputs?: readonly string[]; option?: string } = {},
): Promise<string> {
  const abs = resolve(out);
  const { what, isOwn } = OUTPUT_FILE_KINDS[kind];
  const option = opts.option ?? '--out';
  let s;
  try {
    s = await stat(abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw writeError(out, e);
  }
  if (s !== undefined) {
    if (s.isDirectory())
      throw new InputError(`${option} ${out}: is a folder, not a file; it is left untouched (name a file)`);
    if (!s.isFile() || !(await isOwn(await readInputFile(abs, 'model'))))
      throw new InputError(
        `${option} ${out}: exists and is not ${what}; it is left untouched (choose a new path)`,
      );
  }
  await checkOutputApart(out, opts.inputs ?? []);
  await checkWritable(out, abs);
  return abs;
}
