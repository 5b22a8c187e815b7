/**
 * The fastest two-stage CNN run a test can train: `polarcad train --model cnn` with MobileNetV2 at
 * random weights (`--weights none`, nothing to load), a small input and a few epochs (seconds).
 */

/** Options of {@link tinyCnnTrainArgs}; everything else is `polarcad train`'s default. */
export interface TinyCnnRun {
  readonly inputSize?: number;
  readonly warmupEpochs?: number;
  readonly finetuneEpochs?: number;
  readonly cacheDir: string;
  /** more flags, e.g. ['--test-manifest', csv] or ['--colormap', table] */
  readonly extra?: readonly string[];
}

/**
 * `polarcad train` arguments of a tiny CNN run of `manifest` into `out`.
 * @example const r = await cli(tinyCnnTrainArgs(manifest, join(dir, 'run'), { cacheDir: join(dir, 'cache') }));
 */
export function tinyCnnTrainArgs(manifest: string, out: string, o: TinyCnnRun): string[] {
  return [
    'train',
    manifest,
    '--model',
    'cnn',
    '--backbone',
    'MobileNetV2',
    '--weights',
    'none',
    '--input-size',
    String(o.inputSize ?? 64),
    '--out',
    out,
    '--warmup-epochs',
    String(o.warmupEpochs ?? 2),
    '--finetune-epochs',
    String(o.finetuneEpochs ?? 1),
    '--batch-size',
    '8',
    '--cache-dir',
    o.cacheDir,
    ...(o.extra ?? []),
    '--quiet',
  ];
}
