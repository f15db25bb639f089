import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('WorkerPool: process lifetime', () => {
  it('a process that creates a pool, runs tasks and shuts down exits by itself within a second', async () => {
    const script = fileURLToPath(new URL('./fixtures/exit-child.mjs', import.meta.url));
    const child = spawn(process.execPath, [script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let doneAt = 0;
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('done')) doneAt ||= performance.now();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d;
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the child did not exit within 15 s; stdout: ${out}; stderr: ${err}`));
      }, 15_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    const exitedAfter = performance.now() - doneAt;
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toContain('done');
    expect(exitedAfter).toBeLessThan(1_000);
  });
});
