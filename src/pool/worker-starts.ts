import type { Piscina } from 'piscina';
import { ThreadgateError, WorkerCrashedError } from '../errors.js';
import type { ExitReport, LoadReport, RuntimeData, TaskMessage } from '../wire/protocol.js';
import { deserializeError } from '../wire/remote-error.js';
import type { InFlight } from './in-flight.js';
import { ModuleLoad } from './module-load.js';
import type { PoolCounters } from './stats.js';
import type { Task } from './task.js';
import type { WorkerRegistry } from './worker-registry.js';

/** Workers in a row that fail to start, leaving none alive, before the waiting tasks are failed. */
const MAX_START_FAILURES = 3;
/** A message that asks Piscina for a worker and makes the runtime do nothing (no board slot). */
const PROBE: TaskMessage = ['', -1, -1, undefined];

/** What the dispatcher lends to {@link WorkerStarts}. */
export interface StartsHost {
  readonly inFlight: InFlight;
  readonly workers: WorkerRegistry;
  readonly counters: PoolCounters;
  readonly runtimeData: Pick<RuntimeData, 'moduleUrl' | 'initializer'>;
  /** The Piscina of the moment (`startOver` swaps it). */
  piscina(): Piscina;
  destroyed(): boolean;
  /** Tasks are queued or in flight. */
  hasWork(): boolean;
  /** Fails every task that has not started. */
  cancelQueued(error: (task: Task) => Error, countAs: 'failed'): void;
  /** Swaps Piscina for a fresh one with `minThreads` workers, rejecting what the old one held. */
  startOver(minThreads?: number): void;
}

/**
 * Whether workers can start and load the module, and what happens when they cannot: `ready()`
 * (module-load.ts), a module that calls `process.exit` while loading (its worker's tasks fail
 * with the module's error; after 3 such workers in a row the pool is broken, as Python's
 * `BrokenProcessPool`), and workers that fail to start at all (the waiting tasks fail rather
 * than wait forever).
 */
export class WorkerStarts {
  readonly #host: StartsHost;
  readonly #moduleLoad = new ModuleLoad();
  /** Set once the module has ended `MAX_START_FAILURES` workers in a row while loading: every task fails with it. */
  #broken: Error | undefined;
  /** Workers in a row that failed to start and left no worker alive. */
  #failures = 0;
  #probing = false;

  constructor(host: StartsHost) {
    this.#host = host;
  }

  /** Why the pool is broken (every task fails with it), or undefined. */
  get broken(): Error | undefined {
    return this.#broken;
  }

  /** See `Dispatcher.ready`. */
  ready(onClose: () => Error): Promise<void> {
    return this.#moduleLoad.whenReady(this.#host.destroyed(), onClose);
  }

  /** The pool is closing: `ready()` callers are answered. */
  close(): void {
    this.#moduleLoad.close();
  }

  /** A worker started: whatever failed before was not permanent. */
  workerCreated(): void {
    this.#failures = 0;
  }

  /** A worker has finished loading the module: loaded, or failed (it lives on and fails each task with the error). */
  loaded({ failure }: LoadReport): void {
    if (failure === undefined) this.#moduleLoad.succeeded();
    else this.#moduleLoad.failed(deserializeError(failure));
  }

  /**
   * A worker is ending by `process.exit`: a crash (see `threadgate:worker:exit`). While loading
   * the module, the module or its initializer called it: the tasks the worker held fail with the
   * module's error instead of running again on the next worker it would kill too, and after
   * `MAX_START_FAILURES` such workers in a row the pool is broken.
   */
  exiting({ threadId, exitCode, held }: ExitReport): void {
    const host = this.#host;
    host.workers.endingBySelf(threadId);
    if (held === undefined) return;
    const { moduleUrl, initializer } = host.runtimeData;
    const error = Object.assign(
      new ThreadgateError(
        'ERR_WORKER_MODULE',
        `the worker module ${moduleUrl}${initializer ? ` (or its initializer '${initializer}')` : ''} called process.exit(${exitCode}) while loading, which ends the worker: throw an error instead, or guard the exit with \`isMainThread\``,
      ),
      { exitCode },
    );
    for (const [slot, id] of held) {
      const task = host.inFlight.find(slot, id);
      if (task !== undefined) task.loadFailure = error;
    }
    if (this.#moduleLoad.endedWhileLoading(error, MAX_START_FAILURES)) this.#break(error);
  }

  /** A worker failed while running no task (Piscina's `'error'`): warned about, never thrown. */
  workerFailed(error: unknown): void {
    this.#host.counters.crashedWorkers++;
    process.emitWarning(`a threadgate worker failed while running no task: ${String((error as Error)?.message ?? error)}`, {
      code: 'THREADGATE_WORKER_ERROR',
      detail: (error as Error)?.stack,
    });
    setImmediate(() => this.#checkAlive(error)); // once Piscina has replaced the worker, or not
  }

  /** Asks Piscina for a worker (every message it holds waits for one that never started). */
  probe(): void {
    if (this.#probing) return;
    this.#probing = true;
    const done = (): void => {
      this.#probing = false;
    };
    const piscina = this.#host.piscina();
    piscina.run(PROBE).then(done, () => piscina === this.#host.piscina() && done());
  }

  /**
   * The module ends every worker that loads it: stop starting workers (Piscina would replace each
   * one for good), and fail every task now and later with why.
   */
  #break(error: Error): void {
    this.#broken = error;
    this.#host.cancelQueued(() => error, 'failed');
    this.#host.startOver(0);
  }

  /**
   * Piscina stops replacing workers once one fails while starting, and then waits for a run()
   * that may never come (the dispatcher calls run() only as tasks finish): with no worker
   * left, the waiting tasks would wait forever. Ask for a new worker a few times; if none
   * starts, fail every waiting task with the cause, so each one settles.
   */
  #checkAlive(cause: unknown): void {
    const host = this.#host;
    if (host.destroyed() || host.piscina().threads.length > 0) return;
    this.#probing = false; // an earlier probe waits in Piscina's queue for a worker that is not coming
    if (!host.hasWork()) return;
    if (++this.#failures < MAX_START_FAILURES) {
      this.probe();
      return;
    }
    this.#failures = 0;
    host.cancelQueued((task) => new WorkerCrashedError(task.spec.fn, { cause, startFailed: MAX_START_FAILURES }), 'failed');
    this.#moduleLoad.failed(cause instanceof Error ? cause : new Error(String(cause)));
    host.startOver();
  }
}
