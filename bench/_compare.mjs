// Before/after on one machine at one moment: server CPU per request of two builds started side by
// side, loaded in alternating rounds (the minimum over rounds is the figure least inflated by
// whatever else the machine runs). "before" is a copy of another build's dist/ placed beside this
// one (its paths to views/ and public/ are relative to it):
//
//   npm run build && cp -r dist dist-before      (on the base commit, before the change)
//   npm run build && S=2 R=6 node bench/_compare.mjs static,page,rendered,home      (after it)
import path from 'node:path';
import { loadTest, prepareData, ROOT, signIn, startServer, startBareServer } from './_lib.mjs';
const S = Number(process.env.S ?? 4);
const R = Number(process.env.R ?? 2);
const which = (process.argv[2] ?? 'static,page,home,rendered').split(',');
const entries = { before: '../dist-before/start.cjs', after: 'start.cjs' };
const env = (dataDir, extra = {}) => ({ LECTERN_DATA: dataDir, LECTERN_CONTENT: path.join(ROOT, 'examples/course'), LECTERN_GRADERS: '0', LECTERN_LOG_LEVEL: 'info', LECTERN_WORKERS: '1', ...extra });
const med = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
async function start(name, extra) {
  process.env.BENCH_ENTRY = entries[name];
  const { dataDir, students } = await prepareData(1);
  const server = await startServer(env(dataDir, extra));
  const client = await signIn(server.url, students[0].email, students[0].password);
  const cookie = client.cookie();
  const page = Buffer.from(await (await fetch(server.url + '/courses/prog1/your-assignments', { headers: { cookie } })).arrayBuffer());
  const home = await (await fetch(server.url + '/')).text();
  const cssPath = /\/static\/css\/lectern\.[0-9a-f]{10}\.css/.exec(home)[0];
  return { server, cookie, cssPath, page };
}
const targets = { static: (s) => [s.cssPath, {}], page: (s) => ['/courses/prog1/your-assignments', { cookie: s.cookie }], home: () => ['/', {}], rendered: (s) => ['/courses/prog1/your-assignments', { cookie: s.cookie }] };
for (const w of which) {
  const extra = w === 'rendered' ? { LECTERN_PAGE_CACHE_MB: '0' } : {};
  const s = { before: await start('before', extra), after: await start('after', extra) };
  const css = Buffer.from(await (await fetch(s.after.server.url + s.after.cssPath)).arrayBuffer());
  const bare = await startBareServer({ '/page': { body: s.after.page, type: 'text/html; charset=utf-8' }, '/asset': { body: css, type: 'text/css; charset=utf-8' } });
  const res = { before: [], after: [], bare: [] };
  for (const n of ['before', 'after']) { const [p, h] = targets[w](s[n]); await loadTest(s[n].server.url + p, { connections: 20, seconds: 1, headers: h }); }
  for (let i = 0; i < R; i++) for (const n of ['before', 'after', 'bare']) {
    if (n === 'bare') { if (w !== 'page' && w !== 'static') continue; const r = await loadTest(bare.url + (w === 'static' ? '/asset' : '/page'), { connections: 20, seconds: S, pid: bare.pid }); res.bare.push(r.cpuUsPerRequest); continue; }
    const [p, h] = targets[w](s[n]);
    const r = await loadTest(s[n].server.url + p, { connections: 20, seconds: S, headers: h, pid: s[n].server.pid });
    if (r.non2xx) throw new Error(`${n} ${w} non2xx ${r.non2xx}`);
    res[n].push(r.cpuUsPerRequest);
  }
  console.log(`${w}: before ${res.before.map(Math.round).join('/')} after ${res.after.map(Math.round).join('/')} us/req${res.bare.length ? ` bare ${res.bare.map(Math.round).join('/')}` : ''}; median ratio after/before ${(med(res.after) / med(res.before)).toFixed(2)}; min before ${Math.round(Math.min(...res.before))} after ${Math.round(Math.min(...res.after))}${res.bare.length ? ` bare ${Math.round(Math.min(...res.bare))}` : ''}; median before ${Math.round(med(res.before))} after ${Math.round(med(res.after))}`);
  await s.before.server.stop(); await s.after.server.stop(); await bare.stop();
}
