// Sandbox start-up in an assignment's environment (a custom root filesystem) against the host's
// /usr, the same command alternating between the two. `npm run build && node bench/run.mjs sandbox-root`
// (BENCH_ROOT_RUNS=N, default 41). The root is a small `docker save` image unpacked as the
// environments plugin's OCI path leaves it (test/helpers/oci-image.ts), so the figure is the
// sandbox's own cost of a different /, not a build.
import { chmodSync } from 'node:fs';
import path from 'node:path';
import { tsImport } from 'tsx/esm/api';
import { createSandbox } from '../dist/lib/sandbox/index.js';
import { memoryLogger } from '../dist/lib/logger.js';
import { median, percentile, tempDir, writeResults } from './_lib.mjs';

export async function main() {
  const runs = Number(process.env.BENCH_ROOT_RUNS ?? 41);
  const { makeImage } = await tsImport('../test/helpers/oci-image.ts', import.meta.url);
  const dir = tempDir('lectern-bench-root-');
  await makeImage(dir);
  // The sandbox user passes through to the root when the bench runs as root.
  chmodSync(dir, 0o755);
  const root = path.join(dir, 'rootfs');
  const sandbox = createSandbox({ unsafe: false, log: memoryLogger().log });
  const times = { host: [], root: [] };
  for (let i = 0; i < runs; i++) {
    for (const kind of i % 2 ? ['root', 'host'] : ['host', 'root']) {
      const started = performance.now();
      const r = await sandbox.run({ command: ['/usr/bin/cat', '/etc/hostname'], ...(kind === 'root' ? { root } : {}) });
      times[kind].push(performance.now() - started);
      if (r.status !== 'ok') throw new Error(`${kind} run: ${r.status} ${r.message ?? ''}`);
    }
  }
  const summary = {
    runs,
    hostMedianMs: median(times.host),
    hostP90Ms: percentile(times.host, 90),
    rootMedianMs: median(times.root),
    rootP90Ms: percentile(times.root, 90),
    ratio: median(times.root) / median(times.host),
  };
  console.log(`host /usr:   median ${summary.hostMedianMs.toFixed(1)} ms, p90 ${summary.hostP90Ms.toFixed(1)} ms`);
  console.log(`custom root: median ${summary.rootMedianMs.toFixed(1)} ms, p90 ${summary.rootP90Ms.toFixed(1)} ms`);
  console.log(`ratio custom root / host: ${summary.ratio.toFixed(2)} (${runs} runs each, alternating)`);
  writeResults('sandbox-root', summary);
}
