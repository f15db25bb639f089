import { readFileSync } from 'node:fs';
import type { CaseResult, GroupOptions } from '../harness.js';

/** What every suite gets from the runner. */
export interface SuiteContext {
  quick: boolean;
  /** Worker counts to sweep (--workers), default 1..availableParallelism()+1. */
  workers: number[];
  /** Worker count for single-setting comparisons: availableParallelism(). */
  cores: number;
  /**
   * A group's options. `rounds`: 8 in a full run, 1 in a quick one, unless given. `timeMs` and
   * `iterations` here are each case's budget and least number of samples for the whole group,
   * split evenly across its rounds (at least one sample a round).
   */
  group: (overrides?: Partial<GroupOptions>) => GroupOptions;
  progress: (label: string) => void;
}

export type Suite = (ctx: SuiteContext) => Promise<CaseResult[]>;

export const workerFile = (name: string): URL => new URL(`../workers/${name}`, import.meta.url);

/**
 * CPU time this thread has run, in ns (Linux: /proc/thread-self/schedstat), or undefined where
 * that is not available. On the main thread, it is what a pool takes from the event loop of the
 * service that uses it: work no worker thread can take over.
 */
export function threadCpuNs(): number | undefined {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
  } catch {
    return undefined;
  }
}
