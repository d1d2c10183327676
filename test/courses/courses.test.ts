import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPasswordSync } from '../../src/plugins/accounts/password.js';
import { findUserByEmail, setPasswordHash } from '../../src/plugins/accounts/users.js';
import { makeUser, signIn, signInAs, TEST_PASSWORD, type SignedInAgent } from '../helpers/accounts.js';
import { copyDemoContent } from '../helpers/content.js';
import { createTestApp, tempDir, type TestApp } from '../helpers/index.js';

/**
 * Issue 19 item 5: courses and staff through the web, live without a restart, with course.yaml
 * files as the source of truth where they exist (src/lib/content.ts, src/plugins/courses/rules.ts).
 */
let t: TestApp;
let content: string;
let dataDir: string;
let admin: SignedInAgent;

/** Polls until `check` holds: the folders are looked at about once a second. */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const until = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`not within 15 s: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const linkIn = (html: string, email: string): string | null =>
  new RegExp(`aria-label="Sign-up link for ${email.replace(/[.+]/g, '\\$&')}" class="copy-link">(http[^<]+/signup/[^<]+)</textarea>`).exec(html)?.[1] ?? null;

/** Signs in someone appointed on the web, after giving their account a password as the sign-up link would. */
async function signInAppointed(email: string): Promise<SignedInAgent> {
  const row = findUserByEmail(t.app.deps.db, email)!;
  if (!row.password_hash) setPasswordHash(t.app.deps.db, row.id, hashPasswordSync(TEST_PASSWORD));
  return signInAs(t, { id: row.id, email, name: row.name, password: TEST_PASSWORD });
}

beforeAll(async () => {
  content = copyDemoContent();
  // Our own data dir, so that the app can be restarted on it.
  dataDir = tempDir('lectern-courses-data-');
  t = await createTestApp({ dataDir, config: { contentDir: content, graders: 0 } });
  admin = await signIn(t, { admin: true, role: null, name: 'Ada Admin' });
});
afterAll(async () => {
  await t.close();
  rmSync(content, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});

describe('courses made on the web', () => {
  let lecturer: SignedInAgent;
  let tutorEmail = '';

  it('the administrator creates a course and appoints lecturers; it is live at once', async () => {
    const page = await admin.get('/admin/courses');
    expect(page.res.status).toBe(200);
    expect(page.text).toContain('data-course="prog1"');
    const existing = makeUser(t, { role: null, name: 'Lars Lecturer' });
    const res = await admin.post('/admin/courses', { slug: 'prog2', title: 'Programming 2', code: 'PROG2', term: 'Spring 2027', timezone: 'Europe/Helsinki', lecturers: `${existing.email}, newbie@example.org` });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('Course &quot;Programming 2&quot; (prog2) created');
    // The new address gets an account and a sign-up link to copy; the existing account none.
    const link = linkIn(html, 'newbie@example.org');
    expect(link).toMatch(/\/signup\//);
    expect(linkIn(html, existing.email)).toBeNull();
    lecturer = await signInAs(t, existing);
    expect((await lecturer.get('/courses/prog2/settings')).res.status).toBe(200);
    expect((await lecturer.get('/courses/prog2/assignments/')).res.status).toBe(200);
    const nav = (await lecturer.get('/courses/prog2/assignments/')).text;
    expect(nav).toContain('href="/courses/prog2/settings"');
    // The sign-up link works and makes a lecturer of prog2 only.
    const signup = t.agent();
    const form = await signup.get(new URL(link!).pathname);
    expect(form.res.status).toBe(200);
  });

  it('a lecturer adds and removes tutors of their course; a tutor sees the staff pages but not the settings', async () => {
    tutorEmail = 'tina.tutor@example.org';
    const add = await lecturer.post('/courses/prog2/staff', { email: tutorEmail, name: 'Tina Tutor', role: 'tutor' });
    expect(add.status).toBe(200);
    const html = await add.text();
    expect(html).toContain('Tina Tutor (tina.tutor@example.org) is now a tutor of this course.');
    expect(linkIn(html, tutorEmail)).toMatch(/\/signup\//);
    const tutor = await signInAppointed(tutorEmail);
    expect((await tutor.get('/courses/prog2/dashboard')).res.status).toBe(200);
    expect((await tutor.get('/courses/prog2/settings')).res.status).toBe(403);
    // Listed on the roster's staff list too.
    expect((await lecturer.get('/courses/prog2/roster')).text).toContain(tutorEmail);

    const id = (t.app.deps.db.prepare('SELECT id FROM users WHERE email = ?').get(tutorEmail) as { id: number }).id;
    const remove = await lecturer.post('/courses/prog2/staff/remove', { user: String(id) });
    expect(remove.status).toBe(302);
    expect((await tutor.get('/courses/prog2/dashboard')).res.status).toBe(404);
    // Back again for the tests below.
    expect((await lecturer.post('/courses/prog2/staff', { email: tutorEmail, role: 'tutor' })).status).toBe(200);
  });

  it('edits the settings of a web course at once; a course.yaml course is edited in its file', async () => {
    const save = await lecturer.post('/courses/prog2/settings', { title: 'Programming 2 (renamed)', code: 'P2', term: '', timezone: 'UTC', description: '' });
    expect(save.status).toBe(302);
    expect((await lecturer.get('/courses/prog2/settings')).text).toContain('value="Programming 2 (renamed)"');
    expect((await admin.get('/admin/courses')).text).toContain('Programming 2 (renamed)');
    const fileCourse = await admin.post('/courses/prog1/settings', { title: 'Nope', timezone: 'UTC' });
    expect(fileCourse.status).toBe(409);
    expect(await fileCourse.text()).toContain('course.yaml');
    // People listed in the file are changed in the file.
    const listed = await admin.post('/courses/prog1/staff', { email: 'tutor@example.org', role: 'lecturer' });
    expect(listed.status).toBe(409);
  });

  it('survives a restart', async () => {
    await t.close();
    t = await createTestApp({ dataDir, config: { contentDir: content, graders: 0 } });
    const again = await signInAs(t, lecturer.user);
    expect((await again.get('/courses/prog2/settings')).text).toContain('Programming 2 (renamed)');
    lecturer = again;
    admin = await signInAs(t, admin.user);
  });

  it('picks up a new course folder without a restart, and a course.yaml wins over the web for settings', async () => {
    mkdirSync(path.join(content, 'courses', 'prog3'), { recursive: true });
    writeFileSync(path.join(content, 'courses', 'prog3', 'course.yaml'), `title: Programming 3\ntimezone: UTC\nstaff:\n  - email: ${lecturer.user.email}\n    role: lecturer\n`);
    await eventually(async () => (await lecturer.get('/courses/prog3/settings')).res.status === 200, 'prog3 served');
    mkdirSync(path.join(content, 'courses', 'prog2'), { recursive: true });
    writeFileSync(path.join(content, 'courses', 'prog2', 'course.yaml'), 'title: Programming 2 from the file\ntimezone: UTC\n');
    await eventually(async () => (await lecturer.get('/courses/prog2/settings')).text.includes('Programming 2 from the file'), 'the file wins');
    const page = (await lecturer.get('/courses/prog2/settings')).text;
    expect(page).toContain('courses/prog2/course.yaml');
    expect(page).toContain('the file wins');
    // Staff appointed on the web stay: the file adds to them.
    expect(page).toContain(tutorEmail);
    expect((await admin.get('/admin/courses')).text).toContain('also made on the web; the file wins');
    expect((await lecturer.post('/courses/prog2/settings', { title: 'x', timezone: 'UTC' })).status).toBe(409);
  });

  it('keeps the last good courses when a course.yaml breaks while running, and says so', async () => {
    writeFileSync(path.join(content, 'courses', 'prog3', 'course.yaml'), 'title: [unclosed\n');
    await eventually(async () => (await admin.get('/admin/courses')).text.includes('could not be read'), 'the problem shown');
    expect((await lecturer.get('/courses/prog3/settings')).res.status).toBe(200);
    writeFileSync(path.join(content, 'courses', 'prog3', 'course.yaml'), `title: Programming 3 again\ntimezone: UTC\nstaff:\n  - email: ${lecturer.user.email}\n    role: lecturer\n`);
    await eventually(async () => !(await admin.get('/admin/courses')).text.includes('could not be read'), 'the problem gone');
  });
});

describe('who may do what', () => {
  it('refuses everyone else with a clear 4xx', async () => {
    const tutor = await signInAppointed('tina.tutor@example.org');
    const student = await signIn(t, { course: 'prog2', name: 'Sam Student' });
    const otherLecturer = await signIn(t, { role: 'lecturer', course: 'prog1', name: 'Olga Prog1' });
    const outsider = await signIn(t, { role: null, name: 'Otto Outsider' });
    const prog2Lecturer = await signIn(t, { role: 'lecturer', course: 'prog2', name: 'Pia Prog2' });

    // The administrator's pages do not exist for anyone else.
    for (const a of [tutor, student, otherLecturer, outsider, prog2Lecturer]) {
      expect((await a.fetch('/admin/courses')).status).toBe(404);
      expect((await a.post('/admin/courses', { slug: 'sneaky', title: 'Sneaky' })).status).toBe(404);
      expect((await a.post('/admin/courses/rescan')).status).toBe(404);
    }
    expect((await t.fetch('/admin/courses')).status).toBe(302);

    const actions: Array<[string, Record<string, string>]> = [
      ['/courses/prog2/staff', { email: 'x1@example.org', name: 'X', role: 'tutor' }],
      ['/courses/prog2/staff/remove', { user: String(tutor.user.id) }],
      ['/courses/prog2/settings', { title: 'Hijacked', timezone: 'UTC' }],
    ];
    for (const [url, body] of actions) {
      const asTutor = await tutor.post(url, body);
      expect(asTutor.status).toBe(403);
      expect(await asTutor.text()).toMatch(/Only lecturers can/);
      // Not members of prog2: the course does not exist for them.
      for (const a of [student, otherLecturer, outsider]) expect((await a.post(url, body)).status, `${url}`).toBe(404);
      expect((await t.fetch(url, { method: 'POST', body: new URLSearchParams(body), redirect: 'manual' })).status).toBeGreaterThanOrEqual(300);
      expect((await prog2Lecturer.post(url, { ...body, _csrf: 'forged' })).status).toBe(403);
    }
    expect((await student.get('/courses/prog2/settings')).res.status).toBe(404);

    // A lecturer appoints tutors only, removes tutors only, and never reaches another course.
    const promote = await prog2Lecturer.post('/courses/prog2/staff', { email: 'x2@example.org', name: 'X2', role: 'lecturer' });
    expect(promote.status).toBe(403);
    expect(await promote.text()).toContain('Only the site administrator can appoint lecturers');
    const lars = t.app.deps.db.prepare("SELECT u.id FROM users u JOIN enrolments e ON e.user_id = u.id WHERE e.course = 'prog2' AND e.role = 'lecturer' AND u.name = 'Lars Lecturer'").get() as { id: number };
    expect((await prog2Lecturer.post('/courses/prog2/staff/remove', { user: String(lars.id) })).status).toBe(403);
    // An existing account of another course is only enrolled here; nothing else about it changes.
    expect((await prog2Lecturer.post('/courses/prog2/staff', { email: otherLecturer.user.email, role: 'tutor' })).status).toBe(200);
    expect((await otherLecturer.get('/courses/prog1/settings')).res.status).toBe(200);
    expect((await prog2Lecturer.post('/courses/prog1/staff', { email: 'x3@example.org', name: 'X3', role: 'tutor' })).status).toBe(404);
    expect((await prog2Lecturer.post('/courses/nosuch/staff', { email: 'x3@example.org', name: 'X3', role: 'tutor' })).status).toBe(404);
    // Demoting a fellow lecturer through "add as tutor" is refused.
    const demote = await prog2Lecturer.post('/courses/prog2/staff', { email: (t.app.deps.db.prepare('SELECT email FROM users WHERE id = ?').get(lars.id) as { email: string }).email, role: 'tutor' });
    expect(demote.status).toBe(403);

    // Every input mistake names its field.
    const bad: Array<[string, Record<string, string>, number, RegExp]> = [
      ['/admin/courses', { slug: 'Bad Slug', title: 'X' }, 400, /slug:/],
      ['/admin/courses', { slug: 'prog1', title: 'X' }, 409, /already a course/],
      ['/admin/courses', { slug: 'prog9', title: 'X', timezone: 'Mars/Olympus' }, 400, /timezone:/],
      ['/admin/courses', { slug: 'prog9', title: '' }, 400, /title: is required/],
      ['/admin/courses', { slug: 'prog9', title: 'X', lecturers: 'not-an-address' }, 400, /lecturers:/],
      ['/courses/prog2/staff', { email: 'nope', role: 'tutor' }, 400, /email:/],
      ['/courses/prog2/staff', { email: 'new-person@example.org', role: 'tutor' }, 400, /name: is required/],
      ['/courses/prog2/staff', { email: 'y@example.org', name: 'Y', role: 'owner' }, 400, /role:/],
      ['/courses/prog2/staff/remove', { user: '999999' }, 404, /not on the staff/],
    ];
    for (const [url, body, status, message] of bad) {
      const res = await admin.post(url, body);
      expect(res.status, `${url} ${JSON.stringify(body)}`).toBe(status);
      expect(await res.text()).toMatch(message);
    }
    expect(t.app.deps.content.course('prog9')).toBeUndefined();
  });
});
