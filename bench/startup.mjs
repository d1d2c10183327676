// Cold start: from spawning `lectern serve` to the first answered request (GET / , the demo's
// home page, which also compiles its templates and markdown on first view), median of several
// runs (target <= 300 ms). The cases, alternating, all through dist/start.cjs as shipped:
//   fresh    an empty data dir: every migration is applied, and with no users at all the first
//            administrator is created (its scrypt hash runs beside the start) and printed;
//   restart  the same data dir again: nothing to migrate, users exist (what a deploy does);
//   restart-no-code-cache, restart-unbundled   the same without V8's code cache, and from the
//            unbundled dist/cli.js, for comparison;
//   cluster  the restart case with LECTERN_WORKERS=2 (the primary starts, then two workers).
// The breakdown comes from the server's own 'listening' log line (performance.now() marks):
// modules (imports evaluated), build (content, database, migrations, routes), start (plugins'
// start: sweeps, grading pool), listen, then the first request as seen by the client.
// `npm run bench -- startup`; env BENCH_RUNS (7).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { median, ROOT, tempDir, writeResults } from './_lib.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const TARGET_MS = 300;

async function coldStart(dataDir, extraEnv = {}, entry = 'dist/start.cjs') {
  const t0 = performance.now();
  const child = spawn(process.execPath, [path.join(ROOT, entry), 'serve'], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      LECTERN_PORT: '0',
      LECTERN_LOG_LEVEL: 'info',
      LECTERN_DATA: dataDir,
      LECTERN_CONTENT: path.join(ROOT, 'examples/course'),
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  child.stderr.setEncoding('utf8');
  try {
    const url = await new Promise((resolve, reject) => {
      child.stderr.on('data', (d) => {
        err += d;
        const m = /serving (http:\/\/\S+)/.exec(err);
        if (m) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${err}`)));
    });
    const serving = performance.now() - t0;
    const res = await fetch(`${url}/`);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`GET / answered ${res.status}`);
    const firstRequest = performance.now() - t0;
    // The log is written asynchronously; give it a moment before reading the lines.
    await new Promise((r) => setTimeout(r, 50));
    const lines = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    const listening = lines.find((l) => l.msg === 'listening');
    const migrated = lines.find((l) => l.msg === 'database migrated');
    return {
      firstRequestMs: firstRequest,
      servingMs: serving,
      startup: listening?.startup ?? null,
      migrateMs: migrated?.ms ?? 0,
      firstAdmin: /created the first administrator/.test(err),
    };
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  }
}

async function nodeAlone() {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return performance.now() - t0;
}

function summarise(runs) {
  const pick = (f) => median(runs.map(f).filter((x) => typeof x === 'number'));
  return {
    firstRequestMs: pick((r) => r.firstRequestMs),
    servingMs: pick((r) => r.servingMs),
    modulesMs: pick((r) => r.startup?.modulesMs),
    codeCache: [...new Set(runs.map((r) => r.startup?.codeCache))].join('/'),
    buildMs: pick((r) => r.startup?.buildMs),
    migrateMs: pick((r) => r.migrateMs),
    startMs: pick((r) => r.startup?.startMs),
    listenMs: pick((r) => r.startup?.listenMs),
    readyMs: pick((r) => r.startup?.readyMs),
    runs,
  };
}

const f = (x) => (Number.isFinite(x) ? `${Math.round(x)} ms` : 'n/a');

export async function main() {
  const fresh = [];
  const restart = [];
  const clustered = [];
  const noCache = [];
  const unbundled = [];
  const bare = [];
  for (let i = 0; i < RUNS; i++) {
    const dataDir = tempDir('lectern-bench-startup-');
    fresh.push(await coldStart(dataDir));
    restart.push(await coldStart(dataDir));
    noCache.push(await coldStart(dataDir, { LECTERN_CODE_CACHE: 'off' }));
    unbundled.push(await coldStart(dataDir, {}, 'dist/cli.js'));
    clustered.push(await coldStart(dataDir, { LECTERN_WORKERS: '2' }));
    bare.push(await nodeAlone());
  }
  const s = {
    fresh: summarise(fresh),
    restart: summarise(restart),
    restartNoCache: summarise(noCache),
    restartUnbundled: summarise(unbundled),
    cluster: summarise(clustered),
    nodeAloneMs: median(bare),
  };
  for (const [name, r, what] of [
    ['fresh', s.fresh, 'empty data dir: all migrations, first admin (scrypt)'],
    ['restart', s.restart, 'existing data dir: nothing to migrate'],
    ['restart-no-code-cache', s.restartNoCache, 'the same with LECTERN_CODE_CACHE=off: the bundle compiled from source'],
    ['restart-unbundled', s.restartUnbundled, 'the same from node dist/cli.js: some 400 ES modules, no bundle'],
    ['cluster', s.cluster, 'existing data dir, LECTERN_WORKERS=2'],
  ]) {
    console.log(`startup ${name} (${what}): first request answered after ${f(r.firstRequestMs)} (median of ${RUNS}; target <= ${TARGET_MS} ms; code cache ${r.codeCache})`);
    if (name === 'cluster') {
      console.log(`startup ${name} breakdown: primary modules ${f(r.modulesMs)}, primary build ${f(r.buildMs)}; every worker listening at ${f(r.readyMs)} after the primary started`);
      continue;
    }
    console.log(
      `startup ${name} breakdown: modules ${f(r.modulesMs)}, build ${f(r.buildMs)} (migrations ${f(r.migrateMs)}), plugin start ${f(r.startMs)}, listen ${f(r.listenMs)}; listening at ${f(r.readyMs)} after process start, serving line seen at ${f(r.servingMs)}`,
    );
  }
  console.log(`startup reference: node -e '' (process start and exit) ${f(s.nodeAloneMs)}`);
  // Module loading is node's own start (see the reference) plus reading and running the bundle;
  // the code cache (src/start.cts) spares V8 compiling what a start and first requests use.
  writeResults('startup', { runs: RUNS, targetMs: TARGET_MS, ...s, ok: s.fresh.firstRequestMs <= TARGET_MS && s.restart.firstRequestMs <= TARGET_MS });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
