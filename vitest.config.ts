import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: system tests (sandbox, restart, browser) spawn their own processes.
    maxWorkers: 2,
    fileParallelism: true,
    reporters: ['default'],
  },
});
