import { describe, expect, it } from 'vitest';
import { createSandbox, sandboxAvailable } from '../../src/lib/sandbox/index.js';
import { memoryLogger } from '../../src/lib/logger.js';

/**
 * Without a delegated cgroup, the memory limit still holds for the whole process tree of a run:
 * the server sums the resident memory of every process of the sandbox and kills it at the cap.
 */
const MiB = 1024 * 1024;

describe.runIf(sandboxAvailable())('the tree-wide memory limit without cgroups', () => {
  const sandbox = createSandbox({ unsafe: false, log: memoryLogger().log, cgroup: false });

  it('says so in its description (shown on the dashboard)', () => {
    expect(sandbox.describe()).toContain("whole process tree's resident memory watched by the server");
  });

  it('kills four processes of 100 MB each under a limit of 256 MB, and reports memory', async () => {
    const hog = 'import time\nb = b"x" * (100 * 1024 * 1024)\nopen("started-" + str(__import__("os").getpid()), "w").close()\ntime.sleep(20)\n';
    const result = await sandbox.run({
      command: ['/bin/sh', '-c', 'for i in 1 2 3 4; do python3 hog.py & done; wait; echo all-finished'],
      files: { 'hog.py': hog },
      limits: { memoryBytes: 256 * MiB, wallMs: 60_000, cpuSeconds: 60, processes: 64 },
    });
    expect(result.stdout).not.toContain('all-finished');
    expect(result.status).toBe('memory');
    expect(result.message).toContain('together');
  }, 90_000);

  it('lets a tree that stays under the limit finish', async () => {
    const result = await sandbox.run({
      command: ['/bin/sh', '-c', 'for i in 1 2; do python3 -c "b = b\'x\' * (40 * 1024 * 1024)" & done; wait; echo all-finished'],
      limits: { memoryBytes: 256 * MiB, wallMs: 60_000, cpuSeconds: 60, processes: 64 },
    });
    expect(result.stdout).toContain('all-finished');
    expect(result.status).toBe('ok');
  }, 90_000);
});
