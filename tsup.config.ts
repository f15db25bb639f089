import { defineConfig } from 'tsup';

// One build for both module systems. The worker runtime and the built-in workloads are entries
// too: Piscina loads `dist/runtime.js` in every worker, and ESM code splitting makes the runtime
// and `threadgate` share one copy of SharedSemaphore, so `instanceof` holds inside workers.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    worker: 'src/worker.ts',
    runtime: 'workers/runtime.ts',
    workloads: 'workers/workloads.ts',
  },
  format: ['esm', 'cjs'],
  target: 'node20',
  platform: 'node',
  dts: { entry: { index: 'src/index.ts', worker: 'src/worker.ts', workloads: 'workers/workloads.ts' } },
  sourcemap: true,
  clean: true,
  shims: true,
  splitting: true,
});
