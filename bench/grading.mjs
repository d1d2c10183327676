// Grading throughput with the embedded queue: jobs per minute with 1 and 2 graders on a
// CPU-bound test, and a burst of 200 submissions drained with none lost.
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { contentWith, prepareData, signIn, startServer, writeResults, ROOT } from './_lib.mjs';

// About a second and a half of CPU in the sandbox per run.
const CPU_TEST = `i=0; s=0; while [ $i -lt 400000 ]; do s=$((s + i * i)); i=$((i + 1)); done; echo "$s" > /dev/null`;

async function submitAll(url, client, n) {
  const ids = [];
  for (let i = 0; i < n; i++) {
    const form = new FormData();
    form.append('files', new Blob([`answer ${i}\n`]), 'answer.txt');
    const res = await fetch(`${url}/courses/prog1/assignments/bench/submissions?_csrf=${encodeURIComponent(client.csrf())}`, {
      method: 'POST',
      headers: { cookie: client.cookie(), accept: 'application/json' },
      body: form,
    });
    if (res.status !== 201) throw new Error(`submission ${i} answered ${res.status}: ${await res.text()}`);
    ids.push((await res.json()).id);
  }
  return ids;
}

async function countDone(dataDir) {
  const { openDatabase, databasePath } = await import(path.join(ROOT, 'dist/db/open.js'));
  const db = openDatabase(databasePath(dataDir));
  try {
    const jobs = db.prepare("SELECT count(*) AS n FROM jobs WHERE state IN ('done', 'error')").get().n;
    const results = db.prepare('SELECT count(*) AS n, count(DISTINCT job_id) AS distinctJobs FROM results').get();
    const submissions = db.prepare('SELECT count(*) AS n FROM submissions').get().n;
    return { jobs, results: results.n, distinctJobs: results.distinctJobs, submissions };
  } finally {
    db.close();
  }
}

async function run(graders, n, script) {
  const { dataDir, students } = await prepareData(1);
  const server = await startServer({ LECTERN_DATA: dataDir, LECTERN_CONTENT: contentWith(script), LECTERN_GRADERS: String(graders) });
  try {
    const client = await signIn(server.url, students[0].email, students[0].password);
    const started = Date.now();
    await submitAll(server.url, client, n);
    const accepted = Date.now() - started;
    let state;
    for (;;) {
      state = await countDone(dataDir);
      if (state.jobs >= n) break;
      if (Date.now() - started > 15 * 60_000) throw new Error(`not drained: ${JSON.stringify(state)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const seconds = (Date.now() - started) / 1000;
    return { graders, n, seconds, acceptedMs: accepted, jobsPerMinute: (n / seconds) * 60, ...state, lost: n - state.results };
  } finally {
    await server.stop();
  }
}

export async function main() {
  const cpu1 = await run(1, 20, CPU_TEST);
  console.log(`grading cpu-bound, 1 grader: ${cpu1.jobsPerMinute.toFixed(1)} jobs/min (${cpu1.n} jobs in ${cpu1.seconds.toFixed(1)} s)`);
  const cpu2 = await run(2, 20, CPU_TEST);
  console.log(`grading cpu-bound, 2 graders: ${cpu2.jobsPerMinute.toFixed(1)} jobs/min (${cpu2.n} jobs in ${cpu2.seconds.toFixed(1)} s), ${(cpu2.jobsPerMinute / cpu1.jobsPerMinute).toFixed(2)}x of 1`);
  const burst = await run(2, 200, 'cat answer.txt > /dev/null');
  console.log(`burst of 200 submissions, 2 graders: accepted in ${(burst.acceptedMs / 1000).toFixed(1)} s, drained in ${burst.seconds.toFixed(1)} s (${burst.jobsPerMinute.toFixed(0)} jobs/min), results ${burst.results}, lost ${burst.lost}, doubled ${burst.results - burst.distinctJobs}`);
  writeResults('grading', { cpu1, cpu2, burst });
  if (burst.lost !== 0 || burst.results !== burst.distinctJobs) throw new Error('jobs were lost or doubled');
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
