/**
 * The one place that initialises TensorFlow.js. Everything that needs tensors calls
 * `await initBackend()` first and imports `tf` from here (or from '@tensorflow/tfjs', same instance).
 *
 * The WebAssembly backend is used by default (SIMD binary). Under Node the `.wasm` binaries are
 * read from the installed `@tensorflow/tfjs-backend-wasm/dist` folder through the file system:
 * no network access is ever needed. Our convolution-gradient kernels (`kernels/`) are registered
 * for the wasm backend here, so every caller gets them. Multi-threaded wasm needs browser workers (Blob URLs), which
 * Node's emscripten glue cannot start, so the single-threaded SIMD binary is selected.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { loadAdamSimd } from './kernels/adam_simd.js';
import { loadDepthwiseSimd, loadFusedSimd, registerWasmGradientKernels } from './kernels/index.js';

export { tf };

/** Backends polarcad can run on. */
export type BackendName = 'wasm' | 'cpu';

let pending: Promise<BackendName> | null = null;
let pendingName: BackendName | null = null;

/** Absolute folder (with trailing separator) that holds the tfjs-backend-wasm `.wasm` binaries. */
export function wasmBinaryFolder(): string {
  const require = createRequire(import.meta.url);
  const main = require.resolve('@tensorflow/tfjs-backend-wasm');
  return path.dirname(main) + path.sep;
}

/**
 * Initialise TensorFlow.js on `name` ('wasm' by default). Idempotent: calling it again with the
 * same backend returns the same promise; calling it with another backend switches to it.
 * @returns the active backend name.
 */
export function initBackend(name: BackendName = 'wasm'): Promise<BackendName> {
  if (pending !== null && pendingName === name) return pending;
  pendingName = name;
  pending = (async (): Promise<BackendName> => {
    if (name === 'wasm') {
      // Threads need Blob-URL workers (browser only); SIMD is fine in Node 20.
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      setWasmPaths(wasmBinaryFolder());
    }
    const ok = await tf.setBackend(name);
    if (!ok) throw new Error(`TensorFlow.js backend '${name}' failed to initialise`);
    await tf.ready();
    // The stock wasm backend lacks fast convolution gradients; ours make fine-tuning practical.
    if (name === 'wasm') {
      await loadDepthwiseSimd();
      await loadAdamSimd(tf.backend()); // the fused optimiser update (src/train/adam.ts)
      await loadFusedSimd(tf.backend()); // activation and BatchNorm kernels (kernels/fused.ts)
      registerWasmGradientKernels();
    }
    return tf.getBackend() as BackendName;
  })();
  pending.catch(() => {
    pending = null;
    pendingName = null;
  });
  return pending;
}
