import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { systemClock } from '../../src/lib/clock.js';
import { sandboxBaseDir } from '../../src/lib/sandbox/sweep.js';
import { createUser } from '../../src/plugins/accounts/users.js';
import { CRASHES_ALONE_LIMIT } from '../../src/plugins/autotest/queue.js';
import { Agent } from '../helpers/index.js';
import { contentWithSlowAssignment, prepareData, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { upload, waitForResult } from '../helpers/submit.js';

/**
 * Server crashes during a test run (kill -9 of the real server process): the job is not failed
 * for them, its sandbox and run dir do not outlive the server, and only a job the server keeps
 * dying on is set aside, visibly, for staff to re-run.
 */

const student = { email: 'crashes@example.org', name: 'Crash Student', password: 'correct horse battery staple' };
const admin = { email: 'boss@example.org', password: 'another long password here' };
const running: ServerProcess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
});

async function start(dataDir: string, content: string): Promise<ServerProcess> {
  const p = await startServerProcess({ LECTERN_DATA: dataDir, LECTERN_CONTENT: content, LECTERN_GRADERS: '1' });
  running.push(p);
  return p;
}

async function login(url: string, who: { email: string; password: string }): Promise<Agent> {
  const agent = new Agent(url);
  await agent.get('/login');
  const res = await agent.post('/login', { email: who.email, password: who.password });
  expect(res.status).toBe(302);
  await agent.get('/account');
  return agent;
}

interface JobRow {
  state: string;
  attempts: number;
  crashes: number;
  lease_owner: string | null;
  last_error: string | null;
}

function job(dataDir: string): JobRow {
  const db = openDatabase(databasePath(dataDir));
  try {
    return db.prepare('SELECT state, attempts, crashes, lease_owner, last_error FROM jobs ORDER BY id DESC LIMIT 1').get() as JobRow;
  } finally {
    db.close();
  }
}

/** Waits until the job is running in this server's sandbox: leased by its pid, its run dir made. */
async function runningIn(dataDir: string, server: ServerProcess): Promise<string[]> {
  const base = sandboxBaseDir();
  for (let i = 0; i < 400; i++) {
    const j = job(dataDir);
    const dirs = existsSync(base) ? readdirSync(base).filter((d) => d.startsWith(`run-${server.pid}-`)) : [];
    if (j.state === 'running' && j.lease_owner?.includes(`:${server.pid}:`) && dirs.length) return dirs.map((d) => path.join(base, d));
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the job never ran in ${server.pid}: ${JSON.stringify(job(dataDir))}`);
}

/** Processes whose command line names the dir (the sandbox's bwrap binds its run dir). */
function processesUsing(dir: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'latin1').includes(dir)) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function killHard(server: ServerProcess): Promise<void> {
  server.child.kill('SIGKILL');
  await server.exited;
}

describe('server crashes during a test run (real processes, kill -9)', () => {
  it('three crashes during one job: no attempt lost, no sandbox or run dir left after each start, then a result', { timeout: 180_000 }, async () => {
    const { dataDir } = prepareData(student);
    const content = contentWithSlowAssignment(3);
    let server = await start(dataDir, content);
    const agent = await login(server.url, student);
    const res = await upload(agent, 'prog1', 'slow', [{ name: 'answer.txt', content: 'hello' }]);
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: number };

    for (let crash = 1; crash <= 3; crash++) {
      const dirs = await runningIn(dataDir, server);
      await killHard(server);
      // The sandbox dies with its server (the kernel delivers the parent-death signal as the
      // server goes, its processes take a moment to exit); only the run dir stays behind.
      for (const d of dirs) {
        for (let i = 0; i < 200 && processesUsing(d).length; i++) await new Promise((r) => setTimeout(r, 50));
        expect(processesUsing(d), `sandbox of ${d} outlived its server by 10 s`).toEqual([]);
      }
      expect(dirs.some((d) => existsSync(d))).toBe(true);
      server = await start(dataDir, content);
      // The next start swept the dead server's run dirs before running anything.
      for (const d of dirs) expect(existsSync(d), `${d} left behind`).toBe(false);
      const j = job(dataDir);
      expect(j.crashes).toBe(crash);
      expect(j.state === 'queued' || j.state === 'running').toBe(true);
    }

    const after = new Agent(server.url);
    for (const [k, v] of agent.cookies) after.cookies.set(k, v);
    const status = await waitForResult(after, 'prog1', id, 60_000);
    expect(status.result).toMatchObject({ status: 'passed', gradable: true });
    expect(job(dataDir)).toMatchObject({ state: 'done', attempts: 1, crashes: 3 });
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('a job the server keeps dying on while it runs alone is set aside: "could not be graded yet" for the student, one-click re-run for staff', { timeout: 180_000 }, async () => {
    const { dataDir } = prepareData(student);
    const db = openDatabase(databasePath(dataDir));
    createUser(db, { email: admin.email, name: 'Boss', password: admin.password, isAdmin: true }, systemClock);
    db.close();
    const content = contentWithSlowAssignment(3);
    let server = await start(dataDir, content);
    const agent = await login(server.url, student);
    const { id } = (await (await upload(agent, 'prog1', 'slow', [{ name: 'answer.txt', content: 'x' }])).json()) as { id: number };
    for (let crash = 1; crash <= CRASHES_ALONE_LIMIT + 1; crash++) {
      await runningIn(dataDir, server);
      await killHard(server);
      server = await start(dataDir, content);
    }
    const setAside = job(dataDir);
    expect(setAside).toMatchObject({ state: 'error', crashes: CRASHES_ALONE_LIMIT + 1, attempts: 0 });
    expect(setAside.last_error).toMatch(/^set aside: the server stopped 4 times while this job ran, 3 of them with nothing else running/);

    const mine = new Agent(server.url);
    for (const [k, v] of agent.cookies) mine.cookies.set(k, v);
    const page = await mine.get(`/courses/prog1/submissions/${id}`);
    expect(page.text).toContain('Could not be graded yet.');
    expect(page.text).not.toContain('set aside');

    const staff = await login(server.url, admin);
    const dashboard = await staff.get('/courses/prog1/dashboard');
    expect(dashboard.text).toContain('set aside: the server stopped 4 times');
    expect(dashboard.text).toMatch(/<button type="submit">Re-run submission 1<\/button>/);
    const rerun = await staff.post('/courses/prog1/assignments/slow/reruns', { scope: 'one', submission: String(id), version: 'own' });
    expect(rerun.status).toBe(302);
    const status = await waitForResult(mine, 'prog1', id, 60_000);
    expect(status.result).toMatchObject({ status: 'passed', gradable: true });
    server.child.kill('SIGTERM');
    await server.exited;
  });
});
