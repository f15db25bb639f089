import { type Piscina, type PiscinaTask, queueOptionsSymbol } from 'piscina';
import type { TaskMessage } from '../wire/protocol.js';
import { type QueueOptions, queueOptionsOf } from './message-queue.js';
import type { Task } from './task.js';

/*
 * Where a message waits for a worker: the options Piscina's queue and balancer read off it, and
 * the balancer that places it.
 */

const SHORT: QueueOptions = Object.freeze({ short: true });

/**
 * Gives a message its queue options (a symbol key: not cloned): a short task's, for the balancer;
 * a task's sent again, or of a priority other than 0, for Piscina's queue (MessageQueue). Others
 * need none.
 */
export function markForQueue(message: TaskMessage, first: Task): void {
  const { short, priority } = first.spec;
  let options: QueueOptions | undefined = short ? SHORT : undefined;
  if (first.retries > 0) options = { short, retryOf: first.id };
  if (priority !== 0) options = { ...options, short, priority };
  if (options !== undefined) Object.defineProperty(message, queueOptionsSymbol, { value: options });
}

type LoadBalancer = NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer'] & {};

/**
 * Piscina's balancer for this pool: a task goes to an idle worker. Only a short task (a map
 * chunk) may go to a busy one, and only when every worker the pool may have is running and every
 * task in flight is short: it waits in that worker's inbox and starts the moment the task before
 * it ends, a few milliseconds later. Any other task waits in Piscina's queue for whichever worker
 * frees first, and a short one never waits behind a task of unknown length.
 */
export function idleFirst(maxWorkers: number, tasksPerWorker: number, onlyShortInFlight: () => boolean): LoadBalancer {
  return (task: PiscinaTask, workers) => {
    let busy: (typeof workers)[number] | null = null;
    for (const worker of workers) {
      if (worker.currentUsage === 0) return worker;
      if (worker.currentUsage < tasksPerWorker && (busy === null || worker.currentUsage < busy.currentUsage)) busy = worker;
    }
    return queueOptionsOf(task)?.short === true && workers.length >= maxWorkers && onlyShortInFlight() ? busy : null;
  };
}
