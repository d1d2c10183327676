import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { create as tarCreate } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { systemClock } from '../../src/lib/clock.js';
import { createUser, enrol } from '../../src/plugins/accounts/users.js';
import { TEST_PASSWORD } from '../helpers/accounts.js';
import { copyDemoContent } from '../helpers/content.js';
import { Agent, ROOT, tempDir } from '../helpers/index.js';
import { freePort } from '../helpers/ports.js';
import { track, waitUntil, type Proc } from '../helpers/processes.js';
import { makeImage } from '../helpers/oci-image.js';
import { upload, waitForResult, type StatusJson } from '../helpers/submit.js';

/**
 * Redis mode with an assignment that runs in its own environment: the remote worker has no
 * database and no copy of the web server's roots, so it builds the environment itself from the
 * spec and the bundle files the payload carries, once per hash. Real redis-server, real
 * `lectern serve` and `lectern worker` processes from dist/ (run `npm run build` first), the real
 * sandbox, and the cheapest real build there is: an image archive (`docker save` layout) made here
 * from a handful of the host's programs, unpacked with skopeo and umoci on the worker.
 */
const CLI = path.join(ROOT, 'dist/start.cjs');
const REDIS = '/usr/bin/redis-server';
const COURSE = 'prog1';

const cleanups: Array<() => Promise<void> | void> = [];



async function startRedis(): Promise<string> {
  const port = await freePort();
  const dir = tempDir('lectern-redis-');
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const proc = track(spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] }), cleanups);
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => undefined);
  try {
    await waitUntil('redis-server', async () => {
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

// --- the image ---------------------------------------------------------------------------------

/** A tar archive that is no image at all: skopeo refuses it, on the worker as anywhere. */
async function makeNotAnImage(dir: string): Promise<string> {
  const inside = path.join(dir, 'not-an-image');
  mkdirSync(inside, { recursive: true });
  writeFileSync(path.join(inside, 'README'), 'holiday photos\n');
  const archive = path.join(dir, 'broken.tar');
  await tarCreate({ file: archive, cwd: inside, portable: true }, ['README']);
  return archive;
}

function writeImagedAssignment(content: string, slug: string, archive: string): void {
  const dir = path.join(content, 'assignments', slug);
  mkdirSync(path.join(dir, 'tests'), { recursive: true });
  mkdirSync(path.join(dir, 'environment'), { recursive: true });
  copyFileSync(archive, path.join(dir, 'environment', 'image.tar'));
  writeFileSync(
    path.join(dir, 'assignment.yaml'),
    `title: ${slug}
opens: 2026-01-01T08:00:00+01:00
deadline: 2027-12-31T23:59:00+01:00
files: [answer.txt]
submissions_per_hour: 1000
environment:
  oci: environment/image.tar
test:
  command: [/bin/sh, tests/run.sh]
  limits:
    wall: 60s
feedback:
  tests: visible
  output: visible
  score: visible
`,
  );
  writeFileSync(path.join(dir, 'statement.md'), `# ${slug}\n`);
  // Full marks only where the image's marker file is and the answer is right; the output says
  // what the root had, so a run on the host's /usr (which has python3) shows.
  writeFileSync(
    path.join(dir, 'tests', 'run.sh'),
    'if [ -f /etc/lectern-image ] && [ "$(cat answer.txt)" = 42 ]; then s=1; else s=0; fi\n' +
      'if [ -x /usr/bin/python3 ]; then host=yes; else host=no; fi\n' +
      'echo "{\\"score\\": $s, \\"max_score\\": 1, \\"output\\": \\"marker: $(cat /etc/lectern-image 2>/dev/null || echo none); host python: $host\\"}" > results.json\n',
  );
}

// --- the site ----------------------------------------------------------------------------------

let redisUrl: string;
let siteUrl: string;
let dataDir: string;
let worker: Proc | undefined;
let workerCache: string;
let students: Agent[];
let lecturer: Agent;

async function signIn(email: string): Promise<Agent> {
  const agent = new Agent(siteUrl);
  await agent.get('/login');
  const res = await agent.post('/login', { email, password: TEST_PASSWORD });
  expect(res.status, `sign-in of ${email}`).toBe(302);
  await agent.get('/account');
  return agent;
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error('dist/start.cjs is missing: run `npm run build` before this test');
  if (!existsSync(REDIS)) throw new Error(`${REDIS} is missing: apt-get install redis-server`);
  redisUrl = await startRedis();

  const content = copyDemoContent();
  cleanups.push(() => rmSync(content, { recursive: true, force: true }));
  const fixtures = tempDir('lectern-remote-env-');
  cleanups.push(() => rmSync(fixtures, { recursive: true, force: true }));
  writeImagedAssignment(content, 'imaged', await makeImage(fixtures, 'built on the worker\n'));
  writeImagedAssignment(content, 'broken', await makeNotAnImage(fixtures));

  dataDir = tempDir('lectern-data-');
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const db = openDatabase(databasePath(dataDir));
  const emails = ['s1@example.org', 's2@example.org', 'lecturer@example.org'];
  try {
    migrate(db);
    for (const email of emails) {
      const id = createUser(db, { email, name: email, password: TEST_PASSWORD }, systemClock);
      enrol(db, { userId: id, course: COURSE, role: email.startsWith('lecturer') ? 'lecturer' : 'student' }, systemClock);
    }
  } finally {
    db.close();
  }

  const port = await freePort();
  siteUrl = `http://127.0.0.1:${port}`;
  const server = track(
    spawn(process.execPath, [CLI, 'serve'], {
      env: { PATH: process.env.PATH, NODE_ENV: 'production', LECTERN_DATA: dataDir, LECTERN_CONTENT: content, LECTERN_PORT: String(port), LECTERN_QUEUE: redisUrl, LECTERN_LOG_LEVEL: 'info', LECTERN_REDIS_SYNC_MS: '300', LECTERN_DRAIN_MS: '2000', LECTERN_SELF_CHECK: 'no' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
    cleanups,
  );
  await waitUntil('the web server to listen', () => {
    if (server.child.exitCode !== null) throw new Error(`server exited: ${server.output()}`);
    return server.output().includes('Lectern is serving');
  }, 30_000);

  students = [await signIn(emails[0]!), await signIn(emails[1]!)];
  lecturer = await signIn(emails[2]!);
}, 120_000);

afterAll(async () => {
  if (process.env.LECTERN_TEST_SHOW_WORKER_LOG) process.stderr.write(worker?.output() ?? '');
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * The worker's own data dir is searchable by the sandbox user (bwrap drops to it when the worker
 * runs as root) on its way to the environment roots under it.
 */
async function startTheWorker(): Promise<void> {
  if (worker) return;
  const workerData = tempDir('lectern-worker-');
  cleanups.push(() => rmSync(workerData, { recursive: true, force: true }));
  chmodSync(workerData, 0o711);
  workerCache = path.join(workerData, 'worker');
  const proc = track(
    spawn(process.execPath, [CLI, 'worker'], {
      env: { PATH: process.env.PATH, NODE_ENV: 'production', LECTERN_QUEUE: redisUrl, LECTERN_DATA: workerData, LECTERN_WORKER_NAME: 'far', LECTERN_WORKER_CONCURRENCY: '2', LECTERN_LOG_LEVEL: 'info', LECTERN_DRAIN_MS: '3000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
    cleanups,
  );
  worker = proc;
  await waitUntil('the worker to start', () => {
    if (proc.child.exitCode !== null) throw new Error(`worker exited: ${proc.output()}`);
    return proc.output().includes('Lectern worker');
  }, 30_000);
}

async function submit(agent: Agent, slug: string, answer: string): Promise<number> {
  const res = await upload(agent, COURSE, slug, [{ name: 'answer.txt', content: answer }]);
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as { id: number }).id;
}

function forwarded(submissionIds: number[]): boolean {
  const db = new Database(databasePath(dataDir), { fileMustExist: true, readonly: true });
  try {
    db.pragma('busy_timeout = 5000');
    const rows = db.prepare('SELECT submission_id, forwarded_at FROM jobs').all() as Array<{ submission_id: number; forwarded_at: number | null }>;
    return submissionIds.every((id) => rows.some((r) => r.submission_id === id && r.forwarded_at !== null));
  } finally {
    db.close();
  }
}

function resultRow(submissionId: number): { status: string; score: number | null; worker: string | null } {
  const db = new Database(databasePath(dataDir), { fileMustExist: true, readonly: true });
  try {
    db.pragma('busy_timeout = 5000');
    return db.prepare('SELECT status, score, worker FROM results WHERE submission_id = ?').get(submissionId) as { status: string; score: number | null; worker: string | null };
  } finally {
    db.close();
  }
}

/** The worker's JSON log lines with this message. */
function workerLog(msg: string): Array<Record<string, unknown>> {
  return worker!
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg);
}

const builtRoots = () => readdirSync(path.join(workerCache, 'environments')).filter((n) => /^[0-9a-f]{64}$/.test(n) && existsSync(path.join(workerCache, 'environments', n, 'root', 'usr')));

describe('a remote worker and an assignment environment', () => {
  it('builds the environment by its hash on the worker, grades in it, and reuses it for the next job', async () => {
    // Two jobs of a hash no worker has built, waiting in Redis before the worker starts: it takes
    // both at once (concurrency 2), and the second waits for the first one's build.
    const first = await submit(students[0]!, 'imaged', '42');
    const second = await submit(students[1]!, 'imaged', '41');
    await waitUntil('both jobs to be sent to Redis', () => forwarded([first, second]));
    await startTheWorker();
    const one = await waitForResult(students[0]!, COURSE, first, 600_000);
    expect(one.result, JSON.stringify((await waitForResult(lecturer, COURSE, first)).result)).toMatchObject({ status: 'passed', score: 1, maxScore: 1, gradable: true });
    // The marker only the image has, and not the host's /usr.
    expect(one.result!.output).toContain('marker: built on the worker; host python: no');
    const two = await waitForResult(students[1]!, COURSE, second, 600_000);
    expect(two.result).toMatchObject({ status: 'failed', score: 0, maxScore: 1, gradable: true });
    expect(two.result!.output).toContain('marker: built on the worker; host python: no');
    for (const id of [first, second]) expect(resultRow(id).worker).toMatch(/^far:\d+$/);
    const roots = builtRoots();
    expect(roots).toHaveLength(1);
    expect(readFileSync(path.join(workerCache, 'environments', roots[0]!, 'root/etc/lectern-image'), 'utf8')).toBe('built on the worker\n');
    // The worker's log is buffered: its lines arrive a moment after the results.
    await waitUntil('the worker to log both jobs', () => workerLog('graded').length === 2, 30_000);
    expect(workerLog('building an environment for grading')).toHaveLength(1);
    expect(workerLog('environment built for grading')).toHaveLength(1);
    expect(workerLog('graded').filter((l) => l.environmentBuilt).length).toBe(1);

    // Later: the same root as it is, no build.
    const third = await submit(students[0]!, 'imaged', '42');
    const three = await waitForResult(students[0]!, COURSE, third, 120_000);
    expect(three.result).toMatchObject({ status: 'passed', score: 1, gradable: true });
    expect(three.result!.output).toContain('marker: built on the worker; host python: no');
    await waitUntil('the worker to log the third job', () => workerLog('graded').length === 3, 30_000);
    expect(workerLog('building an environment for grading')).toHaveLength(1);
    expect(workerLog('graded')[2]).toMatchObject({ status: 'passed', environmentBuilt: false });
    expect(builtRoots()).toEqual(roots);
  }, 900_000);

  it('a build that fails on the worker: "could not be graded" for the student, the reason for staff, no zero, not built again for the next job', async () => {
    await startTheWorker();
    const first = await submit(students[0]!, 'broken', '42');
    const seen = await waitForResult(students[0]!, COURSE, first, 600_000);
    expect(seen.result).toMatchObject({ status: 'error', score: null, gradable: false, problem: null });
    expect(seen.result!.output).toContain('could not be graded');
    const staff = (await waitForResult(lecturer, COURSE, first)).result!;
    expect(staff.problem).toContain("the assignment's environment could not be built on grading worker far: ");
    expect(staff.problem).toContain('skopeo could not read environment/image.tar as an image archive');
    expect(resultRow(first)).toMatchObject({ status: 'error', score: null });

    const again = await submit(students[1]!, 'broken', '42');
    const staffAgain: StatusJson = await waitForResult(lecturer, COURSE, again, 120_000);
    expect(staffAgain.result).toMatchObject({ status: 'error', score: null, gradable: false });
    expect(staffAgain.result!.problem).toContain('skopeo could not read');
    // One failed build per hash for a while, not one per submission.
    await waitUntil('the worker to log both jobs', () => workerLog('graded').length === 5, 30_000);
    expect(workerLog('environment build failed')).toHaveLength(1);
  }, 900_000);
});
