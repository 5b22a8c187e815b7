/**
 * Compiling the kernels' WebAssembly text (WAT, SIMD enabled) to a wasm binary with `wabt`, the one
 * way the SIMD kernels (adam_simd.ts, depthwise_simd.ts, gemm_simd.ts) build their modules.
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
