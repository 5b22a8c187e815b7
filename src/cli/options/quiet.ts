/**
 * `--quiet`: no progress output (no bar, no progress lines, no closing summary); errors are still
 * reported. Shared by the commands that print progress (`train`, `prepare`).
 */
import type { OptionSpec } from './parse.js';

/** The option's flags and help text. */
export const QUIET_OPTION: OptionSpec = ['--quiet', 'no progress output'];
