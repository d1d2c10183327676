import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { Agent, ROOT } from '../helpers/index.js';
import { waitUntil } from '../helpers/processes.js';
import { contentWithSlowAssignment, prepareData } from '../helpers/server-process.js';
import { startSocketSupervisor, type SocketSupervisor } from '../helpers/socket-activation.js';
import { upload, waitForResult } from '../helpers/submit.js';

/**
 * A restart or a stop during a long test run, in the setups where the service manager starts the
 * next process only after the old one exited (systemd's lectern.socket + a unit running node
 * itself, emulated by the socket supervisor): one process, and a cluster (LECTERN_WORKERS=2),
 * whose primary runs the grading pool. The old process hands its running job back at once
 * (no attempt counted) and exits without waiting for the run; the next process grades the job,
 * once. Real processes, the real sandbox.
 */

const CLI = path.join(ROOT, 'dist/start.cjs');
const student = { email: 'modes@example.org', name: 'Modes Student', password: 'correct horse battery staple' };
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The parent of a process: a cluster's worker answers, its primary is the server a restart replaces. */
function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

function jobOf(dataDir: string): { state: string; attempts: number; crashes: number; results: number; workers: string[] } {
  const db = openDatabase(databasePath(dataDir));
  try {
    const job = db.prepare('SELECT id, state, attempts, crashes FROM jobs ORDER BY id DESC LIMIT 1').get() as { id: number; state: string; attempts: number; crashes: number };
    const workers = db.prepare('SELECT worker FROM results WHERE job_id = ?').pluck().all(job.id) as string[];
    return { state: job.state, attempts: job.attempts, crashes: job.crashes, results: workers.length, workers };
  } finally {
    db.close();
  }
}

async function setUp(workers: number): Promise<{ sup: SocketSupervisor; dataDir: string; me: Agent; submission: number; pid1: number }> {
  const { dataDir } = prepareData(student);
  // 20 s rather than the benchmark's 8: on a loaded machine the next process's start-up must still
  // fall well inside the run for "answered before the job was graded" to say something.
  const content = contentWithSlowAssignment(20);
  cleanups.push(() => {
    rmSync(content, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });
  const sup = await startSocketSupervisor({
    command: process.execPath,
    args: [CLI, 'serve'],
    cwd: ROOT,
    env: { NODE_ENV: 'production', LECTERN_DATA: dataDir, LECTERN_CONTENT: content, LECTERN_GRADERS: '1', LECTERN_SELF_CHECK: 'no', LECTERN_WORKERS: String(workers), LECTERN_LOG_LEVEL: 'warn' },
  });
  cleanups.push(() => sup.stop());
  const pid1 = await sup.started(1);
  const me = new Agent(sup.url);
  await waitUntil('the first server to answer', () => me.get('/login').then((r) => r.res.status === 200, () => false), 60_000);
  expect((await me.post('/login', { email: student.email, password: student.password })).status).toBe(302);
  await me.get('/courses/prog1/assignments/slow/');
  const res = await upload(me, 'prog1', 'slow', [{ name: 'answer.txt', content: 'long' }]);
  expect(res.status).toBe(201);
  const { id } = (await res.json()) as { id: number };
  await waitUntil('the job to run', () => jobOf(dataDir).state === 'running', 60_000, 25);
  return { sup, dataDir, me, submission: id, pid1 };
}

/** A page load every 50 ms, as a class reloading would; each noted with the server that answered. */
function pageLoads(url: string, workers: number): { loads: Array<{ status: number; server: number | null; jobState: string | null }>; stop(): Promise<void> } {
  const loads: Array<{ status: number; server: number | null; jobState: string | null }> = [];
  let stopping = false;
  const loop = (async () => {
    while (!stopping) {
      try {
        // A GET on a kept-alive connection the draining server closes as idle at that moment is
        // reset; browsers send it again on a new connection, and so does this loader.
        const get = () => fetch(`${url}/healthz`, { signal: AbortSignal.timeout(30_000) });
        const r = await get().catch((err: { cause?: { code?: string } }) => {
          if (['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(err.cause?.code ?? '')) return get();
          throw err;
        });
        const { pid } = (await r.json()) as { pid: number };
        loads.push({ status: r.status, server: workers > 1 ? parentOf(pid) : pid, jobState: null });
      } catch {
        loads.push({ status: 0, server: null, jobState: null });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    loads,
    async stop() {
      stopping = true;
      await loop;
    },
  };
}

describe('a restart during a 20 s test run, the next process started only after the old one exited', () => {
  for (const workers of [1, 2]) {
    it(`${workers === 1 ? 'one process' : 'a cluster of 2 web workers'}: pages keep loading, the new server answers before the job is graded, the job is graded once by it`, { timeout: 240_000 }, async () => {
      const { sup, dataDir, me, submission, pid1 } = await setUp(workers);
      const loader = pageLoads(sup.url, workers);
      const token = readFileSync(path.join(dataDir, 'restart.token'), 'utf8').trim();
      expect((await fetch(`${sup.url}/restart`, { method: 'POST', headers: { 'x-restart-token': token } })).status).toBe(202);
      const pid2 = await sup.started(2);
      // The first page from the next server, and where the job stood at that moment.
      const first = await waitUntil('a page from the next server', () => loader.loads.find((l) => l.server === pid2), 90_000, 20);
      const atFirstPage = jobOf(dataDir);
      await waitUntil('a few more pages', () => loader.loads.filter((l) => l.server === pid2).length >= 5, 60_000, 20);
      await loader.stop();
      const context = `${JSON.stringify(sup.events)}\n${sup.output()}`;
      expect(first.status).toBe(200);
      expect(loader.loads.filter((l) => l.status !== 200), context).toEqual([]);
      // The old process went without grading the job (handed back: no attempt, no crash) ...
      expect(await sup.exited(pid1)).toMatchObject({ code: 0 });
      // ... and the next one served before the job's result existed: serving did not wait for it.
      expect(atFirstPage.results).toBe(0);
      expect(atFirstPage.state).not.toBe('done');

      const status = await waitForResult(me, 'prog1', submission, 120_000);
      expect(status.result).toMatchObject({ status: 'passed', gradable: true });
      const job = jobOf(dataDir);
      expect(job).toMatchObject({ state: 'done', attempts: 1, crashes: 0, results: 1 });
      expect(job.workers).toEqual([expect.stringContaining(`:${pid2}:`)]);
    });
  }
});

describe('SIGTERM (systemctl stop) during a 20 s test run', () => {
  for (const workers of [1, 2]) {
    it(`${workers === 1 ? 'one process' : 'a cluster'}: exits 0 without grading the job; after the next start the job is graded once, no attempt counted`, { timeout: 240_000 }, async () => {
      const { sup, dataDir, me, submission, pid1 } = await setUp(workers);
      process.kill(pid1, 'SIGTERM');
      const exit = await sup.exited(pid1, 60_000);
      expect(exit, sup.output()).toMatchObject({ code: 0, signal: null });
      // The supervisor starts the service again, as `systemctl start` would.
      const pid2 = await sup.started(2);
      const status = await waitForResult(me, 'prog1', submission, 120_000);
      expect(status.result).toMatchObject({ status: 'passed', gradable: true });
      const job = jobOf(dataDir);
      expect(job).toMatchObject({ state: 'done', attempts: 1, crashes: 0, results: 1 });
      // Graded by the next process: the stopped one had handed it back rather than finished it.
      expect(job.workers).toEqual([expect.stringContaining(`:${pid2}:`)]);
    });
  }
});
