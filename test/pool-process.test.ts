import { describe, expect, it } from 'vitest';
import { runChild } from './helpers.js';

describe('WorkerPool: process lifetime', () => {
  it('a process that creates a pool, runs tasks and shuts down exits by itself within a second', async () => {
    const run = await runChild('exit-child.mjs', 15_000);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('done'); // its last words, written after shutdown()
    expect(run.exitedAt - run.lastOutputAt).toBeLessThan(1_000);
  });

  it('regression: a task whose outcome came before its progress reports holds the process open until they arrive', async () => {
    // The exit code was 13 (an unsettled top-level await): the port bringing the reports is unref'd.
    const run = await runChild('progress-wait-child.ts', 15_000, ['--import', 'tsx']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(JSON.stringify(['ahead of the outcome', 'with the outcome']));
  });
});
