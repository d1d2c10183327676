import { cpSync, createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yazl from 'yazl';
import { migrate } from '../../src/db/migrate.js';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { systemClock } from '../../src/lib/clock.js';
import { createUser, enrol } from '../../src/plugins/accounts/users.js';
import { renderText } from '../../src/plugins/assignments/render.js';
import { currentVersion } from '../../src/plugins/assignments/store.js';
import { findVariant } from '../../src/plugins/assignments/variants.js';
import { BrowserRun, scratch } from '../helpers/browser.js';
import { Agent, ROOT } from '../helpers/index.js';
import { demoContentOpenNow, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { upload, waitForResult } from '../helpers/submit.js';

/**
 * A lecturer's journey in Debian's Chromium against a real server process: the dashboard, a new
 * bundle version uploaded through the staff page, a student's variant previewed, an extension
 * granted, tests re-run with live progress, the score histogram, the gradebook CSV and the zip of
 * submissions; then the staff pages at phone width, a revocation without JavaScript, and the
 * administrator reading the audit log of all that.
 */
const password = 'lecturer password 2026';
const lecturer = { email: 'lecturer@example.org', name: 'Lena Lecturer', password };
const admin = { email: 'admin@example.org', name: 'Ada Admin', password, isAdmin: true };
const students = [
  { email: 'ann@example.org', name: 'Ann Right', studentId: 's100001', password, solution: 'caesar' },
  { email: 'ben@example.org', name: 'Ben Wrong', studentId: 's100002', password, solution: 'caesar-wrong' },
  { email: 'cleo@example.org', name: 'Cleo Absent', studentId: 's100003', password, solution: null },
] as const;
const ids = new Map<string, number>();
const dirs = scratch();
let server: ServerProcess;
let run: BrowserRun;
let base: string;
let dataDir: string;
let content: string;

beforeAll(async () => {
  dataDir = dirs.dir('lectern-browser-lecturer-');
  mkdirSync(dataDir, { recursive: true });
  const db = openDatabase(databasePath(dataDir));
  migrate(db);
  // The lecturer is staff through course.yaml; an account with a password is all they need.
  createUser(db, lecturer, systemClock);
  createUser(db, admin, systemClock);
  for (const s of students) {
    const id = createUser(db, { email: s.email, name: s.name, studentId: s.studentId, password: s.password }, systemClock);
    enrol(db, { userId: id, course: 'prog1', role: 'student' }, systemClock);
    ids.set(s.email, id);
  }
  db.close();
  content = dirs.track(demoContentOpenNow());
  // No publish-time self-check: a new version is current at once, as this journey expects; holding
  // a version until its check passes is test/autotest/self-check.test.ts's subject.
  [server, run] = await Promise.all([startServerProcess({ LECTERN_DATA: dataDir, LECTERN_CONTENT: content, LECTERN_GRADERS: '1', LECTERN_SELF_CHECK: 'no' }), BrowserRun.start('lecturer')]);
  base = server.url;
  // Before the lecturer looks: Ann hands in a right solution, Ben a wrong one (over HTTP, as the
  // student journey covers the browser side of that), Cleo nothing.
  await Promise.all(students.filter((s) => s.solution).map((s) => handIn(s.email, s.password, s.solution!)));
}, 90_000);

afterAll(async () => {
  await run?.close();
  if (server && server.child.exitCode === null) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  dirs.cleanup();
});

function caesarParams(userId: number): Record<string, unknown> {
  const db = openDatabase(databasePath(dataDir));
  try {
    const current = currentVersion(db, 'prog1', 'caesar');
    const v = current && findVariant(db, current.assignment.id, userId);
    if (!v) throw new Error(`user ${userId} has no caesar variant`);
    return v.params;
  } finally {
    db.close();
  }
}

async function handIn(email: string, pw: string, solution: string): Promise<void> {
  const agent = new Agent(base);
  await agent.get('/login');
  expect((await agent.post('/login', { email, password: pw })).status).toBe(302);
  await agent.get('/account');
  // Opening the assignment makes the student's variant; the solution is rendered with it.
  expect((await agent.get('/courses/prog1/assignments/caesar/')).res.status).toBe(200);
  const source = readFileSync(path.join(ROOT, 'examples/solutions', solution, 'caesar.c'), 'utf8');
  const code = renderText(source, { params: caesarParams(ids.get(email)!), student: { id: email, name: email } });
  const res = await upload(agent, 'prog1', 'caesar', [{ name: 'caesar.c', content: code }]);
  expect(res.status).toBe(201);
  const { id } = (await res.json()) as { id: number };
  await waitForResult(agent, 'prog1', id, 60_000);
}

/** The caesar bundle with one more line in its statement, zipped as one folder. */
async function newBundleVersion(): Promise<string> {
  const dir = dirs.dir('lectern-bundle-');
  const folder = path.join(dir, 'caesar');
  cpSync(path.join(content, 'assignments', 'caesar'), folder, { recursive: true });
  writeFileSync(path.join(folder, 'statement.md'), `${readFileSync(path.join(folder, 'statement.md'), 'utf8')}\nHint added in version 2: test with \`echo abc | ./caesar\`.\n`);
  const zip = new yazl.ZipFile();
  const add = (rel: string) => zip.addFile(path.join(folder, rel), `caesar/${rel}`);
  for (const rel of ['assignment.yaml', 'statement.md', 'generate', 'starter/caesar.c']) add(rel);
  zip.end();
  const file = path.join(dir, 'caesar-v2.zip');
  await pipeline(zip.outputStream, createWriteStream(file));
  return file;
}

/** "2026-12-08T23:59" plus whole days, as the datetime-local field wants it. */
function plusDays(local: string, days: number): string {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2})$/.exec(local);
  if (!m) throw new Error(`not a "YYYY-MM-DD HH:MM" value: ${local}`);
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + days, Number(m[4]), Number(m[5])));
  return d.toISOString().slice(0, 16).replace('T', ' ');
}

async function signIn(page: Page, who: { email: string; password: string }, next: string): Promise<void> {
  await page.goto(`${base}/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('E-mail address').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(base + next);
}

describe('lecturer journey in a real browser', () => {
  it('uploads a version, previews a variant, grants an extension, re-runs tests, exports CSV, sees the histogram', async () => {
    const page = await run.open('desktop');
    await signIn(page, lecturer, '/courses/prog1/dashboard');
    const dashboard = await page.locator('main').innerText();
    expect(dashboard).toContain('Dashboard: Programming 1');
    expect(dashboard).toMatch(/2 from 2 of 3 students/);
    await run.step(page, 'dashboard');

    // 1. A new bundle version through the staff page's upload form.
    await page.getByRole('link', { name: 'Versions and variants' }).first().click();
    await page.waitForURL(`${base}/courses/prog1/assignments/caesar/staff`);
    await run.step(page, 'staff-page');
    await page.locator('#bundle').setInputFiles(await newBundleVersion());
    // The upload goes through XMLHttpRequest so that its progress bar moves.
    const bundleProgress: number[] = [];
    await page.exposeFunction('reportBundleProgress', (v: number) => bundleProgress.push(v));
    await page.evaluate(() => {
      const bar = document.getElementById('bundle-progress') as HTMLProgressElement;
      new MutationObserver(() => (window as unknown as { reportBundleProgress(v: number): void }).reportBundleProgress(bar.value)).observe(bar, { attributes: true, attributeFilter: ['value'] });
    });
    await page.getByRole('button', { name: 'Upload', exact: true }).click();
    await page.waitForURL(/\/courses\/prog1\/assignments\/caesar\/staff\?done=created&v=2$/);
    expect(await page.locator('[role=status], .banner').first().innerText()).toContain('Imported as version 2; it is now current.');
    expect(bundleProgress.at(-1)).toBe(100);
    expect(await page.locator('table').first().innerText()).toMatch(/2 \(current\)/);
    await run.step(page, 'new-version');

    // 2. Preview Ann's variant: her stored parameters, shown with version 2, which has the same
    // generator and so reaches her (src/plugins/assignments/freeze.ts).
    const ann = ids.get('ann@example.org')!;
    await page.getByLabel('A student').selectOption(String(ann));
    await page.getByRole('button', { name: 'Preview', exact: true }).click();
    await page.waitForURL(new RegExp(`/courses/prog1/assignments/caesar/preview\\?user=${ann}$`));
    const preview = await page.locator('main').innerText();
    expect(preview).toContain("Preview: Ann Right's stored variant (parameters from version 1, shown with version 2)");
    const params = JSON.parse(await page.locator('section.card pre code').last().innerText()) as Record<string, unknown>;
    expect(params).toEqual(caesarParams(ann));
    expect(preview).toContain(String(params.phrase));
    await run.step(page, 'preview-variant');

    // 3. An extension for Ben, two days past the default the form offers.
    await page.goto(`${base}/courses/prog1/assignments/caesar/students`);
    await run.step(page, 'students');
    const ben = ids.get('ben@example.org')!;
    await page.getByLabel('Student', { exact: true }).selectOption(String(ben));
    const until = page.getByLabel(/New deadline/);
    const later = plusDays(await until.inputValue(), 2);
    await until.fill(later);
    await page.getByRole('button', { name: 'Save the extension' }).click();
    await page.waitForURL(/\/students\?done=extended/);
    expect(await page.locator('.banner').first().innerText()).toContain('Extension saved.');
    const benRow = page.locator(`tr[data-student="${ben}"]`);
    expect(await benRow.innerText()).toMatch(/until /);
    await run.step(page, 'extension-granted');

    // 4. Re-run the counted submissions; the progress updates on the page without a reload.
    await page.getByLabel('Which submissions').selectOption('counted');
    await page.getByRole('button', { name: 'Queue the re-run' }).click();
    await page.waitForURL(/\/students\?done=rerun&jobs=2#batch-/);
    expect(await page.locator('.banner').first().innerText()).toContain('Re-run queued: 2 job(s)');
    const batch = page.locator('ul.batches li').first();
    await page.evaluate(() => ((window as unknown as { marker: string }).marker = 'same document'));
    await expect.poll(() => batch.locator('[data-count="done"]').innerText(), { timeout: 60_000, interval: 250 }).toBe('2');
    expect(await batch.locator('progress').evaluate((p: HTMLProgressElement) => [p.value, p.max])).toEqual([2, 2]);
    expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe('same document');
    await run.step(page, 'rerun-done');
    // And one submission on its own, from its row.
    await page.getByRole('button', { name: "Re-run #1: the tests of Ann Right's submission 1", exact: true }).click();
    await page.waitForURL(/\/students\?done=rerun&jobs=1#batch-/);

    // 5. The histogram, drawn on the server: Ann at 100 %, Ben lower.
    const svg = page.locator('figure.histogram svg');
    await expect.poll(() => svg.isVisible()).toBe(true);
    const box = await svg.boundingBox();
    expect(box!.width).toBeGreaterThan(200);
    expect(box!.height).toBeGreaterThan(100);
    expect(await svg.locator('rect').count()).toBeGreaterThan(1);
    await svg.scrollIntoViewIfNeeded();
    await run.step(page, 'histogram');
    const [zip] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'All counted submissions (.zip)' }).click()]);
    expect(zip.suggestedFilename()).toBe('prog1-caesar-submissions.zip');
    expect(readFileSync((await zip.path())!).subarray(0, 2).toString()).toBe('PK');

    // 6. The gradebook and its CSV.
    await page.getByRole('link', { name: 'Gradebook of the course' }).click();
    await page.waitForURL(`${base}/courses/prog1/gradebook`);
    await run.step(page, 'gradebook');
    const [csv] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    expect(csv.suggestedFilename()).toBe('prog1-gradebook.csv');
    const lines = readFileSync((await csv.path())!, 'utf8').trim().split(/\r\n/);
    expect(lines[0]).toBe('email,student_id,name,caesar,stats,total_percent');
    // Then a row of maxima and a row of weights (src/plugins/gradebook/weights.ts), then students.
    expect(lines[1]!.split(',').slice(0, 3)).toEqual(['', '', '(maximum points)']);
    expect(lines[2]!.split(',').slice(0, 3)).toEqual(['', '', '(weight)']);
    const byEmail = new Map(lines.slice(3).map((l) => [l.split(',')[0], l.split(',')]));
    expect([...byEmail.keys()].sort()).toEqual(['ann@example.org', 'ben@example.org', 'cleo@example.org']);
    const annScore = Number(byEmail.get('ann@example.org')![3]);
    const benScore = Number(byEmail.get('ben@example.org')![3]);
    expect(annScore).toBeGreaterThan(benScore);
    expect(byEmail.get('cleo@example.org')![3]).toBe('');
    await run.assertClean('CSV download');

    // 7. The staff pages at phone width.
    const phone = await run.open('phone', { state: page.context() });
    for (const [name, url] of [
      ['phone-dashboard', '/courses/prog1/dashboard'],
      ['phone-staff-page', '/courses/prog1/assignments/caesar/staff'],
      ['phone-students', '/courses/prog1/assignments/caesar/students'],
      ['phone-preview', `/courses/prog1/assignments/caesar/preview?user=${ann}`],
      ['phone-gradebook', '/courses/prog1/gradebook'],
      ['phone-roster', '/courses/prog1/roster'],
      ['phone-new-assignment', '/courses/prog1/assignments/new'],
      ['phone-course-page-as-staff', '/courses/prog1/your-assignments'],
    ] as const) {
      await phone.goto(base + url);
      await run.step(phone, name, { phone: true });
    }
    await phone.context().close();

    // 8. Without JavaScript: revoke Ben's extension (a plain form post and redirect).
    const plain = await run.open('desktop', { javaScript: false, state: page.context() });
    await plain.goto(`${base}/courses/prog1/assignments/caesar/students`);
    await plain.getByRole('button', { name: 'Revoke the extension of Ben Wrong' }).click();
    await plain.waitForURL(/\/students\?done=revoked/);
    expect(await plain.locator(`tr[data-student="${ben}"]`).innerText()).not.toMatch(/until /);
    await run.step(plain, 'no-js-revoked');
    await plain.context().close();

    // 9. The administrator reads what the lecturer did.
    const audit = await run.open('desktop');
    await signIn(audit, admin, '/admin/audit?course=prog1');
    const log = await audit.locator('table.audit').innerText();
    for (const words of ['uploaded an assignment bundle', 'granted an extension', 're-ran tests', 'downloaded the counted submissions as a zip', 'downloaded the gradebook as CSV', 'revoked an extension']) expect(log).toContain(words);
    expect(log).not.toMatch(/extension\.grant|\{"/);
    expect(log).toContain(lecturer.email);
    await run.step(audit, 'audit-log');
    await run.assertClean();
  }, 240_000);

  it('reaches every staff page from sign-in by the navigation alone, at desktop and phone width', async () => {
    for (const kind of ['desktop', 'phone'] as const) {
      const page = await run.open(kind);
      await signIn(page, lecturer, '/');
      const site = page.getByRole('navigation', { name: 'Site' });
      // Only the courses the lecturer belongs to: the demo site has one.
      expect(await site.locator('a[href^="/courses/"]').count()).toBe(1);
      await site.locator('a[href="/courses/prog1/"]').click();
      await page.waitForURL(`${base}/courses/prog1/`);
      const course = page.getByRole('navigation', { name: 'Course', exact: true });
      for (const [label, url] of [
        ['Dashboard', '/courses/prog1/dashboard'],
        ['Gradebook', '/courses/prog1/gradebook'],
        ['Roster', '/courses/prog1/roster'],
        ['New assignment', '/courses/prog1/assignments/new'],
        ['Settings and staff', '/courses/prog1/settings'],
        ['Assignments', '/courses/prog1/assignments/'],
      ] as const) {
        await course.getByRole('link', { name: label, exact: true }).click();
        await page.waitForURL(base + url);
        expect(await course.getByRole('link', { name: label, exact: true }).getAttribute('aria-current')).toBe('page');
        await run.step(page, `nav-${kind}-${label.toLowerCase().replace(/ /g, '-')}`, { phone: kind === 'phone' });
      }
      // The assignment's staff pages from the assignments list.
      await page.getByRole('link', { name: /^staff page$|Versions and variants/i }).first().click();
      await page.waitForURL(/\/courses\/prog1\/assignments\/[^/]+\/staff$/);
      // No audit log for a lecturer who is not the administrator.
      expect(await site.getByRole('link', { name: 'Audit log' }).count()).toBe(0);
      await page.context().close();
    }
    const admin2 = await run.open('desktop');
    await signIn(admin2, admin, '/');
    await admin2.getByRole('navigation', { name: 'Site' }).getByRole('link', { name: 'Audit log' }).click();
    await admin2.waitForURL(`${base}/admin/audit`);
    await run.step(admin2, 'nav-admin-audit');
    await admin2.context().close();
    await run.assertClean();
  }, 240_000);
});
