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
});
