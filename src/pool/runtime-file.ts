import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ThreadgateError } from '../errors.js';

// A path, not a URL: Piscina converts a file: URL back to a path on every run() call.
export const RUNTIME_FILE = fileURLToPath(new URL('./runtime.js', import.meta.url));

/**
 * The worker runtime ships beside this code in threadgate's `dist/`. A bundler that folds
 * threadgate into an app's own file leaves it behind, and every worker would fail to start.
 */
export function checkRuntimeFile(): void {
  if (existsSync(RUNTIME_FILE)) return;
  throw new ThreadgateError(
    'ERR_WORKER_RUNTIME',
    `threadgate's worker runtime is not at ${RUNTIME_FILE}, beside the code that made this pool: was threadgate bundled into your app? Keep it external to the bundle (esbuild --external:threadgate, webpack externals, rollup external), so that it loads from node_modules with its dist/ files.`,
  );
}
