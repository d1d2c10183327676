import { defineConfig } from 'vitest/config';
import type { Reporter, TestModule } from 'vitest/node';

/**
 * Ends the run with one plain line, "N passed, N failed[, N skipped]", that any CI log reader
 * understands (vitest's own summary is decorated for terminals), after the slowest files: the
 * suite must stay under 15 minutes on 2 cores, and this says where its time goes.
 */
const plainSummary: Reporter = {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors) {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const mod of testModules) {
      if (mod.state() === 'failed' && [...mod.children.allTests()].length === 0) failed++;
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
    }
    failed += unhandledErrors.length;
    const slowest = testModules
      .map((mod) => ({ file: mod.relativeModuleId, s: mod.diagnostic().duration / 1000 }))
      .sort((a, b) => b.s - a.s)
      .slice(0, 8);
    process.stdout.write(`\nslowest files: ${slowest.map((m) => `${m.file} ${m.s.toFixed(0)} s`).join(', ')}\n`);
    process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  },
};

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
    reporters: ['default', plainSummary],
  },
});
