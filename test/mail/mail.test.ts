import Database from 'better-sqlite3';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyDemoContent, writeShellAssignment } from '../helpers/content.js';
import { createTestApp, tempDir, type TestApp } from '../helpers/index.js';
import { makeUser, signInAs, TEST_PASSWORD, uniqueEmail } from '../helpers/accounts.js';
import { freePort } from '../helpers/ports.js';
import { linkIn, mailConfig, startSmtp, until, type Inbox } from '../helpers/smtp.js';
import { upload, waitForResult } from '../helpers/submit.js';

/**
 * Mail over a real SMTP server on loopback (smtp-server, read back with mailparser): sign-up links
 * for a roster and for one student, self-service password reset, the outbox surviving a mail
 * server that is down and a restart, and everything still working without mail.
 */
const PUBLIC_URL = 'http://lectern.test';
let t: TestApp | undefined;
let inbox: Inbox | undefined;
afterEach(async () => {
  await t?.close();
  await inbox?.stop();
  t = undefined;
  inbox = undefined;
});

function outbox(app: TestApp): Array<{ recipient: string; status: string; attempts: number; body: string; kind: string; last_error: string | null }> {
  return app.app.deps.db.prepare('SELECT recipient, status, attempts, body, kind, last_error FROM mail_outbox ORDER BY id').all() as never;
}

async function lecturer(app: TestApp) {
  return signInAs(app, makeUser(app, { role: 'lecturer', name: 'Lena Lecturer' }));
}

async function importRoster(app: TestApp, emails: string[]) {
  const lect = await lecturer(app);
  await lect.get('/courses/prog1/roster');
  const csv = emails.map((e, i) => `${e},Student ${i + 1}`).join('\n');
  const res = await lect.post('/courses/prog1/roster/import', { csv });
  expect(res.status).toBe(302);
  await lect.get('/courses/prog1/roster');
  return lect;
}

describe('mail: sign-up links', () => {
  it('mails a sign-up link to every new student of a roster, and the link signs them up', async () => {
    inbox = await startSmtp();
    t = await createTestApp({ config: { publicUrl: PUBLIC_URL, mail: mailConfig(inbox.port) } });
    const emails = [uniqueEmail('ann'), uniqueEmail('ben'), uniqueEmail('cem')];
    const lect = await importRoster(t, emails);
    const res = await lect.post('/courses/prog1/roster/mail-links', { days: '14' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toContain('done=mailed&mailed=3');
    const got = await inbox.waitFor(3);
    expect(inbox.recipients.flat().sort()).toEqual([...emails].sort());
    const first = got.find((m) => inbox!.recipients[got.indexOf(m)]![0] === emails[0])!;
    expect(first.subject).toBe('Your sign-up link for Programming 1');
    expect(first.from?.text).toContain('lectern@lectern.test');
    expect(first.headers.get('auto-submitted')).toBe('auto-generated');
    const link = linkIn(first, `${PUBLIC_URL}/signup/`);
    const student = t.agent();
    const pathname = link.slice(PUBLIC_URL.length);
    const { res: page } = await student.get(pathname);
    expect(page.status).toBe(200);
    const done = await student.post(pathname, { password: 'a long new password', confirm: 'a long new password' });
    expect(done.status).toBe(302);
    expect(done.headers.get('location')).toBe('/courses/prog1/?welcome=1');
    // Sent rows keep who and what, not the link.
    await until(() => outbox(t!).every((r) => r.status === 'sent'), 'the outbox to be marked sent');
    expect(outbox(t).map((r) => r.body)).toEqual(['', '', '']);
    const { text } = await lect.get('/courses/prog1/mail');
    expect(text).toContain('3 sent');
    expect(text).toContain(emails[1]);
    // The site's whole outbox: the administrator only.
    expect((await lect.fetch('/admin/mail')).status).toBe(404);
    const admin = await signInAs(t, makeUser(t, { role: null, admin: true }));
    const { res: adminPage, text: all } = await admin.get('/admin/mail');
    expect(adminPage.status).toBe(200);
    expect(all).toContain('3 sent');
    expect(all).toContain('href="/admin/mail"');
  });

  it('mails one student their link again, and only to a student of this course without a password', async () => {
    inbox = await startSmtp();
    t = await createTestApp({ config: { publicUrl: PUBLIC_URL, mail: mailConfig(inbox.port) } });
    const email = uniqueEmail('dora');
    const lect = await importRoster(t, [email]);
    const id = (t.app.deps.db.prepare('SELECT id FROM users WHERE email = ?').get(email) as { id: number }).id;
    expect((await lect.post('/courses/prog1/roster/send-link', { user: String(id) })).status).toBe(302);
    const [mail] = await inbox.waitFor(1);
    expect(inbox.recipients[0]).toEqual([email]);
    expect(linkIn(mail!, `${PUBLIC_URL}/signup/`)).toMatch(/\/signup\/[A-Za-z0-9_-]{43}$/);
    const signedUp = makeUser(t, { name: 'Has Password' });
    expect((await lect.post('/courses/prog1/roster/send-link', { user: String(signedUp.id) })).status).toBe(409);
    const elsewhere = makeUser(t, { course: 'other', role: 'student' });
    expect((await lect.post('/courses/prog1/roster/send-link', { user: String(elsewhere.id) })).status).toBe(404);
    // A student cannot ask for anyone's link.
    const student = await signInAs(t, makeUser(t));
    expect((await student.post('/courses/prog1/roster/send-link', { user: String(id) })).status).toBe(404);
    expect((await student.fetch('/courses/prog1/mail')).status).toBe(404);
    await until(() => outbox(t!).every((r) => r.status === 'sent'), 'the outbox to be marked sent');
    expect(inbox.messages).toHaveLength(1);
  });

  it('without mail, says so and shows one student’s link on the page to copy', async () => {
    t = await createTestApp({ config: { publicUrl: PUBLIC_URL } });
    const email = uniqueEmail('eve');
    const lect = await importRoster(t, [email]);
    const { text } = await lect.get('/courses/prog1/roster');
    expect(text).toContain('Mail is off');
    expect(text).not.toContain('roster/mail-links');
    expect((await lect.post('/courses/prog1/roster/mail-links', {})).status).toBe(409);
    const id = (t.app.deps.db.prepare('SELECT id FROM users WHERE email = ?').get(email) as { id: number }).id;
    const res = await lect.post('/courses/prog1/roster/send-link', { user: String(id) });
    expect(res.status).toBe(200);
    const page = await res.text();
    const url = /id="shown-link" type="text" value="([^"]+)"/.exec(page)?.[1];
    expect(url).toMatch(new RegExp(`^${PUBLIC_URL}/signup/[A-Za-z0-9_-]{43}$`));
    expect((await t.fetch(url!.slice(PUBLIC_URL.length))).status).toBe(200);
    expect(outbox(t)).toEqual([]);
    const { text: mailPage } = await lect.get('/courses/prog1/mail');
    expect(mailPage).toContain('Mail is off');
    const { text: forgot } = await t.agent().get('/password/forgot');
    expect(forgot).toContain('sends no e-mail');
    const { text: login } = await t.agent().get('/login');
    expect(login).not.toContain('/password/forgot');
  });

  it('mails the sign-up link of a tutor appointed on the course’s settings page, and still shows it once', async () => {
    inbox = await startSmtp();
    t = await createTestApp({ config: { publicUrl: PUBLIC_URL, mail: mailConfig(inbox.port), graders: 0 } });
    const lect = await lecturer(t);
    await lect.get('/courses/prog1/settings');
    const email = uniqueEmail('tutor');
    const res = await lect.post('/courses/prog1/staff', { email, name: 'Tomas Tutor', role: 'tutor' });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('on its way to them by e-mail');
    const [mail] = await inbox.waitFor(1);
    expect(inbox.recipients[0]).toEqual([email]);
    expect(mail!.subject).toBe('Your sign-up link for Programming 1');
    const link = linkIn(mail!, `${PUBLIC_URL}/signup/`);
    expect(html).toContain(link);
    expect((await t.agent().get(link.slice(PUBLIC_URL.length))).res.status).toBe(200);
  });
});

describe('mail: password reset', () => {
  it('answers the same for known and unknown addresses, mails only the account, and the link works once', async () => {
    inbox = await startSmtp();
    t = await createTestApp({ config: { publicUrl: PUBLIC_URL, mail: mailConfig(inbox.port) } });
    const user = makeUser(t, { name: 'Forgetful Fred' });
    const otherDevice = await signInAs(t, user);
    const { text: login } = await t.agent().get('/login');
    expect(login).toContain('href="/password/forgot"');
    const ask = async (email: string) => {
      const a = t!.agent();
      await a.get('/password/forgot');
      const res = await a.post('/password/forgot', { email });
      return { status: res.status, text: (await res.text()).replace(/name="_csrf" value="[^"]+"/g, '').replace(/"\/password\/forgot\?email=[^"]*"/, '') };
    };
    const known = await ask(user.email.toUpperCase());
    const unknown = await ask(uniqueEmail('nobody'));
    expect(known.status).toBe(200);
    expect(unknown.status).toBe(200);
    expect(unknown.text).toBe(known.text);
    const [mail] = await inbox.waitFor(1);
    await until(() => outbox(t!).length === 1 && outbox(t!)[0]!.status === 'sent', 'the reset mail to be sent');
    expect(inbox.recipients[0]).toEqual([user.email]);
    expect(mail!.subject).toBe('Reset your Lectern password');
    const pathname = linkIn(mail!, `${PUBLIC_URL}/password/reset/`).slice(PUBLIC_URL.length);
    const browser = t.agent();
    expect((await browser.get(pathname)).res.status).toBe(200);
    expect((await browser.post(pathname, { password: 'short', confirm: 'short' })).status).toBe(422);
    const done = await browser.post(pathname, { password: 'my brand new password', confirm: 'my brand new password' });
    expect(done.status).toBe(302);
    expect(done.headers.get('location')).toBe('/account?done=reset');
    expect((await browser.get('/account?done=reset')).text).toContain('Your new password is set');
    // Once only; the other device is signed out; the old password is gone.
    expect((await t.agent().get(pathname)).res.status).toBe(410);
    expect((await otherDevice.fetch('/account')).status).not.toBe(200);
    const fresh = t.agent();
    await fresh.get('/login');
    expect((await fresh.post('/login', { email: user.email, password: TEST_PASSWORD })).status).toBe(401);
    expect((await fresh.post('/login', { email: user.email, password: 'my brand new password' })).status).toBe(302);
  });

  it('lets a reset link expire after an hour and limits requests per account and per client', async () => {
    inbox = await startSmtp();
    t = await createTestApp({ config: { publicUrl: PUBLIC_URL, mail: mailConfig(inbox.port) } });
    const user = makeUser(t);
    const a = t.agent();
    await a.get('/password/forgot');
    for (let i = 0; i < 5; i++) expect((await a.post('/password/forgot', { email: user.email })).status).toBe(200);
    // Three per account and hour: the mailbox is not flooded, and the answer does not say so.
    await inbox.waitFor(3);
    await until(() => outbox(t!).every((r) => r.status === 'sent'), 'the reset mails to be sent');
    expect(outbox(t)).toHaveLength(3);
    const pathname = linkIn(inbox.messages[0]!, `${PUBLIC_URL}/password/reset/`).slice(PUBLIC_URL.length);
    t.clock.advance(61 * 60_000);
    expect((await a.get(pathname)).res.status).toBe(410);
    for (let i = 0; i < 20; i++) expect((await a.post('/password/forgot', { email: uniqueEmail('x') })).status).toBe(200);
    const limited = await a.post('/password/forgot', { email: user.email });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('3600');
  });
});

describe('mail: the outbox', () => {
  it('keeps messages while the mail server is down, retries with back-off, and sends each exactly once when it is up', async () => {
    const port = await freePort();
    t = await createTestApp({ config: { publicUrl: PUBLIC_URL, mail: mailConfig(port, { retryMs: 60_000 }) } });
    const emails = [uniqueEmail('f'), uniqueEmail('g'), uniqueEmail('h')];
    const lect = await importRoster(t, emails);
    const res = await lect.post('/courses/prog1/roster/mail-links', {});
    // The request is answered at once, whatever the mail server does.
    expect(res.status).toBe(302);
    await until(() => outbox(t!).every((r) => r.attempts === 1 && r.status === 'queued' && r.last_error !== null), 'a failed first try of each message');
    const { text } = await lect.get('/courses/prog1/mail');
    expect(text).toContain('3 waiting');
    expect(text).toContain('next try');
    inbox = await startSmtp({ port });
    // Not before the back-off: nothing is tried again while the clock stands still.
    t.clock.advance(30_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(inbox.messages).toHaveLength(0);
    t.clock.advance(31_000);
    await inbox.waitFor(3);
    await until(() => outbox(t!).every((r) => r.status === 'sent'), 'every message sent');
    expect(outbox(t).map((r) => r.attempts)).toEqual([2, 2, 2]);
    expect(inbox.recipients.flat().sort()).toEqual([...emails].sort());
    expect(new Set(inbox.messages.map((m) => m.messageId)).size).toBe(3);
  });

  it('survives a restart: what was queued while the server was down is sent by the next start', async () => {
    const port = await freePort();
    const dataDir = tempDir('lectern-mail-');
    t = await createTestApp({ dataDir, config: { publicUrl: PUBLIC_URL, mail: mailConfig(port) } });
    const emails = [uniqueEmail('i'), uniqueEmail('j')];
    const lect = await importRoster(t, emails);
    expect((await lect.post('/courses/prog1/roster/mail-links', {})).status).toBe(302);
    await until(() => outbox(t!).every((r) => r.attempts === 1 && r.status === 'queued'), 'a failed first try');
    const clock = t.clock;
    await t.close();
    t = undefined;
    const db = new Database(path.join(dataDir, 'lectern.db'), { readonly: true });
    expect(db.prepare("SELECT count(*) AS n FROM mail_outbox WHERE status = 'queued' AND body <> ''").get()).toEqual({ n: 2 });
    db.close();
    inbox = await startSmtp({ port });
    clock.advance(2 * 60_000);
    t = await createTestApp({ dataDir, clock, config: { publicUrl: PUBLIC_URL, mail: mailConfig(port) } });
    await inbox.waitFor(2);
    await until(() => outbox(t!).every((r) => r.status === 'sent'), 'every message sent after the restart');
    expect(inbox.recipients.flat().sort()).toEqual([...emails].sort());
  });

  it('logs in to a server that wants it; a refused login is retried, not given up', async () => {
    inbox = await startSmtp({ auth: { user: 'lectern', pass: 'right secret' } });
    t = await createTestApp({ config: { publicUrl: PUBLIC_URL, mail: mailConfig(inbox.port, { user: 'lectern', password: 'wrong secret' }) } });
    const lect = await importRoster(t, [uniqueEmail('k')]);
    expect((await lect.post('/courses/prog1/roster/mail-links', {})).status).toBe(302);
    await until(() => outbox(t!)[0]?.attempts === 1 && outbox(t!)[0]?.status === 'queued', 'a refused login');
    expect(outbox(t)[0]!.last_error).toMatch(/EAUTH|535/);
    await t.close();
    t = await createTestApp({ config: { publicUrl: PUBLIC_URL, mail: mailConfig(inbox.port, { user: 'lectern', password: 'right secret' }) } });
    const lect2 = await importRoster(t, [uniqueEmail('l')]);
    expect((await lect2.post('/courses/prog1/roster/mail-links', {})).status).toBe(302);
    await inbox.waitFor(1);
    await until(() => outbox(t!)[0]?.status === 'sent', 'the message sent after logging in');
  });

  it('gives up on an address the server refuses for good, and says so to the lecturer', async () => {
    inbox = await startSmtp({ refuse: (a) => a.startsWith('gone') });
    t = await createTestApp({ config: { publicUrl: PUBLIC_URL, mail: mailConfig(inbox.port, { maxAttempts: 5 }) } });
    const lect = await importRoster(t, [uniqueEmail('gone')]);
    expect((await lect.post('/courses/prog1/roster/mail-links', {})).status).toBe(302);
    await until(() => outbox(t!)[0]?.status === 'failed', 'the message to be given up');
    expect(outbox(t)[0]).toMatchObject({ body: '', attempts: 1 });
    expect(outbox(t)[0]!.last_error).toContain('550');
    const { text } = await lect.get('/courses/prog1/mail');
    expect(text).toContain('1 failed');
  });
});

describe('mail: team invitations', () => {
  it('mails an invitation to the invited student once, with the team page to accept it', async () => {
    inbox = await startSmtp();
    const dir = copyDemoContent();
    const assignment = writeShellAssignment(dir, 'pair', { title: 'Pair work', opens: '2026-09-01T00:00:00Z', deadline: '2026-12-01T00:00:00Z', script: 'true\n', wall: '10s' });
    appendFileSync(path.join(assignment, 'assignment.yaml'), 'team:\n  min: 2\n  max: 3\n');
    t = await createTestApp({ config: { contentDir: dir, publicUrl: PUBLIC_URL, mail: mailConfig(inbox.port) } });
    const alice = await signInAs(t, makeUser(t, { name: 'Alice Owl', studentId: 's-alice' }));
    const bob = makeUser(t, { name: 'Bob Owl', studentId: 's-bob' });
    const base = '/courses/prog1/assignments/pair';
    await alice.get(`${base}/team`);
    expect((await alice.post(`${base}/team`, { name: 'Owls' })).status).toBe(302);
    expect((await alice.post(`${base}/team/invite`, { who: 's-bob' })).status).toBe(302);
    // Asked again: still one invitation, one message.
    expect((await alice.post(`${base}/team/invite`, { who: 's-bob' })).status).toBe(302);
    const [mail] = await inbox.waitFor(1);
    expect(inbox.recipients[0]).toEqual([bob.email]);
    expect(mail!.subject).toBe('Alice Owl invites you to the team "Owls" (Pair work)');
    const url = linkIn(mail!, `${PUBLIC_URL}/courses/`);
    expect(url).toBe(`${PUBLIC_URL}${base}/team`);
    const b = await signInAs(t, bob);
    const { text } = await b.get(url.slice(PUBLIC_URL.length));
    expect(text).toContain('Owls');
    await until(() => outbox(t!).every((r) => r.status === 'sent'), 'the invitation to be sent');
    expect(outbox(t).map((r) => r.kind)).toEqual(['team-invite']);
    const { text: mailPage } = await (await lecturer(t)).get('/courses/prog1/mail');
    expect(mailPage).toContain(bob.email);
  });
});

describe('mail: your result is in', () => {
  it('mails a student who asked for it when a result is in, and nobody else', async () => {
    inbox = await startSmtp();
    const dir = copyDemoContent();
    writeShellAssignment(dir, 'echo', { title: 'Echo', opens: '2026-09-01T00:00:00Z', deadline: '2026-12-01T00:00:00Z', script: 'grep -q ok answer.txt\n', wall: '20s' });
    t = await createTestApp({ config: { contentDir: dir, publicUrl: PUBLIC_URL, mail: mailConfig(inbox.port), graders: 1 } });
    const ann = await signInAs(t, makeUser(t, { name: 'Ann Notified' }));
    const ben = await signInAs(t, makeUser(t, { name: 'Ben Quiet' }));
    const { text: account } = await ann.get('/account');
    expect(account).toContain('E-mail me when a result is in');
    expect((await ann.post('/account/mail', { results: 'on' })).headers.get('location')).toBe('/account?done=mail-on');
    expect((await ann.get('/account')).text).toContain('Stop these e-mails');
    expect((await ann.post('/account/mail', { results: 'maybe' })).status).toBe(400);

    await ben.get('/courses/prog1/assignments/echo/submissions');
    const benReceipt = (await (await upload(ben, 'prog1', 'echo', [{ name: 'answer.txt', content: 'ok\n' }])).json()) as { id: number };
    await waitForResult(ben, 'prog1', benReceipt.id);
    await ann.get('/courses/prog1/assignments/echo/submissions');
    const annReceipt = (await (await upload(ann, 'prog1', 'echo', [{ name: 'answer.txt', content: 'no\n' }])).json()) as { id: number };
    await waitForResult(ann, 'prog1', annReceipt.id);
    const [mail] = await inbox.waitFor(1);
    await until(() => outbox(t!).every((r) => r.status === 'sent'), 'the result mail to be sent');
    // Results are looked at in order: Ben's came first and made no message.
    expect(inbox.messages).toHaveLength(1);
    expect(inbox.recipients[0]).toEqual([ann.user.email]);
    expect(mail!.subject).toBe('Your result for Echo is in (submission 1)');
    expect(linkIn(mail!, `${PUBLIC_URL}/courses/`)).toBe(`${PUBLIC_URL}/courses/prog1/submissions/${annReceipt.id}`);
    expect(mail!.text).not.toMatch(/score|points/i);
    expect((await ann.post('/account/mail', { results: 'off' })).headers.get('location')).toBe('/account?done=mail-off');
  });
});
