import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentOrPending, currentVersion, getVersionByNumber } from '../../src/plugins/assignments/store.js';
import { selfCheckSite } from '../../src/plugins/autotest/self-check-gate.js';
import { createSandbox } from '../../src/lib/sandbox/index.js';
import type { Sandbox } from '../../src/lib/sandbox/types.js';
import { memoryLogger } from '../../src/lib/logger.js';
import { makeZip, type ArchiveEntry } from '../helpers/archives.js';
import { freePort } from '../helpers/ports.js';
import { getSelfCheck, type SelfCheck } from '../../src/plugins/autotest/self-check-store.js';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { copyDemoContent } from '../helpers/content.js';
import { createTestApp, DEMO_CONTENT, ROOT, tempDir, type TestApp } from '../helpers/index.js';

/**
 * Publish-time self-check (issue 13): every imported version is graded in the background against
 * its solution/ and the built-in hostile submissions. The demos pass; a bundle that reads its
 * verdict from a file the student's program can write is flagged, held back from being current,
 * and shown in red on the dashboard.
 */

/** A legacy bundle that trusts a results.json in the submission's dir: any submission can forge it. */
function writeWeak(dir: string, slug: string): string {
  const a = path.join(dir, slug);
  mkdirSync(path.join(a, 'tests'), { recursive: true });
  mkdirSync(path.join(a, 'solution'), { recursive: true });
  writeFileSync(
    path.join(a, 'assignment.yaml'),
    `title: Weak
opens: 2026-09-01T08:00:00+02:00
deadline: 2026-10-15T23:59:00+02:00
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

async function upload(agent: SignedInAgent, pathname: string, file: string): Promise<Response> {
  const form = new FormData();
  form.append('bundle', new Blob([readFileSync(file)]), path.basename(file));
  return agent.fetch(`${pathname}?_csrf=${encodeURIComponent(agent.csrf)}`, { method: 'POST', body: form });
}

let t: TestApp;
let lecturer: SignedInAgent;

beforeAll(async () => {
  const content = copyDemoContent();
  writeWeak(path.join(content, 'assignments'), 'weak');
  t = await createTestApp({ config: { graders: 1, selfCheck: true, contentDir: content } });
  lecturer = await signIn(t, { role: 'lecturer' });
});
afterAll(async () => {
  await t.close();
});

async function checked(versionId: number, timeoutMs = 540_000, each?: () => void): Promise<SelfCheck> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    each?.();
    const c = getSelfCheck(t.app.deps.db, versionId);
    if (c && c.state !== 'running') return c;
    if (Date.now() > until) throw new Error(`no self-check of version ${versionId}: ${JSON.stringify(c)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('the publish-time self-check', () => {
  it.each(['caesar', 'stats'])('passes the demo %s: every hostile submission scores nothing', async (slug) => {
    // The first version: current (open to students) only once its check passed.
    const v1 = currentOrPending(t.app.deps.db, 'prog1', slug)!.version;
    const c = await checked(v1.id);
    expect(c.state).toBe('done');
    expect(currentVersion(t.app.deps.db, 'prog1', slug)!.version.id).toBe(v1.id);
    expect(c.entries.filter((e) => !e.ok)).toEqual([]);
    expect(c.warning).toBe(false);
    expect(c.entries.map((e) => e.name)).toEqual(
      expect.arrayContaining(['writes results.json', 'reads tests/', 'leaves a detached child', 'floods output', 'forks', 'opens the network', 'prints the environment']),
    );
    // What the sandbox saw of the forgeries is listed for the lecturer.
    expect(c.entries.find((e) => e.name === 'leaves a detached child')!.tamper.join(' ')).toMatch(/left \d+ process/);
  }, 600_000);

  it('flags a bundle that reads its verdict from the submission\'s dir, in red on the dashboard', async () => {
    const weak = currentOrPending(t.app.deps.db, 'prog1', 'weak')!.version;
    const c = await checked(weak.id);
    expect(c.warning).toBe(true);
    // A first version that fails its check is never current: the assignment is not open.
    expect(currentVersion(t.app.deps.db, 'prog1', 'weak')).toBeUndefined();
    expect(c.entries.find((e) => e.kind === 'reference')).toMatchObject({ ok: true, score: 1, maxScore: 1 });
    expect(c.entries.find((e) => e.name === 'writes results.json')).toMatchObject({ ok: false });
    expect(c.message).toMatch(/hostile submission "writes results.json" scored/);
    const dash = await lecturer.get('/courses/prog1/dashboard');
    expect(dash.text).toContain('Bundles that can be fooled');
    expect(dash.text).toContain('weak version 1');
    const staff = await lecturer.get('/courses/prog1/assignments/weak/staff');
    expect(staff.text).toContain('problems found');
  }, 600_000);

  it('never makes a failing new version current: the old one serves students until a lecturer confirms', async () => {
    const before = currentOrPending(t.app.deps.db, 'prog1', 'stats')!.version;
    await checked(before.id);
    // Version 2 of stats: the weak bundle's grading under stats's name, uploaded on the web.
    const zip = path.join(tempDir('lectern-weak-'), 'stats.zip');
    await makeZip(zip, filesOf(writeWeak(tempDir('lectern-weak-'), 'stats'), 'stats/'));
    const r = await upload(lecturer, '/courses/prog1/assignments/stats/upload', zip);
    expect(r.status).toBe(302);
    expect(r.headers.get('location')).toBe('/courses/prog1/assignments/stats/staff?done=held&v=2');
    const v2 = getVersionByNumber(t.app.deps.db, before.assignmentId, 2)!;
    // Watched from the moment of the import to the end of the check: never current.
    const seen = new Set<number>();
    const c = await checked(v2.id, 540_000, () => seen.add(currentVersion(t.app.deps.db, 'prog1', 'stats')!.version.id));
    expect([...seen]).toEqual([before.id]);
    expect(c).toMatchObject({ warning: true, heldBackFor: before.number });
    expect(currentVersion(t.app.deps.db, 'prog1', 'stats')!.version.id).toBe(before.id);

    const staff = await lecturer.get('/courses/prog1/assignments/stats/staff');
    expect(staff.text).toContain('(waiting: self-check failed)');
    expect(staff.text).toContain('It was never made current');
    const dash = await lecturer.get('/courses/prog1/dashboard');
    expect(dash.text).toContain('New versions not current yet');
    expect(dash.text).toMatch(/stats version 2<\/a>: self-check failed; version 1 serves students meanwhile/);

    const refused = await lecturer.post(`/courses/prog1/assignments/stats/versions/${v2.number}/current`, {});
    expect(refused.status).toBe(422);
    expect(currentVersion(t.app.deps.db, 'prog1', 'stats')!.version.id).toBe(before.id);
    const confirmed = await lecturer.post(`/courses/prog1/assignments/stats/versions/${v2.number}/current`, { confirm: 'yes' });
    expect(confirmed.status).toBe(302);
    expect(currentVersion(t.app.deps.db, 'prog1', 'stats')!.version.id).toBe(v2.id);
    expect(getSelfCheck(t.app.deps.db, v2.id)!.confirmedBy).toBe(lecturer.user.email);
    const after = await lecturer.get('/courses/prog1/dashboard');
    expect(after.text).not.toContain(`stats version ${v2.number}`);
    // Only weak's first version still waits (it never passed), not open to students.
    expect(after.text).toMatch(/weak version 1<\/a>: self-check failed; not open to students until then/);
  }, 600_000);

  it('makes a passing new version current only once its check passed; a command-line import waits the same way', async () => {
    const before = currentOrPending(t.app.deps.db, 'prog1', 'caesar')!.version;
    await checked(before.id);
    const dir = path.join(tempDir('lectern-caesar-'), 'caesar');
    cpSync(path.join(DEMO_CONTENT, 'assignments', 'caesar'), dir, { recursive: true });
    writeFileSync(path.join(dir, 'statement.md'), `${readFileSync(path.join(dir, 'statement.md'), 'utf8')}\nUpdated.\n`);
    // The real command, in its own process, beside the running server (as on the lecturer's box).
    const cli = spawnSync(process.execPath, [path.join(ROOT, 'dist/start.cjs'), 'assignment', 'import', dir, '--course', 'prog1'], {
      env: { PATH: process.env.PATH, NODE_ENV: 'production', LECTERN_DATA: t.dataDir, LECTERN_CONTENT: t.config.contentDir, LECTERN_LOG_LEVEL: 'silent' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(cli.status, cli.stderr).toBe(0);
    const v2 = getVersionByNumber(t.app.deps.db, before.assignmentId, before.number + 1)!;
    expect(cli.stdout).toContain(`imported as version ${v2.number}; it becomes current when its self-check passes`);
    expect(currentVersion(t.app.deps.db, 'prog1', 'caesar')!.version.id).toBe(before.id);
    const pending = await lecturer.get('/courses/prog1/assignments/caesar/staff');
    expect(pending.text).toMatch(/\(waiting: self-check (not run yet|running)\)/);

    const c = await checked(v2.id);
    expect(c).toMatchObject({ state: 'done', warning: false });
    expect(currentVersion(t.app.deps.db, 'prog1', 'caesar')!.version.id).toBe(v2.id);
  }, 600_000);
});

describe('where the self-check runs', () => {
  it('starts no sandbox in a process that grades nothing, and says so; new versions still wait', async () => {
    let runs = 0;
    const real = createSandbox({ unsafe: false, log: memoryLogger('warn').log });
    const counting: Sandbox = { unsafe: real.unsafe, describe: () => real.describe(), run: (req) => ((runs += 1), real.run(req)) };
    const content = copyDemoContent();
    const idle = await createTestApp({ config: { graders: 0, selfCheck: true, contentDir: content }, sandbox: counting });
    try {
      const who = await signIn(idle, { role: 'lecturer' });
      // Nothing checks here, so the first version waits too: the assignment is not open yet.
      const caesar = currentOrPending(idle.app.deps.db, 'prog1', 'caesar')!.version;
      expect(currentVersion(idle.app.deps.db, 'prog1', 'caesar')).toBeUndefined();
      const zip = path.join(tempDir('lectern-caesar-'), 'caesar.zip');
      await makeZip(zip, filesOf(path.join(content, 'assignments', 'caesar'), 'caesar/').map((e) => (e.name === 'caesar/statement.md' ? { ...e, data: `${String(e.data)}\nAgain.\n` } : e)));
      const r = await upload(who, '/courses/prog1/assignments/caesar/upload', zip);
      expect(r.headers.get('location')).toBe('/courses/prog1/assignments/caesar/staff?done=held&v=2');
      const staff = await who.get('/courses/prog1/assignments/caesar/staff');
      expect(staff.text).toContain('data-self-check-site="elsewhere"');
      expect(staff.text).toContain('(waiting: self-check not run yet)');
      expect(currentVersion(idle.app.deps.db, 'prog1', 'caesar')).toBeUndefined();
      expect(currentOrPending(idle.app.deps.db, 'prog1', 'caesar')!.version.number).toBe(2);
      expect(caesar.number).toBe(1);
      expect(getSelfCheck(idle.app.deps.db, caesar.id)).toBeNull();
      expect(runs).toBe(0);
    } finally {
      await idle.close();
    }
  }, 120_000);

  it('in Redis mode waits, queued and visibly so, while Redis does not answer: nothing graded here, a new assignment held', async () => {
    let runs = 0;
    const real = createSandbox({ unsafe: false, log: memoryLogger('warn').log });
    // The web server still runs generators (the check's parameters, as for students' variants); it grades nothing.
    const counting: Sandbox = { unsafe: real.unsafe, describe: () => real.describe(), run: (req) => ((runs += req.command.at(-1) === 'generate' ? 0 : 1), real.run(req)) };
    const content = copyDemoContent();
    // Nothing listens on this port: the check waits for Redis (self-check-redis.test.ts runs it on real workers).
    const web = await createTestApp({ config: { graders: 2, selfCheck: true, queue: `redis://127.0.0.1:${await freePort()}`, contentDir: content }, sandbox: counting });
    try {
      const who = await signIn(web, { role: 'lecturer' });
      const student = await signIn(web, { role: 'student' });
      // The demo's caesar, imported at start-up: its first version waits for a check no worker can take.
      const v1 = currentOrPending(web.app.deps.db, 'prog1', 'caesar')!.version;
      expect(currentVersion(web.app.deps.db, 'prog1', 'caesar')).toBeUndefined();
      const until = Date.now() + 60_000;
      while (getSelfCheck(web.app.deps.db, v1.id)?.phase !== 'queued') {
        if (Date.now() > until) throw new Error('the check of version 1 never showed as queued');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(getSelfCheck(web.app.deps.db, v1.id)!.progress).toContain('unreachable');
      const staff = await who.get('/courses/prog1/assignments/caesar/staff');
      expect(staff.text).toContain('data-self-check-site="remote"');
      expect(staff.text).toContain('data-self-check-phase="queued"');
      expect(staff.text).not.toContain('no grader here');
      const dashboard = await who.get('/courses/prog1/dashboard');
      expect(dashboard.text).toMatch(/caesar version 1<\/a>: self-check queued/);
      // Students cannot open it meanwhile, and are told nothing about the check.
      const page = await student.get('/courses/prog1/assignments/caesar/');
      expect(page.res.status).toBe(409);
      expect(page.text).not.toContain('self-check');
      expect(currentVersion(web.app.deps.db, 'prog1', 'caesar')).toBeUndefined();
      expect(runs).toBe(0);
    } finally {
      await web.close();
    }
  }, 120_000);

  it('is decided by the process\'s configuration', () => {
    expect(selfCheckSite({ selfCheck: true, queue: 'redis://127.0.0.1:6379', graders: 4 })).toBe('remote');
    expect(selfCheckSite({ selfCheck: true, queue: 'sqlite', graders: 0 })).toBe('elsewhere');
    expect(selfCheckSite({ selfCheck: true, queue: 'sqlite', graders: 2 })).toBe('here');
    expect(selfCheckSite({ selfCheck: false, queue: 'sqlite', graders: 2 })).toBe('off');
  });
});
