import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests import 'threadgate' as users do: the built package in dist/ (`npm test` builds first),
// whose worker runtime is what Piscina loads in every worker.
//
// Two tiers (test/README.md). `behaviour` is `npm test`: every file, each seeded or looped test at
// a scale that catches a regression in seconds. `stress` is `npm run test:stress`: the files in
// test/stress/ again, with many seeds, rounds and property runs (test/tier.ts reads the tier).
export default defineConfig({
  resolve: {
    alias: {
      'threadgate/cluster': fileURLToPath(new URL('./dist/cluster.js', import.meta.url)),
      'threadgate/worker': fileURLToPath(new URL('./dist/worker.js', import.meta.url)),
      'threadgate/workloads': fileURLToPath(new URL('./dist/workloads.js', import.meta.url)),
      threadgate: fileURLToPath(new URL('./dist/index.js', import.meta.url)),
    },
  },
  test: {
    // Generous: a wait inside a test has its own, tighter bound that names what it waited for.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: run test files two at a time so timing-sensitive checks are not starved.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'behaviour',
          include: ['test/**/*.test.ts'],
          env: { THREADGATE_TIER: 'behaviour' },
          typecheck: { enabled: true, include: ['test/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
        },
      },
      {
        extends: true,
        test: {
          name: 'stress',
          include: ['test/stress/**/*.test.ts'],
          env: { THREADGATE_TIER: 'stress' },
          testTimeout: 300_000,
        },
      },
    ],
  },
});
