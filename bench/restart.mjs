// A restart under load, in each way the server can be run (node bench/restart.mjs [run ...]):
//   plain               deploy/webservice runs the server, which binds the port itself; between the
//                       old process closing the port and the new one binding it, connections are refused.
//   socket              the same loop handed a listening socket, as systemd's lectern.socket does
//                       (and lectern.service, which runs the loop); connections wait in its queue.
//   socket-job          the same, with a long test run (8 s) grading when the restart comes: the
//                       old server hands its job back and the loop starts the next server as soon as
//                       the old one stops accepting.
//   systemd-job         a unit running node itself (no loop), emulated: a holder keeps the socket
//                       and starts the service again only after the old process exited and what was
//                       left of it was killed (Restart=always, KillMode=mixed); 8 s job grading.
//   cluster-job         the same with LECTERN_WORKERS=2; cluster-socket-job: a cluster under the loop.
// Clients: keep-alive and fresh-connection loops on GET /healthz for a few seconds, a POST /restart
// (with the token) in the middle. With a job, the job must then be graded once by the new server.
// Needs dist/ (npm run build). Writes bench/results/restart.json.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { contentWith, prepareData, signIn } from './_lib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WEBSERVICE = path.join(ROOT, 'deploy/webservice');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Seconds since boot, and when a process started on the same scale (Linux: /proc, 100 ticks a second). */
function uptimeNow() {
  return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
}
function startedAtUptime(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]) / 100;
  } catch {
    return null;
  }
}

/** The parent of a process (Linux: /proc), cached: a pid is not reused within one run. */
const parents = new Map();
function parentOf(pid) {
  if (!parents.has(pid)) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    parents.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
  }
  return parents.get(pid);
}

function get(url, agent) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers: agent ? {} : { connection: 'close' }, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode, pid: JSON.parse(body).pid });
        } catch (err) {
          reject(err);
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => {
      err.reused = req.reusedSocket;
      reject(err);
    });
  });
}

async function waitForPid(url, notPid, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await get(`${url}/healthz`, false);
      if (r.status === 200 && r.pid !== notPid) return r.pid;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`no server answered at ${url} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** The loop with its output to a file instead of syslog. */
function loggerStandIn(dir) {
  const file = path.join(dir, 'log');
  const program = path.join(dir, 'logger');
  writeFileSync(
    program,
    `#!/bin/sh\ntag=user\nwhile [ $# -gt 0 ]; do case $1 in -t) tag=$2; shift 2;; *) shift;; esac; done\n` +
      `while IFS= read -r line || [ -n "$line" ]; do printf '%s: %s\\n' "$tag" "$line"; done >> '${file}'\n`,
  );
  chmodSync(program, 0o755);
  return { program, file };
}

/**
 * systemd's lectern.socket + lectern.service (Restart=always, RestartSec=100ms, KillMode=mixed),
 * emulated: a holder owns the listening socket and never accepts on it; it starts the service
 * with the socket as fd 3 (LISTEN_FDS=1, LISTEN_PID its pid), and starts it again only after the
 * main process exited and whatever else was left in its process group (systemd's cgroup) was
 * killed. Writes one line per start and exit to `events` (a JSON line each).
 */
const HOLDER = String.raw`
const { spawn } = require('node:child_process');
const { appendFileSync } = require('node:fs');
const { command, args, env, events, restartMs } = JSON.parse(process.env.HOLDER_SPEC);
delete process.env.HOLDER_SPEC;
let child = null;
let stopping = false;
const note = (e) => appendFileSync(events, JSON.stringify({ ...e, at: Date.now() }) + '\n');
function groupGone(pgid) {
  try { process.kill(-pgid, 0); return false; } catch { return true; }
}
function start() {
  child = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"', command, ...args], {
    env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 3], detached: true,
  });
  const pid = child.pid;
  note({ event: 'started', pid });
  child.on('exit', (code, signal) => {
    note({ event: 'exited', pid, code, signal });
    child = null;
    // KillMode=mixed: what is left of the unit is killed; the next start waits for it to be gone.
    try { process.kill(-pid, 'SIGKILL'); } catch {}
    const next = () => {
      if (!groupGone(pid)) return setTimeout(next, 5);
      if (stopping) process.exit(0);
      setTimeout(start, restartMs);
    };
    next();
  });
}
process.on('SIGTERM', () => {
  stopping = true;
  if (child) child.kill('SIGTERM');
  else process.exit(0);
});
start();
`;

async function listeningSocket() {
  const server = net.createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve);
  });
  return server;
}

async function startLoop(mode, dir, { dataDir = path.join(dir, 'data'), content = path.join(ROOT, 'examples/course'), workers = 1 } = {}) {
  const logger = loggerStandIn(dir);
  const env = {
    ...process.env,
    NODE_ENV: 'production',
    LECTERN_ENV_FILE: '/dev/null',
    LECTERN_SITE: ROOT,
    LECTERN_LOGGER: logger.program,
    LECTERN_DATA: dataDir,
    LECTERN_CONTENT: content,
    LECTERN_GRADERS: '1',
    LECTERN_SELF_CHECK: 'no',
    LECTERN_WORKERS: String(workers),
    LECTERN_LOG_LEVEL: 'warn',
  };
  if (mode === 'plain') {
    const port = await freePort();
    const child = spawn(WEBSERVICE, [], { env: { ...env, LECTERN_HOST: '127.0.0.1', LECTERN_PORT: String(port) }, stdio: 'ignore' });
    return { child, url: `http://127.0.0.1:${port}`, dataDir, logFile: logger.file };
  }
  // This process only creates the socket and hands it over in the same tick, so that it never
  // accepts a connection itself; the loop (or the systemd stand-in) keeps it open across runs.
  const server = await listeningSocket();
  const { port } = server.address();
  let child;
  try {
    if (mode === 'socket') {
      child = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0"', WEBSERVICE], { env, stdio: ['ignore', 'ignore', 'ignore', server._handle.fd] });
    } else {
      // 'systemd': a unit with ExecStart=node dist/start.cjs serve.
      const events = path.join(dir, 'events');
      const spec = {
        command: process.execPath,
        args: [path.join(ROOT, 'dist/start.cjs'), 'serve'],
        env: {},
        events,
        restartMs: 100,
      };
      child = spawn(process.execPath, ['-e', HOLDER], {
        cwd: ROOT,
        env: { ...env, HOLDER_SPEC: JSON.stringify(spec) },
        stdio: ['ignore', 'ignore', process.env.BENCH_DEBUG ? 'inherit' : 'ignore', server._handle.fd],
      });
    }
  } finally {
    server.close();
  }
  return { child, url: `http://127.0.0.1:${port}`, dataDir, logFile: logger.file };
}

/** The job of the long test run: its state, and how many results were recorded for it. */
async function longJob(dataDir) {
  const { openDatabase, databasePath } = await import(path.join(ROOT, 'dist/db/open.js'));
  const db = openDatabase(databasePath(dataDir));
  try {
    const job = db.prepare('SELECT id, state, attempts, crashes FROM jobs ORDER BY id DESC LIMIT 1').get();
    const workers = job ? db.prepare('SELECT worker FROM results WHERE job_id = ?').pluck().all(job.id) : [];
    return { ...job, results: workers.length, by: workers.map((w) => Number(w.split(':')[1])) };
  } finally {
    db.close();
  }
}

async function runOnce(mode, { clients, afterMs, longJobSeconds = 0, workers = 1 }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `lectern-bench-restart-${mode}-`));
  let prepared = {};
  let student = null;
  if (longJobSeconds > 0) {
    const data = await prepareData(1);
    student = data.students[0];
    prepared = { dataDir: data.dataDir, content: contentWith(`sleep ${longJobSeconds}\necho '{"score": 1, "max_score": 1}' > results.json`) };
  }
  const loop = await startLoop(mode, dir, { ...prepared, workers });
  const exited = once(loop.child, 'exit');
  try {
    const answering = await waitForPid(loop.url).catch((err) => {
      throw new Error(`${mode}: ${err.message}; log: ${existsSync(loop.logFile) ? readFileSync(loop.logFile, "utf8") : "(none)"}`);
    });
    // A cluster's worker answers; the server (what a restart replaces) is its primary.
    const serverOf = (pid) => (workers > 1 ? parentOf(pid) : pid);
    const pid1 = serverOf(answering);
    let jobState = null;
    if (student) {
      // One upload whose test run is still going when the restart comes.
      const client = await signIn(loop.url, student.email, student.password);
      const form = new FormData();
      form.append('files', new Blob(['long\n']), 'answer.txt');
      const res = await fetch(`${loop.url}/courses/prog1/assignments/bench/submissions?_csrf=${encodeURIComponent(client.csrf())}`, {
        method: 'POST',
        headers: { cookie: client.cookie(), accept: 'application/json' },
        body: form,
      });
      if (res.status !== 201) throw new Error(`the long job's upload answered ${res.status}`);
      const deadline = Date.now() + 30_000;
      while ((await longJob(loop.dataDir)).state !== 'running') {
        if (Date.now() > deadline) throw new Error('the long job never started');
        await sleep(20);
      }
    }
    const token = readFileSync(path.join(loop.dataDir, 'restart.token'), 'utf8').trim();
    const tally = { ok: 0, refused: 0, resets: 0, failed: 0, errors: {}, pids: {} };
    const answeredAt = [];
    let slowest = 0;
    let stopping = false;
    let firstNewAt = null;
    let pid2 = null;
    const client = async (keepAlive) => {
      const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
      while (!stopping) {
        const started = performance.now();
        try {
          const r = await get(`${loop.url}/healthz`, agent);
          const now = performance.now();
          if (r.status !== 200) {
            tally.failed++;
            continue;
          }
          tally.ok++;
          answeredAt.push(now);
          slowest = Math.max(slowest, now - started);
          tally.pids[r.pid] = (tally.pids[r.pid] ?? 0) + 1;
          if (firstNewAt === null && serverOf(r.pid) !== pid1) {
            firstNewAt = now;
            pid2 = serverOf(r.pid);
          }
        } catch (err) {
          if (err.code === 'ECONNREFUSED') tally.refused++;
          else if (err.reused && (err.code === 'ECONNRESET' || err.message === 'socket hang up')) tally.resets++;
          else {
            tally.failed++;
            tally.errors[err.code ?? err.message] = (tally.errors[err.code ?? err.message] ?? 0) + 1;
          }
          if (err.code === 'ECONNREFUSED') await sleep(1);
        }
      }
      if (agent) agent.destroy();
    };
    const running = [];
    for (let i = 0; i < clients; i++) running.push(client(true), client(false));

    await sleep(1_000);
    const restartAt = performance.now();
    const restartUptime = uptimeNow();
    let oldGoneAt = null;
    const watcher = setInterval(() => {
      if (oldGoneAt === null && !alive(pid1)) oldGoneAt = performance.now();
    }, 2);
    const res = await fetch(`${loop.url}/restart`, { method: 'POST', headers: { 'x-restart-token': token } });
    if (res.status !== 202) throw new Error(`restart answered ${res.status}`);
    const deadline = Date.now() + 30_000;
    while (firstNewAt === null && Date.now() < deadline) await sleep(10);
    if (firstNewAt === null) throw new Error(`no answer from a new process within 30 s; see ${loop.logFile}`);
    const pid2Start = startedAtUptime(pid2);
    await sleep(afterMs);
    stopping = true;
    await Promise.all(running);
    clearInterval(watcher);
    if (student) {
      const deadline = Date.now() + 120_000;
      for (;;) {
        jobState = await longJob(loop.dataDir);
        if (jobState.state === 'done' || jobState.state === 'error' || Date.now() > deadline) break;
        await sleep(100);
      }
    }

    let stall = 0;
    const sorted = answeredAt.sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++) if (sorted[i] >= restartAt) stall = Math.max(stall, sorted[i] - sorted[i - 1]);
    return {
      mode,
      refused: tally.refused,
      failed: tally.failed,
      errors: tally.errors,
      keepAliveResets: tally.resets,
      answered: tally.ok,
      servingAgainMs: Math.round(firstNewAt - restartAt),
      oldProcessGoneMs: oldGoneAt === null ? null : Math.round(oldGoneAt - restartAt),
      // /proc counts in 10 ms ticks.
      newProcessStartedMs: pid2Start === null ? null : Math.max(0, Math.round((pid2Start - restartUptime) * 1000)),
      newProcessStartupMs: pid2Start === null ? null : Math.round(firstNewAt - restartAt - Math.max(0, (pid2Start - restartUptime) * 1000)),
      longJob:
        jobState === null
          ? '-'
          : `${jobState.state}, ${jobState.results} result(s) by ${jobState.by.map((p) => (p === pid1 ? 'old' : p === pid2 ? 'new' : p)).join(', ') || '-'}, attempts ${jobState.attempts}`,
      longestWithoutAnswerMs: Math.round(stall),
      slowestAnsweredMs: Math.round(slowest),
      pids: { old: pid1, new: pid2 },
    };
  } finally {
    if (loop.child.exitCode === null && loop.child.signalCode === null) {
      loop.child.kill('SIGTERM');
      const timer = setTimeout(() => loop.child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
    if (prepared.dataDir) rmSync(prepared.dataDir, { recursive: true, force: true });
    if (prepared.content) rmSync(prepared.content, { recursive: true, force: true });
  }
}

/** The runs: a mode and whether an 8 s test run is grading when /restart comes. */
const RUNS = {
  plain: { mode: 'plain', label: 'plain loop' },
  socket: { mode: 'socket', label: 'webservice+socket' },
  'socket-job': { mode: 'socket', label: 'webservice, 8 s job', longJobSeconds: 8 },
  'systemd-job': { mode: 'systemd', label: 'node unit, 8 s job', longJobSeconds: 8 },
  'cluster-job': { mode: 'systemd', label: 'node unit, cluster, 8 s job', longJobSeconds: 8, workers: 2 },
  'cluster-socket-job': { mode: 'socket', label: 'webservice, cluster, 8 s', longJobSeconds: 8, workers: 2 },
};

export async function main({ clients = 4, afterMs = 1_500, runs = Object.keys(RUNS) } = {}) {
  if (!existsSync(path.join(ROOT, 'dist/start.cjs'))) throw new Error('dist/start.cjs is missing: run `npm run build` first');
  const results = {};
  for (const name of runs) {
    const run = RUNS[name];
    if (!run) throw new Error(`unknown run ${name}; known: ${Object.keys(RUNS).join(', ')}`);
    results[name] = await runOnce(run.mode, { clients, afterMs, longJobSeconds: run.longJobSeconds ?? 0, workers: run.workers ?? 1 });
  }
  const rows = [
    ['refused connections', 'refused'],
    ['failed requests (other errors)', 'failed'],
    ['keep-alive connections reset (a client resends)', 'keepAliveResets'],
    ['requests answered', 'answered'],
    ['serving again after the restart call (ms)', 'servingAgainMs'],
    ['old process gone after the restart call (ms)', 'oldProcessGoneMs'],
    ['new process started after the restart call (ms)', 'newProcessStartedMs'],
    ['  then its start-up until its first answer (ms)', 'newProcessStartupMs'],
    ['longest time without any answer (ms)', 'longestWithoutAnswerMs'],
    ['slowest answered request (ms)', 'slowestAnsweredMs'],
    ['the long test run afterwards', 'longJob'],
  ];
  console.log(
    `restart under load: ${clients} keep-alive + ${clients} fresh-connection clients on GET /healthz; ` +
      `node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(2)}`,
  );
  const width = 34;
  console.log(`${'figure'.padEnd(50)}${runs.map((n) => RUNS[n].label.padStart(width)).join('')}`);
  for (const [label, key] of rows) console.log(`${label.padEnd(50)}${runs.map((n) => String(results[n][key]).padStart(width)).join('')}`);
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    loadavg: os.loadavg(),
    clients: { keepAlive: clients, fresh: clients },
    runs: results,
    targets: { socketRefused: 0, servingAgainMs: 1_000 },
  };
  const out = path.join(ROOT, 'bench/results');
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'restart.json'), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // node bench/restart.mjs [run ...]: plain, socket, socket-job, systemd-job, cluster-job, cluster-socket-job (default all).
  const runs = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  main(runs.length ? { runs } : {}).then(
    () => process.exit(0),
    (err) => {
      console.error(err.stack ?? err);
      process.exit(1);
    },
  );
}
