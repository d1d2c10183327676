import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueSignupToken } from '../../src/plugins/accounts/signup.js';
import { createUser, enrol, findUserByEmail, toCurrentUser } from '../../src/plugins/accounts/users.js';
import { makeUser, signIn, signInAs, TEST_PASSWORD, type SignedInAgent } from '../helpers/accounts.js';
import { createTestApp, type Agent, type TestApp } from '../helpers/index.js';
import { OTHER_LECTURER, OTHER_TUTOR, twoCourseContent } from '../helpers/security.js';

/**
 * Authorization across two courses: what the lecturer, tutor and students of course "other" can
 * do to prog1 and its people, through HTTP against the real app.
 */
let t: TestApp;
let content: string;
let prog1Lecturer: SignedInAgent;
let otherLecturer: SignedInAgent;

async function importRoster(agent: Agent, course: string, csv: string): Promise<Response> {
  await agent.get(`/courses/${course}/roster`);
  return agent.post(`/courses/${course}/roster/import`, { csv });
}

async function downloadLinks(agent: Agent, course: string): Promise<string> {
  await agent.get(`/courses/${course}/roster`);
  const res = await agent.post(`/courses/${course}/roster/links`, { days: '14' });
  return res.status === 200 ? res.text() : '';
}

/** Follows a sign-up link as a fresh browser and sets a password; returns the signed-in agent. */
async function claim(path: string): Promise<{ status: number; agent: Agent }> {
  const agent = t.agent();
  const page = await agent.get(path);
  if (page.res.status !== 200) return { status: page.res.status, agent };
  const res = await agent.post(path, { password: 'taken over by someone else', confirm: 'taken over by someone else' });
  return { status: res.status, agent };
}

beforeAll(async () => {
  content = twoCourseContent([
    { email: 'ta2@example.org', role: 'tutor' },
    { email: 'ta3@example.org', role: 'tutor' },
    { email: 'ta4@example.org', role: 'tutor' },
  ]);
  t = await createTestApp({ config: { contentDir: content, graders: 0 } });
  prog1Lecturer = await signIn(t, { email: 'lecturer@example.org', role: null });
  otherLecturer = await signIn(t, { email: OTHER_LECTURER, role: null });
}, 60_000);

afterAll(async () => {
  await t?.close();
  rmSync(content, { recursive: true, force: true });
});

describe('roster import and sign-up links act only on the importing course’s own accounts', () => {
  it('the lecturer of another course cannot take over a prog1 tutor or student who has not signed up yet', async () => {
    const { db } = t.app.deps;
    // ta2 is listed as a tutor of prog1 and has an account without a password; ta3 is listed and has none.
    createUser(db, { email: 'ta2@example.org', name: 'Tutor Two' }, t.clock);
    expect((await importRoster(prog1Lecturer, 'prog1', 'student7@example.org, Real Seven, s7\n')).status).toBe(302);

    const res = await importRoster(otherLecturer, 'other', ['ta2@example.org, Evil Two, x2', 'student7@example.org, "[phish](https://evil.example/)", x7', 'ta3@example.org, Evil Three, x3', 'fresh@example.org, Fresh Person, f1'].join('\n'));
    expect(res.status).toBe(302);
    // Nobody else's account was renamed.
    expect(findUserByEmail(db, 'student7@example.org')?.name).toBe('Real Seven');
    expect(findUserByEmail(db, 'ta2@example.org')?.name).toBe('Tutor Two');

    const csv = await downloadLinks(otherLecturer, 'other');
    expect(csv).toContain('fresh@example.org');
    for (const taken of ['ta2@example.org', 'student7@example.org', 'ta3@example.org']) expect(csv).not.toContain(taken);

    // Whatever links the other lecturer got, none of them opens prog1's staff pages or its student's work.
    for (const link of csv.match(/\/signup\/[A-Za-z0-9_-]{43}/g) ?? []) {
      const { status, agent } = await claim(link);
      expect(status).toBe(302);
      expect((await agent.fetch('/courses/prog1/gradebook')).status).toBe(404);
      expect((await agent.fetch('/courses/prog1/dashboard')).status).toBe(404);
      const account = await agent.get('/account');
      expect(account.text).not.toContain('Real Seven');
    }
  });

  it('prog1’s own lecturer still hands out the links of prog1’s students, and they work', async () => {
    const csv = await downloadLinks(prog1Lecturer, 'prog1');
    const line = csv.split('\r\n').find((l) => l.startsWith('student7@example.org'));
    expect(line).toBeDefined();
    const { status, agent } = await claim(/\/signup\/[A-Za-z0-9_-]{43}/.exec(line!)![0]);
    expect(status).toBe(302);
    const page = await agent.fetch('/courses/prog1/assignments/caesar/', { headers: { accept: 'text/html' } });
    expect(page.headers.get('location')).toBeNull();
    expect(page.status).toBe(200);
  });

  it('a link whose issuer may no longer vouch for the account is refused when used', async () => {
    const { db } = t.app.deps;
    // ta3's account was created by "other"'s import, but ta3 is prog1 staff: other's lecturer cannot vouch.
    const ta3 = findUserByEmail(db, 'ta3@example.org')!;
    const issuer = toCurrentUser(findUserByEmail(db, OTHER_LECTURER)!);
    const { token } = issueSignupToken(db, t.clock, ta3.id, { course: 'other', issuer });
    const page = await t.agent().get(`/signup/${token}`);
    expect(page.res.status).toBe(410);
    expect(page.text).toContain('no longer valid');
  });

  it('a password set through another course’s link does not bring the staff role a course.yaml lists for the address', async () => {
    const { db } = t.app.deps;
    const ta4 = makeUser(t, { email: 'ta4@example.org', role: 'student', course: 'other' });
    db.prepare("UPDATE users SET claimed_via = 'other' WHERE id = ?").run(ta4.id);
    const claimed = await signInAs(t, ta4);
    expect((await claimed.fetch('/courses/prog1/gradebook')).status).toBe(404);
    // Once the operator vouches (a reset through the CLI clears the mark), the listing applies.
    db.prepare('UPDATE users SET claimed_via = NULL WHERE id = ?').run(ta4.id);
    const vouched = await signInAs(t, ta4);
    expect((await vouched.fetch('/courses/prog1/gradebook')).status).toBe(200);
  });
});

describe('staff name and act on members of their own course only', () => {
  let outsider: { id: number; email: string; name: string };
  let tutor: SignedInAgent;

  beforeAll(async () => {
    outsider = makeUser(t, { name: 'Outsider Olga', course: 'other' });
    tutor = await signIn(t, { email: 'tutor@example.org', role: null });
  });

  it('?user= on the preview shows nothing about a non-member and runs no generator', async () => {
    for (const agent of [prog1Lecturer, tutor]) {
      const res = await agent.fetch(`/courses/prog1/assignments/caesar/preview?user=${outsider.id}`);
      const text = await res.text();
      expect(res.status).toBe(404);
      expect(text).not.toContain('Outsider Olga');
    }
    const unknown = await prog1Lecturer.fetch('/courses/prog1/assignments/caesar/preview?user=999999');
    expect(unknown.status).toBe(404);
  });

  it('?as= answers an unknown address and another course’s member alike', async () => {
    const member = await prog1Lecturer.fetch(`/courses/prog1/syllabus?as=${encodeURIComponent(outsider.email)}`);
    const nobody = await prog1Lecturer.fetch('/courses/prog1/syllabus?as=nobody-here%40example.org');
    expect(member.status).toBe(404);
    expect(nobody.status).toBe(404);
    const a = (await member.text()).replaceAll(outsider.email, 'X');
    const b = (await nobody.text()).replaceAll('nobody-here@example.org', 'X');
    expect(a.replace(/request [\w-]+/g, '')).toBe(b.replace(/request [\w-]+/g, ''));
    expect(a).not.toContain('Outsider Olga');
  });

  it('regenerating a variant or revoking an extension of a non-member is 404 and changes nothing', async () => {
    await prog1Lecturer.get('/account');
    const regen = await prog1Lecturer.post(`/courses/prog1/assignments/caesar/variants/${outsider.id}/regenerate`, {});
    expect(regen.status).toBe(404);
    expect(await regen.text()).not.toContain('Outsider Olga');
    const variants = t.app.deps.db.prepare('SELECT count(*) AS n FROM variants WHERE user_id = ?').get(outsider.id) as { n: number };
    expect(variants.n).toBe(0);
    const revoke = await prog1Lecturer.post(`/courses/prog1/assignments/caesar/extensions/${outsider.id}/revoke`, {});
    expect(revoke.status).toBe(404);
    expect(await revoke.text()).not.toContain('Outsider Olga');
  });
});

describe('every course route, as every role of the other course', () => {
  it('gives a non-member of prog1 nothing but prog1’s public pages, and never a 5xx', async () => {
    const { db } = t.app.deps;
    const student = makeUser(t, { email: 'prog1-student@example.org', name: 'Prog One Student' });
    enrol(db, { userId: student.id, course: 'prog1', role: 'student' }, t.clock);
    const roles: Array<[string, Agent]> = [
      ['anonymous', t.agent()],
      ['student of other', await signIn(t, { course: 'other' })],
      ['tutor of other', await signIn(t, { email: OTHER_TUTOR, role: null })],
      ['lecturer of other', otherLecturer],
    ];
    const routes = t.app.routes().filter((r) => r.path.startsWith('/courses/:course'));
    expect(routes.length).toBeGreaterThan(20);
    const fill = (p: string) =>
      p
        .replace(':course', 'prog1')
        .replace(':slug', 'caesar')
        .replace(':user', String(student.id))
        .replace(':id', '1')
        .replace(':batch', '1')
        .replace(':number', '1')
        .replace(':name', 'caesar.c')
        .replace('*file', 'caesar.c');
    const leaks: string[] = [];
    for (const [role, agent] of roles) {
      await agent.get('/account');
      for (const route of routes) {
        for (const method of route.methods) {
          const path = fill(route.path);
          const res =
            method === 'GET'
              ? await agent.fetch(path, { headers: { accept: 'text/html' } })
              : await agent.post(path, { user: String(student.id), until: '2027-07-01 12:00', csv: 'x@example.org, X, 1', body: 'hello', days: '14' });
          const text = await res.text();
          if (res.status >= 500 || (res.status >= 200 && res.status < 300) || text.includes('Prog One Student')) leaks.push(`${role}: ${method} ${path} -> ${res.status}`);
        }
      }
    }
    expect(leaks).toEqual([]);
  }, 120_000);
});

describe('the password of an account can be set only by its owner or through a vouched link', () => {
  it('a signed-in user changing a password changes their own, never the account named in the form', async () => {
    const victim = makeUser(t, { course: 'prog1' });
    const attacker = await signIn(t, { course: 'other' });
    await attacker.get('/account');
    const res = await attacker.post('/account/password', { current: TEST_PASSWORD, password: 'a brand new password', confirm: 'a brand new password', email: victim.email, user: String(victim.id) });
    expect(res.status).toBe(302);
    const probe = t.agent();
    await probe.get('/login');
    expect((await probe.post('/login', { email: victim.email, password: 'a brand new password' })).status).toBe(401);
    await signInAs(t, victim);
  });
});
