import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests import 'threadgate' as users do: the built package in dist/ (`npm test` builds first),
// whose worker runtime is what Piscina loads in every worker.
export default defineConfig({
  resolve: {
    alias: {
      'threadgate/worker': fileURLToPath(new URL('./dist/worker.js', import.meta.url)),
      'threadgate/workloads': fileURLToPath(new URL('./dist/workloads.js', import.meta.url)),
      threadgate: fileURLToPath(new URL('./dist/index.js', import.meta.url)),
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // Two cores: run test files one or two at a time so timing-sensitive checks are not starved.
    maxWorkers: 2,
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
  },
});
