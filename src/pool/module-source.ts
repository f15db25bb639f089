import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { ThreadgateError } from '../errors.js';
import { invalidType, invalidValue } from '../validate.js';
import { WORKER_MODULE_KEY } from '../wire/protocol.js';

/** Where the worker module is, and what its workers need to load it. */
export interface ModuleSource {
  url: string;
  /**
   * tsx's registration modules (its ESM and its CommonJS API) that the runtime registers in each
   * worker before importing the module; empty when none is needed.
   */
  tsLoaders: string[];
}

const TS_EXTENSION = /\.(?:ts|mts|cts|tsx)$/;

/**
 * Checks that the module exists, and works out whether its workers need a TypeScript loader.
 *
 * A `.ts` module needs one in every worker unless Node strips types itself (>= 22.18). Passing
 * `--import tsx` in a worker's flags is not enough: on Node 20 loader hooks from flags (the
 * parent's, inherited, or the worker's own) do not apply inside worker threads, which is why
 * `.ts` workers fail with ERR_UNKNOWN_FILE_EXTENSION in every pool. What does work, on every
 * version, is registering the hooks from inside the worker; so the runtime calls tsx's
 * `register()` itself, when tsx can be found. Otherwise the error says what to do.
 */
export function resolveModuleSource(module: unknown): ModuleSource {
  const given = toPath(module);
  const source = typeScriptSourceOf(given);
  const path = isFile(given) ? given : source !== undefined && isFile(source) ? source : undefined;
  if (path === undefined) {
    const nor = source === undefined ? '' : ` (nor at its TypeScript source ${source})`;
    throw invalidValue('options.module', module, `an existing worker module file; nothing is at ${given}${nor}`);
  }
  const url = pathToFileURL(path).href;
  if (!TS_EXTENSION.test(path) || nodeStripsTypes()) return { url, tsLoaders: [] };
  const tsLoaders = findTsxRegister(path);
  if (tsLoaders === undefined) {
    throw new ThreadgateError(
      'ERR_WORKER_MODULE',
      `the worker module ${path} is TypeScript, and its workers cannot load it: this Node (${process.version}) does not strip types and tsx is not installed. Install tsx (npm i -D tsx) and threadgate registers it in every worker, use Node >= 22.18, or point options.module at the compiled .js file.`,
    );
  }
  return { url, tsLoaders };
}

/** `.js`, `.mjs`, `.cjs`: compiled from `.ts`, `.mts`, `.cts`. */
const JS_EXTENSION = /\.([mc]?)js$/;

/**
 * TypeScript code names modules by the `.js` they compile to, so a `main.ts` run from source (by
 * tsx, or by Node's type stripping) that points at `new URL('./tasks.js', import.meta.url)` means
 * the `tasks.ts` next to it: the file to load when no `tasks.js` exists, as tsx and TypeScript
 * resolve imports.
 */
function typeScriptSourceOf(path: string): string | undefined {
  return JS_EXTENSION.test(path) ? path.replace(JS_EXTENSION, '.$1ts') : undefined;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function toPath(module: unknown): string {
  const allowed = 'a URL or a file: URL string or an absolute path of the worker module';
  if (module instanceof URL) {
    if (module.protocol !== 'file:') throw invalidValue('options.module', module.href, `${allowed} (only file: URLs can be loaded)`);
    return fileURLToPath(module);
  }
  if (typeof module !== 'string' || module === '') throw invalidType('options.module', module, allowed);
  if (module.startsWith('file:')) return fileURLToPath(module);
  if (!isAbsolute(module))
    throw invalidValue('options.module', module, `${allowed}; resolve relative paths first, e.g. new URL('./tasks.js', import.meta.url)`);
  return module;
}

function nodeStripsTypes(): boolean {
  return Boolean((process.features as { typescript?: string | false }).typescript);
}

/**
 * tsx's registration APIs (`tsx/esm/api` and `tsx/cjs/api`), looked up from the module's folder,
 * the working directory, then the tsx this process itself runs under (`npx tsx main.ts` with no
 * local tsx: its loader's path is in `execArgv`). Both are needed: in a package without
 * `"type": "module"` a `.ts` module is CommonJS, and Node's `require` must be taught TypeScript too.
 */
function findTsxRegister(modulePath: string): string[] | undefined {
  for (const from of [modulePath, join(process.cwd(), 'noop.js'), ...tsxLoadersOfThisProcess()]) {
    try {
      const manifest = createRequire(from).resolve('tsx/package.json');
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { exports?: Record<string, unknown> };
      const entries = ['./esm/api', './cjs/api'].map((api) => {
        const entry = pkg.exports?.[api] as { import?: string | { default?: string } } | undefined;
        const target = typeof entry?.import === 'string' ? entry.import : entry?.import?.default;
        return target && pathToFileURL(join(dirname(manifest), target)).href;
      });
      if (entries.every((entry) => entry)) return entries as string[];
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Files of the tsx this process runs under: its CLI starts Node with
 * `--require <tsx>/dist/preflight.cjs --import file://<tsx>/dist/loader.mjs`. From inside that
 * folder, `tsx/package.json` resolves to that very tsx.
 */
function tsxLoadersOfThisProcess(): string[] {
  const files: string[] = [];
  for (const arg of process.execArgv) {
    const value = arg.startsWith('--') && arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : arg;
    if (!/[\\/]tsx[\\/]/.test(value)) continue;
    try {
      files.push(value.startsWith('file:') ? fileURLToPath(value) : value);
    } catch {
      // not a path
    }
  }
  return files;
}

/**
 * A module that is both the main file and the worker module, with no `isMainThread` guard, makes
 * a pool in each of its workers, each of which makes one in each of its workers: threads without
 * end. A pool for the module its own thread was started for is refused, as Python's spawn
 * bootstrapping check refuses it; a pool made in a worker for another module is fine.
 */
export function checkNotOwnWorker(moduleUrl: string): void {
  if (isMainThread || (globalThis as { [WORKER_MODULE_KEY]?: string })[WORKER_MODULE_KEY] !== moduleUrl) return;
  throw new ThreadgateError(
    'ERR_POOL_IN_OWN_WORKER',
    `new WorkerPool({ module: ${moduleUrl} }) ran inside a worker of a pool for that same module: each worker would start a pool of its own, without end. Guard the code that makes the pool: \`if (isMainThread) { const pool = new WorkerPool(...) }\` (isMainThread from 'node:worker_threads'), or move the task functions into a module of their own.`,
  );
}
