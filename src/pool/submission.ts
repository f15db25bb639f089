import type { MessagePort } from 'node:worker_threads';
import { whenAborted } from '../abort-listeners.js';
import { abortErrorFrom, PoolClosedError } from '../errors.js';
import type { RanOutcome, TaskExtras } from '../wire/protocol.js';
import { type PreparedArguments, prepareArguments, refusedValueIndex, type TransferItem } from './arguments.js';
import type { ResolvedCallOptions } from './call-options.js';
import type { CallbackChannels } from './callback.js';
import type { Dispatcher } from './dispatcher.js';
import { argumentLists, type ChunkRunner, ItemRefused } from './map/chunk-runner.js';
import { callListener, openProgressChannel } from './progress.js';
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
 * carries (extras, progress port, callbacks' ports, transfer list) and how it is freed, its
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
    const listener = onProgress
      ? (value: unknown) => callListener(onProgress, value, (error) => void this.#dispatcher.cancel(task, error, 'failed'))
      : undefined;
    let unwatch: (() => void) | undefined;
    const settle = spec.settle;
    // Written out, not spread: every task spec keeps one shape, on which the dispatcher's hot path stays fast.
    const task: Task = this.#dispatcher.submit({
      fn: spec.fn,
      args: spec.args,
      mapIndex: spec.mapIndex,
      ...carried(parts.extras, listener, parts.transfer, parts.callbacks),
      timeoutMs: spec.timeoutMs,
      priority: spec.priority,
      short: spec.short,
      settle: (error, outcome, reached) => {
        unwatch?.();
        settle(error, outcome, reached);
      },
    });
    if (signal) unwatch = whenAborted(signal, () => this.#dispatcher.cancel(task, abortErrorFrom(signal)));
    return task;
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
        const task = this.#dispatcher.submit({
          fn: name,
          args: undefined,
          mapIndex: firstIndex,
          priority: call.priority,
          ...carried(extras, onProgress, undefined, prepared.callbacks),
          timeoutMs,
          short,
          settle,
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
 * What a task's message carries beside its arguments: its extras, with a progress port when the
 * caller listens; what moves (the caller's transfer list, the progress port, the callbacks'
 * ports); and how to free them. When the progress port is all that moves, `reopen` makes it anew
 * for a second delivery (see `TaskSpec.reopen`).
 */
function carried(
  extras: TaskExtras | undefined,
  onProgress: ((value: unknown) => unknown) | undefined,
  transfer: TransferItem[] | undefined,
  callbacks: CallbackChannels | undefined,
): Carried {
  if (onProgress === undefined)
    return { extras, transfer: transferList(transfer, undefined, callbacks), release: callbacks && (() => callbacks.close()) };
  const progress = openProgressChannel(onProgress);
  const parts: Carried = {
    extras: { ...extras, progress: progress.port },
    transfer: transferList(transfer, progress.port, callbacks),
    release: () => {
      progress.close();
      callbacks?.close();
    },
  };
  if (transfer === undefined && callbacks === undefined) parts.reopen = () => carried(extras, onProgress, undefined, undefined);
  return parts;
}

/** What moves with a task: the caller's transfer list, the progress port, the callbacks' ports. */
function transferList(
  transfer: TransferItem[] | undefined,
  progress: MessagePort | undefined,
  callbacks: CallbackChannels | undefined,
): TransferItem[] | undefined {
  if (progress === undefined && callbacks === undefined) return transfer;
  const list = transfer ? [...transfer] : [];
  if (progress) list.push(progress);
  if (callbacks) list.push(...callbacks.ports);
  return list;
}
