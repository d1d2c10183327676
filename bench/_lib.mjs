// Shared pieces of the benchmarks: a real server process on a temp data dir, signed-in clients.
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
const dist = (p) => path.join(ROOT, 'dist', p);

/** Temp dirs made by this run: removed when the process exits (a bench's data dir can be gigabytes). */
const made = new Set();
let cleanupHooked = false;

function removeTempDirs() {
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // A dir still busy (a server not yet gone) is left; the rest go.
    }
  }
  made.clear();
}

function hookCleanup() {
  if (cleanupHooked) return;
  cleanupHooked = true;
  process.once('exit', removeTempDirs);
  // Interrupted by the operator: clean up, then die of the same signal.
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      removeTempDirs();
      process.kill(process.pid, signal);
    });
  }
}

/** BENCH_KEEP=1 keeps the temp dirs (to look at a data dir after a run). */
export function tempDir(prefix = 'lectern-bench-') {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  if (process.env.BENCH_KEEP !== '1') {
    hookCleanup();
    made.add(dir);
  }
  return dir;
}

/** A data dir with the schema and `n` enrolled students (password "bench password 123"). */
export async function prepareData(n = 1) {
  const { openDatabase, databasePath } = await import(dist('db/open.js'));
  const { migrate } = await import(dist('db/migrate.js'));
  const { createUser, enrol } = await import(dist('plugins/accounts/users.js'));
  const { systemClock } = await import(dist('lib/clock.js'));
  const dataDir = tempDir();
  const db = openDatabase(databasePath(dataDir));
  migrate(db);
  const students = [];
  for (let i = 0; i < n; i++) {
    const email = `bench${i}@example.org`;
    const id = createUser(db, { email, name: `Bench Student ${i}`, password: 'bench password 123' }, systemClock);
    enrol(db, { userId: id, course: 'prog1', role: 'student' }, systemClock);
    students.push({ id, email, password: 'bench password 123' });
  }
  db.close();
  return { dataDir, students };
}

/** The demo course plus an assignment "bench" whose test runs `script` (sh), open now. */
export function contentWith(script, { maxUpload = '128MB' } = {}) {
  const dir = tempDir('lectern-bench-content-');
  cpSync(path.join(ROOT, 'examples/course'), dir, { recursive: true });
  const a = path.join(dir, 'assignments', 'bench');
  mkdirSync(path.join(a, 'tests'), { recursive: true });
  writeFileSync(
    path.join(a, 'assignment.yaml'),
    `title: Bench\nopens: 2020-01-01T00:00:00+00:00\ndeadline: 2099-01-01T00:00:00+00:00\nfiles: [answer.txt]\nmax_upload_size: ${maxUpload}\nmax_files: 1\ncounts: last\ntest:\n  command: [/bin/sh, tests/run.sh]\n  limits:\n    wall: 60s\n`,
  );
  writeFileSync(path.join(a, 'statement.md'), '# Bench\n');
  writeFileSync(path.join(a, 'tests', 'run.sh'), `#!/bin/sh\n${script}\n`);
  chmodSync(path.join(a, 'tests', 'run.sh'), 0o755);
  return dir;
}

/**
 * `nodeArgs`: flags for node itself, e.g. ['--cpu-prof'] (not allowed in NODE_OPTIONS).
 * BENCH_ENTRY=cli.js runs the unbundled server instead of dist/start.cjs, for comparison.
 */
export async function startServer(env, { nodeArgs = [] } = {}) {
  const child = spawn(process.execPath, [...nodeArgs, dist(process.env.BENCH_ENTRY ?? 'start.cjs'), 'serve'], {
    // No background self-check of the demo bundles (sandbox runs) unless a bench asks for it: it
    // would share the CPU with whatever the bench measures.
    env: { ...process.env, NODE_ENV: 'production', LECTERN_PORT: '0', LECTERN_LOG_LEVEL: 'warn', LECTERN_SELF_CHECK: 'no', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.setEncoding('utf8');
  const url = await new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += d;
      const m = /serving (http:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]);
    });
    child.once('exit', () => reject(new Error(`server exited: ${err}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    child,
    url,
    pid: child.pid,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Resident set size of a process in bytes (Linux). */
export function rss(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

/** A cookie-keeping client signed in through the real login form. */
export async function signIn(url, email, password) {
  const cookies = new Map();
  const keep = (res) => {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  };
  const cookie = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const csrfOf = (html) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
  let res = await fetch(`${url}/login`, { redirect: 'manual' });
  keep(res);
  let csrf = csrfOf(await res.text());
  res = await fetch(`${url}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: cookie(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrf, email, password }),
  });
  keep(res);
  if (res.status !== 302) throw new Error(`sign-in failed: ${res.status}`);
  res = await fetch(`${url}/account`, { headers: { cookie: cookie() } });
  keep(res);
  csrf = csrfOf(await res.text());
  return { cookie, csrf: () => csrf };
}

export function writeResults(name, summary) {
  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: os.cpus().length, loadavg: os.loadavg(), ...summary }, null, 2)}\n`);
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
}

export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
}

/**
 * Load from a separate process: autocannon's CLI as a child, its --json summary parsed. A load
 * generator inside the bench process would share a core with nothing, but inside the server's
 * process it would steal the server's CPU; a child keeps the three apart.
 */
export async function loadTest(url, { connections = 20, seconds = 5, headers = {}, pid } = {}) {
  const args = [path.join(ROOT, 'node_modules/autocannon/autocannon.js'), '--json', '-n', '-c', String(connections), '-d', String(seconds)];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}=${v}`);
  args.push(url);
  const cpuBefore = pid ? cpuSeconds(pid) : 0;
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const code = await new Promise((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`autocannon exited with ${code}: ${err}`);
  const r = JSON.parse(out);
  const cpu = pid ? cpuSeconds(pid) - cpuBefore : NaN;
  return {
    /** Server CPU time (user + system, all its processes) per answered request, in microseconds. */
    cpuUsPerRequest: pid ? (cpu * 1e6) / Math.max(1, r.requests.total) : NaN,
    requestsPerSecond: r.requests.average,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    requests: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    bytesPerSecond: r.throughput.average,
  };
}

/**
 * The reference: a bare node:http server in its own process answering each path with a fixed
 * body (`bodies`: path -> Buffer | string) and the content type given, nothing else. With
 * `{ koa: true }` the same answers come through a one-middleware Koa app: the framework's floor.
 */
export async function startBareServer(bodies, { koa = false } = {}) {
  const dir = tempDir('lectern-bench-bare-');
  const table = {};
  for (const [p, { body, type }] of Object.entries(bodies)) {
    const file = path.join(dir, `${Object.keys(table).length}.bin`);
    writeFileSync(file, body);
    table[p] = { file, type };
  }
  const script = `
    const http = require('node:http');
    const fs = require('node:fs');
    const table = ${JSON.stringify(table)};
    const bodies = {};
    for (const [p, { file, type }] of Object.entries(table)) bodies[p] = { body: fs.readFileSync(file), type };
    const handler = ${koa}
      ? (() => {
          const Koa = require(${JSON.stringify(path.join(ROOT, 'node_modules/koa'))});
          const app = new Koa();
          app.use(async (ctx) => {
            const hit = bodies[ctx.url];
            if (!hit) return;
            ctx.type = hit.type;
            ctx.body = hit.body;
          });
          return app.callback();
        })()
      : (req, res) => {
          const hit = bodies[req.url];
          if (!hit) { res.statusCode = 404; res.end(); return; }
          res.setHeader('content-type', hit.type);
          res.setHeader('content-length', hit.body.length);
          res.end(hit.body);
        };
    const server = http.createServer(handler);
    server.keepAliveTimeout = 5000;
    server.listen(0, '127.0.0.1', () => process.stdout.write('port ' + server.address().port + '\\n'));
    process.on('SIGTERM', () => process.exit(0));
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      buf += d;
      const m = /port (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (c) => reject(new Error(`bare server exited with ${c}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * CPU seconds (user + system) used so far by a process and its descendants (a cluster's
 * workers), from /proc. Less sensitive than requests/s to other load on a shared machine.
 */
export function cpuSeconds(pid) {
  const tick = 100; // USER_HZ on Linux
  let total = 0;
  const seen = new Set();
  const visit = (p) => {
    if (seen.has(p)) return;
    seen.add(p);
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / tick;
      for (const task of readdirSync(`/proc/${p}/task`)) {
        for (const c of readFileSync(`/proc/${p}/task/${task}/children`, 'utf8').split(' ').filter(Boolean)) visit(Number(c));
      }
    } catch {
      // The process ended meanwhile.
    }
  };
  visit(pid);
  return total;
}

/** About a second and a half of CPU in the sandbox per run: the grading benches' test. */
export const CPU_TEST = `i=0; s=0; while [ $i -lt 400000 ]; do s=$((s + i * i)); i=$((i + 1)); done; echo "$s" > /dev/null`;

/** Submits n answers to the "bench" assignment as one student, one after another. */
export async function submitAll(url, client, n) {
  for (let i = 0; i < n; i++) {
    const form = new FormData();
    form.append('files', new Blob([`answer ${i}\n`]), 'answer.txt');
    const res = await fetch(`${url}/courses/prog1/assignments/bench/submissions?_csrf=${encodeURIComponent(client.csrf())}`, {
      method: 'POST',
      headers: { cookie: client.cookie(), accept: 'application/json' },
      body: form,
    });
    if (res.status !== 201) throw new Error(`submission ${i} answered ${res.status}: ${await res.text()}`);
  }
}

/** Jobs finished, results recorded (and for how many distinct jobs and graders), read from the data dir. */
export async function gradingState(dataDir) {
  const { openDatabase, databasePath } = await import(dist('db/open.js'));
  const db = openDatabase(databasePath(dataDir));
  try {
    const jobs = db.prepare("SELECT count(*) AS n FROM jobs WHERE state IN ('done', 'error')").get().n;
    const r = db.prepare('SELECT count(*) AS n, count(DISTINCT job_id) AS distinctJobs, count(DISTINCT worker) AS workers, avg(duration_ms) AS runMs FROM results').get();
    return { jobs, results: r.n, distinctJobs: r.distinctJobs, workersUsed: r.workers, meanRunMs: Math.round(r.runMs ?? 0) };
  } finally {
    db.close();
  }
}

/** Submits a burst of n and waits until every job has finished; the figures of the drain. */
export async function drainBurst(url, client, dataDir, n) {
  const started = Date.now();
  await submitAll(url, client, n);
  const acceptedMs = Date.now() - started;
  let state;
  for (;;) {
    state = await gradingState(dataDir);
    if (state.jobs >= n) break;
    if (Date.now() - started > 15 * 60_000) throw new Error(`not drained: ${JSON.stringify(state)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const seconds = (Date.now() - started) / 1000;
  return { n, seconds, acceptedMs, jobsPerMinute: (n / seconds) * 60, ...state, lost: n - state.results };
}
