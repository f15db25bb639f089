import type { ResourceLimits } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { RuntimeData } from '../wire/protocol.js';
import { idleFirst } from './balancer.js';
import { MessageQueue } from './message-queue.js';

/** How the dispatcher runs Piscina. All values already validated. */
export interface DispatcherConfig {
  runtimeFile: string;
  runtimeData: Omit<RuntimeData, 'board' | 'seats'>;
  maxWorkers: number;
  minWorkers: number;
  idleTimeoutMs: number;
  maxQueue: number;
  cancelGraceMs: number;
  execArgv: string[] | undefined;
  resourceLimits: ResourceLimits | undefined;
  env: Record<string, string> | undefined;
}

/** What a Piscina reports to the dispatcher that owns it. */
export interface PiscinaEvents {
  /** A worker failed while running no task (Piscina's `'error'`). */
  onError(error: unknown): void;
  /** A worker thread was created. */
  onWorkerCreate(threadId: number): void;
  /** A message a worker posted beside its tasks' results (protocol.ts). */
  onMessage(message: unknown): void;
  /** Whether only short tasks are in flight, so a short one may wait in a busy worker's inbox (balancer.ts). */
  onlyShortInFlight(): boolean;
}

/**
 * A Piscina for a pool: `tasksPerWorker` messages per worker at once, threadgate's runtime in
 * every worker with the task board and the seats in its `workerData`, and the pool's own queue
 * and balancer. `minThreads` 0 starts no worker (a broken pool's).
 */
export function startPiscina(
  config: DispatcherConfig,
  runtimeData: RuntimeData,
  tasksPerWorker: number,
  minThreads: number,
  events: PiscinaEvents,
): Piscina {
  const piscina = new Piscina({
    filename: config.runtimeFile,
    workerData: runtimeData,
    // At least one: Piscina replaces an exited worker only up to minThreads, and a task waiting
    // in its queue when the last worker dies would otherwise wait forever. Idle workers are
    // unref'd, so this one never keeps the process alive.
    minThreads,
    maxThreads: config.maxWorkers,
    idleTimeout: config.idleTimeoutMs,
    // Both tasks of a worker's slots go to the worker at once: it runs them one after the other
    // (the runtime queues the second), so it never sits idle waiting for the main thread to
    // hand over the next one. The balancer keeps the same bound.
    concurrentTasksPerWorker: tasksPerWorker,
    loadBalancer: idleFirst(config.maxWorkers, tasksPerWorker, events.onlyShortInFlight),
    stricterFIFO: true, // a task no worker can take yet goes back to the front of Piscina's queue, not the end
    taskQueue: new MessageQueue(), // tasks sent again after a death go first
    // Keep each worker's event loop turning between tasks: async acquires, progress ports and
    // timers of task code must keep working. (Piscina's default blocks it in Atomics.wait.)
    atomics: 'disabled',
    recordTiming: false,
    ...(config.execArgv ? { execArgv: config.execArgv } : {}),
    ...(config.resourceLimits ? { resourceLimits: config.resourceLimits } : {}),
    ...(config.env ? { env: config.env } : {}),
  });
  piscina.on('error', events.onError);
  piscina.on('workerCreate', (info: { id: number }) => events.onWorkerCreate(info.id));
  piscina.on('message', events.onMessage);
  return piscina;
}
