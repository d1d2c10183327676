// Grading throughput with the embedded queue: jobs per minute with 1 and 2 graders on a
// CPU-bound test, and a burst of 200 submissions drained with none lost.
import { pathToFileURL } from 'node:url';
import { CPU_TEST, contentWith, drainBurst, prepareData, signIn, startServer, writeResults } from './_lib.mjs';

async function run(graders, n, script) {
  const { dataDir, students } = await prepareData(1);
  const server = await startServer({ LECTERN_DATA: dataDir, LECTERN_CONTENT: contentWith(script), LECTERN_GRADERS: String(graders) });
  try {
    const client = await signIn(server.url, students[0].email, students[0].password);
    return { graders, ...(await drainBurst(server.url, client, dataDir, n)) };
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
