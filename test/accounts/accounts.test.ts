import { afterEach, describe, expect, it } from 'vitest';
import { CSRF_MESSAGE } from '../../src/plugins/accounts/csrf.js';
import { LOGIN_FAILED } from '../../src/plugins/accounts/local.js';
import { LOGIN_LIMITS } from '../../src/plugins/accounts/rate-limit.js';
import { findUserByEmail, listEnrolled } from '../../src/plugins/accounts/users.js';
import { createTestApp, type Agent, type TestApp } from '../helpers/index.js';
import { makeUser, signIn, signInAs, signupLink, TEST_PASSWORD, uniqueEmail } from '../helpers/accounts.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>';

/** The text of the alert on a form page (the error banner). */
function alertText(html: string): string {
  return /role="alert">([^<]*)</.exec(html)?.[1]?.trim() ?? '';
}

async function tryLogin(agent: Agent, email: string, password: string): Promise<{ status: number; html: string; res: Response }> {
  if (!agent.csrf) await agent.get('/login');
  const res = await agent.post('/login', { email, password });
  return { status: res.status, html: await res.text(), res };
}

async function isSignedIn(agent: Agent): Promise<boolean> {
  const { res } = await agent.get('/account');
  return res.status === 200;
}

const lecturer = (app: TestApp) => signIn(app, { email: 'lecturer@example.org', name: 'Lena Lecturer', role: null });

describe('sign-in and sessions', () => {
  it('signs in through the form and shows the name in the layout', async () => {
    t = await createTestApp();
    const agent = await signIn(t, { name: 'Ada Lovelace' });
    const { res, text } = await agent.get('/');
    expect(res.status).toBe(200);
    expect(text).toContain('Ada Lovelace');
    expect(text).toContain('Sign out');
    expect(agent.csrf).not.toBe('');
  });

  it('sets an HttpOnly, SameSite=Lax session cookie, Secure behind an https public URL', async () => {
    t = await createTestApp();
    const user = makeUser(t);
    const agent = t.agent();
    await agent.get('/login');
    const res = await agent.post('/login', { email: user.email, password: user.password });
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('lectern_session='))!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).not.toMatch(/Secure/);
    await t.close();

    t = await createTestApp({ config: { publicUrl: 'https://lectern.example.org' } });
    const u2 = makeUser(t);
    const a2 = t.agent();
    await a2.get('/login');
    const res2 = await a2.post('/login', { email: u2.email, password: u2.password });
    expect(res2.headers.getSetCookie().find((c) => c.startsWith('lectern_session='))).toMatch(/; Secure/);
  });

  it('stores only a hash of the session id', async () => {
    t = await createTestApp();
    const agent = await signIn(t);
    const id = agent.cookies.get('lectern_session')!;
    const rows = t.app.deps.db.prepare('SELECT id_hash FROM sessions').all() as Array<{ id_hash: string }>;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.id_hash).not.toContain(id);
    expect(rows[0]!.id_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('issues a new session id at sign-in, so a planted one is useless (no fixation)', async () => {
    t = await createTestApp();
    const attacker = await signIn(t, { name: 'Mallory' });
    const planted = attacker.cookies.get('lectern_session')!;
    const victimUser = makeUser(t, { name: 'Victor' });
    const victim = t.agent();
    victim.cookies.set('lectern_session', planted);
    // The victim's browser carries the planted id; they post the sign-in form from it.
    await victim.get('/account');
    const before = victim.cookies.get('lectern_session');
    expect(before).toBe(planted);
    const res = await victim.post('/login', { email: victimUser.email, password: victimUser.password });
    expect(res.status).toBe(302);
    const after = victim.cookies.get('lectern_session');
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    expect(after).not.toBe(planted);
    // The planted id no longer leads anywhere: not to the victim, not to the attacker.
    const replay = t.agent();
    replay.cookies.set('lectern_session', planted);
    expect(await isSignedIn(replay)).toBe(false);
    const { text } = await victim.get('/account');
    expect(text).toContain('Victor');
  });

  it('ignores a made-up session id and issues its own at sign-in', async () => {
    t = await createTestApp();
    const user = makeUser(t);
    const agent = t.agent();
    const madeUp = 'A'.repeat(43);
    agent.cookies.set('lectern_session', madeUp);
    await agent.get('/login');
    expect(agent.cookies.has('lectern_session')).toBe(false);
    agent.cookies.set('lectern_session', madeUp);
    expect((await agent.post('/login', { email: user.email, password: user.password })).status).toBe(302);
    expect(agent.cookies.get('lectern_session')).not.toBe(madeUp);
  });

  it('signs out with POST /logout and the old cookie stops working', async () => {
    t = await createTestApp();
    const agent = await signIn(t);
    const old = agent.cookies.get('lectern_session')!;
    const res = await agent.post('/logout');
    expect(res.status).toBe(302);
    expect(agent.cookies.has('lectern_session')).toBe(false);
    const replay = t.agent();
    replay.cookies.set('lectern_session', old);
    const { res: page } = await replay.get('/account');
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toBe('/login?next=%2Faccount');
  });

  it('expires idle sessions after 14 days, sliding while in use', async () => {
    t = await createTestApp();
    const agent = await signIn(t);
    t.clock.advance(10 * DAY);
    expect(await isSignedIn(agent)).toBe(true);
    t.clock.advance(10 * DAY);
    expect(await isSignedIn(agent)).toBe(true);
    t.clock.advance(14 * DAY + MINUTE);
    expect(await isSignedIn(agent)).toBe(false);
  });

  it('redirects only to same-site paths after sign-in', async () => {
    t = await createTestApp();
    const user = makeUser(t);
    for (const [next, expected] of [
      ['/courses/prog1/', '/courses/prog1/'],
      ['//evil.example/', '/'],
      ['https://evil.example/', '/'],
      ['/\\evil.example', '/'],
    ] as const) {
      const agent = t.agent();
      await agent.get('/login');
      const res = await agent.post('/login', { email: user.email, password: user.password, next });
      expect(res.headers.get('location')).toBe(expected);
    }
  });

  it('accepts the e-mail address in any case', async () => {
    t = await createTestApp();
    const user = makeUser(t, { email: 'Mixed.Case@Example.org' });
    const agent = t.agent();
    const { status } = await tryLogin(agent, 'MIXED.case@example.ORG', user.password);
    expect(status).toBe(302);
  });
});

describe('CSRF', () => {
  it('rejects a state-changing request without the token, or with a wrong one, with 403', async () => {
    t = await createTestApp();
    const agent = await signIn(t);
    const missing = await agent.fetch('/logout', { method: 'POST', headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    expect(missing.status).toBe(403);
    expect(await missing.text()).toContain(CSRF_MESSAGE.replace(/'/g, '&#39;'));
    const wrong = await agent.post('/logout', { _csrf: 'A'.repeat(43) }, { headers: { accept: 'application/json' } });
    expect(wrong.status).toBe(403);
    expect(await wrong.json()).toMatchObject({ error: CSRF_MESSAGE, status: 403 });
    expect(await isSignedIn(agent)).toBe(true);
    const right = await agent.post('/logout');
    expect(right.status).toBe(302);
    expect(await isSignedIn(agent)).toBe(false);
  });

  it('accepts the token in the X-CSRF-Token header (fetch/XHR)', async () => {
    t = await createTestApp();
    const agent = await signIn(t);
    const res = await agent.fetch('/logout', { method: 'POST', headers: { 'x-csrf-token': agent.csrf } });
    expect(res.status).toBe(302);
    expect(await isSignedIn(agent)).toBe(false);
  });

  it('does not accept the token of another session', async () => {
    t = await createTestApp();
    const alice = await signIn(t);
    const bob = await signIn(t);
    const res = await alice.post('/logout', { _csrf: bob.csrf });
    expect(res.status).toBe(403);
  });

  it('protects the sign-in form too (no login CSRF): a post without the pre-session cookie fails', async () => {
    t = await createTestApp();
    const user = makeUser(t);
    const browser = t.agent();
    await browser.get('/login');
    // The token from the page is worthless to another browser (the cookie is missing there).
    const forged = await t.fetch('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: browser.csrf, email: user.email, password: user.password }),
    });
    expect(forged.status).toBe(403);
    expect(forged.headers.getSetCookie().some((c) => c.startsWith('lectern_session='))).toBe(false);
  });

  it('gives a new token after sign-in', async () => {
    t = await createTestApp();
    const user = makeUser(t);
    const agent = t.agent();
    await agent.get('/login');
    const anonymous = agent.csrf;
    await agent.post('/login', { email: user.email, password: user.password });
    await agent.get('/account');
    expect(agent.csrf).not.toBe(anonymous);
    const stale = await agent.post('/logout', { _csrf: anonymous });
    expect(stale.status).toBe(403);
  });
});

describe('failed sign-ins', () => {
  it('answers an unknown address and a wrong password alike', async () => {
    t = await createTestApp();
    const user = makeUser(t);
    const unknown = await tryLogin(t.agent(), uniqueEmail('nobody'), 'some password 123');
    const wrong = await tryLogin(t.agent(), user.email, 'some password 123');
    const noPassword = signupLink(t).user;
    const unset = await tryLogin(t.agent(), noPassword.email, 'some password 123');
    for (const r of [unknown, wrong, unset]) {
      expect(r.status).toBe(401);
      expect(alertText(r.html)).toBe(LOGIN_FAILED);
    }
  });

  it('limits failed attempts per account, with a clear message, then lets the owner in again', async () => {
    t = await createTestApp();
    const user = makeUser(t);
    const agent = t.agent();
    for (let i = 0; i < LOGIN_LIMITS.account; i++) expect((await tryLogin(agent, user.email, `wrong guess ${i}`)).status).toBe(401);
    const blocked = await tryLogin(agent, user.email, user.password);
    expect(blocked.status).toBe(429);
    expect(alertText(blocked.html)).toBe('Too many failed sign-in attempts for this account. Try again in 15 minutes.');
    expect(Number(blocked.res.headers.get('retry-after'))).toBe(15 * 60);
    // An unknown address is limited the same way (no hint which addresses exist).
    const ghost = uniqueEmail('ghost');
    for (let i = 0; i < LOGIN_LIMITS.account; i++) await tryLogin(agent, ghost, `wrong guess ${i}`);
    expect((await tryLogin(agent, ghost, 'x'.repeat(12))).status).toBe(429);

    t.clock.advance(10 * MINUTE);
    expect(alertText((await tryLogin(agent, user.email, user.password)).html)).toMatch(/Try again in 5 minutes/);
    t.clock.advance(5 * MINUTE + 1000);
    expect((await tryLogin(agent, user.email, user.password)).status).toBe(302);
  });

  it('limits failed attempts per address across accounts', async () => {
    t = await createTestApp();
    const user = makeUser(t);
    const agent = t.agent();
    await agent.get('/login');
    for (let i = 0; i < LOGIN_LIMITS.address; i++) {
      const r = await agent.post('/login', { email: `guess${i}@example.org`, password: 'password guess' });
      expect(r.status).toBe(401);
    }
    const blocked = await tryLogin(agent, user.email, user.password);
    expect(blocked.status).toBe(429);
    expect(alertText(blocked.html)).toBe('Too many failed sign-in attempts from your network. Try again in 15 minutes.');
  }, 60_000);
});

describe('account page and password change', () => {
  it('changes the password with the current one and signs out other sessions', async () => {
    t = await createTestApp();
    const user = makeUser(t);
    const laptop = await signInAs(t, user);
    const phone = await signInAs(t, user);

    const wrong = await laptop.post('/account/password', { current: 'not my password', password: 'a brand new password', confirm: 'a brand new password' });
    expect(wrong.status).toBe(422);
    expect(alertText(await wrong.text())).toBe('The current password is not right.');
    const short = await laptop.post('/account/password', { current: user.password, password: 'short', confirm: 'short' });
    expect(short.status).toBe(422);
    const differ = await laptop.post('/account/password', { current: user.password, password: 'a brand new password', confirm: 'a brand new passwore' });
    expect(alertText(await differ.text())).toMatch(/differ/);

    const before = laptop.cookies.get('lectern_session');
    const ok = await laptop.post('/account/password', { current: user.password, password: 'a brand new password', confirm: 'a brand new password' });
    expect(ok.status).toBe(302);
    expect(ok.headers.get('location')).toBe('/account?done=password');
    expect(laptop.cookies.get('lectern_session')).not.toBe(before);
    const { text } = await laptop.get('/account?done=password');
    expect(text).toContain('Your password has been changed');
    expect(await isSignedIn(phone)).toBe(false);

    expect((await tryLogin(t.agent(), user.email, TEST_PASSWORD)).status).toBe(401);
    expect((await tryLogin(t.agent(), user.email, 'a brand new password')).status).toBe(302);
  });

  it('asks anonymous visitors to sign in first', async () => {
    t = await createTestApp();
    const res = await t.fetch('/account', { headers: { accept: 'text/html' } });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/login?next=%2Faccount');
  });
});

describe('names are escaped everywhere they are shown', () => {
  it('never lets a name inject markup', async () => {
    t = await createTestApp();
    const student = await signIn(t, { name: XSS });
    for (const path of ['/', '/account', '/courses/prog1/']) {
      const { text } = await student.get(path);
      expect(text).not.toContain('<script>alert');
      expect(text).not.toContain('<img src=x');
      expect(text).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    }
    const staff = await lecturer(t);
    const { text: roster } = await staff.get('/courses/prog1/roster');
    expect(roster).toContain('&lt;script&gt;alert');
    expect(roster).not.toContain('<script>alert');

    const link = signupLink(t, { name: XSS });
    const { text: signup } = await t.agent().get(link.path);
    expect(signup).toContain('Welcome, &lt;script&gt;');
    expect(signup).not.toContain('<script>alert');
  });
});

describe('sign-up links', () => {
  it('let a rostered student choose a password once', async () => {
    t = await createTestApp();
    const link = signupLink(t, { name: 'Grace Hopper' });
    const agent = t.agent();
    const { res, text } = await agent.get(link.path);
    expect(res.status).toBe(200);
    expect(text).toContain('Welcome, Grace Hopper');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');

    const mismatch = await agent.post(link.path, { password: 'a long password!', confirm: 'another long one' });
    expect(mismatch.status).toBe(422);
    const done = await agent.post(link.path, { password: 'grace hopper password', confirm: 'grace hopper password' });
    expect(done.status).toBe(302);
    expect(done.headers.get('location')).toBe('/courses/prog1/?welcome=1');
    const { text: course } = await agent.get('/courses/prog1/?welcome=1');
    expect(course).toContain('Your password is set');
    const { text: account } = await agent.get('/account');
    expect(account).toContain('Grace Hopper');

    const again = await t.agent().get(link.path);
    expect(again.res.status).toBe(410);
    expect(again.text).toContain('already been used');
    expect((await tryLogin(t.agent(), link.user.email, 'grace hopper password')).status).toBe(302);
  });

  it('expire', async () => {
    t = await createTestApp();
    const link = signupLink(t);
    t.clock.advance(14 * DAY + MINUTE);
    const { res, text } = await t.agent().get(link.path);
    expect(res.status).toBe(410);
    expect(text).toContain('This sign-up link has expired. Ask your lecturer for a new one.');
  });

  it('reject a made-up token with 404', async () => {
    t = await createTestApp();
    const { res } = await t.agent().get(`/signup/${'x'.repeat(43)}`);
    expect(res.status).toBe(404);
  });

  it('all stop working once one of them is used', async () => {
    t = await createTestApp();
    const first = signupLink(t, { email: 'twice@example.org' });
    const second = signupLink(t, { email: 'twice@example.org' });
    const agent = t.agent();
    await agent.get(second.path);
    expect((await agent.post(second.path, { password: 'twice password 1', confirm: 'twice password 1' })).status).toBe(302);
    expect((await t.agent().get(first.path)).res.status).toBe(410);
  });
});

describe('roster', () => {
  it('is for lecturers only: students and tutors get 404, visitors the sign-in page', async () => {
    t = await createTestApp();
    const student = await signIn(t);
    expect((await student.get('/courses/prog1/roster')).res.status).toBe(404);
    const tutor = await signIn(t, { email: 'tutor@example.org', role: null });
    expect((await tutor.get('/courses/prog1/roster')).res.status).toBe(404);
    const lecturerByEnrolment = await signIn(t, { role: 'lecturer' });
    expect((await lecturerByEnrolment.get('/courses/prog1/roster')).res.status).toBe(200);
    const admin = await signIn(t, { admin: true, role: null });
    expect((await admin.get('/courses/prog1/roster')).res.status).toBe(200);
    const anon = await t.fetch('/courses/prog1/roster', { headers: { accept: 'text/html' } });
    expect(anon.status).toBe(302);
    expect((await student.post('/courses/prog1/roster/import', { csv: 'a@example.org,A' })).status).toBe(404);
    expect((await (await signIn(t, { role: 'lecturer' })).get('/courses/nope/roster')).res.status).toBe(404);
  });

  it('takes staff roles from course.yaml over enrolments', async () => {
    t = await createTestApp();
    // Enrolled as a student, but course.yaml lists this address as the lecturer.
    const staff = await signIn(t, { email: 'lecturer@example.org', role: 'student' });
    expect((await staff.get('/courses/prog1/roster')).res.status).toBe(200);
  });

  it('reports every bad row with its line number and imports nothing', async () => {
    t = await createTestApp();
    const staff = await lecturer(t);
    await staff.get('/courses/prog1/roster');
    const csv = ['email,name,student id', 'ok@example.org,Okay Person,1', 'not-an-email,Bad Email,2', ',No Email,3', 'noname@example.org,,4', 'ok@example.org,Again,5'].join('\n');
    const res = await staff.post('/courses/prog1/roster/import', { csv });
    expect(res.status).toBe(422);
    const html = await res.text();
    expect(html).toContain('Nothing was imported: the roster has 4 problems.');
    expect(html).toContain('line 3: &quot;not-an-email&quot; is not an e-mail address');
    expect(html).toContain('line 4: the e-mail address is missing');
    expect(html).toContain('line 5: the name is missing');
    expect(html).toContain('line 6: ok@example.org appears twice (also on line 2)');
    expect(findUserByEmail(t.app.deps.db, 'ok@example.org')).toBeUndefined();

    const json = await staff.post('/courses/prog1/roster/import', { csv }, { headers: { accept: 'application/json' } });
    expect(json.status).toBe(422);
    expect((await json.json()).details).toHaveLength(4);
  });

  it('imports students, hands out sign-up links as CSV, and removes students', async () => {
    t = await createTestApp();
    const existing = makeUser(t, { email: 'known@example.org', name: 'Known Student', role: null });
    const staff = await lecturer(t);
    await staff.get('/courses/prog1/roster');
    const csv = 'Ann@Example.org,"Smith, Ann",S1\r\nbob@example.org,Bob Jones,S2\r\nknown@example.org,Known Student,\r\n';
    const res = await staff.post('/courses/prog1/roster/import', { csv });
    expect(res.status).toBe(302);
    const { text } = await staff.get(res.headers.get('location')!);
    expect(text).toContain('2 new account(s), 1 existing account(s) added');
    expect(text).toContain('Smith, Ann');
    const enrolled = listEnrolled(t.app.deps.db, 'prog1', 'student');
    expect(enrolled.map((u) => u.email).sort()).toEqual(['ann@example.org', 'bob@example.org', 'known@example.org']);

    const links = await staff.post('/courses/prog1/roster/links', { days: '7' });
    expect(links.status).toBe(200);
    expect(links.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(links.headers.get('content-disposition')).toMatch(/signup-links-prog1\.csv/);
    const rows = (await links.text()).trim().split('\r\n');
    expect(rows[0]).toBe('email,name,student_id,signup_link,expires');
    // Only the two without a password; the known student already has one.
    expect(rows).toHaveLength(3);
    const ann = rows.find((r) => r.startsWith('ann@example.org'))!;
    expect(ann).toContain('"Smith, Ann",S1,');
    const url = /(http:\/\/[^,]+\/signup\/[A-Za-z0-9_-]{43})/.exec(ann)![1]!;
    expect(url.startsWith(t.config.publicUrl)).toBe(true);
    const path = new URL(url).pathname;
    expect((await t.agent().get(path)).text).toContain('Welcome, Smith, Ann');
    t.clock.advance(8 * DAY);
    expect((await t.agent().get(path)).res.status).toBe(410);

    const bob = enrolled.find((u) => u.email === 'bob@example.org')!;
    const removed = await staff.post('/courses/prog1/roster/remove', { user: String(bob.id) });
    expect(removed.status).toBe(302);
    expect(listEnrolled(t.app.deps.db, 'prog1').some((u) => u.id === bob.id)).toBe(false);
    expect(findUserByEmail(t.app.deps.db, 'bob@example.org')).toBeDefined();
    void existing;
  });

  it('accepts an uploaded CSV file (multipart, token in the action URL)', async () => {
    t = await createTestApp();
    const staff = await lecturer(t);
    const { text } = await staff.get('/courses/prog1/roster');
    const action = /action="(\/courses\/prog1\/roster\/import\?_csrf=[^"]+)"/.exec(text)![1]!.replace(/&amp;/g, '&');
    const form = new FormData();
    form.set('file', new Blob(['email;name;student id\nfile@example.org;File Student;F1\n'], { type: 'text/csv' }), 'roster.csv');
    const res = await staff.fetch(action, { method: 'POST', body: form });
    expect(res.status).toBe(302);
    expect(findUserByEmail(t.app.deps.db, 'file@example.org')?.student_id).toBe('F1');

    const noToken = new FormData();
    noToken.set('file', new Blob(['x@example.org,X\n']), 'roster.csv');
    expect((await staff.fetch('/courses/prog1/roster/import', { method: 'POST', body: noToken })).status).toBe(403);
  });
});
