/**
 * Compiling the kernels' WebAssembly text (WAT, SIMD enabled) to a wasm binary with `wabt`, the one
 * way the SIMD kernels (adam_simd.ts, depthwise_simd.ts, gemm_simd.ts, fused_simd.ts) build their
 * modules; and {@link heapModule}, the one way a module that works in tfjs-backend-wasm's own heap is
 * instantiated once per backend.
 */
import wabt from 'wabt';

/**
 * Parse, validate and encode the WAT `text` (`fileName` names it in wabt's error messages).
 * @throws wabt's parse or validation error
 * @example const bytes = await compileWat('adam_simd.wat', ADAM_WAT);
 */
export async function compileWat(fileName: string, text: string): Promise<Uint8Array> {
  const w = await wabt();
  const mod = w.parseWat(fileName, text, { simd: true });
  try {
    mod.validate();
    return mod.toBinary({}).buffer;
  } finally {
    mod.destroy();
  }
}

/** The parts of the WebAssembly JS API used here (the project's `lib` has no WebAssembly types). */
interface WasmApi {
  instantiate(
    bytes: Uint8Array,
    imports: Record<string, Record<string, unknown>>,
  ): Promise<{ instance: { exports: Record<string, unknown> } }>;
}

/** The heap of a tfjs wasm backend: emscripten's module with its `WebAssembly.Memory`. */
interface WasmBackendLike {
  wasm?: { asm?: { memory?: { buffer: ArrayBuffer } } };
}

/** tfjs-backend-wasm's `WebAssembly.Memory`, or null when `backend` is not a wasm backend. */
export function tfjsWasmMemory(backend: unknown): object | null {
  const mem = (backend as WasmBackendLike | null)?.wasm?.asm?.memory;
  return mem !== undefined && mem.buffer instanceof ArrayBuffer ? mem : null;
}

/** A WAT module that imports tfjs-backend-wasm's heap as `tfjs.memory`, instantiated per backend. */
export interface HeapModule<T> {
  /** Compile and instantiate over `backend`'s heap once; later calls return the same promise. Rejects when `backend` is not wasm. */
  load(backend: unknown): Promise<T>;
  /** What {@link load} gave for `backend` once it has completed, else null. */
  get(backend: unknown): T | null;
}

/**
 * The loader of a WAT module working in tfjs-backend-wasm's heap: `pick` takes what the caller
 * needs from the instance's exports; `who` names the loader in the not-wasm error.
 * @example const adam = heapModule('loadAdamSimd', 'adam_simd.wat', ADAM_WAT, (e) => e.adam as AdamKernel);
 */
export function heapModule<T>(
  who: string,
  fileName: string,
  wat: string,
  pick: (exports: Record<string, unknown>) => T,
): HeapModule<T> {
  const ready = new WeakMap<object, T>();
  const loading = new WeakMap<object, Promise<T>>();
  const load = (backend: unknown): Promise<T> => {
    const memory = tfjsWasmMemory(backend);
    if (memory === null)
      return Promise.reject(new Error(`${who}: not a tfjs wasm backend (no Module.asm.memory)`));
    const existing = loading.get(memory);
    if (existing !== undefined) return existing;
    const p = (async (): Promise<T> => {
      const bytes = await compileWat(fileName, wat);
      const api = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
      const { instance } = await api.instantiate(bytes, { tfjs: { memory } });
      const m = pick(instance.exports);
      ready.set(memory, m);
      return m;
    })();
    loading.set(memory, p);
    p.catch(() => loading.delete(memory));
    return p;
  };
  const get = (backend: unknown): T | null => {
    const memory = tfjsWasmMemory(backend);
    return memory === null ? null : (ready.get(memory) ?? null);
  };
  return { load, get };
}
