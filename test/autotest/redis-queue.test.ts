import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../helpers/ports.js';
import { track, waitUntil, type Proc } from '../helpers/processes.js';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { systemClock } from '../../src/lib/clock.js';
import { createUser, enrol } from '../../src/plugins/accounts/users.js';
import { listWorkers } from '../../src/plugins/autotest/redis-store.js';
import { signIn, TEST_PASSWORD } from '../helpers/accounts.js';
import { Agent, createTestApp, ROOT, tempDir, type TestApp } from '../helpers/index.js';
import { createNetns, netnsUnavailable, type Netns } from '../helpers/netns.js';
import { copyDemoContent, writeShellAssignment } from '../helpers/content.js';
import { upload, waitForResult } from '../helpers/submit.js';

/**
 * Redis mode against a real redis-server (Debian's), real `lectern serve` and `lectern worker`
 * processes from dist/ (run `npm run build` first), the real sandbox. Each test starts its own
 * Redis on a free loopback port with a temporary dir, never the system one.
 */
const CLI = path.join(ROOT, 'dist/start.cjs');
const REDIS = '/usr/bin/redis-server';
const COURSE = 'prog1';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function requireTools(): void {
  if (!existsSync(CLI)) throw new Error('dist/start.cjs is missing: run `npm run build` before this test');
  if (!existsSync(REDIS)) throw new Error(`${REDIS} is missing: apt-get install redis-server`);
}


// --- processes -----------------------------------------------------------------------------


interface RedisServer {
  port: number;
  url: string;
  start(): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function redisServer(options: { port: number; binds?: string[]; password?: string; aof?: boolean }): RedisServer {
  const dir = tempDir('lectern-redis-');
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const binds = options.binds ?? ['127.0.0.1'];
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : '';
  let proc: Proc | null = null;
  const server: RedisServer = {
    port: options.port,
    url: `redis://${auth}127.0.0.1:${options.port}`,
    async start() {
      const args = ['--port', String(options.port), '--bind', ...binds, '--dir', dir, '--save', '', '--daemonize', 'no', '--loglevel', 'warning'];
      args.push('--appendonly', options.aof ? 'yes' : 'no');
      if (options.aof) args.push('--appendfsync', 'always');
      if (options.password) args.push('--requirepass', options.password);
      proc = track(spawn(REDIS, args, { stdio: ['ignore', 'pipe', 'pipe'] }), cleanups);
      const probe = new Redis(server.url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      probe.on('error', () => undefined);
      try {
        await waitUntil(
          `redis-server on port ${options.port}`,
          async () => {
            if (proc!.child.exitCode !== null) throw new Error(`redis-server exited: ${proc!.output()}`);
            try {
              if (probe.status !== 'ready') await probe.connect();
              return (await probe.ping()) === 'PONG';
            } catch {
              probe.disconnect();
              return false;
            }
          },
          10_000,
        );
      } finally {
        probe.disconnect();
      }
    },
    async stop(signal = 'SIGTERM') {
      await proc?.kill(signal);
      proc = null;
    },
  };
  cleanups.push(() => server.stop('SIGKILL'));
  return server;
}

// --- content and site -------------------------------------------------------------------------

/**
 * The demo course with its assignments open now, plus "quick": its test script sleeps as long as
 * the answer says and scores what the answer says, so each job's result shows whose it is.
 */
function contentDir(): string {
  const dir = copyDemoContent();
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  for (const slug of ['caesar', 'stats']) {
    const file = path.join(dir, 'assignments', slug, 'assignment.yaml');
    const text = readFileSync(file, 'utf8')
      .replace(/^opens: .*$/m, 'opens: 2026-01-01T08:00:00+01:00')
      .replace(/^deadline: .*$/m, 'deadline: 2027-12-31T23:59:00+01:00')
      .replace(/^ {2}hard_close: .*$/m, '  hard_close: 7d')
      .replace(/^submissions_per_hour: .*$/m, 'submissions_per_hour: 1000');
    writeFileSync(file, text);
  }
  writeShellAssignment(dir, 'quick', {
    title: 'Quick',
    opens: '2026-01-01T08:00:00+01:00',
    deadline: '2027-12-31T23:59:00+01:00',
    submissionsPerHour: 1000,
    wall: '30s',
    memory: '256MB',
    statement: '# Quick\n\nWrite a score and a pause into answer.txt.\n',
    script: `read score pause < answer.txt
sleep "\${pause:-0}"
printf '{"score": %s, "max_score": 100, "output": "graded %s"}\\n' "$score" "$score" > results.json
`,
  });
  return dir;
}

interface Site {
  dataDir: string;
  contentDir: string;
  port: number;
  url: string;
  students: Array<{ email: string; agent: Agent }>;
}

/** A data dir with students enrolled before the server starts (the server then owns the db). */
function prepareSite(students: number): Omit<Site, 'port' | 'url' | 'students'> & { emails: string[] } {
  const dataDir = tempDir('lectern-data-');
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const db = openDatabase(databasePath(dataDir));
  const emails: string[] = [];
  try {
    migrate(db);
    for (let i = 1; i <= students; i++) {
      const email = `student${i}@example.org`;
      const id = createUser(db, { email, name: `Student ${i}`, password: TEST_PASSWORD }, systemClock);
      enrol(db, { userId: id, course: COURSE, role: 'student' }, systemClock);
      emails.push(email);
    }
  } finally {
    db.close();
  }
  return { dataDir, contentDir: contentDir(), emails };
}

function serverEnv(site: { dataDir: string; contentDir: string; port: number }, redisUrl: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    LECTERN_DATA: site.dataDir,
    LECTERN_CONTENT: site.contentDir,
    LECTERN_PORT: String(site.port),
    LECTERN_QUEUE: redisUrl,
    LECTERN_LOG_LEVEL: 'info',
    LECTERN_REDIS_SYNC_MS: '300',
    LECTERN_DRAIN_MS: '2000',
    // These tests count students' jobs and slots on the workers; self-checks graded on workers
    // beside them are self-check-redis.test.ts.
    LECTERN_SELF_CHECK: 'no',
  };
}

async function startServer(site: { dataDir: string; contentDir: string; port: number }, redisUrl: string): Promise<Proc> {
  const p = track(spawn(process.execPath, [CLI, 'serve'], { env: serverEnv(site, redisUrl), stdio: ['ignore', 'pipe', 'pipe'] }), cleanups);
  await waitUntil('the web server to listen', () => {
    if (p.child.exitCode !== null) throw new Error(`server exited: ${p.output()}`);
    return p.output().includes('Lectern is serving');
  }, 30_000);
  return p;
}

function workerEnv(name: string, redisUrl: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const cache = tempDir(`lectern-worker-${name}-`);
  cleanups.push(() => rmSync(cache, { recursive: true, force: true }));
  return {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    LECTERN_QUEUE: redisUrl,
    LECTERN_DATA: cache,
    LECTERN_WORKER_NAME: name,
    LECTERN_WORKER_CONCURRENCY: '2',
    LECTERN_REDIS_LOCK_MS: '2000',
    LECTERN_REDIS_STALLED_MS: '1000',
    LECTERN_LOG_LEVEL: 'info',
    LECTERN_DRAIN_MS: '3000',
    ...extra,
  };
}

async function startWorker(name: string, redisUrl: string, extra: Record<string, string> = {}, spawner: typeof spawn = spawn): Promise<Proc> {
  const p = track(spawner(process.execPath, [CLI, 'worker'], { env: workerEnv(name, redisUrl, extra), stdio: ['ignore', 'pipe', 'pipe'] }), cleanups);
  await waitUntil(`worker ${name} to start`, () => {
    if (p.child.exitCode !== null) throw new Error(`worker ${name} exited: ${p.output()}`);
    return p.output().includes('Lectern worker');
  }, 30_000);
  return p;
}

async function openSite(students: number, redisUrl: string): Promise<{ site: Site; server: Proc }> {
  const prepared = prepareSite(students);
  const port = await freePort();
  const site: Site = { ...prepared, port, url: `http://127.0.0.1:${port}`, students: [] };
  const server = await startServer(site, redisUrl);
  for (const email of prepared.emails) {
    const agent = new Agent(site.url);
    await agent.get('/login');
    const res = await agent.post('/login', { email, password: TEST_PASSWORD });
    expect(res.status, `sign-in of ${email}`).toBe(302);
    await agent.get('/account');
    site.students.push({ email, agent });
  }
  return { site, server };
}

async function submit(agent: Agent, slug: string, name: string, content: string): Promise<number> {
  const res = await upload(agent, COURSE, slug, [{ name, content }]);
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as { id: number }).id;
}

/** Quick jobs from every student in turn; returns submission id -> expected score. */
async function burst(site: Site, count: number, pause: number, from = 0): Promise<Map<number, number>> {
  const expected = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    const student = site.students[i % site.students.length]!;
    // 1..100: a score of 0 would be a failed run.
    const score = 1 + ((from + i) % 100);
    expected.set(await submit(student.agent, 'quick', 'answer.txt', `${score} ${pause}\n`), score);
  }
  return expected;
}

interface Ledger {
  jobs: Array<{ id: number; submission_id: number; state: string; attempts: number; forwarded_at: number | null }>;
  results: Array<{ job_id: number; submission_id: number; status: string; score: number | null; worker: string | null }>;
}

function ledger(dataDir: string): Ledger {
  const db = new Database(databasePath(dataDir), { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return {
      jobs: db.prepare('SELECT id, submission_id, state, attempts, forwarded_at FROM jobs ORDER BY id').all() as Ledger['jobs'],
      results: db.prepare('SELECT job_id, submission_id, status, score, worker FROM results ORDER BY job_id').all() as Ledger['results'],
    };
  } finally {
    db.close();
  }
}

async function allGraded(dataDir: string, jobs: number, timeoutMs = 90_000): Promise<Ledger> {
  return waitUntil(
    `${jobs} jobs to be graded`,
    () => {
      const l = ledger(dataDir);
      return l.jobs.length === jobs && l.jobs.every((j) => j.state === 'done') && l.results.length === jobs ? l : null;
    },
    timeoutMs,
    200,
  );
}

/** Every job has exactly one result, and it is the result of that job's own submission. */
function expectExactlyOnce(l: Ledger, expected: Map<number, number>): void {
  expect(l.jobs).toHaveLength(expected.size);
  expect(new Set(l.results.map((r) => r.job_id)).size).toBe(l.results.length);
  expect(l.results.map((r) => r.job_id).sort((a, b) => a - b)).toEqual(l.jobs.map((j) => j.id));
  for (const r of l.results) {
    expect(r.status, `job ${r.job_id}`).toBe(expected.get(r.submission_id) === 100 ? 'passed' : 'failed');
    expect(r.score, `job ${r.job_id}`).toBe(expected.get(r.submission_id));
  }
}

// --- tests ------------------------------------------------------------------------------------

describe('Redis mode, end to end', () => {
  it('a web server and two workers grade a burst: every job once, the work spread over both', async () => {
    requireTools();
    const redis = redisServer({ port: await freePort() });
    await redis.start();
    const { site } = await openSite(4, redis.url);

    // Before any worker is there: queued, with a place in the queue, like the local queue.
    const early = await burst(site, 3, 0, 0);
    const lastId = [...early.keys()].at(-1)!;
    const statusRes = await site.students[2]!.agent.fetch(`/courses/${COURSE}/submissions/${lastId}/status`, { headers: { accept: 'application/json' } });
    const status = (await statusRes.json()) as { state: string; position: number | null };
    expect(status.state).toBe('queued');
    expect(status.position).toBeGreaterThanOrEqual(1);
    await waitUntil('the first jobs to be forwarded', () => ledger(site.dataDir).jobs.every((j) => j.forwarded_at !== null));

    const w1 = await startWorker('w1', redis.url);
    const w2 = await startWorker('w2', redis.url);
    const expected = new Map([...early, ...(await burst(site, 21, 0.4, 3))]);
    // One of the demo assignments, correct and wrong, through the same path.
    const stats = readFileSync(path.join(ROOT, 'examples/solutions/stats/stats.py'), 'utf8');
    const statsWrong = readFileSync(path.join(ROOT, 'examples/solutions/stats-wrong/stats.py'), 'utf8');
    const good = await submit(site.students[0]!.agent, 'stats', 'stats.py', stats);
    const bad = await submit(site.students[1]!.agent, 'stats', 'stats.py', statsWrong);
    // Workers grade with the same trust model: a results.json forged by the submission is not read, and is flagged.
    const forged = await submit(site.students[2]!.agent, 'stats', 'stats.py', `${statsWrong}\nimport atexit\natexit.register(lambda: open('results.json', 'w').write('{"score": 10, "max_score": 10}'))\n`);

    const goodStatus = await waitForResult(site.students[0]!.agent, COURSE, good, 90_000);
    expect(goodStatus.result).toMatchObject({ status: 'passed', gradable: true });
    const badStatus = await waitForResult(site.students[1]!.agent, COURSE, bad, 90_000);
    expect(badStatus.result).toMatchObject({ status: 'failed', gradable: true });
    const forgedStatus = await waitForResult(site.students[2]!.agent, COURSE, forged, 90_000);
    expect(forgedStatus.result).toMatchObject({ gradable: true, tamper: [] });
    expect(forgedStatus.result!.score!).toBeLessThanOrEqual(badStatus.result!.score!);
    const flagsDb = openDatabase(databasePath(site.dataDir));
    try {
      const row = flagsDb.prepare('SELECT tamper FROM results WHERE submission_id = ?').get(forged) as { tamper: string | null };
      expect(row.tamper).toContain('results_file');
    } finally {
      flagsDb.close();
    }
    const l = await allGraded(site.dataDir, expected.size + 3);
    expectExactlyOnce({ jobs: l.jobs.filter((j) => expected.has(j.submission_id)), results: l.results.filter((r) => expected.has(r.submission_id)) }, expected);

    const byWorker = new Map<string, number>();
    for (const r of l.results) byWorker.set(r.worker!.split(':')[0]!, (byWorker.get(r.worker!.split(':')[0]!) ?? 0) + 1);
    expect([...byWorker.keys()].sort()).toEqual(['w1', 'w2']);
    expect(Math.min(...byWorker.values())).toBeGreaterThanOrEqual(3);

    // The dashboard's list: both workers, with their counts.
    const db = openDatabase(databasePath(site.dataDir));
    try {
      const workers = await waitUntil('both workers counted', () => {
        const list = listWorkers({ db, clock: systemClock });
        return list.length === 2 && list.reduce((n, w) => n + w.jobsDone, 0) === l.results.length ? list : null;
      }, 10_000);
      expect(workers.map((w) => w.host).sort()).toEqual(['w1', 'w2']);
      for (const w of workers) expect(w).toMatchObject({ alive: true, concurrency: 2 });
    } finally {
      db.close();
    }

    // SIGTERM: a worker stops cleanly and leaves the dashboard's live list.
    await w1.kill('SIGTERM');
    expect(await w1.exited).toBe(0);
    await w2.kill('SIGTERM');
    expect(await w2.exited).toBe(0);
  }, 240_000);

  it('kill -9 of a worker mid-job: the job completes on the other worker, with one result', async () => {
    requireTools();
    const redis = redisServer({ port: await freePort() });
    await redis.start();
    const { site } = await openSite(1, redis.url);
    const workers = { w1: await startWorker('w1', redis.url, { LECTERN_WORKER_CONCURRENCY: '1' }), w2: await startWorker('w2', redis.url, { LECTERN_WORKER_CONCURRENCY: '1' }) };
    const expected = await burst(site, 1, 4, 42);
    const running = await waitUntil('the job to run on a worker', () => {
      const db = new Database(databasePath(site.dataDir), { fileMustExist: true });
      try {
        return db.prepare(`SELECT lease_owner FROM jobs WHERE state = 'running'`).get() as { lease_owner: string } | undefined;
      } finally {
        db.close();
      }
    });
    const victim = running.lease_owner.replace('bullmq/', '').split(':')[0] as 'w1' | 'w2';
    const survivor = victim === 'w1' ? 'w2' : 'w1';
    await workers[victim].kill('SIGKILL');
    const l = await allGraded(site.dataDir, 1, 60_000);
    expectExactlyOnce(l, expected);
    expect(l.results[0]!.worker!.split(':')[0]).toBe(survivor);
  }, 120_000);

  it('SIGTERM: a worker finishes what fits in its grace time, hands back the rest, and another worker grades it once', async () => {
    requireTools();
    const redis = redisServer({ port: await freePort() });
    await redis.start();
    const { site } = await openSite(2, redis.url);
    const leaving = await startWorker('leaving', redis.url, { LECTERN_WORKER_CONCURRENCY: '2', LECTERN_DRAIN_MS: '2500' });
    const quick = await burst(site, 1, 1, 5);
    const slow = await burst(site, 1, 8, 6);
    await waitUntil('both jobs running', () => ledger(site.dataDir).jobs.filter((j) => j.state === 'running').length === 2);
    const stopped = Date.now();
    await leaving.kill('SIGTERM');
    expect(await leaving.exited).toBe(0);
    // Well before the slow job could have ended: it was stopped and handed back.
    expect(Date.now() - stopped).toBeLessThan(15_000);
    expect(leaving.output()).toContain('job handed back at shutdown');
    const afterStop = ledger(site.dataDir);
    expect(afterStop.results.map((r) => r.submission_id)).toEqual([...quick.keys()]);
    await waitUntil('the slow job waiting again', () => ledger(site.dataDir).jobs.find((j) => slow.has(j.submission_id))?.state === 'queued', 10_000);
    // Handing back is not a failed attempt.
    expect(ledger(site.dataDir).jobs.find((j) => slow.has(j.submission_id))!.attempts).toBe(0);
    await startWorker('staying', redis.url);
    const l = await allGraded(site.dataDir, 2, 60_000);
    expectExactlyOnce(l, new Map([...quick, ...slow]));
    expect(l.results.find((r) => slow.has(r.submission_id))!.worker).toMatch(/^staying:/);
  }, 120_000);

  it('a job whose files vanished from Redis fails on the worker, is sent again with its files, and is graded once', async () => {
    requireTools();
    const redis = redisServer({ port: await freePort() });
    await redis.start();
    const { site, server } = await openSite(1, redis.url);
    const expected = await burst(site, 1, 0, 33);
    await waitUntil('the job to be forwarded', () => ledger(site.dataDir).jobs[0]!.forwarded_at !== null);
    // As if Redis had evicted them (a misconfigured maxmemory-policy) before any worker came.
    const client = new Redis(redis.url);
    try {
      const keys = await client.keys('lectern:blob:*');
      expect(keys.length).toBeGreaterThanOrEqual(2);
      await client.del(...keys);
    } finally {
      client.disconnect();
    }
    const worker = await startWorker('w1', redis.url);
    const l = await allGraded(site.dataDir, 1, 60_000);
    expectExactlyOnce(l, expected);
    // The failed try counted, the second one graded.
    expect(l.jobs[0]!.attempts).toBe(2);
    expect(worker.output()).toContain('is not in Redis any more');
    expect(server.output()).toContain('a worker could not run a job');
  }, 120_000);

  for (const persistence of ['without persistence (Redis forgets everything)', 'with an append-only file'] as const) {
    it(`Redis restarts mid-burst, ${persistence}: nothing lost, nothing doubled`, async () => {
      requireTools();
      const redis = redisServer({ port: await freePort(), aof: persistence.startsWith('with an') });
      await redis.start();
      const { site, server } = await openSite(3, redis.url);
      await startWorker('w1', redis.url);
      await startWorker('w2', redis.url);
      const expected = await burst(site, 16, 0.6, 10);
      await waitUntil('some results', () => ledger(site.dataDir).results.length >= 3, 60_000);
      await redis.stop(persistence.startsWith('with an') ? 'SIGTERM' : 'SIGKILL');
      // Mid-burst indeed: jobs were out in Redis when it went away.
      expect(ledger(site.dataDir).results.length).toBeLessThan(expected.size - 2);
      // Intake goes on while Redis is away.
      for (const [id, score] of await burst(site, 4, 0.2, 50)) expected.set(id, score);
      await new Promise((r) => setTimeout(r, 1_500));
      await redis.start();
      const l = await allGraded(site.dataDir, expected.size);
      expectExactlyOnce(l, expected);
      // Without its data, Redis forgot the jobs it held: the web server sent them again.
      if (!persistence.startsWith('with an')) expect(server.output()).toContain('job was lost by Redis: forwarding it again');
    }, 180_000);
  }

  it('the web server is killed mid-burst and restarted: nothing lost, nothing doubled', async () => {
    requireTools();
    const redis = redisServer({ port: await freePort() });
    await redis.start();
    const { site, server } = await openSite(3, redis.url);
    await startWorker('w1', redis.url);
    await startWorker('w2', redis.url);
    const expected = await burst(site, 16, 0.6, 20);
    await waitUntil('some results', () => ledger(site.dataDir).results.length >= 2, 60_000);
    await server.kill('SIGKILL');
    const atKill = ledger(site.dataDir);
    expect(atKill.results.length).toBeLessThan(expected.size - 2);
    expect(atKill.jobs.filter((j) => j.state === 'running').length).toBeGreaterThan(0);
    // Workers go on grading while the web server is away; their outcomes wait in Redis.
    await new Promise((r) => setTimeout(r, 2_500));
    await startServer(site, redis.url);
    const l = await allGraded(site.dataDir, expected.size);
    expectExactlyOnce(l, expected);
  }, 180_000);
});

describe('a worker on another host', () => {
  let ns: Netns | undefined;
  afterAll(async () => {
    await ns?.cleanup();
  });

  it('grades over a veth pair, with Redis on a private address behind a password', async (ctx) => {
    const unavailable = netnsUnavailable();
    ctx.skip(unavailable !== null, `network namespace test skipped: ${unavailable}`);
    requireTools();
    ns = await createNetns();
    const password = 'veth-secret-42';
    const port = await freePort();
    const redis = redisServer({ port, binds: ['127.0.0.1', ns.hostAddress], password });
    await redis.start();
    const { site } = await openSite(1, redis.url);

    // From the other host: Redis answers on the private address, and only with the password.
    const anonymous = await ns.exec('redis-cli', ['-h', ns.hostAddress, '-p', String(port), 'ping']);
    expect(anonymous.stdout + anonymous.stderr).toContain('NOAUTH');

    const remoteUrl = `redis://:${password}@${ns.hostAddress}:${port}`;
    const nsSpawn = ((cmd: string, args: string[], options: object) => ns!.spawn(cmd, args, options)) as unknown as typeof spawn;
    const worker = await startWorker('far', remoteUrl, { LECTERN_WORKER_CONCURRENCY: '1' }, nsSpawn);
    const expected = await burst(site, 2, 0.2, 77);
    const l = await allGraded(site.dataDir, 2, 60_000);
    expectExactlyOnce(l, expected);
    for (const r of l.results) expect(r.worker).toMatch(/^far:\d+$/);
    expect(worker.output()).not.toContain('NOAUTH');
  }, 120_000);
});

describe('Redis down at submission time', () => {
  let t: TestApp | undefined;
  afterAll(async () => {
    await t?.close();
  });

  it('the submission is accepted, grading shows as delayed, then it is forwarded and graded when Redis is back', async () => {
    requireTools();
    const port = await freePort();
    const redis = redisServer({ port });
    t = await createTestApp({ config: { queue: redis.url, redisSyncMs: 200, contentDir: contentDir() } });
    const student = await signIn(t);
    const started = Date.now();
    const res = await upload(student, COURSE, 'quick', [{ name: 'answer.txt', content: '100 0\n' }]);
    expect(res.status).toBe(201);
    // Intake did not wait on Redis (its client gives up at once while disconnected).
    expect(Date.now() - started).toBeLessThan(5_000);
    const { id } = (await res.json()) as { id: number };

    const grading = t.app.deps.services.grading;
    const describeNow = () => grading.dispatcher()!.describe();
    expect(describeNow()).toMatchObject({ mode: 'redis', delayed: true });
    expect(describeNow().detail).toContain('unreachable');
    expect(describeNow().detail).toContain('1 submission waiting here');
    const status = await student.fetch(`/courses/${COURSE}/submissions/${id}/status`, { headers: { accept: 'application/json' } });
    expect(await status.json()).toMatchObject({ state: 'queued', position: 1 });
    expect(ledger(t.dataDir).jobs[0]).toMatchObject({ state: 'queued', forwarded_at: null });

    await redis.start();
    await waitUntil('the job to be forwarded', () => ledger(t!.dataDir).jobs[0]!.forwarded_at !== null, 30_000);
    // Forwarded, but nobody grades yet: still delayed, for another reason.
    await waitUntil('"no worker" on the dashboard', () => describeNow().detail.includes('no grading worker'), 10_000);
    await startWorker('late', redis.url);
    const done = await waitForResult(student, COURSE, id, 60_000);
    expect(done.result).toMatchObject({ status: 'passed', score: 100 });
    await waitUntil('grading no longer delayed', () => !describeNow().delayed && describeNow().detail.includes('1 worker'), 10_000);
    expectExactlyOnce(ledger(t.dataDir), new Map([[id, 100]]));
    await t.close();
    t = undefined;
  }, 120_000);
});
