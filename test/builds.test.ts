import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as esm from 'threadgate';
import * as clusterEsm from 'threadgate/cluster';
import { describe, expect, it } from 'vitest';
import { tasksPool, within } from './helpers.js';

/** The package as a CommonJS app loads it: `require('threadgate')`. */
const cjs = createRequire(import.meta.url)(fileURLToPath(new URL('../dist/index.cjs', import.meta.url))) as typeof esm;
const clusterCjs = createRequire(import.meta.url)(fileURLToPath(new URL('../dist/cluster.cjs', import.meta.url))) as typeof clusterEsm;

describe('the ESM and CommonJS builds', () => {
  it('name every exported class as it is exported (logs, stack traces and constructor.name show it)', () => {
    for (const [build, exports] of [
      ['esm', esm],
      ['cjs', cjs],
      ['cluster esm', clusterEsm],
      ['cluster cjs', clusterCjs],
    ] as const) {
      for (const [name, value] of Object.entries(exports)) {
        if (typeof value === 'function') expect(`${build} ${value.name}`).toBe(`${build} ${name}`);
      }
    }
  });

  it('a SharedSemaphore or SharedRateLimiter of either build is an instance for both, a subclass checks as usual', async () => {
    const semaphore = new esm.SharedSemaphore(2);
    const limiter = new cjs.SharedRateLimiter({ maxConcurrent: 1 });
    expect(semaphore instanceof cjs.SharedSemaphore && limiter instanceof esm.SharedRateLimiter).toBe(true);
    expect(semaphore instanceof cjs.SharedRateLimiter || limiter instanceof esm.SharedSemaphore).toBe(false);
    class Named extends esm.SharedSemaphore {}
    expect(new Named(1) instanceof Named && new Named(1) instanceof cjs.SharedSemaphore).toBe(true);
    expect(semaphore instanceof Named).toBe(false);

    // In a CommonJS worker module, the arguments the (ESM) runtime revived.
    type Kinds = { semaphore: boolean; limiter: boolean; crossed: boolean; plain: boolean; name: string };
    const pool = tasksPool<{ kinds(semaphore: esm.SharedSemaphore, limiter: esm.SharedRateLimiter): Kinds }>({
      module: new URL('./fixtures/commonjs-shared.cjs', import.meta.url),
      maxWorkers: 1,
    });
    expect(await within(10_000, pool.submit('kinds', semaphore, new esm.SharedRateLimiter({ maxConcurrent: 1 })))).toEqual({
      semaphore: true,
      limiter: true,
      crossed: false,
      plain: false,
      name: 'SharedSemaphore',
    });
  });

  it('a worker loads no more than it needs: comlink as an ES module (not its UMD build), no node:crypto', async () => {
    // Each cost every worker's start ~10 ms (comlink's UMD build comes through the CommonJS loader).
    const pool = tasksPool<{ loaded(): { commonJs: string[]; builtins: string[] } }>({
      module: new URL('./fixtures/loaded.mjs', import.meta.url),
      maxWorkers: 1,
      execArgv: [],
    });
    const { commonJs, builtins } = await within(10_000, pool.submit('loaded'));
    expect(commonJs.some((path) => path.includes('piscina'))).toBe(true); // the list is the worker's
    expect(commonJs.filter((path) => path.includes('comlink'))).toEqual([]);
    expect(builtins).toContain('NativeModule worker_threads');
    expect(builtins.filter((name) => /\bcrypto\b/.test(name))).toEqual([]);
  });
});
