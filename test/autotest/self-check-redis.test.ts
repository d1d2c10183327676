import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { systemClock } from '../../src/lib/clock.js';
import { createUser, enrol } from '../../src/plugins/accounts/users.js';
import { getAssignment, getVersion, getVersionByNumber } from '../../src/plugins/assignments/store.js';
import { getSelfCheck, type SelfCheck } from '../../src/plugins/autotest/self-check-store.js';
import { PREFIX, QUEUE } from '../../src/plugins/autotest/run/redis-common.js';
import { TEST_PASSWORD } from '../helpers/accounts.js';
import { makeZip, type ArchiveEntry } from '../helpers/archives.js';
import { copyDemoContent } from '../helpers/content.js';
import { Agent, ROOT, tempDir } from '../helpers/index.js';
import { freePort } from '../helpers/ports.js';
import { track, waitUntil, type Proc } from '../helpers/processes.js';

/**
 * The publish-time self-check in Redis mode (issue 13): a real redis-server on loopback, a real
 * `lectern serve` and `lectern worker` from dist/ (run `npm run build` first), the real sandbox.
 * The web server assembles each check, the worker grades its submissions as it grades students'
 * jobs, and a new version waits as pending until its check passes or a lecturer confirms it.
 */
const CLI = path.join(ROOT, 'dist/start.cjs');
const REDIS = '/usr/bin/redis-server';
const LECTURER = 'lecturer@example.org';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startRedis(): Promise<string> {
  const port = await freePort();
  const dir = tempDir('lectern-redis-');
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const proc = track(spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] }), cleanups);
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => undefined);
  try {
    await waitUntil('redis-server to answer', async () => {
      if (proc.child.exitCode !== null) throw new Error(`redis-server exited: ${proc.output()}`);
      try {
        if (probe.status !== 'ready') await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        probe.disconnect();
        return false;
      }
    }, 10_000);
  } finally {
    probe.disconnect();
  }
  return url;
}

function filesOf(dir: string, prefix = ''): ArchiveEntry[] {
  const out: ArchiveEntry[] = [];
  for (const name of readdirSync(dir).sort()) {
    const abs = path.join(dir, name);
    const st = statSync(abs);
    if (st.isDirectory()) out.push(...filesOf(abs, `${prefix}${name}/`));
    else out.push({ name: `${prefix}${name}`, data: readFileSync(abs), mode: st.mode & 0o111 ? 0o100755 : 0o100644 });
  }
  return out;
}

/** The demo's stats alone (one small bundle), with its reference solution shipped in solution/. */
function content(): string {
  const dir = copyDemoContent();
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  rmSync(path.join(dir, 'assignments', 'caesar'), { recursive: true, force: true });
  mkdirSync(path.join(dir, 'assignments', 'stats', 'solution'));
  copyFileSync(path.join(ROOT, 'examples/solutions/stats/stats.py'), path.join(dir, 'assignments', 'stats', 'solution', 'stats.py'));
  return dir;
}

/** stats with a grading that trusts a results.json in the submission's dir: a hostile submission forges full marks. */
function weakStats(): string {
  const a = path.join(tempDir('lectern-weak-'), 'stats');
  cleanups.push(() => rmSync(path.dirname(a), { recursive: true, force: true }));
  mkdirSync(path.join(a, 'tests'), { recursive: true });
  mkdirSync(path.join(a, 'solution'), { recursive: true });
  writeFileSync(
    path.join(a, 'assignment.yaml'),
    `title: Weak
opens: 2026-09-01T08:00:00+02:00
deadline: 2027-10-15T23:59:00+02:00
files: [main.py]
max_files: 1
test:
  command: [/bin/sh, tests/run.sh]
  limits: { wall: 20s }
`,
  );
  writeFileSync(path.join(a, 'statement.md'), '# Weak\n\nPrint 42.\n');
  writeFileSync(path.join(a, 'tests', 'run.sh'), '#!/bin/sh\nout=$(/usr/bin/python3 main.py)\n[ "$out" = 42 ]\n');
  chmodSync(path.join(a, 'tests', 'run.sh'), 0o755);
  writeFileSync(path.join(a, 'solution', 'main.py'), 'print(42)\n');
  return a;
}

async function zipOf(dir: string, change?: (e: ArchiveEntry) => ArchiveEntry): Promise<string> {
  const zip = path.join(tempDir('lectern-zip-'), 'stats.zip');
  cleanups.push(() => rmSync(path.dirname(zip), { recursive: true, force: true }));
  await makeZip(zip, filesOf(dir, 'stats/').map(change ?? ((e) => e)));
  return zip;
}

function prepareData(): string {
  const dataDir = tempDir('lectern-data-');
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const db = openDatabase(databasePath(dataDir));
  try {
    migrate(db);
    const id = createUser(db, { email: LECTURER, name: 'Lecturer', password: TEST_PASSWORD }, systemClock);
    enrol(db, { userId: id, course: 'prog1', role: 'lecturer' }, systemClock);
  } finally {
    db.close();
  }
  return dataDir;
}

/** What the server's database says, read on a connection of the test's own. */
function look<T>(dataDir: string, read: (db: ReturnType<typeof openDatabase>) => T): T {
  const db = openDatabase(databasePath(dataDir));
  try {
    return read(db);
  } finally {
    db.close();
  }
}

/** The assignment row (its current and pending versions) and the number of its current version. */
const stats = (dataDir: string) =>
  look(dataDir, (db) => {
    const assignment = getAssignment(db, 'prog1', 'stats')!;
    return { assignment, current: assignment.currentVersionId === null ? null : getVersion(db, assignment.currentVersionId)!.number };
  });
const checkOf = (dataDir: string, number: number): SelfCheck | null =>
  look(dataDir, (db) => {
    const v = getVersionByNumber(db, getAssignment(db, 'prog1', 'stats')!.id, number);
    return v ? getSelfCheck(db, v.id) : null;
  });
const finished = (dataDir: string, number: number) => waitUntil(`the self-check of stats version ${number}`, () => {
  const c = checkOf(dataDir, number);
  return c && c.state !== 'running' ? c : null;
}, 400_000, 250);

async function startServer(dataDir: string, contentDir: string, redisUrl: string): Promise<{ proc: Proc; url: string }> {
  const port = await freePort();
  const env = { PATH: process.env.PATH, NODE_ENV: 'production', LECTERN_DATA: dataDir, LECTERN_CONTENT: contentDir, LECTERN_PORT: String(port), LECTERN_QUEUE: redisUrl, LECTERN_LOG_LEVEL: 'info', LECTERN_REDIS_SYNC_MS: '300', LECTERN_DRAIN_MS: '2000' };
  const proc = track(spawn(process.execPath, [CLI, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] }), cleanups);
  await waitUntil('the web server to listen', () => {
    if (proc.child.exitCode !== null) throw new Error(`server exited: ${proc.output()}`);
    return proc.output().includes('Lectern is serving');
  }, 30_000);
  return { proc, url: `http://127.0.0.1:${port}` };
}

async function startWorker(redisUrl: string): Promise<Proc> {
  const cache = tempDir('lectern-worker-');
  cleanups.push(() => rmSync(cache, { recursive: true, force: true }));
  const env = { PATH: process.env.PATH, NODE_ENV: 'production', LECTERN_QUEUE: redisUrl, LECTERN_DATA: cache, LECTERN_WORKER_NAME: 'w1', LECTERN_WORKER_CONCURRENCY: '2', LECTERN_LOG_LEVEL: 'info', LECTERN_DRAIN_MS: '3000' };
  const proc = track(spawn(process.execPath, [CLI, 'worker'], { env, stdio: ['ignore', 'pipe', 'pipe'] }), cleanups);
  await waitUntil('the worker to start', () => {
    if (proc.child.exitCode !== null) throw new Error(`worker exited: ${proc.output()}`);
    return proc.output().includes('Lectern worker');
  }, 30_000);
  return proc;
}

async function signIn(url: string): Promise<Agent> {
  const agent = new Agent(url);
  await agent.get('/login');
  expect((await agent.post('/login', { email: LECTURER, password: TEST_PASSWORD })).status).toBe(302);
  await agent.get('/courses/prog1/assignments/stats/staff');
  return agent;
}

async function upload(agent: Agent, zip: string): Promise<string | null> {
  const form = new FormData();
  form.append('bundle', new Blob([readFileSync(zip)]), 'stats.zip');
  const r = await agent.fetch(`/courses/prog1/assignments/stats/upload?_csrf=${encodeURIComponent(agent.csrf)}`, { method: 'POST', body: form });
  return r.headers.get('location');
}

describe('the self-check in Redis mode', () => {
  it('waits, queued, with no worker; on a worker a good version passes and becomes current, a foolable one stays pending until a lecturer confirms', async () => {
    if (!existsSync(CLI)) throw new Error('dist/start.cjs is missing: run `npm run build` before this test');
    if (!existsSync(REDIS)) throw new Error(`${REDIS} is missing: apt-get install redis-server`);
    const redisUrl = await startRedis();
    const dataDir = prepareData();
    const contentDir = content();
    const { url } = await startServer(dataDir, contentDir, redisUrl);
    const lecturer = await signIn(url);

    // No worker connected: version 1's check is queued, visibly, and goes nowhere.
    await waitUntil('version 1 queued', () => checkOf(dataDir, 1)?.phase === 'queued' && checkOf(dataDir, 1)!.progress?.includes('no grading worker is connected'));

    // Version 2 (a changed statement) is held as pending while its check waits for a worker.
    const zip2 = await zipOf(path.join(contentDir, 'assignments', 'stats'), (e) => (e.name === 'stats/statement.md' ? { ...e, data: Buffer.from(`${String(e.data)}\nVersion 2.\n`) } : e));
    expect(await upload(lecturer, zip2)).toBe('/courses/prog1/assignments/stats/staff?done=held&v=2');
    await waitUntil('version 2 queued', () => checkOf(dataDir, 2)?.phase === 'queued');
    const staff = await lecturer.get('/courses/prog1/assignments/stats/staff');
    expect(staff.text).toContain('data-self-check-site="remote"');
    expect(staff.text).toContain('data-self-check-phase="queued"');
    expect(staff.text).toContain('no grading worker is connected');
    expect((await lecturer.get('/courses/prog1/dashboard')).text).toContain('stats version 2</a>: self-check queued');
    // Nothing is current yet: a new assignment's first version waits for its check too, so students cannot open it.
    expect(stats(dataDir).current).toBeNull();
    expect(checkOf(dataDir, 2)!.state).toBe('running');

    // A worker starts: it grades both checks' submissions; version 2 passes and becomes current.
    const worker = await startWorker(redisUrl);
    const c2 = await finished(dataDir, 2);
    expect(c2).toMatchObject({ state: 'done', warning: false });
    expect(c2.entries.find((e) => e.kind === 'reference')).toMatchObject({ ok: true, gradable: true });
    expect(c2.entries.filter((e) => e.kind === 'hostile').length).toBeGreaterThanOrEqual(7);
    expect(c2.entries.every((e) => e.ok)).toBe(true);
    await waitUntil('version 2 current', () => stats(dataDir).current === 2);
    expect(stats(dataDir).assignment.pendingVersionId).toBeNull();
    expect((await finished(dataDir, 1)).warning).toBe(false);
    expect(worker.output()).toContain('"selfCheck"');

    // Version 3 can be fooled: checked on the worker, it stays pending with the warning.
    expect(await upload(lecturer, await zipOf(weakStats()))).toBe('/courses/prog1/assignments/stats/staff?done=held&v=3');
    const c3 = await finished(dataDir, 3);
    expect(c3).toMatchObject({ state: 'done', warning: true, heldBackFor: 2 });
    expect(c3.entries.find((e) => e.kind === 'reference')).toMatchObject({ ok: true, score: 1, maxScore: 1 });
    expect(c3.entries.find((e) => e.name === 'writes results.json')).toMatchObject({ ok: false });
    expect(c3.message).toMatch(/hostile submission "writes results.json" scored/);
    expect(stats(dataDir).current).toBe(2);
    const held = await lecturer.get('/courses/prog1/assignments/stats/staff');
    expect(held.text).toContain('It was never made current');
    expect((await lecturer.post('/courses/prog1/assignments/stats/versions/3/current', {})).status).toBe(422);
    expect(stats(dataDir).current).toBe(2);
    expect((await lecturer.post('/courses/prog1/assignments/stats/versions/3/current', { confirm: 'yes' })).status).toBe(302);
    expect(stats(dataDir).current).toBe(3);

    // The checks left no jobs rows (nothing a student's job could be mistaken for) and nothing in Redis.
    expect(look(dataDir, (db) => db.prepare('SELECT count(*) AS n FROM jobs').get() as { n: number }).n).toBe(0);
    const conn = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE, { connection: conn, prefix: PREFIX });
    try {
      const left = await queue.getRanges(['waiting', 'prioritized', 'active', 'completed', 'failed']);
      expect(left).toEqual([]);
    } finally {
      await queue.close();
      conn.disconnect();
    }
  }, 900_000);
});
