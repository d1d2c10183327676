// Where a request's CPU goes: the server under `node --cpu-prof` while autocannon loads one
// target, then the profile's self time summed by function and by package, per request.
//
//   npm run build && node bench/_profile.mjs static|page|rendered|home [seconds]
//
// BENCH_ENTRY=cli.js profiles the unbundled modules (readable file names); the default is the
// bundle that production runs.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadTest, prepareData, ROOT, signIn, startServer, tempDir } from './_lib.mjs';

const which = process.argv[2] ?? 'page';
const seconds = Number(process.argv[3] ?? 8);
const profDir = tempDir('lectern-prof-');
const { dataDir, students } = await prepareData(1);
const server = await startServer(
  {
    LECTERN_DATA: dataDir,
    LECTERN_CONTENT: path.join(ROOT, 'examples/course'),
    LECTERN_GRADERS: '0',
    LECTERN_LOG_LEVEL: 'info',
    ...(which === 'rendered' ? { LECTERN_PAGE_CACHE_MB: '0' } : {}),
  },
  { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] },
);
let requests = 0;
try {
  const client = await signIn(server.url, students[0].email, students[0].password);
  const page = await fetch(`${server.url}/courses/prog1/your-assignments`, { headers: { cookie: client.cookie() } });
  await page.text();
  const home = await (await fetch(`${server.url}/`)).text();
  const css = /\/static\/css\/lectern\.[0-9a-f]{10}\.css/.exec(home)[0];
  const target = { static: [css, {}], page: ['/courses/prog1/your-assignments', { cookie: client.cookie() }], rendered: ['/courses/prog1/your-assignments', { cookie: client.cookie() }], home: ['/', {}] }[which];
  const r = await loadTest(server.url + target[0], { connections: 20, seconds, headers: target[1], pid: server.pid });
  requests = r.requests;
  console.log(`${which}: ${Math.round(r.requestsPerSecond)} req/s, ${Math.round(r.cpuUsPerRequest)} us CPU/request (profiler on)`);
} finally {
  await server.stop();
}

const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
const prof = JSON.parse(readFileSync(path.join(profDir, file), 'utf8'));
// Only the load's samples: start-up (module compilation) and most of the shutdown stay out.
const dt = new Map();
const from = prof.endTime - (seconds + 0.5) * 1e6;
let at = prof.startTime;
for (let i = 0; i < prof.samples.length; i++) {
  at += prof.timeDeltas[i] ?? 0;
  if (at < from) continue;
  dt.set(prof.samples[i], (dt.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
const byFn = new Map();
const byPkg = new Map();
let total = 0;
for (const n of prof.nodes) {
  const us = dt.get(n.id) ?? 0;
  if (!us) continue;
  const { functionName, url, lineNumber } = n.callFrame;
  if (functionName === '(idle)' || functionName === '(program)') continue;
  total += us;
  const where = url ? `${url.replace(/^.*\/(node_modules\/)?/, '')}:${lineNumber + 1}` : '';
  const key = `${functionName || '(anonymous)'} ${where}`;
  byFn.set(key, (byFn.get(key) ?? 0) + us);
  const pkg = url.includes('node_modules/') ? url.replace(/^.*node_modules\/((@[^/]+\/)?[^/]+).*$/, '$1') : url.startsWith('node:') ? 'node:' + url.slice(5).split('/')[0] : url ? path.basename(url) : functionName;
  byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + us);
}
const per = (us) => (us / Math.max(1, requests)).toFixed(2);
console.log(`busy ${(total / 1e6).toFixed(2)} s over ${requests} requests: ${per(total)} us/request sampled`);
console.log('by package/file (us per request):');
for (const [k, us] of [...byPkg].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${per(us).padStart(8)}  ${k}`);
console.log('by function (us per request, self time):');
for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(`  ${per(us).padStart(8)}  ${k}`);

// Inclusive time (the function and all it called, in the same synchronous stack) of this
// project's own functions: which middleware or handler a request's time sits under.
const parentOf = new Map();
const nodeById = new Map();
for (const n of prof.nodes) {
  nodeById.set(n.id, n);
  for (const c of n.children ?? []) parentOf.set(c, n.id);
}
const own = (n) => n.callFrame.url.includes('/dist/') || n.callFrame.url.includes('/src/');
const inclusive = new Map();
for (const [id, us] of dt) {
  const f = nodeById.get(id).callFrame.functionName;
  if (f === '(idle)' || f === '(program)') continue;
  const seen = new Set();
  for (let p = id; p !== undefined; p = parentOf.get(p)) {
    const n = nodeById.get(p);
    if (!own(n)) continue;
    const key = `${n.callFrame.functionName || '(anonymous)'} ${path.basename(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + us);
  }
}
console.log('own functions, inclusive (us per request):');
for (const [k, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`  ${per(us).padStart(8)}  ${k}`);

// The same samples by component: each goes to the innermost frame of its stack that belongs to one
// (the socket write called from Koa's respond is the socket write; Koa's own code is Koa).
const components = [
  ['socket write (kernel)', (f) => f.functionName === 'writev' || f.functionName === 'writeString' || f.functionName === 'writeBuffer' || f.url.includes('stream_base_commons')],
  ['garbage collector', (f) => f.functionName === '(garbage collector)'],
  ['SQLite (statements, freshness check)', (f) => f.url.includes('better-sqlite3') || f.url.includes('read-cache')],
  ['log line (request-log, pino, sonic-boom)', (f) => f.url.includes('request-log') || f.url.includes('pino') || f.url.includes('sonic-boom') || f.url.includes('logger')],
  ['templates (nunjucks, compiled views)', (f) => f.url.includes('nunjucks') || (!f.url && /^(root|b_|macro_)/.test(f.functionName))],
  ['page body (markdown template, variants)', (f) => /plugins\/pages\/(template|markdown|math|library)/.test(f.url)],
  ['navigation (src/lib/nav.ts, pages/navigation.ts)', (f) => /lib\/nav\.|pages\/navigation/.test(f.url)],
  ['router (@koa/router, path-to-regexp, core/routes)', (f) => f.url.includes('@koa/router') || f.url.includes('path-to-regexp') || f.url.includes('core/routes')],
  ['session and CSRF', (f) => /accounts\/(session|sessions|csrf|users|authority)/.test(f.url)],
  ['replay cache', (f) => f.url.includes('lib/replay')],
  ['Koa (koa, koa-compose, cookies, delegates)', (f) => /node_modules\/(koa|koa-compose|cookies|delegates|statuses|on-finished|content-type|mime|type-is|accepts|negotiator|vary|only|encodeurl|escape-html|destroy|http-errors|depd)\//.test(f.url)],
  ['page handler and other own code', (f) => f.url.includes('/dist/') || f.url.includes('/src/')],
  ['prom-client', (f) => f.url.includes('prom-client')],
  ['node:http, streams, events, timers, promises', (f) => f.url.startsWith('node:') || f.functionName === 'runMicrotasks'],
];
const byComponent = new Map();
for (const [id, us] of dt) {
  const f0 = nodeById.get(id).callFrame.functionName;
  if (f0 === '(idle)' || f0 === '(program)') continue;
  // Frames without a script (V8 builtins, anonymous native code) are passed over for their caller.
  let name = 'other';
  for (let p = id; p !== undefined && name === 'other'; p = parentOf.get(p)) {
    if (!nodeById.get(p).callFrame.url && nodeById.get(p).callFrame.functionName === '(anonymous)') continue;
    const hit = components.find(([, test]) => test(nodeById.get(p).callFrame));
    if (hit) name = hit[0];
  }
  byComponent.set(name, (byComponent.get(name) ?? 0) + us);
}
console.log('by component (us per request, innermost owner of each sample; sums to the sampled total; BENCH_ENTRY=cli.js for file names):');
for (const [k, us] of [...byComponent].sort((a, b) => b[1] - a[1])) console.log(`  ${per(us).padStart(8)}  ${(100 * us / total).toFixed(1).padStart(5)} %  ${k}`);
if (process.env.BENCH_KEEP === '1') console.log(`profile kept in ${profDir}`);
