import { defineConfig } from 'vitest/config';

// GPU tests share one software adapter on a 2-core machine: run files one at a time in a
// single worker so Dawn instances do not fight over the CPU (and timings stay sane).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    setupFiles: ['test/setup.ts'],
  },
});
