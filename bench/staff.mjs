// Staff pages of a large course: the dashboard, the gradebook and its CSV, an assignment's
// students page, and a submission's staff view, with 20 graded submissions per student on each
// of nine past assignments (180,000 submissions at 1,000 students).
//
// Each page is asked for one at a time by the signed-in lecturer (after two warm-up views), and
// its time is the median of the client's latency on loopback, which is the server's time plus
// well under a millisecond. Target: <= 100 ms each. Run at two class sizes: a page whose time
// grows faster than the class (more than 4x from 250 to 1,000 students) is flagged.
//
// `npm run bench -- staff`; BENCH_STAFF_STUDENTS=250,1000 (the sizes), BENCH_STAFF_PER=20
// (submissions per student per assignment), BENCH_STAFF_RUNS=9 (timed views per page).
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { cpuSeconds, median, percentile, startServer, tempDir, writeResults } from './_lib.mjs';
import { ASSIGNMENTS, COURSE, populate, writeCourse } from './_course.mjs';

const SIZES = (process.env.BENCH_STAFF_STUDENTS ?? '250,1000').split(',').map(Number);
const PER = Number(process.env.BENCH_STAFF_PER ?? 20);
const RUNS = Number(process.env.BENCH_STAFF_RUNS ?? 9);
const TARGET_MS = 100;

async function measure(url, cookie, pid) {
  const times = [];
  let bytes = 0;
  for (let i = 0; i < RUNS + 2; i++) {
    const cpu0 = cpuSeconds(pid);
    const t0 = performance.now();
    let res;
    try {
      res = await fetch(url, { headers: { cookie }, redirect: 'manual' });
    } catch (err) {
      throw new Error(`${url}: ${err.message} (${err.cause?.code ?? err.cause?.message ?? 'no cause'})`, { cause: err });
    }
    const body = await res.arrayBuffer();
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
    bytes = body.byteLength;
    if (i >= 2) times.push({ ms, cpuMs: (cpuSeconds(pid) - cpu0) * 1000 });
  }
  return { medianMs: median(times.map((t) => t.ms)), p90Ms: percentile(times.map((t) => t.ms), 90), cpuMs: median(times.map((t) => t.cpuMs)), bytes };
}

async function runSize(students) {
  const content = writeCourse('cat answer.txt > /dev/null');
  const dataDir = tempDir();
  const env = { LECTERN_DATA: dataDir, LECTERN_CONTENT: content, LECTERN_GRADERS: '0', LECTERN_LOG_LEVEL: 'info' };
  // The first server imports the assignments; the history is written while it runs. Its
  // background bundle self-checks may meet the long generating transaction (SQLITE_BUSY, which
  // ends that server), so the pages are measured on a second server over the finished data.
  const first = await startServer(env);
  const t0 = Date.now();
  let populated;
  try {
    populated = await populate(dataDir, { students, perAssignment: PER });
  } finally {
    await first.stop();
  }
  const { lecturer } = populated;
  const generatedS = (Date.now() - t0) / 1000;
  const server = await startServer(env);
  try {
    const { openDatabase, databasePath } = await import(new URL('../dist/db/open.js', import.meta.url).href);
    const db = openDatabase(databasePath(dataDir));
    const submissionId = db.prepare('SELECT max(id) FROM submissions').pluck().get();
    const submissions = db.prepare('SELECT count(*) FROM submissions').pluck().get();
    db.close();
    const mid = ASSIGNMENTS[4];
    const pages = {
      dashboard: `/courses/${COURSE}/dashboard`,
      gradebook: `/courses/${COURSE}/gradebook`,
      gradebookCsv: `/courses/${COURSE}/gradebook.csv`,
      students: `/courses/${COURSE}/assignments/${mid}/students`,
      submission: `/courses/${COURSE}/submissions/${submissionId}`,
    };
    const out = { students, submissions, generatedS, pages: {} };
    for (const [key, p] of Object.entries(pages)) {
      out.pages[key] = { path: p, ...(await measure(server.url + p, lecturer.cookie, server.pid)) };
    }
    return out;
  } finally {
    await server.stop();
  }
}

export async function main() {
  const sizes = [];
  for (const n of SIZES) {
    const r = await runSize(n);
    sizes.push(r);
    console.log(`staff pages, ${n} students, ${r.submissions} submissions (generated in ${r.generatedS.toFixed(1)} s):`);
    for (const [key, p] of Object.entries(r.pages)) {
      console.log(`  ${key.padEnd(13)} ${p.path}: median ${p.medianMs.toFixed(1)} ms (p90 ${p.p90Ms.toFixed(1)}, server CPU ${p.cpuMs.toFixed(0)} ms), ${(p.bytes / 1024).toFixed(0)} KB${p.medianMs > TARGET_MS ? `  OVER the ${TARGET_MS} ms target` : ''}`);
    }
  }
  const growth = {};
  if (sizes.length >= 2) {
    const [a, b] = [sizes[0], sizes.at(-1)];
    const classRatio = b.students / a.students;
    for (const key of Object.keys(b.pages)) {
      const ratio = b.pages[key].medianMs / a.pages[key].medianMs;
      growth[key] = { ratio, classRatio, superlinear: ratio > classRatio * 1.1 };
      console.log(`  growth ${key.padEnd(13)} ${a.students} -> ${b.students} students: ${ratio.toFixed(2)}x the time for ${classRatio.toFixed(1)}x the class${growth[key].superlinear ? '  FASTER THAN LINEAR' : ''}`);
    }
  }
  const largest = sizes.at(-1);
  const ok = Object.values(largest.pages).every((p) => p.medianMs <= TARGET_MS) && Object.values(growth).every((g) => !g.superlinear);
  writeResults('staff', { perAssignment: PER, runs: RUNS, cores: os.cpus().length, targetMs: TARGET_MS, sizes, growth, ok });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
