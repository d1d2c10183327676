// Soak: sustained mixed load on a real server process (page views at PAGES_PER_S, a submission
// every 2 s, graded), bounded in time (SOAK_SECONDS, default 90). Prints the server's memory over
// time, split by process.memoryUsage() (sampled inside the server by bench/_memory-probe.mjs) into
// the V8 heap, memory outside it (Buffers) and native memory, its steady state, and, from a V8
// heap snapshot taken at the end (after the series: taking one inflates RSS), what the heap holds.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, contentWith, median, prepareData, signIn, startServer, tempDir, writeResults } from './_lib.mjs';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 90);
const PAGES_PER_S = Number(process.env.SOAK_PAGES_PER_S ?? 40);
const STUDENTS = 20;
const MB = 1024 * 1024;

export async function main() {
  const { dataDir, students } = await prepareData(STUDENTS);
  const snapDir = tempDir('lectern-soak-snap-');
  const memoryFile = path.join(snapDir, 'memory.jsonl');
  const server = await startServer(
    { LECTERN_DATA: dataDir, LECTERN_CONTENT: contentWith('wc -c answer.txt'), LECTERN_GRADERS: '1', SOAK_MEMORY_FILE: memoryFile },
    { nodeArgs: ['--import', pathToFileURL(path.join(ROOT, 'bench/_memory-probe.mjs')).href, '--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapDir}`] },
  );
  try {
    const clients = [];
    for (const s of students) clients.push(await signIn(server.url, s.email, s.password));
    const pages = ['/', '/courses/prog1/', '/courses/prog1/assignments/caesar', '/courses/prog1/assignments/stats', '/courses/prog1/assignments/bench', '/account', '/healthz'];
    let views = 0;
    let failures = 0;
    let submissions = 0;
    const inFlight = new Set();
    const track = (p) => {
      inFlight.add(p);
      p.finally(() => inFlight.delete(p));
    };
    const view = async (i) => {
      const client = clients[i % clients.length];
      const anonymous = i % 4 === 0;
      const res = await fetch(`${server.url}${pages[i % pages.length]}`, { headers: anonymous ? {} : { cookie: client.cookie() }, redirect: 'manual' });
      await res.arrayBuffer();
      if (res.status >= 500) failures++;
      views++;
    };
    const submit = async (i) => {
      const client = clients[i % clients.length];
      const form = new FormData();
      form.append('files', new Blob([`answer ${i} `.repeat(2000)]), 'answer.txt');
      const res = await fetch(`${server.url}/courses/prog1/assignments/bench/submissions?_csrf=${encodeURIComponent(client.csrf())}`, {
        method: 'POST',
        body: form,
        headers: { cookie: client.cookie(), accept: 'application/json' },
      });
      await res.arrayBuffer();
      if (res.status === 201) submissions++;
      else failures++;
    };
    const t0 = performance.now();
    let n = 0;
    const pageTimer = setInterval(() => track(view(n++).catch(() => failures++)), 1000 / PAGES_PER_S);
    let m = 0;
    const submitTimer = setInterval(() => track(submit(m++).catch(() => failures++)), 2000);
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    clearInterval(pageTimer);
    clearInterval(submitTimer);
    await Promise.allSettled([...inFlight]);
    const elapsed = (performance.now() - t0) / 1000;
    const samples = existsSync(memoryFile) ? readFileSync(memoryFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : [];
    if (!samples.length) throw new Error('the server wrote no memory samples');
    const last = await snapshot(server, snapDir);

    const row = (x) =>
      `RSS ${(x.rss / MB).toFixed(1).padStart(6)}  heap used ${(x.heapUsed / MB).toFixed(1).padStart(5)} of ${(x.heapTotal / MB).toFixed(1).padStart(5)}  external ${(x.external / MB).toFixed(1).padStart(5)} (array buffers ${(x.arrayBuffers / MB).toFixed(1)})  native ${((x.rss - x.heapTotal - x.external) / MB).toFixed(1).padStart(5)} MB`;
    const every = Math.max(1, Math.round(samples.length / 18));
    for (let i = 0; i < samples.length; i += every) console.log(`soak: ${samples[i].s.toFixed(0).padStart(4)} s  ${row(samples[i])}`);
    const third = samples.slice(Math.floor((samples.length * 2) / 3));
    const pick = (k) => median(third.map((x) => x[k]));
    const steady = { rss: pick('rss'), heapUsed: pick('heapUsed'), heapTotal: pick('heapTotal'), external: pick('external'), arrayBuffers: pick('arrayBuffers') };
    const early = samples[Math.min(samples.length - 1, 10)];
    console.log(`soak: ${elapsed.toFixed(0)} s, ${views} page views (${(views / elapsed).toFixed(0)}/s), ${submissions} submissions, ${failures} failures`);
    console.log(`soak: at 10 s          ${row(early)}`);
    console.log(`soak: steady (median of the last third) ${row(steady)}`);
    console.log(`soak: steady RSS / RSS at 10 s = ${(steady.rss / early.rss).toFixed(2)}`);
    // A bounded server levels off: over the second half, the least-squares slope is near zero.
    const half = samples.slice(Math.floor(samples.length / 2));
    const slope = { rss: slopePerMinute(half, 'rss'), heapUsed: slopePerMinute(half, 'heapUsed'), external: slopePerMinute(half, 'external') };
    console.log(`soak: slope over the second half: RSS ${(slope.rss / MB).toFixed(2)} MB/min, heap used ${(slope.heapUsed / MB).toFixed(2)} MB/min, external ${(slope.external / MB).toFixed(2)} MB/min`);
    const top = [...last.byName].map(([name, size]) => ({ name, size })).sort((a, b) => b.size - a.size).slice(0, 10);
    console.log(`soak: V8 heap at the end ${(last.total / MB).toFixed(1)} MB; largest kinds (self size):`);
    for (const g of top) console.log(`  ${(g.size / 1024).toFixed(0).padStart(8)} KB  ${g.name.slice(0, 80)}`);
    writeResults('soak', { seconds: elapsed, pagesPerSecond: PAGES_PER_S, views, submissions, failures, at10s: early, steady, slopePerMinute: slope, heapEndBytes: last.total, heapTop: top, samples });
  } finally {
    await server.stop();
    rmSync(snapDir, { recursive: true, force: true });
  }
}

/** Least-squares slope of samples[k] against time, per minute (samples carry their second in `s`). */
function slopePerMinute(samples, k) {
  if (samples.length < 2) return 0;
  const n = samples.length;
  const mx = samples.reduce((a, x) => a + x.s, 0) / n;
  const my = samples.reduce((a, x) => a + x[k], 0) / n;
  let num = 0;
  let den = 0;
  for (const x of samples) {
    num += (x.s - mx) * (x[k] - my);
    den += (x.s - mx) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60;
}

/** Asks the server for a heap snapshot (SIGUSR2) and sums the self sizes of its nodes by name. */
async function snapshot(server, dir) {
  const before = new Set(readdirSync(dir));
  process.kill(server.pid, 'SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const fresh = readdirSync(dir).filter((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    // Written in one go; it is complete once its JSON parses.
    for (const f of fresh) {
      try {
        return summarise(JSON.parse(readFileSync(path.join(dir, f), 'utf8')));
      } catch {
        // still being written
      }
    }
  }
  throw new Error('no heap snapshot appeared');
}

function summarise(snap) {
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const byName = new Map();
  let total = 0;
  const nodes = snap.nodes;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + iType]];
    const size = nodes[i + iSize];
    total += size;
    const key = type === 'object' || type === 'closure' ? `${type} ${snap.strings[nodes[i + iName]]}` : `(${type})`;
    byName.set(key, (byName.get(key) ?? 0) + size);
  }
  return { total, byName };
}
