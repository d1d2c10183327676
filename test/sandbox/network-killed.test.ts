// System test: a program that tries the network and is then ended by a limit (the wall clock,
// the CPU limit, memory, the output cap) still has its attempts counted. The counters are read by
// the sandbox's pid 1 after every other process is dead, on the server's kills too.
import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../src/lib/logger.js';
import { createSandbox, sandboxAvailable, type SandboxLimits } from '../../src/lib/sandbox/index.js';

const MiB = 1024 * 1024;
const LIMITS: Partial<SandboxLimits> = {
  wallMs: 4000,
  cpuSeconds: 1,
  memoryBytes: 128 * MiB,
  processes: 16,
  outputBytes: 64 * 1024,
  workDirBytes: 8 * MiB,
};
const { log } = memoryLogger('warn');
const sandbox = createSandbox({ unsafe: false, log, defaults: LIMITS });

/** Python that tries 10.1.2.3:80 (by address) or a name (through the sandbox's resolver), then does `then`. */
function tryNetwork(how: 'address' | 'name', then: string): string[] {
  const attempt =
    how === 'address'
      ? 'import socket\ns = socket.socket()\ntry:\n    s.connect(("10.1.2.3", 80))\nexcept OSError:\n    pass\n'
      : 'import socket\ntry:\n    socket.getaddrinfo("example.com", 80)\nexcept OSError:\n    pass\n';
  return ['python3', '-c', `${attempt}${then}\n`];
}

const ENDINGS = {
  // Sleeps: only the server's wall-clock timer ends it.
  wall: { code: 'import time\nwhile True: time.sleep(1)', status: 'timeout' },
  cpu: { code: 'while True: pass', status: 'timeout' },
  memory: { code: 'a = []\nwhile True: a.append(bytearray(10**7))', status: 'memory' },
  // Four processes, each under the per-process data limit, together past the memory limit: the
  // server's watchdog (or the run's cgroup) kills the sandbox.
  memoryTree: {
    code: 'import os, time\nfor _ in range(4):\n    if os.fork() == 0:\n        a = [bytearray(10**7) for _ in range(10)]\n        time.sleep(1000)\ntime.sleep(1000)',
    status: 'memory',
  },
  output: { code: 'import sys\nwhile True: sys.stdout.write("x" * 65536)', status: 'output_limit' },
} as const;

describe.skipIf(!sandboxAvailable())('network attempts of runs ended by a limit', () => {
  for (const how of ['address', 'name'] as const) {
    for (const [ending, { code, status }] of Object.entries(ENDINGS)) {
      it(`by ${how}, then ${ending}: the limit's verdict and the attempts counted`, async () => {
        const result = await sandbox.run({ command: tryNetwork(how, code) });
        expect(result.status, result.message).toBe(status);
        expect(result.networkAttempts).toBeGreaterThan(0);
      }, 60_000);
    }
  }

  it('a run killed by a limit without touching the network counts none', async () => {
    const result = await sandbox.run({ command: ['python3', '-c', ENDINGS.wall.code] });
    expect(result.status).toBe('timeout');
    expect(result.networkAttempts).toBe(0);
  }, 60_000);

  it('a killed run collects no files (its own report comes only from pid 1)', async () => {
    const result = await sandbox.run({
      command: ['sh', '-c', 'echo forged > results.json; (setsid sleep 1000 &); exec sleep 1000'],
      collect: ['results.json'],
      limits: { wallMs: 1500 },
    });
    expect(result.status).toBe('timeout');
    expect(result.files).toEqual({});
    expect(result.networkAttempts).toBe(0);
  }, 60_000);
});
