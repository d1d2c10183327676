import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { systemClock } from '../../src/lib/clock.js';
import { createUser, enrol } from '../../src/plugins/accounts/users.js';
import { BrowserRun, scratch } from '../helpers/browser.js';
import { writeShellAssignment } from '../helpers/content.js';
import { demoContentOpenNow, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/**
 * Two students in Debian's Chromium against a real server process (the built bundle): one makes
 * a team and invites the other, who accepts; the first hands in, the second sees the result.
 */
const ann = { email: 'ann.team@example.org', name: 'Ann Otter', password: 'ann has a long password 1' };
const ben = { email: 'ben.team@example.org', name: 'Ben Otter', password: 'ben has a long password 2' };
const dirs = scratch();
let server: ServerProcess;
let run: BrowserRun;
let base: string;

beforeAll(async () => {
  const dataDir = dirs.dir('lectern-browser-teams-');
  mkdirSync(dataDir, { recursive: true });
  const db = openDatabase(databasePath(dataDir));
  migrate(db);
  for (const s of [ann, ben]) enrol(db, { userId: createUser(db, s, systemClock), course: 'prog1', role: 'student' }, systemClock);
  db.close();
  const content = dirs.track(demoContentOpenNow());
  const a = writeShellAssignment(content, 'pair', {
    title: 'Pair work',
    opens: '2020-01-01T00:00:00+00:00',
    deadline: new Date(Date.now() + 14 * 86_400_000).toISOString().replace(/\.\d+Z$/, '+00:00'),
    script: 'grep -q ok answer.txt\n',
    wall: '20s',
  });
  appendFileSync(path.join(a, 'assignment.yaml'), 'team:\n  min: 2\n  max: 3\n');
  [server, run] = await Promise.all([startServerProcess({ LECTERN_DATA: dataDir, LECTERN_CONTENT: content, LECTERN_GRADERS: '1' }), BrowserRun.start('teams')]);
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

describe('a team in the browser', () => {
  it('forms a team, one member hands in, the other sees the result', async () => {
    const team = '/courses/prog1/assignments/pair/team';
    const annPage = await run.open('desktop');
    await signIn(annPage, ann, team);
    await run.step(annPage, 'no-team-yet');
    await annPage.getByLabel("New team's name").fill('Otters');
    await annPage.getByRole('button', { name: 'Create the team' }).click();
    await annPage.waitForURL(/\/team\?done=created$/);
    await annPage.getByLabel('Invite (e-mail address or student id)').fill(ben.email);
    await annPage.getByRole('button', { name: 'Invite' }).click();
    await annPage.waitForURL(/\/team\?done=invited$/);
    expect(await annPage.locator('main').innerText()).toContain('Invited, not yet answered: Ben Otter');
    await run.step(annPage, 'team-invited');

    const benPage = await run.open('phone');
    await signIn(benPage, ben, team);
    expect(await benPage.locator('main').innerText()).toContain('Team Otters (from Ann Otter)');
    await run.step(benPage, 'invitation');
    await benPage.getByRole('button', { name: 'Accept' }).click();
    await benPage.waitForURL(/\/team\?done=joined$/);
    expect(await benPage.locator('#team-members').innerText()).toMatch(/Ann Otter[\s\S]*Ben Otter/);

    await annPage.goto(`${base}/courses/prog1/assignments/pair/submissions`);
    expect(await annPage.locator('.team-line').innerText()).toContain('you hand in for team Otters');
    await annPage.locator('#files').setInputFiles({ name: 'answer.txt', mimeType: 'text/plain', buffer: Buffer.from('ok\n') });
    await annPage.getByRole('button', { name: 'Submit' }).click();
    await annPage.waitForURL(/\/courses\/prog1\/submissions\/\d+$/);
    const receipt = annPage.url();
    await annPage.locator('#live-status').getByText('score 1 / 1').waitFor({ timeout: 60_000 });

    await benPage.goto(`${base}/courses/prog1/assignments/pair/submissions`);
    const row = benPage.locator('tbody tr').first();
    expect(await row.innerText()).toContain('Ann Otter (Otters)');
    await row.getByRole('link', { name: '1' }).click();
    await benPage.waitForURL(receipt);
    expect(await benPage.locator('.receipt').innerText()).toContain('Handed in by Ann Otter for team Otters');
    await benPage.locator('#live-status').getByText('score 1 / 1').waitFor({ timeout: 60_000 });
    await run.step(benPage, 'team-result');
    await run.assertClean();
  }, 180_000);
});
