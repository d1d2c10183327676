import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentOrPending, currentVersion, getAssignment } from '../../src/plugins/assignments/store.js';
import { findVariant } from '../../src/plugins/assignments/variants.js';
import { getSelfCheck, type SelfCheck } from '../../src/plugins/autotest/self-check-store.js';
import { makeZip } from '../helpers/archives.js';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { copyDemoContent } from '../helpers/content.js';
import { createTestApp, tempDir, type TestApp } from '../helpers/index.js';

/**
 * Issue 13: a new assignment's first version is not made current until its publish-time self-check
 * passes or a lecturer confirms it. Until then the assignment is not open: students get no variant,
 * cannot submit, and are told "not open yet" (never why); staff see the check and can confirm.
 * Real server, real SQLite, the real sandbox for the checks.
 */

const DATES = 'opens: 2026-09-01T08:00:00+02:00\ndeadline: 2027-06-15T23:59:00+02:00\n';
const HIDDEN = 'SECRET-HIDDEN-CHECK-7f3a';

/** A legacy bundle that takes its verdict from a file the student's program can write: the check fails. */
function writeWeak(dir: string, slug: string): void {
  const a = path.join(dir, slug);
  mkdirSync(path.join(a, 'tests'), { recursive: true });
  mkdirSync(path.join(a, 'solution'), { recursive: true });
  writeFileSync(path.join(a, 'assignment.yaml'), `title: Weak first\n${DATES}files: [main.py]\nmax_files: 1\ntest:\n  command: [/bin/sh, tests/run.sh]\n  limits: { wall: 20s }\n`);
  writeFileSync(path.join(a, 'statement.md'), '# Weak first\n\nPrint 42.\n');
  writeFileSync(path.join(a, 'tests', 'run.sh'), `#!/bin/sh\n# ${HIDDEN}\nout=$(/usr/bin/python3 main.py)\n[ "$out" = 42 ]\n`);
  chmodSync(path.join(a, 'tests', 'run.sh'), 0o755);
  writeFileSync(path.join(a, 'solution', 'main.py'), 'print(42)\n');
}

/** A declarative I/O bundle Lectern judges itself, with a reference solution: the check passes. */
function writeSound(dir: string, slug: string): string {
  const a = path.join(dir, slug);
  mkdirSync(path.join(a, 'solution'), { recursive: true });
  writeFileSync(
    path.join(a, 'assignment.yaml'),
    `title: Sound first\n${DATES}files: [main.py]\nmax_files: 1\ntest:\n  run: [/usr/bin/python3, main.py]\n  compare: exact\n  limits: { wall: 60s }\n  student_limits: { wall: 5s }\n  cases:\n    - name: answers\n      stdin: "question\\n"\n      expected: "42\\n"\n`,
  );
  writeFileSync(path.join(a, 'statement.md'), '# Sound first\n\nPrint 42.\n');
  writeFileSync(path.join(a, 'solution', 'main.py'), 'print(42)\n');
  return a;
}

let t: TestApp;
let lecturer: SignedInAgent;
let student: SignedInAgent;

beforeAll(async () => {
  const content = copyDemoContent();
  // Only this test's assignments: the demos' own checks would queue before them.
  for (const demo of ['caesar', 'stats']) rmSync(path.join(content, 'assignments', demo), { recursive: true, force: true });
  writeWeak(path.join(content, 'assignments'), 'weak');
  t = await createTestApp({ config: { graders: 1, selfCheck: true, contentDir: content } });
  lecturer = await signIn(t, { role: 'lecturer' });
  student = await signIn(t, { role: 'student' });
});
afterAll(async () => {
  await t?.close();
});

async function checked(versionId: number, timeoutMs = 540_000): Promise<SelfCheck> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const c = getSelfCheck(t.app.deps.db, versionId);
    if (c && c.state !== 'running') return c;
    if (Date.now() > until) throw new Error(`no self-check of version ${versionId}: ${JSON.stringify(c)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Every route of the app under /courses/:course/assignments/:slug/, with its parameters filled in. */
function assignmentRoutes(slug: string): Array<{ method: string; url: string }> {
  const fill: Record<string, string> = { course: 'prog1', slug, number: '1', user: String(student.user.id), file: 'main.py', report: '1', rank: '1', gid: '1', iid: '1', invite: '1', team: '1', batch: '1' };
  return t.app
    .routeTable()
    .filter((r) => r.path.startsWith('/courses/:course/assignments/:slug'))
    .map((r) => ({ method: r.method, url: r.path.replace(/\*file/, 'main.py').replace(/:([a-z]+)/g, (_, p: string) => fill[p] ?? '1') }));
}

describe('a new assignment whose first version has not passed its self-check', () => {
  it('is not open to students while its check fails; staff see the warning; a confirmation opens it', async () => {
    const held = currentOrPending(t.app.deps.db, 'prog1', 'weak')!;
    const c = await checked(held.version.id);
    expect(c).toMatchObject({ state: 'done', warning: true });
    expect(currentVersion(t.app.deps.db, 'prog1', 'weak')).toBeUndefined();
    expect(getAssignment(t.app.deps.db, 'prog1', 'weak')).toMatchObject({ currentVersionId: null, pendingVersionId: held.version.id });

    // Students: listed as not open, without a link and without a word about the check.
    const list = await student.get('/courses/prog1/assignments/');
    expect(list.res.status).toBe(200);
    expect(list.text).toContain('Weak first');
    expect(list.text).toContain('Not open yet: being prepared');
    expect(list.text).not.toContain('/assignments/weak/"');
    expect(list.text).not.toMatch(/self-check|problems/i);
    const page = await student.get('/courses/prog1/assignments/weak/');
    expect(page.res.status).toBe(409);
    expect(page.text).toContain('not open yet');
    expect(page.text).not.toMatch(/self-check|results\.json|hostile/i);
    const form = new FormData();
    form.append('files', new Blob(['print(42)\n']), 'main.py');
    const submit = await student.fetch(`/courses/prog1/assignments/weak/submissions?_csrf=${encodeURIComponent(student.csrf)}`, { method: 'POST', body: form, headers: { accept: 'application/json' } });
    expect(submit.status).toBe(409);
    expect(((await submit.json()) as { error: string }).error).toMatch(/not open yet/);
    expect(findVariant(t.app.deps.db, held.assignment.id, student.user.id)).toBeUndefined();

    // Staff: the assignment with the check's state, the warning and the confirmation.
    const staffList = await lecturer.get('/courses/prog1/assignments/');
    expect(staffList.text).toContain('Not open to students: its self-check found problems');
    const staff = await lecturer.get('/courses/prog1/assignments/weak/staff');
    expect(staff.res.status).toBe(200);
    expect(staff.text).toContain('Not open to students yet');
    expect(staff.text).toContain('The self-check of version 1 found problems');
    expect(staff.text).toContain('(waiting: self-check failed)');
    expect(staff.text).toContain('make it current anyway');
    const dash = await lecturer.get('/courses/prog1/dashboard');
    expect(dash.text).toMatch(/weak version 1<\/a>: self-check failed; not open to students until then/);

    const refused = await lecturer.post('/courses/prog1/assignments/weak/versions/1/current', {});
    expect(refused.status).toBe(422);
    expect(currentVersion(t.app.deps.db, 'prog1', 'weak')).toBeUndefined();
    const confirmed = await lecturer.post('/courses/prog1/assignments/weak/versions/1/current', { confirm: 'yes' });
    expect(confirmed.status).toBe(302);
    expect(currentVersion(t.app.deps.db, 'prog1', 'weak')!.version.id).toBe(held.version.id);
    expect(getSelfCheck(t.app.deps.db, held.version.id)!.confirmedBy).toBe(lecturer.user.email);

    const open = await student.get('/courses/prog1/assignments/weak/');
    expect(open.res.status).toBe(200);
    expect(open.text).toContain('Print 42.');
    expect(findVariant(t.app.deps.db, held.assignment.id, student.user.id)).toBeDefined();
    expect((await student.get('/courses/prog1/assignments/')).text).toContain('/courses/prog1/assignments/weak/');
  }, 600_000);

  it('opens by itself when the check of an uploaded first version passes', async () => {
    const zip = path.join(tempDir('lectern-sound-'), 'sound.zip');
    const dir = writeSound(tempDir('lectern-sound-src-'), 'sound');
    await makeZip(zip, [
      { name: 'sound/assignment.yaml', data: readFileSync(path.join(dir, 'assignment.yaml')) },
      { name: 'sound/statement.md', data: readFileSync(path.join(dir, 'statement.md')) },
      { name: 'sound/solution/main.py', data: readFileSync(path.join(dir, 'solution', 'main.py')) },
    ]);
    const body = new FormData();
    body.append('bundle', new Blob([readFileSync(zip)]), 'sound.zip');
    const r = await lecturer.fetch(`/courses/prog1/assignments/new?_csrf=${encodeURIComponent(lecturer.csrf)}`, { method: 'POST', body });
    expect(r.status).toBe(302);
    // Held, not current: the upload's answer says so whatever the check is doing by now.
    expect(r.headers.get('location')).toBe('/courses/prog1/assignments/sound/staff?done=held&v=1');
    const flash = await lecturer.get('/courses/prog1/assignments/sound/staff?done=held&v=1');
    expect(flash.text).toContain('The assignment opens to students when this version');

    const v1 = currentOrPending(t.app.deps.db, 'prog1', 'sound')!.version;
    const c = await checked(v1.id);
    expect(c, JSON.stringify(c)).toMatchObject({ state: 'done', warning: false });
    expect(c.entries.find((e) => e.kind === 'reference')).toMatchObject({ ok: true });
    expect(currentVersion(t.app.deps.db, 'prog1', 'sound')!.version.id).toBe(v1.id);
    expect(getSelfCheck(t.app.deps.db, v1.id)!.confirmedAt).toBeNull();
    const page = await student.get('/courses/prog1/assignments/sound/');
    expect(page.res.status).toBe(200);
    expect(page.text).toContain('Print 42.');
  }, 600_000);

  it('answers no route with a 500 for a student (or staff) while the assignment is not open', async () => {
    // A reference solution that does not get full marks: the check fails and the version stays held.
    const dir = writeSound(tempDir('lectern-closed-src-'), 'closed');
    writeFileSync(path.join(dir, 'statement.md'), `# Closed\n\nPrint 42. ${HIDDEN}\n`);
    writeFileSync(path.join(dir, 'solution', 'main.py'), 'print(41)\n');
    const zip = path.join(tempDir('lectern-closed-'), 'closed.zip');
    await makeZip(
      zip,
      ['assignment.yaml', 'statement.md', 'solution/main.py'].map((f) => ({ name: `closed/${f}`, data: readFileSync(path.join(dir, f)) })),
    );
    const body = new FormData();
    body.append('bundle', new Blob([readFileSync(zip)]), 'closed.zip');
    const r = await lecturer.fetch(`/courses/prog1/assignments/new?_csrf=${encodeURIComponent(lecturer.csrf)}`, { method: 'POST', body });
    expect(r.headers.get('location')).toBe('/courses/prog1/assignments/closed/staff?done=held&v=1');
    const held = currentOrPending(t.app.deps.db, 'prog1', 'closed')!;
    const c = await checked(held.version.id);
    expect(c, JSON.stringify(c)).toMatchObject({ state: 'done', warning: true });
    expect(currentVersion(t.app.deps.db, 'prog1', 'closed')).toBeUndefined();

    const routes = assignmentRoutes('closed');
    expect(routes.length).toBeGreaterThan(30);
    for (const { method, url } of routes) {
      const res = method === 'GET' ? await student.fetch(url) : await student.post(url, {});
      const text = await res.text();
      expect(res.status, `${method} ${url} as a student`).toBeGreaterThanOrEqual(300);
      expect(res.status, `${method} ${url} as a student`).toBeLessThan(500);
      expect(text, `${method} ${url} as a student`).not.toContain(HIDDEN);
      expect(text, `${method} ${url} as a student`).not.toMatch(/self-check/i);
    }
    for (const { url } of routes.filter((x) => x.method === 'GET')) {
      const res = await lecturer.fetch(url);
      await res.arrayBuffer();
      expect(res.status, `GET ${url} as the lecturer`).toBeLessThan(500);
    }
    // Staff pages that need a current version say "not open yet" rather than failing.
    const grading = await lecturer.get('/courses/prog1/assignments/closed/grading');
    expect(grading.res.status).toBe(409);
    expect(grading.text).toContain('not open yet');
  }, 600_000);
});
