import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { systemClock } from '../../src/lib/clock.js';
import { createUser, enrol } from '../../src/plugins/accounts/users.js';
import { BrowserRun, scratch } from '../helpers/browser.js';
import { freePort } from '../helpers/ports.js';
import { demoContentOpenNow, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { linkIn, startSmtp, type Inbox } from '../helpers/smtp.js';

/**
 * Mail in Debian's Chromium against a real server process and a real SMTP server on loopback: a
 * lecturer mails a student's sign-up link from the roster, the student follows the link that
 * arrived on a phone and lands on the course; later they forget the password and reset it by mail.
 */
const lena = { email: 'lena.mail@example.org', name: 'Lena Lecturer', password: 'lena has a long password' };
const student = { email: 'sid.mail@example.org', name: 'Sid Student' };
const dirs = scratch();
let server: ServerProcess;
let run: BrowserRun;
let inbox: Inbox;
let base: string;

beforeAll(async () => {
  const dataDir = dirs.dir('lectern-browser-mail-');
  mkdirSync(dataDir, { recursive: true });
  const db = openDatabase(databasePath(dataDir));
  migrate(db);
  enrol(db, { userId: createUser(db, lena, systemClock), course: 'prog1', role: 'lecturer' }, systemClock);
  enrol(db, { userId: createUser(db, { ...student, createdIn: 'prog1' }, systemClock), course: 'prog1', role: 'student' }, systemClock);
  db.close();
  const content = dirs.track(demoContentOpenNow());
  inbox = await startSmtp();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  [server, run] = await Promise.all([
    startServerProcess({
      LECTERN_DATA: dataDir,
      LECTERN_CONTENT: content,
      LECTERN_GRADERS: '0',
      LECTERN_PORT: String(port),
      LECTERN_PUBLIC_URL: base,
      LECTERN_SMTP_HOST: '127.0.0.1',
      LECTERN_SMTP_PORT: String(inbox.port),
      LECTERN_MAIL_FROM: 'Lectern <lectern@example.org>',
      LECTERN_MAIL_POLL_MS: '100',
    }),
    BrowserRun.start('mail'),
  ]);
}, 120_000);

afterAll(async () => {
  await run?.close();
  if (server && server.child.exitCode === null) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  await inbox?.stop();
  dirs.cleanup();
});

async function signIn(page: Page, who: { email: string; password: string }, next: string): Promise<void> {
  await page.goto(`${base}${next}`);
  await page.waitForURL(/\/login\?next=/);
  await page.getByLabel('E-mail address').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}${next}`);
}

describe('mail in the browser', () => {
  it('mails a sign-up link that the student follows on a phone, then resets a forgotten password by mail', async () => {
    const desk = await run.open('desktop');
    await signIn(desk, lena, '/courses/prog1/roster');
    await run.step(desk, 'roster');
    await desk.getByRole('button', { name: `E-mail sign-up link for ${student.name}` }).click();
    await desk.waitForURL(/\/roster\?done=mailed/);
    expect(await desk.locator('body').innerText()).toContain('1 sign-up link(s) are queued for mailing');
    const [signup] = await inbox.waitFor(1);
    expect(inbox.recipients[0]).toEqual([student.email]);
    await desk.getByRole('link', { name: 'the mail page' }).click();
    await desk.waitForURL(/\/courses\/prog1\/mail$/);
    // The outbox marks the message sent just after the server accepted it.
    for (let i = 0; i < 50 && !(await desk.locator('main').innerText()).includes('1 sent'); i++) await desk.reload();
    expect(await desk.locator(`tr[data-status="sent"]`).innerText()).toContain(student.email);
    await run.step(desk, 'outbox');

    const phone = await run.open('phone');
    await phone.goto(linkIn(signup!, `${base}/signup/`));
    await run.step(phone, 'signup-from-mail');
    await phone.getByLabel('New password (at least 10 characters)').fill('sid chose a long password');
    await phone.getByLabel('The same password again').fill('sid chose a long password');
    await phone.getByRole('button', { name: 'Set password and sign in' }).click();
    await phone.waitForURL(`${base}/courses/prog1/?welcome=1`);
    await run.step(phone, 'course-after-signup');

    const later = await run.open('phone');
    await later.goto(`${base}/login`);
    await later.getByRole('link', { name: 'Forgot your password?' }).click();
    await later.getByLabel('E-mail address').fill(student.email);
    await later.getByRole('button', { name: 'Send me a link' }).click();
    expect(await later.locator('body').innerText()).toContain('If an account with this address exists');
    await run.step(later, 'reset-requested');
    const [, reset] = await inbox.waitFor(2);
    expect(reset!.subject).toBe('Reset your Lectern password');
    await later.goto(linkIn(reset!, `${base}/password/reset/`));
    await run.step(later, 'reset-form');
    await later.getByLabel('New password (at least 10 characters)').fill('sid has a new long password');
    await later.getByLabel('The same password again').fill('sid has a new long password');
    await later.getByRole('button', { name: 'Set password and sign in' }).click();
    await later.waitForURL(`${base}/account?done=reset`);
    expect(await later.locator('body').innerText()).toContain('Your new password is set');
    await run.step(later, 'account-after-reset');
    await run.assertClean();
  }, 180_000);
});
