import type { CaseResult, GroupOptions } from '../harness.js';

/** What every suite gets from the runner. */
export interface SuiteContext {
  quick: boolean;
  /** Worker counts to sweep (--workers), default 1..availableParallelism()+1. */
  workers: number[];
  /** Worker count for single-setting comparisons: availableParallelism(). */
  cores: number;
  group: (overrides?: Partial<GroupOptions>) => GroupOptions;
  progress: (label: string) => void;
}

export type Suite = (ctx: SuiteContext) => Promise<CaseResult[]>;

export const workerFile = (name: string): URL => new URL(`../workers/${name}`, import.meta.url);
