import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { systemClock } from '../../src/lib/clock.js';
import { createUser, enrol } from '../../src/plugins/accounts/users.js';
import { makeZip } from '../helpers/archives.js';
import { BrowserRun, scratch } from '../helpers/browser.js';
import { demoContentOpenNow, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/**
 * Issue 19 item 4 in Debian's Chromium against a real server process: a student opens version 1
 * on a phone; the lecturer uploads a fixed version 2 on the staff page; the student sees the fix
 * with her own number; the lecturer sees who is on which version and decides the reach.
 */
const student = { email: 'ada.freeze@example.org', name: 'Ada Freeze', password: 'ada has a long password 1' };
const lecturer = { email: 'lecturer@example.org', name: 'Lena Lecturer', password: 'lena has a long password 2' };
const yaml = (title: string) => `title: ${title}\nopens: 2020-01-01T00:00:00+00:00\ndeadline: ${new Date(Date.now() + 14 * 86_400_000).toISOString().replace(/\.\d+Z$/, '+00:00')}\nfiles: answer.txt\ntest:\n  command: [/bin/sh, tests/run.sh]\n`;
const GEN = '#!/usr/bin/python3\nimport json, sys\nseed = json.load(sys.stdin)["seed"]\nprint(json.dumps({"n": int(seed[:6], 16)}))\n';
const dirs = scratch();
let server: ServerProcess;
let run: BrowserRun;
let base: string;
let bundleZip: string;

beforeAll(async () => {
  const dataDir = dirs.dir('lectern-browser-freeze-');
  mkdirSync(dataDir, { recursive: true });
  const db = openDatabase(databasePath(dataDir));
  migrate(db);
  enrol(db, { userId: createUser(db, student, systemClock), course: 'prog1', role: 'student' }, systemClock);
  createUser(db, lecturer, systemClock);
  db.close();
  const content = dirs.track(demoContentOpenNow());
  const dir = path.join(content, 'assignments', 'frozen');
  mkdirSync(path.join(dir, 'tests'), { recursive: true });
  writeFileSync(path.join(dir, 'assignment.yaml'), yaml('Frozen numbers'));
  writeFileSync(path.join(dir, 'statement.md'), '# Frozen\n\nThe frist text; your number is {{ n }}.\n');
  writeFileSync(path.join(dir, 'generate'), GEN, { mode: 0o755 });
  writeFileSync(path.join(dir, 'tests', 'run.sh'), 'echo ok\n', { mode: 0o755 });
  bundleZip = path.join(dirs.dir('lectern-freeze-zip-'), 'frozen-v2.zip');
  await makeZip(bundleZip, [
    { name: 'assignment.yaml', data: yaml('Frozen numbers (fixed)') },
    { name: 'statement.md', data: '# Frozen\n\nThe first text; your number is {{ n }}.\n' },
    { name: 'generate', data: GEN, mode: 0o100755 },
    { name: 'tests/run.sh', data: 'echo ok\n', mode: 0o100755 },
  ]);
  [server, run] = await Promise.all([startServerProcess({ LECTERN_DATA: dataDir, LECTERN_CONTENT: content, LECTERN_GRADERS: '1', LECTERN_SELF_CHECK: 'no' }), BrowserRun.start('freeze')]);
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

async function signIn(page: Page, who: { email: string; password: string }, next: string): Promise<void> {
  await page.goto(`${base}${next}`);
  await page.waitForURL(/\/login\?next=/);
  await page.getByLabel('E-mail address').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}${next}`);
}

describe('a version fix in the browser', () => {
  it('reaches a student who opened version 1, with her own number', async () => {
    const url = '/courses/prog1/assignments/frozen/';
    const phone = await run.open('phone');
    await signIn(phone, student, url);
    const before = await phone.locator('main').innerText();
    expect(before).toContain('The frist text');
    const n = /your number is (\d+)/.exec(before)![1]!;
    await run.step(phone, 'student-v1', { phone: true });

    const desk = await run.open('desktop');
    await signIn(desk, lecturer, '/courses/prog1/assignments/frozen/staff');
    await desk.locator('#bundle').setInputFiles(bundleZip);
    await desk.getByRole('button', { name: 'Upload' }).click();
    await desk.waitForURL(/done=created&v=2/);
    const staff = await desk.locator('#versions').innerText();
    expect(staff).toContain('1 opened version 1: see version 2');
    await run.step(desk, 'staff-v2');

    await phone.reload();
    const after = await phone.locator('main').innerText();
    expect(await phone.locator('h1').first().innerText()).toBe('Frozen numbers (fixed)');
    expect(after).toContain(`The first text; your number is ${n}.`);
    await run.step(phone, 'student-v2', { phone: true });

    // The lecturer keeps version 2 for new students only: Ada is back on what she opened.
    await desk.getByLabel('new students only').check();
    await desk.getByRole('button', { name: 'Save', exact: true }).click();
    await desk.waitForURL(/done=reach-new/);
    expect(await desk.locator('#versions').innerText()).toContain('still see version 1');
    await run.step(desk, 'staff-reach-new');
    await phone.reload();
    expect(await phone.locator('main').innerText()).toContain(`The frist text; your number is ${n}.`);
    // …and moves everyone forward, keeping their numbers.
    await desk.getByRole('button', { name: /Move all 1 to version 2/ }).click();
    await desk.waitForURL(/done=moved&n=1/);
    await run.step(desk, 'staff-moved');
    await phone.reload();
    expect(await phone.locator('main').innerText()).toContain(`The first text; your number is ${n}.`);
    await run.assertClean();
  }, 240_000);
});
