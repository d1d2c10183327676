// Page serving under load, beside Node's ceiling in the same run.
//
// Targets: a signed-in student's personalised page (session lookup, two variants, cached
// markdown, layout), the demo's public home page, and a fingerprinted static asset. The student
// page is loaded as one reader reloading it, which after the first view the render cache answers
// (src/plugins/pages/render-cache.ts), and again with that cache off: every view rendered. Each is
// loaded by autocannon in its own process against Lectern (its own process, production mode) and
// against a bare node:http server (a third process) answering the very same bytes. Rounds
// alternate bare and Lectern so that noise from the rest of the machine hits both alike; the
// ratio printed is the median over rounds of Lectern/bare requests per second (target >= 0.5 for
// the student page).
//
// A one-middleware Koa app answering the same bytes is loaded too, as the framework's floor, and
// for the student page the old site's stack (Python + Twisted from Debian's python3-twisted, the
// page substituted per request from a cookie) in the same alternating rounds: targets Lectern >=
// 2x it with the render cache and >= 1.3x rendering every view; static files >= 0.6x bare node.
//
// `npm run bench -- pages`; env: BENCH_SECONDS (5), BENCH_CONNECTIONS (20), BENCH_ROUNDS (2),
// BENCH_WORKERS (also load the student page with LECTERN_WORKERS=N; default 2, 0 = skip).
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadTest, median, prepareData, ROOT, signIn, startBareServer, startServer, tempDir, writeResults } from './_lib.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const STUDENT_PAGE = '/courses/prog1/your-assignments';
const TARGET_RATIO = 0.5;
/** Against the old site's stack: the cached student page, the page rendered every view. */
const TARGET_OLD_CACHED = 2;
const TARGET_OLD_RENDERED = 1.3;
/** Debian's interpreter, where apt's python3-twisted is (a pyenv python3 on PATH would not see it). */
const PYTHON = '/usr/bin/python3';

/**
 * The old site's stack as a reference: a small Twisted site (Debian's python3-twisted) serving the
 * student's page, its name substituted per request from the session cookie (an in-memory table,
 * as the seed kept it). No session store, no log line: it does less than Lectern per request.
 */
async function startTwisted(page, name) {
  const check = spawnSync(PYTHON, ['-c', 'import twisted']);
  if (check.status !== 0) return null;
  const dir = tempDir('lectern-bench-twisted-');
  const template = path.join(dir, 'page.html');
  writeFileSync(template, page.toString().split(name).join('%%NAME%%'));
  const script = `
import sys
from twisted.web import server, resource
from twisted.internet import reactor
template = open(sys.argv[1], 'rb').read()
sessions = {b'old-site-session': ${JSON.stringify(name)}.encode()}
class Page(resource.Resource):
    isLeaf = True
    def render_GET(self, request):
        name = sessions.get(request.getCookie(b'session'))
        if name is None:
            request.setResponseCode(403)
            return b'sign in first'
        request.setHeader(b'content-type', b'text/html; charset=utf-8')
        return template.replace(b'%%NAME%%', name)
port = reactor.listenTCP(0, server.Site(Page()), interface='127.0.0.1')
print('port', port.getHost().port, flush=True)
reactor.run()
`;
  const child = spawn(PYTHON, ['-c', script, template], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      buf += d;
      const m = /port (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (c) => reject(new Error(`the Twisted site exited with ${c}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    url: `http://127.0.0.1:${port}/`,
    pid: child.pid,
    headers: { cookie: 'session=old-site-session' },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function fetchOk(url, headers = {}) {
  const res = await fetch(url, { headers, redirect: 'manual' });
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  return { body, type: res.headers.get('content-type') ?? 'text/html' };
}

const fmt = (r) => `${Math.round(r.requestsPerSecond)} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ${Math.round(r.cpuUsPerRequest)} us CPU/request`;

function check(label, r) {
  if (r.non2xx || r.errors) throw new Error(`${label}: ${r.non2xx} non-2xx answers and ${r.errors} errors under load`);
}

async function startLectern(dataDir, workers, env = {}) {
  return startServer({
    ...env,
    LECTERN_DATA: dataDir,
    LECTERN_CONTENT: path.join(ROOT, 'examples/course'),
    LECTERN_GRADERS: '0',
    // The production default: one log line per request (to stdout, which the bench discards).
    LECTERN_LOG_LEVEL: 'info',
    LECTERN_WORKERS: String(workers),
  });
}

export async function main() {
  const { dataDir, students } = await prepareData(1);
  let server = await startLectern(dataDir, 1);
  let bare;
  let koa;
  let old = null;
  const summary = { seconds: SECONDS, connections: CONNECTIONS, rounds: ROUNDS, targets: {} };
  try {
    const client = await signIn(server.url, students[0].email, students[0].password);
    const cookie = client.cookie();
    // The first visit makes the student's variants (a generator run in the sandbox each); the
    // bench measures the steady state after it.
    const page = await fetchOk(server.url + STUDENT_PAGE, { cookie });
    if (!/Your shift is/.test(page.body.toString())) throw new Error('the student page shows no caesar variant: is the sandbox working?');
    const home = await fetchOk(`${server.url}/`);
    const cssPath = /\/static\/css\/lectern\.[0-9a-f]{10}\.css/.exec(home.body.toString())?.[0];
    if (!cssPath) throw new Error('no fingerprinted stylesheet link on the home page');
    const css = await fetchOk(server.url + cssPath);
    bare = await startBareServer({ '/page': page, '/home': home, '/asset': css });
    koa = await startBareServer({ '/page': page, '/home': home, '/asset': css }, { koa: true });

    const targets = [
      { key: 'studentPage', label: `student page ${STUDENT_PAGE} (${page.body.length} B)`, path: STUDENT_PAGE, headers: { cookie }, bare: '/page' },
      { key: 'publicHome', label: `public home / (${home.body.length} B)`, path: '/', headers: {}, bare: '/home' },
      { key: 'staticAsset', label: `static ${cssPath} (${css.body.length} B)`, path: cssPath, headers: {}, bare: '/asset' },
    ];
    const runTarget = async (t, url, tag, old = null) => {
      await loadTest(url, { connections: CONNECTIONS, seconds: 1, headers: t.headers });
      if (old) await loadTest(old.url, { connections: CONNECTIONS, seconds: 1, headers: old.headers });
      const rounds = [];
      for (let i = 0; i < ROUNDS; i++) {
        const b = await loadTest(bare.url + t.bare, { connections: CONNECTIONS, seconds: SECONDS, pid: bare.pid });
        const o = old ? await loadTest(old.url, { connections: CONNECTIONS, seconds: SECONDS, headers: old.headers, pid: old.pid }) : null;
        const l = await loadTest(url, { connections: CONNECTIONS, seconds: SECONDS, headers: t.headers, pid: server.pid });
        check(`${t.label} ${tag}`, l);
        check(`${t.label} bare`, b);
        if (o) check(`${t.label} old stack`, o);
        rounds.push({ bare: b, lectern: l, ratio: l.requestsPerSecond / b.requestsPerSecond, ...(o ? { old: o, oldRatio: l.requestsPerSecond / o.requestsPerSecond } : {}) });
      }
      const pick = (list) => list.find((r) => r.ratio === median(list.map((x) => x.ratio)));
      const mid = pick(rounds);
      const oldRatio = old ? median(rounds.map((r) => r.oldRatio)) : null;
      return { rounds, bare: mid.bare, lectern: mid.lectern, ratio: mid.ratio, ...(old ? { old: rounds.find((r) => r.oldRatio === oldRatio).old, oldRatio } : {}) };
    };
    const oldLine = (r, target) => (r.old ? `; old stack (Python + Twisted) ${fmt(r.old)}: Lectern ${r.oldRatio.toFixed(2)}x the old stack (target >= ${target})` : '; old stack not measured (apt-get install python3-twisted)');

    old = await startTwisted(page.body, 'Bench Student 0');
    for (const t of targets) {
      const r = await runTarget(t, server.url + t.path, 'lectern', t.key === 'studentPage' ? old : null);
      // The framework's floor: the same bytes through a one-middleware Koa app (one round).
      const k = await loadTest(koa.url + t.bare, { connections: CONNECTIONS, seconds: SECONDS, pid: koa.pid });
      check(`${t.label} koa`, k);
      summary.targets[t.key] = { label: t.label, ...r, koa: k };
      console.log(`${t.label}: bare node:http ${fmt(r.bare)}`);
      console.log(`${t.label}: bare Koa ${fmt(k)}`);
      console.log(`${t.label}: lectern ${fmt(r.lectern)}, ratio ${r.ratio.toFixed(2)}x bare${t.key === 'studentPage' ? ` (target >= ${TARGET_RATIO})${oldLine(r, TARGET_OLD_CACHED)}` : t.key === 'staticAsset' ? ' (target >= 0.6)' : ''}`);
    }

    // The same page rendered on every view (a first view, or any view after a write): the render
    // cache turned off.
    {
      await server.stop();
      server = await startLectern(dataDir, 1, { LECTERN_PAGE_CACHE_MB: '0' });
      const t = targets[0];
      const r = await runTarget(t, server.url + t.path, 'rendered every time', old);
      summary.targets.studentPageRendered = { label: `${t.label}, LECTERN_PAGE_CACHE_MB=0`, ...r };
      console.log(`${t.label}: lectern rendering every view (LECTERN_PAGE_CACHE_MB=0) ${fmt(r.lectern)}, ratio ${r.ratio.toFixed(2)}x bare (bare ${fmt(r.bare)})${oldLine(r, TARGET_OLD_RENDERED)}`);
    }

    if (WORKERS > 1) {
      await server.stop();
      server = await startLectern(dataDir, WORKERS);
      const t = targets[0];
      const r = await runTarget(t, server.url + t.path, `${WORKERS} workers`);
      summary.targets.studentPageCluster = { label: `${t.label}, LECTERN_WORKERS=${WORKERS}`, workers: WORKERS, ...r };
      console.log(`${t.label}: lectern with LECTERN_WORKERS=${WORKERS} ${fmt(r.lectern)}, ratio ${r.ratio.toFixed(2)}x bare (bare ${fmt(r.bare)})`);
    }
    const ratio = summary.targets.studentPage.ratio;
    const vsOld = { cached: summary.targets.studentPage.oldRatio ?? null, rendered: summary.targets.studentPageRendered.oldRatio ?? null, targets: { cached: TARGET_OLD_CACHED, rendered: TARGET_OLD_RENDERED } };
    writeResults('pages', { ...summary, studentPageRatio: ratio, targetRatio: TARGET_RATIO, vsOldStack: vsOld, ok: ratio >= TARGET_RATIO });
  } finally {
    await old?.stop();
    await bare?.stop();
    await koa?.stop();
    await server.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
