import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parentPort, threadId } from 'node:worker_threads';
import { closestName } from '../src/validate.js';
import { BATCH, EXITING, type ExitReport, FORBIDDEN_TASK_NAMES, LOADED, type LoadReport, type TaskMessage } from '../src/wire/protocol.js';
import { type SerializedError, serializeError } from '../src/wire/remote-error.js';
import { data, type TaskFunction } from './runtime-data.js';

/*
 * The user's module in this worker: registered TypeScript support, imported once, its
 * initializer run, the outcome reported to the pool (LoadReport); the tasks handed over before
 * that, and a `process.exit` while loading, reported too (ExitReport). Task names resolve to the
 * module's own exported functions only. runtime-extras.ts loads here too, on first need.
 */

let exports: Record<string, unknown> | undefined;
/** runtime-extras.ts, once a task has needed it. */
export let extrasModule: ExtrasModule | undefined;
let loadingExtras: Promise<void> | undefined;
let loading: Promise<void> | undefined;
/** Why the module could not load: every task fails with it. */
export let loadFailure: SerializedError | undefined;
/** Loading has ended, with `exports` or a `loadFailure`. */
export let loaded = false;
/** The tasks handed over before loading ended (see LoadReport.held). */
let heldWhileLoading: [slot: number, id: number][] = [];
const functions = new Map<string, TaskFunction>();

/** Only the module's own exported functions, never anything inherited or forbidden. */
export function lookup(name: string): TaskFunction {
  const cached = functions.get(name);
  if (cached !== undefined) return cached;
  const ns = exports as Record<string, unknown>;
  const value = Object.hasOwn(ns, name) && !FORBIDDEN_TASK_NAMES.has(name) ? ns[name] : undefined;
  if (typeof value !== 'function') {
    const available = Object.keys(ns).filter((k) => typeof ns[k] === 'function' && !FORBIDDEN_TASK_NAMES.has(k));
    const why =
      value === undefined
        ? 'is not exported by'
        : `is exported by ${typeof value === 'object' ? 'an object' : `a ${typeof value}`}, not a function, in`;
    const guess = value === undefined ? closestName(name, available) : undefined;
    const error = new TypeError(
      `task '${name}' ${why} the worker module ${data.moduleUrl}${guess ? ` (did you mean '${guess}'?)` : ''}; its exported functions are: ${available.join(', ') || '(none)'}`,
    ) as TypeError & { code: string };
    error.code = 'ERR_UNKNOWN_TASK';
    throw error;
  }
  functions.set(name, value as TaskFunction);
  return value as TaskFunction;
}

export type ExtrasModule = typeof import('./runtime-extras.js');

/** Loads runtime-extras.ts, once: before the first task with shared objects, callbacks or progress starts. */
export function loadExtras(): Promise<void> {
  loadingExtras ??= import('./runtime-extras.js').then((module) => {
    extrasModule = module;
  });
  return loadingExtras;
}

export function load(): Promise<void> {
  loading ??= (async () => {
    let stage = 'register TypeScript support (tsx) for';
    try {
      for (const loader of data.tsLoaders) {
        const { register } = (await import(loader)) as { register: () => unknown };
        register();
      }
      stage = 'load';
      const ns = (await import(data.moduleUrl)) as Record<string, unknown>;
      exports = commonJsExports(data.moduleUrl) ?? ns;
      if (data.initializer !== undefined) {
        stage = `run the initializer '${data.initializer}' of`;
        const init = lookup(data.initializer);
        let args = data.initArgs;
        if (data.initArgsRevive) {
          await loadExtras();
          args = (extrasModule as ExtrasModule).reviveHandles(args) as unknown[];
        }
        await init(...args);
      }
    } catch (error) {
      const serialized = serializeError(error);
      const hint = (error as { code?: string })?.code === 'ERR_UNKNOWN_FILE_EXTENSION' ? ` ${TS_HINT}` : '';
      loadFailure = {
        base: 'Error',
        name: 'Error',
        message: `could not ${stage} the worker module ${data.moduleUrl}: ${serialized.message}${hint}`,
        cause: serialized,
        props: { code: 'ERR_WORKER_MODULE' },
      };
    }
    loaded = true;
    heldWhileLoading = [];
    parentPort?.postMessage({ [LOADED]: true, threadId, ...(loadFailure ? { failure: loadFailure } : {}) } satisfies LoadReport);
  })();
  return loading;
}

export function holdWhileLoading([, slot, id, args]: TaskMessage): void {
  if (slot === BATCH) for (const [, s, i] of args as TaskMessage[]) heldWhileLoading.push([s, i]);
  else if (slot >= 0) heldWhileLoading.push([slot, id]);
}

/** Something called `process.exit` (the module or initializer while loading, or a task): say so before the thread ends. */
export function reportExit(exitCode: number): void {
  parentPort?.postMessage({ [EXITING]: true, threadId, exitCode, ...(loaded ? {} : { held: heldWhileLoading }) } satisfies ExitReport);
}

/**
 * A CommonJS module's tasks are the properties of its `module.exports`, as TypeScript types them.
 * Its import namespace is not enough: Node finds the names it can see by reading the code
 * (`exports.x = …`, `module.exports = { x }`), never ones an object gets at run time
 * (`api.x = …; module.exports = api`). Node loads a CommonJS module through `require`'s cache,
 * an ES module never: that is how the two are told apart.
 */
function commonJsExports(url: string): Record<string, unknown> | undefined {
  const require = createRequire(url);
  const exported: unknown = require.cache[require.resolve(fileURLToPath(url))]?.exports;
  return exported !== null && (typeof exported === 'object' || typeof exported === 'function')
    ? (exported as Record<string, unknown>)
    : undefined;
}

const TS_HINT =
  'To run a .ts worker module, start Node with a TypeScript loader (`tsx`, or `node --import tsx`), use Node >= 22.18 (type stripping), or point `module` at the compiled .js file.';
