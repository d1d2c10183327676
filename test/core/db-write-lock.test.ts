import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { Agent, ROOT } from '../helpers/index.js';
import { contentWithSlowAssignment, prepareData, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { upload, waitForResult } from '../helpers/submit.js';

/**
 * Another process (the CLI, a backup, a second server) holds the database's write lock for
 * seconds: pages that only read keep answering at once, a write waits for the lock without
 * stopping the server, and answers a clear 503 with Retry-After when it cannot happen in time.
 */

const student = { email: 'lock@example.org', name: 'Lock Student', password: 'correct horse battery staple' };
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** A second process that takes the write lock (BEGIN IMMEDIATE) and holds it until killed. */
async function holdWriteLock(dbFile: string): Promise<ChildProcess> {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.exec('BEGIN IMMEDIATE');
    db.prepare("UPDATE sessions SET csrf_secret = csrf_secret WHERE 0").run();
    process.stdout.write('locked\\n');
    setInterval(() => undefined, 1000);
  `;
  const child = spawn(process.execPath, ['-e', script, dbFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  expect(line.toString()).toContain('locked');
  return child;
}

async function timed(agent: Agent, path: string): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const res = await agent.fetch(path);
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - t0 };
}

describe('a write lock held by another process (real server process)', () => {
  it('reading pages never wait for it, a submission waits without blocking and then answers 503 with Retry-After; after the lock all is well', { timeout: 120_000 }, async () => {
    const { dataDir } = prepareData(student);
    const content = contentWithSlowAssignment(0);
    const server: ServerProcess = await startServerProcess({ LECTERN_DATA: dataDir, LECTERN_CONTENT: content, LECTERN_GRADERS: '1' });
    cleanups.push(() => {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    });
    const me = new Agent(server.url);
    await me.get('/login');
    expect((await me.post('/login', { email: student.email, password: student.password })).status).toBe(302);
    await me.get('/courses/prog1/assignments/slow/');
    await me.get('/account');
    const anonymous = new Agent(server.url);
    // The session is due for its sliding expiry: the next page view would like to write it.
    const db = openDatabase(databasePath(dataDir));
    db.prepare('UPDATE sessions SET last_seen_at = last_seen_at - 3600000').run();
    db.close();

    const lock = await holdWriteLock(databasePath(dataDir));
    const pages = ['/healthz', '/', '/courses/prog1/', '/login'];
    // A submission starts waiting for the lock; meanwhile every reading page answers.
    const submitting = upload(me, 'prog1', 'slow', [{ name: 'answer.txt', content: 'locked out' }]);
    const during: Array<{ page: string; status: number; ms: number }> = [];
    for (let round = 0; round < 5; round++) {
      for (const page of pages) during.push({ page, ...(await timed(anonymous, page)) });
      during.push({ page: 'signed-in /courses/prog1/assignments/slow/', ...(await timed(me, '/courses/prog1/assignments/slow/')) });
    }
    const res = await submitting;
    for (const d of during) expect(d.status, d.page).toBe(200);
    // The lock is held for as long as the test lasts; a page that waited for it would take seconds.
    // The bound is loose for a busy machine and still far below the 4 s a write waits.
    const slowest = Math.max(...during.map((d) => d.ms));
    expect(slowest, JSON.stringify(during)).toBeLessThan(2_000);
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await res.json()) as { error: string }).error).toMatch(/database is locked\): nothing was stored/);

    lock.kill('SIGKILL');
    await once(lock, 'exit');
    const ok = await upload(me, 'prog1', 'slow', [{ name: 'answer.txt', content: 'after the lock' }]);
    expect(ok.status).toBe(201);
    const { id } = (await ok.json()) as { id: number };
    expect((await waitForResult(me, 'prog1', id, 30_000)).result).toMatchObject({ status: 'passed' });
    const check = openDatabase(databasePath(dataDir));
    const subs = check.prepare('SELECT count(*) AS n FROM submissions').get() as { n: number };
    const slid = check.prepare('SELECT count(*) AS n FROM sessions WHERE last_seen_at > ?').get(Date.now() - 600_000) as { n: number };
    check.close();
    expect(subs.n).toBe(1);
    // The expiry slid once the lock was gone.
    expect(slid.n).toBeGreaterThan(0);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });
});
