import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { systemClock } from '../../src/lib/clock.js';
import { issueSignupToken } from '../../src/plugins/accounts/signup.js';
import { createUser, enrol } from '../../src/plugins/accounts/users.js';
import { renderText } from '../../src/plugins/assignments/render.js';
import { currentVersion } from '../../src/plugins/assignments/store.js';
import { findVariant } from '../../src/plugins/assignments/variants.js';
import { auditPage, axeAudit, BrowserRun, scratch } from '../helpers/browser.js';
import { Agent, ROOT } from '../helpers/index.js';
import { demoContentOpenNow, startServerProcess, writeSlowAssignment, type ServerProcess } from '../helpers/server-process.js';
import { upload, type StatusJson } from '../helpers/submit.js';

/**
 * A student's whole journey in Debian's Chromium against a real server process: sign-up link on a
 * phone, sign-in on a desktop, the personal page, the C assignment, the starter download, a wrong
 * and a right upload with the progress bar and the live result, the history; then every page again
 * at phone width, and a hand-in with JavaScript switched off.
 */
const student = { email: 'ada.student@example.org', name: 'Ada Student', studentId: 's1234567', password: 'a long enough password 42' };
// Another student whose slow test occupies the one grader while Ada hands in, so that her receipt
// is served while her submission still waits, and its result can only arrive live.
const other = { email: 'other.student@example.org', name: 'Other Student', password: 'another long password 7' };
const dirs = scratch();
let server: ServerProcess;
let run: BrowserRun;
let base: string;
let dataDir: string;
let userId: number;
let token: string;

beforeAll(async () => {
  dataDir = dirs.dir('lectern-browser-student-');
  mkdirSync(dataDir, { recursive: true });
  const db = openDatabase(databasePath(dataDir));
  migrate(db);
  // Imported from the roster: an account without a password and a one-time sign-up link.
  userId = createUser(db, { email: student.email, name: student.name, studentId: student.studentId }, systemClock);
  enrol(db, { userId, course: 'prog1', role: 'student' }, systemClock);
  token = issueSignupToken(db, systemClock, userId, { course: 'prog1', issuer: 'operator' }).token;
  const otherId = createUser(db, other, systemClock);
  enrol(db, { userId: otherId, course: 'prog1', role: 'student' }, systemClock);
  db.close();
  const content = dirs.track(demoContentOpenNow());
  writeSlowAssignment(content, 5);
  [server, run] = await Promise.all([startServerProcess({ LECTERN_DATA: dataDir, LECTERN_CONTENT: content, LECTERN_GRADERS: '1' }), BrowserRun.start('student')]);
  base = server.url;
});

afterAll(async () => {
  await run?.close();
  if (server && server.child.exitCode === null) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  dirs.cleanup();
});

function caesarVariant(): Record<string, unknown> {
  const db = openDatabase(databasePath(dataDir));
  try {
    const current = currentVersion(db, 'prog1', 'caesar');
    const v = current && findVariant(db, current.assignment.id, userId);
    if (!v) throw new Error('the student has no caesar variant yet');
    return v.params;
  } finally {
    db.close();
  }
}

/** A reference solution rendered with the student's own parameters, like their starter file. */
function solution(name: string): Buffer {
  const source = readFileSync(path.join(ROOT, 'examples/solutions', name, 'caesar.c'), 'utf8');
  return Buffer.from(renderText(source, { params: caesarVariant(), student: { id: student.studentId, name: student.name } }));
}

let otherAgent: Agent | undefined;
/** Starts the other student's slow test and waits until the grader is busy with it. */
async function occupyGrader(): Promise<void> {
  if (!otherAgent) {
    otherAgent = new Agent(base);
    await otherAgent.get('/login');
    const res = await otherAgent.post('/login', { email: other.email, password: other.password });
    expect(res.status).toBe(302);
    await otherAgent.get('/account');
  }
  const res = await upload(otherAgent, 'prog1', 'slow', [{ name: 'answer.txt', content: 'busy' }]);
  expect(res.status).toBe(201);
  const { id } = (await res.json()) as { id: number };
  await expect
    .poll(async () => ((await (await otherAgent!.fetch(`/courses/prog1/submissions/${id}/status`, { headers: { accept: 'application/json' } })).json()) as StatusJson).state, { timeout: 30_000, interval: 100 })
    .toBe('running');
}

/**
 * Uploads through the form with JavaScript: the progress bar must get a value, the script opens
 * the receipt, and the result must then arrive over server-sent events with no further
 * navigation. Returns the receipt page's URL.
 */
async function handIn(page: Page, file: Buffer, expected: RegExp): Promise<{ progress: number[]; receipt: string }> {
  await page.locator('#files').setInputFiles({ name: 'caesar.c', mimeType: 'text/x-csrc', buffer: file });
  await page.evaluate(() => {
    const bar = document.getElementById('upload-progress') as HTMLProgressElement;
    new MutationObserver(() => (window as unknown as { reportProgress(v: number): void }).reportProgress(bar.value)).observe(bar, { attributes: true, attributeFilter: ['value'] });
  });
  await occupyGrader();
  const receiptResponse = page.waitForResponse((r) => /\/courses\/prog1\/submissions\/\d+$/.test(r.url()) && r.request().isNavigationRequest());
  await page.getByRole('button', { name: 'Submit' }).click();
  const response = await receiptResponse;
  const served = await response.text();
  await page.waitForURL(/\/courses\/prog1\/submissions\/\d+$/);
  await page.waitForLoadState('domcontentloaded');
  // What the server rendered is not yet the result: the result below came later, live.
  expect(served).not.toMatch(expected);
  expect(served).toMatch(/Waiting to be tested<\/strong>: number 1 in the queue/);
  let navigations = 0;
  const count = (frame: { parentFrame(): unknown }) => {
    if (!frame.parentFrame()) navigations += 1;
  };
  page.on('framenavigated', count);
  await page.evaluate(() => ((window as unknown as { marker: string }).marker = 'same document'));
  await expect.poll(() => page.locator('#live-status').innerText(), { timeout: 60_000, interval: 200 }).toMatch(expected);
  page.off('framenavigated', count);
  expect(navigations).toBe(0);
  expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe('same document');
  expect(await page.locator('#live-status').getAttribute('data-state')).toBeTruthy();
  return { progress: progressSeen.splice(0), receipt: page.url() };
}
const progressSeen: number[] = [];

/**
 * A result's Result and Points headers lie within the screen and within the table's own box.
 * Measured in one evaluate: the live status may re-render the table between two separate
 * locator calls, which would measure a detached element.
 */
async function expectColumnsInView(page: Page): Promise<void> {
  const width = page.viewportSize()!.width;
  await page.locator('table.tests').waitFor({ state: 'visible' });
  const boxes = await page.evaluate(() => {
    const table = document.querySelector('table.tests')!;
    const wrap = table.parentElement!.getBoundingClientRect();
    const headers = [...table.querySelectorAll('th')].map((th) => ({ name: th.textContent!.trim(), right: th.getBoundingClientRect().right }));
    return { wrapRight: wrap.right, headers };
  });
  for (const name of ['Result', 'Points']) {
    const header = boxes.headers.find((h) => h.name === name);
    expect(header, `${name} header`).toBeTruthy();
    expect(header!.right, `${name} column at ${width} px`).toBeLessThanOrEqual(Math.min(width, boxes.wrapRight) + 1);
  }
}

describe('student journey in a real browser', () => {
  it('signs up, reads their page, downloads the starter, hands in wrong then right, sees the history', async () => {
    // 1. The sign-up link from the lecturer's e-mail, opened on a phone.
    const phone = await run.open('phone');
    await phone.goto(`${base}/signup/${token}`);
    await expect.poll(() => phone.locator('h1').innerText()).toBe(`Welcome, ${student.name}`);
    await run.step(phone, 'signup-phone', { phone: true });
    await phone.getByLabel('New password').fill(student.password);
    await phone.getByLabel('The same password again').fill(student.password);
    await phone.getByRole('button', { name: 'Set password and sign in' }).click();
    await phone.waitForURL(`${base}/courses/prog1/?welcome=1`);
    expect(await phone.locator('[role=status]').innerText()).toContain('Your password is set');
    // Every page offers the student's way to their assignments.
    expect(await phone.getByRole('navigation', { name: 'Course' }).getByRole('link', { name: 'Assignments' }).getAttribute('href')).toBe('/courses/prog1/assignments/');
    await run.step(phone, 'welcome-phone', { phone: true });
    await phone.getByRole('button', { name: 'Sign out' }).click();
    await phone.waitForURL(`${base}/`);
    await phone.context().close();

    // 2. Signs in on a desktop.
    const page = await run.open('desktop');
    await page.exposeFunction('reportProgress', (v: number) => progressSeen.push(v));
    await page.goto(`${base}/courses/prog1/your-assignments`);
    await page.waitForURL(/\/login\?next=/);
    await page.getByLabel('E-mail address').fill(student.email);
    await page.getByLabel('Password').fill(student.password);
    await run.step(page, 'login');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/courses/prog1/your-assignments`);

    // 3. The personal page: their name and their own numbers.
    const personal = await page.locator('main').innerText();
    expect(personal).toContain(`Hello, ${student.name}!`);
    expect(personal).toContain(student.studentId);
    const params = caesarVariant();
    expect(personal).toContain(`Your shift is ${String(params.shift)}`);
    expect(personal).toContain(String(params.encrypted));
    expect(personal).toMatch(/Your data set: \d+ measurements of /);
    await run.step(page, 'personal-page');

    // 4. The C assignment and its starter, with the student's shift filled in.
    await page.getByRole('link', { name: 'Caesar cipher (C)' }).click();
    await page.waitForURL(`${base}/courses/prog1/assignments/caesar/`);
    expect(await page.locator('h1').innerText()).toBe('Caesar cipher');
    await run.step(page, 'assignment');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'caesar.c', exact: true }).click()]);
    expect(download.suggestedFilename()).toBe('caesar.c');
    const starter = readFileSync((await download.path())!, 'utf8');
    expect(starter).toContain(`#define SHIFT ${String(params.shift)}\n`);
    await run.assertClean('starter download');

    // 5. A wrong solution, then the right one: progress bar, receipt, live result.
    await page.getByRole('link', { name: 'Hand in and see your results' }).click();
    await page.waitForURL(`${base}/courses/prog1/assignments/caesar/submissions`);
    await run.step(page, 'hand-in-form');
    const wrong = await handIn(page, solution('caesar-wrong'), /Some tests failed/);
    expect(wrong.progress.length).toBeGreaterThan(0);
    expect(wrong.progress.at(-1)).toBe(100);
    await run.step(page, 'wrong-result');

    await page.getByRole('link', { name: 'Submissions' }).click();
    await page.waitForURL(`${base}/courses/prog1/assignments/caesar/submissions`);
    const right = await handIn(page, solution('caesar'), /All tests passed/);
    expect(right.progress.at(-1)).toBe(100);
    expect(await page.locator('#live-status').innerText()).toMatch(/score (\d+(\.\d+)?) \/ \1/);
    await run.step(page, 'right-result');

    // 6. The history: both submissions, newest result counted last.
    await page.getByRole('link', { name: 'Submissions' }).click();
    await page.waitForURL(`${base}/courses/prog1/assignments/caesar/submissions`);
    const rows = page.locator('table tbody tr');
    await expect.poll(() => rows.count()).toBe(2);
    const history = await page.locator('table').innerText();
    expect(history).toMatch(/on time/);
    const scores = [...history.matchAll(/(\d+(?:\.\d+)?) \/ (\d+(?:\.\d+)?)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(scores).toHaveLength(2);
    expect(scores.some(([s, max]) => s === max)).toBe(true);
    expect(scores.some(([s, max]) => s! < max!)).toBe(true);
    await run.step(page, 'history');

    // 6b. A wrong stats solution: each failing test prints long lines, which must wrap inside
    // their cell so that the Result and Points columns stay on screen.
    await page.goto(`${base}/courses/prog1/assignments/stats/submissions`);
    await page.locator('#files').setInputFiles({ name: 'stats.py', mimeType: 'text/x-python', buffer: readFileSync(path.join(ROOT, 'examples/solutions/stats-wrong/stats.py')) });
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.waitForURL(/\/courses\/prog1\/submissions\/\d+$/);
    await expect.poll(() => page.locator('#live-status').innerText(), { timeout: 60_000, interval: 200 }).toMatch(/Some tests failed/);
    const failing = new URL(page.url()).pathname;
    const longest = Math.max(...(await page.locator('table.tests pre.output').allInnerTexts()).flatMap((t) => t.split('\n').map((l) => l.length)));
    expect(longest).toBeGreaterThan(100);
    await expectColumnsInView(page);
    await run.step(page, 'failing-result-long-output');

    // 7. The same pages on a phone: readable without sideways scrolling.
    run.expect(404, /\/courses\/prog1\/assignments\/no-such-thing\/$/);
    const small = await run.open('phone', { state: page.context() });
    for (const [name, url] of [
      ['phone-home', '/'],
      ['phone-syllabus', '/courses/prog1/syllabus'],
      ['phone-code', '/courses/prog1/code/'],
      ['phone-math', '/courses/prog1/math'],
      ['phone-personal-page', '/courses/prog1/your-assignments'],
      ['phone-assignments', '/courses/prog1/assignments/'],
      ['phone-assignment', '/courses/prog1/assignments/caesar/'],
      ['phone-history', '/courses/prog1/assignments/caesar/submissions'],
      ['phone-receipt', new URL(right.receipt).pathname],
      ['phone-account', '/account'],
      ['phone-not-found', '/courses/prog1/assignments/no-such-thing/'],
      ['phone-failing-result', failing],
    ] as const) {
      await small.goto(base + url);
      if (url === failing) await expectColumnsInView(small);
      await run.step(small, name, { phone: true });
    }
    await small.context().close();

    // 8. Without JavaScript the form still works: it posts, the server redirects to the receipt,
    // and the page offers a reload link until the result is there.
    const plain = await run.open('desktop', { javaScript: false, state: page.context() });
    // A rejected upload first: its page says why and leads straight back to the form.
    run.expect(422, /\/courses\/prog1\/assignments\/caesar\/submissions/);
    await plain.goto(`${base}/courses/prog1/assignments/caesar/submissions`);
    await plain.locator('#files').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not the program') });
    await plain.getByRole('button', { name: 'Submit' }).click();
    await plain.getByRole('link', { name: 'Back to the form, to try again' }).waitFor();
    expect(await plain.locator('main').innerText()).toMatch(/caesar\.c/);
    expect(await plain.getByRole('link', { name: 'The course page' }).getAttribute('href')).toBe('/courses/prog1/');
    await run.step(plain, 'no-js-rejected');
    await plain.getByRole('link', { name: 'Back to the form, to try again' }).click();
    await plain.waitForURL(`${base}/courses/prog1/assignments/caesar/submissions`);
    await plain.locator('#files').setInputFiles({ name: 'caesar.c', mimeType: 'text/x-csrc', buffer: solution('caesar') });
    await plain.getByRole('button', { name: 'Submit' }).click();
    await plain.waitForURL(/\/courses\/prog1\/submissions\/\d+$/);
    expect(await plain.locator('h1').innerText()).toMatch(/^Submission 3:/);
    await run.step(plain, 'no-js-receipt');
    for (let i = 0; i < 300 && !/All tests passed/.test(await plain.locator('#live-status').innerText()); i++) {
      await new Promise((r) => setTimeout(r, 200));
      await plain.getByRole('link', { name: 'Reload' }).click();
    }
    expect(await plain.locator('#live-status').innerText()).toMatch(/All tests passed/);
    await run.step(plain, 'no-js-result');
    await run.assertClean();
  }, 240_000);

  it('the page audit reports missing labels, weak contrast, sideways scrolling and script-only controls', async () => {
    const page = await run.open('phone');
    await page.setContent(`<!doctype html><html><head><meta name="viewport" content="width=device-width"></head><body>
      <label for="ok">Named</label><input id="ok"><input id="bare" name="bare"><input type="hidden" name="h">
      <p style="color:#999;background:#fff">pale text</p><p style="color:#000;opacity:.3">faded text</p>
      <button style="color:#fff;background:#6fa8ff">Light button</button><button></button>
      <div style="width:600px">too wide</div><button type="button">Script only</button><a href="#">Nowhere</a>
      <div style="overflow-x:auto;width:200px"><table id="squeezed"><tr><td><span style="white-space:nowrap">${'long output '.repeat(40)}</span></td><td>Points</td></tr></table></div>
      <div style="overflow-x:auto;width:200px" data-wide><table><tr><td>${'meant to scroll '.repeat(40)}</td></tr></table></div>
      <div style="overflow:auto;width:100px"><span style="display:inline-block;width:400px">unreachable</span></div></body></html>`);
    const found = await auditPage(page, { phone: true });
    expect(found.some((f) => f.includes('form control without a label') && f.includes('#bare'))).toBe(true);
    expect(found.some((f) => f.includes('#ok'))).toBe(false);
    expect(found.some((f) => f.includes('pale text'))).toBe(true);
    expect(found.some((f) => f.includes('faded text'))).toBe(true);
    expect(found.some((f) => f.includes('Light button'))).toBe(true);
    expect(found.some((f) => f.includes('button without an accessible name'))).toBe(true);
    expect(found.some((f) => f.startsWith('scrolls sideways at 390 px'))).toBe(true);
    expect(found.filter((f) => f.startsWith('wider than its container'))).toHaveLength(2);
    expect(found.some((f) => f.startsWith('wider than its container') && f.includes('<table#squeezed>'))).toBe(true);
    const axe = await axeAudit(page);
    expect(axe.some((f) => f.includes('scrollable-region-focusable'))).toBe(true);
    expect(axe.some((f) => f.includes('button-name'))).toBe(true);
    expect(found.some((f) => f.startsWith('button that needs JavaScript') && f.includes('Script only'))).toBe(true);
    expect(found.some((f) => f.startsWith('link that needs JavaScript') && f.includes('Nowhere'))).toBe(true);
    await page.context().close();
  });
});
