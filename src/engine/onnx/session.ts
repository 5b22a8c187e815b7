/**
 * The ONNX Runtime path. This module is the only place that imports `onnxruntime-node`, so the
 * runtime stays isolated from the rest of polarcad (as transformers.js isolates its backends).
 *
 * `onnxruntime-node` ships its CPU binaries inside the npm package (bin/napi-v6/<os>/<arch>); its
 * install script (which would download CUDA / TensorRT extras) is denied in package.json
 * `allowScripts`, so `npm ci` works offline and only the bundled CPU execution provider is used.
 */
import { cpus } from 'node:os';
import * as ort from 'onnxruntime-node';
import { InputError, errorMessage } from '../../util/errors.js';
import { readInputFile } from '../../util/read-input.js';

/** Options of {@link OnnxModel.create}. */
export interface OnnxModelOptions {
  /** Intra-op threads (default: every core, `os.cpus().length`). */
  threads?: number;
  /** Largest batch sent to the runtime in one call; larger inputs are split (default 16). */
  maxBatch?: number;
  /** ONNX Runtime graph optimisation level (default 'all'). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

/** One output tensor: row-major float32 data and its dimensions. */
export interface OnnxOutput {
  data: Float32Array;
  dims: number[];
}

/** A loaded ONNX model: one InferenceSession, created once and reused for every call. */
export class OnnxModel {
  private disposed = false;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly session: ort.InferenceSession,
    /** Graph input names. */
    readonly inputNames: readonly string[],
    /** Graph output names. */
    readonly outputNames: readonly string[],
    /** Intra-op threads the session uses. */
    readonly threads: number,
    private readonly maxBatch: number,
  ) {}

  /**
   * Create a session from ONNX bytes or a file path (CPU execution provider, all graph
   * optimisations, `threads` intra-op threads).
   * @throws InputError when the file cannot be read or is not a valid ONNX model.
   */
  static async create(model: Uint8Array | string, opts: OnnxModelOptions = {}): Promise<OnnxModel> {
    const threads = opts.threads ?? cpus().length;
    const maxBatch = opts.maxBatch ?? 16;
    if (!Number.isInteger(threads) || threads < 1)
      throw new InputError(`ONNX session: threads must be a positive integer, got ${threads}`);
    if (!Number.isInteger(maxBatch) || maxBatch < 1)
      throw new InputError(`ONNX session: maxBatch must be a positive integer, got ${maxBatch}`);
    const where = typeof model === 'string' ? model : 'ONNX model bytes';
    let bytes: Uint8Array;
    if (typeof model === 'string') {
      try {
        bytes = new Uint8Array(await readInputFile(model, 'model'));
      } catch (e) {
        throw new InputError(`${model}: cannot read the ONNX model (${errorMessage(e)})`);
      }
    } else bytes = model;
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        executionProviders: ['cpu'],
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: opts.optimization ?? 'all',
      });
    } catch (e) {
      throw new InputError(`${where}: ONNX Runtime cannot load the model (${errorMessage(e)})`, { cause: e });
    }
    return new OnnxModel(session, session.inputNames, session.outputNames, threads, maxBatch);
  }

  /**
   * Run the model on a float32 batch `shape = [N, ...]` (NHWC for polarcad exports) fed to the
   * single graph input (or to `inputName`). Batches larger than `maxBatch` are split and the
   * outputs concatenated along the batch axis. Calls are serialised on the one session.
   */
  run(
    input: Float32Array,
    shape: readonly number[],
    inputName?: string,
  ): Promise<Record<string, OnnxOutput>> {
    const task = this.queue.then(() => this.runNow(input, shape, inputName));
    this.queue = task.catch(() => undefined);
    return task;
  }

  private async runNow(
    input: Float32Array,
    shape: readonly number[],
    inputName?: string,
  ): Promise<Record<string, OnnxOutput>> {
    if (this.disposed) throw new Error('ONNX session: run() after dispose()');
    const name = inputName ?? this.inputNames[0];
    if (inputName === undefined && this.inputNames.length !== 1) {
      throw new InputError(
        `ONNX session: the model has ${this.inputNames.length} inputs (${this.inputNames.join(', ')}); name one`,
      );
    }
    if (!this.inputNames.includes(name))
      throw new InputError(`ONNX session: no input named "${name}" (has ${this.inputNames.join(', ')})`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d >= 0) || size !== input.length) {
      throw new InputError(
        `ONNX session: input of ${input.length} values does not match shape [${shape.join(', ')}]`,
      );
    }
    const n = shape[0];
    const per = n === 0 ? 0 : size / n;
    const parts: Record<string, OnnxOutput>[] = [];
    for (let start = 0; start < n || (n === 0 && start === 0); start += this.maxBatch) {
      const b = Math.min(this.maxBatch, n - start);
      const chunk = input.subarray(start * per, (start + b) * per);
      const feeds = { [name]: new ort.Tensor('float32', chunk, [b, ...shape.slice(1)]) };
      const res = await this.session.run(feeds);
      const out: Record<string, OnnxOutput> = {};
      for (const k of this.outputNames) {
        const t = res[k];
        if (t.type !== 'float32') throw new Error(`ONNX session: output ${k} is ${t.type}, expected float32`);
        out[k] = { data: t.data as Float32Array, dims: t.dims.map(Number) };
      }
      parts.push(out);
      if (n === 0) break;
    }
    if (parts.length === 1) return parts[0];
    const merged: Record<string, OnnxOutput> = {};
    for (const k of this.outputNames) {
      const total = parts.reduce((s, p) => s + p[k].data.length, 0);
      const data = new Float32Array(total);
      let off = 0;
      for (const p of parts) {
        data.set(p[k].data, off);
        off += p[k].data.length;
      }
      merged[k] = { data, dims: [n, ...parts[0][k].dims.slice(1)] };
    }
    return merged;
  }

  /** Release the native session. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue;
    await this.session.release();
  }
}
