import { whenAborted } from '../abort-listeners.js';
import { abortErrorFrom, PoolClosedError } from '../errors.js';
import type { RanOutcome, TaskExtras } from '../wire/protocol.js';
import { type PreparedArguments, prepareArguments, refusedValueIndex, type TransferItem } from './arguments.js';
import type { ResolvedCallOptions } from './call-options.js';
import type { CallbackChannels } from './callback.js';
import type { Dispatcher } from './dispatcher.js';
import { argumentLists, type ChunkRunner, ItemRefused } from './map/chunk-runner.js';
import { callListener } from './progress.js';
import type { Carried, Task, TaskSpec } from './task.js';

/** What a call sends beside its task spec, and how its caller listens and cancels. */
export interface CallParts {
  extras: TaskExtras | undefined;
  transfer: TransferItem[] | undefined;
  callbacks: CallbackChannels | undefined;
  onProgress: ((value: unknown) => void) | undefined;
  signal: AbortSignal | undefined;
}

/**
 * A call or a map chunk, made into a task spec and handed to the dispatcher: what its message
 * carries (extras, its progress id, callbacks' ports, transfer list) and how it is freed, its
 * progress listener, its cancellation by signal.
 */
export class Submissions {
  readonly #dispatcher: Dispatcher;

  constructor(dispatcher: Dispatcher) {
    this.#dispatcher = dispatcher;
  }

  /**
   * Submits one call: what its message carries, its progress to `onProgress` (a listener that
   * throws fails the call: it is stopped and rejects with that error), cancelled when `signal`
   * aborts. `settle` runs once, after the signal is no longer watched.
   */
  call(spec: Omit<TaskSpec, keyof Carried>, parts: CallParts): Task {
    const { onProgress, signal } = parts;
    /** What the listener threw: it fails the call, also when it throws at a report that came with the result. */
    let listenerError: Error | undefined;
    const listener = onProgress
      ? (value: unknown) =>
          callListener(onProgress, value, (error) => {
            listenerError ??= error;
            this.#dispatcher.cancel(task, error, 'failed');
          })
      : undefined;
    let unwatch: (() => void) | undefined;
    const progress = listener && this.#dispatcher.progress.open(listener);
    const settleCaller = spec.settle; // not `spec`: a cancelled task's arguments must not stay reachable from here
    const settle: TaskSpec['settle'] = (error, outcome, reached) => {
      unwatch?.();
      if (error !== undefined || listenerError === undefined) {
        settleCaller(error, outcome, reached);
        return;
      }
      // The listener threw at a report that came with the result: the call fails with its error.
      if (outcome?.[3] === undefined) this.#dispatcher.failedAfterOutcome();
      settleCaller(listenerError, undefined, reached);
    };
    // Written out, not spread: every task spec keeps one shape, on which the dispatcher's hot path stays fast.
    const task: Task = this.#dispatcher.submit({
      fn: spec.fn,
      args: spec.args,
      mapIndex: spec.mapIndex,
      ...carried(parts.extras, progress, parts.transfer, parts.callbacks),
      timeoutMs: spec.timeoutMs,
      priority: spec.priority,
      short: spec.short,
      settle: progress === undefined ? settle : this.#afterProgress(progress, settle),
    });
    if (signal) unwatch = whenAborted(signal, () => this.#dispatcher.cancel(task, abortErrorFrom(signal)));
    return task;
  }

  /**
   * `settle`, called once the task's progress has all reached its listener (ProgressRouter.end),
   * or at once for a task that ended without an outcome (its reports still on their way are dropped).
   */
  #afterProgress(progress: number, settle: TaskSpec['settle']): TaskSpec['settle'] {
    const router = this.#dispatcher.progress;
    return (error, outcome, reached) => {
      if (error !== undefined || outcome === undefined) {
        router.close(progress);
        settle(error, outcome, reached);
        return;
      }
      const delivered = router.end(progress, outcome[6]);
      if (delivered === undefined) settle(error, outcome, reached);
      else void delivered.then(() => settle(error, outcome, reached));
    };
  }

  /** How a map over this pool (`call`'s options; `spread` for starmap) sends its chunks, each as one task. */
  chunkRunner(call: ResolvedCallOptions, name: string, spread: boolean, workers: number, closed: () => boolean): ChunkRunner {
    return {
      workers,
      taskName: name,
      hasRoom: () => this.#dispatcher.hasRoom(),
      whenRoom: () => this.#dispatcher.whenRoom(),
      run: ({ items: chunk, first: firstIndex, short, timeoutMs, cutAfterMs }, onProgress, settle) => {
        if (closed()) throw new PoolClosedError();
        const label = (i: number): string => `item ${firstIndex + i}`;
        const { lists, refusal } = argumentLists(chunk, spread, label);
        let prepared: PreparedArguments;
        try {
          prepared = prepareArguments(name, lists, label);
        } catch (error) {
          throw new ItemRefused(refusedValueIndex(error), error as Error);
        }
        if (refusal !== undefined) {
          prepared.callbacks?.close();
          throw refusal;
        }
        const extras: TaskExtras = { ...callExtras(prepared.revive, call.context), items: prepared.values };
        if (spread) extras.spread = true;
        if (cutAfterMs !== undefined) extras.cutAfterMs = cutAfterMs;
        const progress = onProgress && this.#dispatcher.progress.open(onProgress);
        const task = this.#dispatcher.submit({
          fn: name,
          args: undefined,
          mapIndex: firstIndex,
          priority: call.priority,
          ...carried(extras, progress, undefined, prepared.callbacks),
          timeoutMs,
          short,
          settle: progress === undefined ? settle : this.#afterProgress(progress, settle),
        });
        return { cancel: (error) => this.#dispatcher.cancel(task, error) };
      },
    };
  }
}

export const EMPTY: RanOutcome = [[], 0, 0];

/** A call's extras for what it revives and its context: none for a plain call, the common case. */
export function callExtras(revive: boolean, context: unknown): TaskExtras | undefined {
  if (!revive && context === undefined) return undefined;
  const extras: TaskExtras = {};
  if (revive) extras.revive = true;
  if (context !== undefined) extras.context = context;
  return extras;
}

/**
 * What a task's message carries beside its arguments: its extras, with its progress id when the
 * caller listens; what moves (the caller's transfer list, the callbacks' ports); and how to free them.
 */
function carried(
  extras: TaskExtras | undefined,
  progress: number | undefined,
  transfer: TransferItem[] | undefined,
  callbacks: CallbackChannels | undefined,
): Carried {
  return {
    extras: progress === undefined ? extras : { ...extras, progress },
    transfer: transferList(transfer, callbacks),
    release: callbacks && (() => callbacks.close()),
  };
}

/** What moves with a task: the caller's transfer list and the callbacks' ports. */
function transferList(transfer: TransferItem[] | undefined, callbacks: CallbackChannels | undefined): TransferItem[] | undefined {
  if (callbacks === undefined) return transfer;
  return transfer ? [...transfer, ...callbacks.ports] : [...callbacks.ports];
}
