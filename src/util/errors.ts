/**
 * An error caused by the user's input (a file, a manifest row, an option). The CLI prints its
 * message without a stack trace and exits with `exitCode`. Messages name the file, row or field.
 */
export class InputError extends Error {
  readonly exitCode: number;
  constructor(message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'InputError';
    this.exitCode = options?.exitCode ?? 2;
  }
}

/** Several input problems reported at once (for example every bad row of a manifest). */
export class InputErrors extends InputError {
  readonly problems: readonly string[];
  constructor(summary: string, problems: readonly string[]) {
    super(`${summary}\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'InputErrors';
    this.problems = problems;
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
