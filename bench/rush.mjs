// The deadline rush of a 1,000-student course, on loopback against a real server process.
//
// A generated course (1,000 students, 10 assignments, one graded submission per student on each
// of the nine past ones) receives 1,000 submissions to the open assignment over 5 minutes, 40 %
// in the first four minutes and 60 % in the last, each graded by a test that costs about 0.3 s
// of CPU. Meanwhile 200 signed-in students reload their course page and a result page (each every
// 1-3 s, at random), and each submitter watches their result arrive over a live-status stream
// (at most 300 open at once), as the submission page does.
//
// Printed: page latency p50/p99 during the rush (target p99 <= 50 ms), requests refused or failed,
// receipt to result p50/p99, the queue's drain time against the physical limit (the soonest any
// schedule on this machine's cores could finish the same CPU work arriving at the same times;
// target <= 1.15x), server RSS per open live stream, and that nothing was lost.
//
// `npm run bench -- rush`; BENCH_RUSH_SCALE=0.2 runs a fifth of everything (counts and time) for
// a quick look; BENCH_RUSH_CPU_S sets the test's CPU cost (0.3).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { percentile, ROOT, rss, startServer, writeResults } from './_lib.mjs';
import { ASSIGNMENTS, COURSE, populate, writeCourse } from './_course.mjs';

const SCALE = Number(process.env.BENCH_RUSH_SCALE ?? 1);
const CPU_S = Number(process.env.BENCH_RUSH_CPU_S ?? 0.3);
const STUDENTS = 1000;
const SUBMISSIONS = Math.round(1000 * SCALE);
const READERS = Math.round(200 * SCALE);
const STREAMS = Math.round(300 * SCALE);
const RUSH_MS = 300_000 * SCALE;
/** However long grading takes, the bench gives up after this. */
const HARD_LIMIT_MS = RUSH_MS + 20 * 60_000;
const TARGET_P99_MS = 50;
const TARGET_DRAIN = 1.15;
const OPEN = COURSE;
const TARGET = ASSIGNMENTS.at(-1);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds of this process's waited-for children, from /proc (USER_HZ = 100). */
function childCpu() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
}

/** A shell loop of about `seconds` of CPU on this machine: measured, not assumed. */
function calibratedLoop(seconds) {
  const loop = (n) => `i=0; while [ $i -lt ${n} ]; do i=$((i + 1)); done`;
  const n0 = 200_000;
  const before = childCpu();
  spawnSync('/bin/sh', ['-c', loop(n0)]);
  const used = Math.max(0.01, childCpu() - before);
  return { script: loop(Math.max(1000, Math.round((n0 * seconds) / used))), perIteration: used / n0 };
}

/** Arrival times (ms from the start): 40 % over the first four fifths, 60 % in the last fifth. */
function schedule(n, spanMs) {
  const early = Math.round(n * 0.4);
  const times = [];
  for (let i = 0; i < early; i++) times.push(((i + Math.random()) / early) * spanMs * 0.8);
  for (let i = 0; i < n - early; i++) times.push(spanMs * 0.8 + ((i + Math.random()) / (n - early)) * spanMs * 0.2);
  return times.sort((a, b) => a - b);
}

export async function main() {
  const { script } = calibratedLoop(CPU_S);
  const content = writeCourse(script);
  const { tempDir } = await import('./_lib.mjs');
  const dataDir = tempDir();
  const server = await startServer({ LECTERN_DATA: dataDir, LECTERN_CONTENT: content, LECTERN_LOG_LEVEL: 'info' });
  const pages = [];
  const failures = { refused: 0, failed: 0, examples: [] };
  const fail = (kind, what) => {
    failures[kind]++;
    if (failures.examples.length < 10) failures.examples.push(what);
  };
  try {
    const { students } = await populate(dataDir, { students: STUDENTS, perAssignment: 1 });
    const base = server.url;
    const idsOf = await historyIds(dataDir, ASSIGNMENTS.at(-2));

    const timed = async (label, url, cookie) => {
      const t0 = performance.now();
      try {
        const res = await fetch(base + url, { headers: { cookie }, redirect: 'manual' });
        const body = await res.text();
        const ms = performance.now() - t0;
        if (res.status >= 500) fail('failed', `${label} ${res.status}`);
        else if (res.status !== 200) fail('refused', `${label} ${res.status} ${url}`);
        return { ms, body, status: res.status };
      } catch (err) {
        fail('failed', `${label} ${err.message}`);
        return { ms: performance.now() - t0, body: '', status: 0 };
      }
    };

    // Warm-up: every reader's pages once (first views render; later ones are what the rush sees).
    const readers = students.slice(STUDENTS - READERS);
    await Promise.all(readers.map(async (r) => {
      await timed('warm', `/courses/${OPEN}/`, r.cookie);
      await timed('warm', `/courses/${OPEN}/submissions/${idsOf.get(r.id)}`, r.cookie);
    }));
    failures.refused = failures.failed = 0;
    failures.examples.length = 0;

    const rssBefore = rss(server.pid);
    const started = Date.now();
    let rushOver = false;
    let openStreams = 0;
    let peak = { streams: 0, rss: rssBefore };
    const sampler = setInterval(() => {
      const r = rss(server.pid);
      if (openStreams > peak.streams) peak = { streams: openStreams, rss: r };
    }, 250);

    const readerLoops = readers.map(async (r) => {
      await sleep(Math.random() * 2000);
      while (!rushOver) {
        const url = Math.random() < 0.5 ? `/courses/${OPEN}/` : `/courses/${OPEN}/submissions/${idsOf.get(r.id)}`;
        const { ms } = await timed('reader', url, r.cookie);
        pages.push({ at: Date.now() - started, ms });
        await sleep(1000 + Math.random() * 2000);
      }
    });

    const accepted = [];
    const times = schedule(SUBMISSIONS, RUSH_MS);
    const submitters = times.map(async (at, i) => {
      const s = students[i];
      await sleep(Math.max(0, started + at - Date.now()));
      const page = await timed('assignment page', `/courses/${OPEN}/assignments/${TARGET}/`, s.cookie);
      pages.push({ at: Date.now() - started, ms: page.ms });
      const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
      const form = new FormData();
      form.append('files', new Blob([`answer of ${s.id}\n`]), 'answer.txt');
      let id;
      try {
        const res = await fetch(`${base}/courses/${OPEN}/assignments/${TARGET}/submissions?_csrf=${encodeURIComponent(csrf)}`, { method: 'POST', headers: { cookie: s.cookie, accept: 'application/json' }, body: form });
        const text = await res.text();
        if (res.status !== 201) {
          fail(res.status >= 500 ? 'failed' : 'refused', `submit ${res.status} ${text.slice(0, 120)}`);
          return;
        }
        id = JSON.parse(text).id;
        accepted.push(id);
      } catch (err) {
        fail('failed', `submit ${err.message}`);
        return;
      }
      if (openStreams >= STREAMS) return;
      openStreams++;
      try {
        const res = await fetch(`${base}/courses/${OPEN}/submissions/${id}/events`, { headers: { cookie: s.cookie } });
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let text = '';
        while (!text.includes('event: end')) {
          const { value, done } = await reader.read();
          if (done) break;
          text += decoder.decode(value, { stream: true });
        }
        await reader.cancel();
      } catch (err) {
        fail('failed', `stream ${err.message}`);
      } finally {
        openStreams--;
      }
    });
    await Promise.all(submitters);
    const submittedMs = Date.now() - started;

    // Until every accepted submission has its result (or the hard limit).
    let graded;
    for (;;) {
      graded = await gradedCount(dataDir, TARGET);
      if (graded >= accepted.length) break;
      if (Date.now() - started > HARD_LIMIT_MS) break;
      await sleep(500);
    }
    rushOver = true;
    clearInterval(sampler);
    await Promise.all(readerLoops);

    const during = pages.map((p) => p.ms);
    const figures = await outcome(dataDir, TARGET, accepted);
    const summary = {
      scale: SCALE,
      students: STUDENTS,
      submissions: SUBMISSIONS,
      readers: READERS,
      streamsCap: STREAMS,
      rushSeconds: RUSH_MS / 1000,
      testCpuSeconds: CPU_S,
      cores: os.cpus().length,
      submittedSeconds: submittedMs / 1000,
      pages: { count: during.length, p50Ms: percentile(during, 50), p99Ms: percentile(during, 99), targetP99Ms: TARGET_P99_MS },
      refused: failures.refused,
      failed: failures.failed,
      failureExamples: failures.examples,
      accepted: accepted.length,
      ...figures,
      streams: { peakOpen: peak.streams, rssBeforeMb: rssBefore / 2 ** 20, rssAtPeakMb: peak.rss / 2 ** 20, rssPerStreamKb: peak.streams ? (peak.rss - rssBefore) / peak.streams / 1024 : null },
    };
    const r = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(d));
    console.log(`rush: ${STUDENTS} students, ${SUBMISSIONS} submissions over ${RUSH_MS / 1000} s (60 % in the last fifth), test ${CPU_S} s CPU, ${READERS} readers, <= ${STREAMS} live streams, ${os.cpus().length} cores`);
    console.log(`page latency during the rush: p50 ${r(summary.pages.p50Ms)} ms, p99 ${r(summary.pages.p99Ms)} ms over ${during.length} pages (target p99 <= ${TARGET_P99_MS} ms)`);
    console.log(`refused ${failures.refused}, failed ${failures.failed}${failures.examples.length ? ` (e.g. ${failures.examples.slice(0, 3).join('; ')})` : ''}`);
    console.log(`receipt to result: p50 ${r(figures.turnaround.p50S)} s, p99 ${r(figures.turnaround.p99S)} s`);
    console.log(`queue drain: ${r(figures.drain.actualS)} s from the first arrival to the last result; physical limit ${r(figures.drain.limitS)} s (total job CPU ${r(figures.drain.cpuS)} s / ${os.cpus().length} cores, arrivals as they came): ${r(figures.drain.ratio, 2)}x (target <= ${TARGET_DRAIN}x)`);
    console.log(`live streams: ${peak.streams} open at the peak, server RSS ${r(rssBefore / 2 ** 20)} -> ${r(peak.rss / 2 ** 20)} MB: ${r(summary.streams.rssPerStreamKb)} KB per stream (an upper bound: readers and the queue grow it too)`);
    console.log(`nothing lost: accepted ${accepted.length}, results ${figures.results}, graded once each ${figures.distinctJobs === figures.results ? 'yes' : 'NO'}, lost ${figures.lost}`);
    writeResults('rush', { ...summary, ok: summary.pages.p99Ms <= TARGET_P99_MS && figures.drain.ratio <= TARGET_DRAIN && figures.lost === 0 && failures.failed === 0 });
    if (figures.lost !== 0) throw new Error(`${figures.lost} accepted submissions have no result`);
  } finally {
    await server.stop();
  }
}

async function withDb(dataDir, fn) {
  const { openDatabase, databasePath } = await import(path.join(ROOT, 'dist/db/open.js'));
  const db = openDatabase(databasePath(dataDir));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** Each student's submission id on an earlier assignment: the result page readers reload. */
function historyIds(dataDir, slug) {
  return withDb(dataDir, (db) => new Map(db.prepare('SELECT s.user_id AS user, s.id FROM submissions s JOIN assignments a ON a.id = s.assignment_id WHERE a.slug = ?').all(slug).map((r) => [r.user, r.id])));
}

function gradedCount(dataDir, slug) {
  return withDb(dataDir, (db) => db.prepare("SELECT count(*) FROM jobs j JOIN submissions s ON s.id = j.submission_id JOIN assignments a ON a.id = s.assignment_id WHERE a.slug = ? AND j.state IN ('done', 'error')").pluck().get(slug));
}

function outcome(dataDir, slug, accepted) {
  return withDb(dataDir, (db) => {
    const rows = db
      .prepare('SELECT s.id, s.submitted_at, j.enqueued_at, r.created_at, r.cpu_ms, r.job_id FROM submissions s JOIN assignments a ON a.id = s.assignment_id JOIN jobs j ON j.submission_id = s.id JOIN results r ON r.job_id = j.id WHERE a.slug = ? ORDER BY j.enqueued_at')
      .all(slug);
    const cores = os.cpus().length;
    const turn = rows.map((r) => (r.created_at - r.submitted_at) / 1000);
    const first = rows.length ? rows[0].enqueued_at : 0;
    // The soonest the same CPU work could be done on these cores, arriving as it did: for each
    // arrival, that instant plus all the work arriving from then on, shared by every core.
    let suffix = 0;
    let bound = first;
    for (let k = rows.length - 1; k >= 0; k--) {
      suffix += (rows[k].cpu_ms ?? 0) / cores;
      bound = Math.max(bound, rows[k].enqueued_at + suffix);
    }
    const last = rows.reduce((m, r) => Math.max(m, r.created_at), first);
    const cpuS = rows.reduce((n, r) => n + (r.cpu_ms ?? 0), 0) / 1000;
    const ids = new Set(rows.map((r) => r.id));
    return {
      results: rows.length,
      distinctJobs: new Set(rows.map((r) => r.job_id)).size,
      lost: accepted.filter((id) => !ids.has(id)).length,
      turnaround: { p50S: percentile(turn, 50), p99S: percentile(turn, 99) },
      drain: { actualS: (last - first) / 1000, limitS: (bound - first) / 1000, cpuS, cpuPerCoreS: cpuS / cores, ratio: (last - first) / Math.max(1, bound - first) },
    };
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
