// Sandbox start-up overhead: the same command run N times inside the sandbox and directly with
// child_process, one after the other. `npm run build && node bench/sandbox.mjs [N]`.
// Prints median and p90 wall time per figure and the median overhead (target: at most 25 ms).
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createSandbox } from '../dist/lib/sandbox/index.js';
import { memoryLogger } from '../dist/lib/logger.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const TARGET_MS = 25;

function direct(command) {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin' } });
    child.stdout.resume();
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command.join(' ')} exited with ${code}`))));
  });
}

function quantile(sorted, q) {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

/** Runs the two variants alternately, so that load from elsewhere on the machine hits both alike. */
async function measurePair(n, a, b) {
  for (let i = 0; i < 3; i++) {
    await a();
    await b();
  }
  const times = { a: [], b: [] };
  for (let i = 0; i < n; i++) {
    for (const [key, once] of [['a', a], ['b', b]]) {
      const t0 = performance.now();
      await once();
      times[key].push(performance.now() - t0);
    }
  }
  const stats = (list) => {
    list.sort((x, y) => x - y);
    return { median: quantile(list, 0.5), p90: quantile(list, 0.9) };
  };
  return { a: stats(times.a), b: stats(times.b) };
}

const fmt = (ms) => `${ms.toFixed(1)} ms`;

export async function main(options = {}) {
  const n = options.n ?? 50;
  const { log } = memoryLogger('warn');
  const sandbox = createSandbox({ unsafe: false, log });
  if (sandbox.unsafe || /disabled/.test(sandbox.describe())) throw new Error(`no real sandbox here: ${sandbox.describe()}`);
  console.log(`sandbox: ${sandbox.describe()}`);
  const commands = { true: ['/bin/true'], python: ['/usr/bin/python3', '-c', 'pass'] };
  const summary = { n, targetMs: TARGET_MS, sandbox: sandbox.describe(), loadAverage: os.loadavg(), figures: {} };
  for (const [name, command] of Object.entries(commands)) {
    const { a: plain, b: boxed } = await measurePair(
      n,
      () => direct(command),
      async () => {
        const r = await sandbox.run({ command });
        if (r.status !== 'ok' || r.exitCode !== 0) throw new Error(`${command.join(' ')} in the sandbox: ${r.status} ${r.message ?? ''} ${r.stderr}`);
      },
    );
    const overhead = boxed.median - plain.median;
    console.log(`${name} direct:   median ${fmt(plain.median)}, p90 ${fmt(plain.p90)} (n=${n})`);
    console.log(`${name} sandbox:  median ${fmt(boxed.median)}, p90 ${fmt(boxed.p90)} (n=${n})`);
    console.log(`${name} overhead: median +${fmt(overhead)} (target at most ${TARGET_MS} ms: ${overhead <= TARGET_MS ? 'met' : 'MISSED'})`);
    summary.figures[name] = { command, direct: plain, sandbox: boxed, overheadMedianMs: overhead, targetMet: overhead <= TARGET_MS };
  }
  const outDir = path.join(here, 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'sandbox.json'), `${JSON.stringify({ date: new Date().toISOString(), ...summary }, null, 2)}\n`);
  return summary;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const n = Number(process.argv[2]) || undefined;
  main({ n }).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
