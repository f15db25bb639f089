import { defineConfig } from 'tsup';

const shared = {
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  shims: true,
} as const;

// Three builds. ESM is split into shared chunks: Piscina loads `dist/runtime.js` in every worker
// (CommonJS apps included), which loads `runtime-extras.js` when a task needs it, and splitting
// makes that and `threadgate` share one copy of SharedSemaphore, so `instanceof` holds inside
// workers. The runtime itself is one file (the third build, below). CommonJS is not split: tsup splits it by
// running the chunks through sucrase, which also lowers class fields and `?.` into helper calls
// (a no-op submit cost 7-8% more, both builds in one process) and renames classes (`_class`).
// Its entries share nothing that needs one copy: what they share, they share through global
// symbols, and SharedSemaphore's `instanceof` accepts any copy's. (`npm run build`
// empties dist first: a `clean` in each build would race with the other.)
export default defineConfig([
  {
    ...shared,
    entry: {
      index: 'src/index.ts',
      worker: 'src/worker.ts',
      cluster: 'src/cluster/index.ts',
      'runtime-extras': 'workers/runtime-extras.ts',
      workloads: 'workers/workloads.ts',
    },
    format: ['esm'],
    // comlink has no `exports` map, so a bare import gets its UMD build through the CommonJS loader:
    // ~11 ms more of every worker's start than its ES module (the CommonJS build keeps the UMD one).
    noExternal: [/^comlink$/], // left to the plugin below, which keeps it external under its new name
    esbuildPlugins: [
      {
        name: 'comlink-esm',
        setup: (build) => {
          build.onResolve({ filter: /^comlink$/ }, () => ({ path: 'comlink/dist/esm/comlink.mjs', external: true }));
        },
      },
    ],
    dts: { entry: { index: 'src/index.ts', worker: 'src/worker.ts', cluster: 'src/cluster/index.ts', workloads: 'workers/workloads.ts' } },
    splitting: true,
  },
  {
    ...shared,
    // The worker runtime, in one file: each further file a worker imports at its start costs it
    // ~1-1.5 ms (the ES module loader's per-file work), and the shared chunks it would import
    // are five. What it loads at start shares nothing that needs one copy (its state lives in
    // global symbols, as between the ESM and CommonJS builds); what does, the shared gates and
    // callbacks it revives, it loads later from the split build's runtime-extras.js.
    entry: { runtime: 'workers/runtime.ts' },
    format: ['esm'],
    splitting: false,
    esbuildPlugins: [
      {
        name: 'runtime-extras-external',
        setup: (build) => {
          build.onResolve({ filter: /\/runtime-extras\.js$/ }, () => ({ path: './runtime-extras.js', external: true }));
        },
      },
    ],
  },
  {
    ...shared,
    entry: { index: 'src/index.ts', worker: 'src/worker.ts', cluster: 'src/cluster/index.ts', workloads: 'workers/workloads.ts' },
    format: ['cjs'],
    dts: true,
    splitting: false,
  },
]);
