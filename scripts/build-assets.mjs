// The second half of `npm run build`, after tsc: what tsc does not emit. The serve page's files
// (src/serve/static) go beside the compiled server (dist/serve/static), so an installed package
// serves its page without the sources; the command-line entry becomes executable.
import { chmodSync, cpSync } from 'node:fs';

cpSync('src/serve/static', 'dist/serve/static', { recursive: true });
chmodSync('dist/cli/bin.js', 0o755);
