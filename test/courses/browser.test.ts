import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { systemClock } from '../../src/lib/clock.js';
import { createUser } from '../../src/plugins/accounts/users.js';
import { BrowserRun, scratch } from '../helpers/browser.js';
import { demoContentOpenNow, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/**
 * Issue 19 item 5 in Debian's Chromium against a real server process: the administrator creates
 * a course from the navigation and appoints a lecturer; the lecturer, on a phone, finds the
 * course, adds a tutor and removes them again; a course folder added while the server runs
 * appears in her navigation without a restart.
 */
const adminUser = { email: 'root.admin@example.org', name: 'Rita Root', password: 'the admin has a long password' };
const lena = { email: 'lena.web@example.org', name: 'Lena Web', password: 'lena has a long password 1' };
const dirs = scratch();
let server: ServerProcess;
let run: BrowserRun;
let base: string;
let content: string;

beforeAll(async () => {
  const dataDir = dirs.dir('lectern-browser-courses-');
  mkdirSync(dataDir, { recursive: true });
  const db = openDatabase(databasePath(dataDir));
  migrate(db);
  createUser(db, { ...adminUser, isAdmin: true }, systemClock);
  createUser(db, lena, systemClock);
  db.close();
  content = dirs.track(demoContentOpenNow());
  [server, run] = await Promise.all([startServerProcess({ LECTERN_DATA: dataDir, LECTERN_CONTENT: content, LECTERN_GRADERS: '1' }), BrowserRun.start('courses')]);
  base = server.url;
}, 120_000);

afterAll(async () => {
  await run?.close();
  if (server && server.child.exitCode === null) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  dirs.cleanup();
});

async function signIn(page: Page, who: { email: string; password: string }): Promise<void> {
  await page.goto(`${base}/login`);
  await page.getByLabel('E-mail address').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

describe('courses and staff in the browser', () => {
  it('creates a course, appoints a lecturer, who manages tutors on a phone and sees a new course folder without a restart', async () => {
    // 1. The administrator, at 1280 px, from the navigation alone.
    const adm = await run.open('desktop');
    await signIn(adm, adminUser);
    await adm.getByRole('navigation', { name: 'Site' }).getByRole('link', { name: 'Courses' }).click();
    await adm.waitForURL(`${base}/admin/courses`);
    await run.step(adm, 'admin-courses');
    await adm.getByLabel('Short name in addresses').fill('prog2');
    await adm.getByLabel('Title').fill('Programming 2');
    await adm.getByLabel('Code').fill('PROG2');
    await adm.getByLabel('Time zone').fill('Europe/Stockholm');
    await adm.getByLabel("Lecturers' e-mail addresses").fill(`${lena.email}, new.lecturer@example.org`);
    await adm.getByRole('button', { name: 'Create the course' }).click();
    await adm.getByText('Course "Programming 2" (prog2) created').waitFor();
    expect(await adm.getByLabel('Sign-up link for new.lecturer@example.org').inputValue()).toMatch(/\/signup\//);
    expect(await adm.locator('tr[data-course="prog2"]').innerText()).toContain(lena.email);
    await run.step(adm, 'course-created');
    await adm.context().close();

    // 2. The lecturer, at 390 px: the new course is in her navigation.
    const phone = await run.open('phone');
    await signIn(phone, lena);
    await phone.getByRole('navigation', { name: 'Site' }).getByRole('link', { name: 'PROG2' }).click();
    await phone.waitForURL(`${base}/courses/prog2/`);
    await phone.getByRole('navigation', { name: 'Course', exact: true }).getByRole('link', { name: 'Settings and staff' }).click();
    await phone.waitForURL(`${base}/courses/prog2/settings`);
    await run.step(phone, 'settings', { phone: true });
    await phone.getByLabel('E-mail address').fill('tom.tutor@example.org');
    await phone.getByLabel('Name (for someone without an account yet)').fill('Tom Tutor');
    await phone.getByRole('button', { name: 'Add to the staff' }).click();
    await phone.getByText('Tom Tutor (tom.tutor@example.org) is now a tutor of this course.').waitFor();
    expect(await phone.getByLabel('Sign-up link for tom.tutor@example.org').inputValue()).toMatch(/\/signup\//);
    await run.step(phone, 'tutor-added', { phone: true });
    await phone.getByRole('button', { name: 'Remove Tom Tutor from the staff' }).click();
    await phone.waitForURL(`${base}/courses/prog2/settings?done=removed`);
    expect(await phone.locator('table.staff').innerText()).not.toContain('tom.tutor@example.org');
    await phone.getByLabel('Title').fill('Programming 2, spring');
    await phone.getByRole('button', { name: 'Save the settings' }).click();
    await phone.waitForURL(`${base}/courses/prog2/settings?done=saved`);
    expect(await phone.getByLabel('Title').inputValue()).toBe('Programming 2, spring');
    await run.step(phone, 'settings-saved', { phone: true });

    // 3. A course folder appears while the server runs: no restart.
    mkdirSync(path.join(content, 'courses', 'prog3'), { recursive: true });
    writeFileSync(path.join(content, 'courses', 'prog3', 'course.yaml'), `title: Programming 3\ncode: PROG3\ntimezone: UTC\nstaff:\n  - email: ${lena.email}\n    role: lecturer\n`);
    const site = phone.getByRole('navigation', { name: 'Site' });
    for (let i = 0; i < 100 && (await site.getByRole('link', { name: 'PROG3' }).count()) === 0; i++) {
      await new Promise((r) => setTimeout(r, 150));
      await phone.goto(`${base}/courses/prog2/settings`);
    }
    await site.getByRole('link', { name: 'PROG3' }).click();
    await phone.waitForURL(`${base}/courses/prog3/`);
    await phone.goto(`${base}/courses/prog3/settings`);
    expect(await phone.locator('main').innerText()).toContain('courses/prog3/course.yaml');
    await run.step(phone, 'folder-course', { phone: true });
    await run.assertClean();
  }, 240_000);
});
