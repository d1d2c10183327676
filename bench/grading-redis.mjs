// Grading throughput in Redis mode: jobs per minute with 1, 2 and 4 `lectern worker` processes
// (one job at a time each) behind a real web server, with a private redis-server on loopback.
// The same CPU-bound test as bench/grading.mjs, so the figures compare with the embedded queue.
// Needs Debian's redis-server (/usr/bin/redis-server) and `npm run build`.
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CPU_TEST, contentWith, drainBurst, prepareData, signIn, startServer, tempDir, writeResults, ROOT } from './_lib.mjs';

const REDIS = '/usr/bin/redis-server';
const JOBS = Number(process.env.BENCH_REDIS_JOBS ?? 24);
// About a second and a half of CPU in the sandbox per run (as in bench/grading.mjs).

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function startProcess(cmd, args, env, ready) {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const started = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} ${args.join(' ')} did not start: ${out}`)), 30_000);
    const check = () => {
      if (ready(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.once('exit', () => reject(new Error(`${cmd} exited: ${out}`)));
  });
  return {
    child,
    started,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function run(workers, n) {
  const redisDir = tempDir('lectern-bench-redis-');
  const port = await freePort();
  const redis = startProcess(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--dir', redisDir, '--save', '', '--appendonly', 'no'], process.env, (o) => o.includes('Ready to accept connections'));
  await redis.started;
  const queue = `redis://127.0.0.1:${port}`;
  const { dataDir, students } = await prepareData(1);
  const content = contentWith(CPU_TEST);
  const server = await startServer({ LECTERN_DATA: dataDir, LECTERN_CONTENT: content, LECTERN_QUEUE: queue, LECTERN_REDIS_SYNC_MS: '500' });
  const procs = [];
  try {
    for (let i = 0; i < workers; i++) {
      const cache = tempDir('lectern-bench-worker-');
      const w = startProcess(
        process.execPath,
        [path.join(ROOT, 'dist/start.cjs'), 'worker'],
        { ...process.env, NODE_ENV: 'production', LECTERN_QUEUE: queue, LECTERN_DATA: cache, LECTERN_WORKER_NAME: `bench${i + 1}`, LECTERN_WORKER_CONCURRENCY: '1', LECTERN_LOG_LEVEL: 'warn' },
        (o) => o.includes('Lectern worker'),
      );
      procs.push({ w, cache });
      await w.started;
    }
    const client = await signIn(server.url, students[0].email, students[0].password);
    return { workers, ...(await drainBurst(server.url, client, dataDir, n)) };
  } finally {
    for (const { w } of procs) await w.stop();
    await server.stop();
    await redis.stop();
    for (const { cache } of procs) rmSync(cache, { recursive: true, force: true });
    rmSync(redisDir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(content, { recursive: true, force: true });
  }
}

/**
 * Each configuration runs twice, in turn (1, 2, 4, 1, 2, 4), and the better run counts: on a
 * shared machine other load comes and goes, and it only ever slows a run down. The mean wall time
 * of one sandbox run shows how much of a slowdown is CPU contention rather than the queue.
 */
export async function main() {
  if (!existsSync(REDIS)) throw new Error(`${REDIS} is missing: apt-get install redis-server`);
  const counts = [1, 2, 4];
  const all = [];
  for (let round = 0; round < 2; round++) for (const workers of counts) all.push(await run(workers, JOBS));
  const best = counts.map((w) => all.filter((r) => r.workers === w).sort((a, b) => b.jobsPerMinute - a.jobsPerMinute)[0]);
  for (const r of best) {
    console.log(
      `grading via Redis, cpu-bound, ${r.workers} worker process${r.workers === 1 ? '' : 'es'}: ${r.jobsPerMinute.toFixed(1)} jobs/min (${r.n} jobs in ${r.seconds.toFixed(1)} s, ${(r.jobsPerMinute / best[0].jobsPerMinute).toFixed(2)}x of 1; mean run ${r.meanRunMs} ms; ${r.workersUsed} used), results ${r.results}, lost ${r.lost}, doubled ${r.results - r.distinctJobs}`,
    );
  }
  writeResults('grading-redis', { jobs: JOBS, test: 'cpu-bound sh loop in the sandbox, one job at a time per worker process', best, runs: all });
  if (all.some((r) => r.lost !== 0 || r.results !== r.distinctJobs)) throw new Error('jobs were lost or doubled');
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
