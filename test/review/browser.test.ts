import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/lib/clock.js';
import { BrowserRun } from '../helpers/browser.js';
import { createTestApp, type TestApp } from '../helpers/index.js';
import { makeUser, signInAs, type TestUser } from '../helpers/accounts.js';
import { cSource, reviewContent, submitReviewed } from '../helpers/review.js';

/**
 * The grading loop in Debian's Chromium: a tutor grades three submissions from the queue with
 * rubric keys, a line comment (clicking a line number) and "g" for graded-and-next; the lecturer
 * releases; the student reads the breakdown and the comment inline on their code on a phone and
 * files a regrade request; the tutor answers it. Screenshots at 1280×800 and 390×844.
 */
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let t: TestApp;
let run: BrowserRun;
let tutor: TestUser;
let lecturer: TestUser;
const students: TestUser[] = [];

beforeAll(async () => {
  t = await createTestApp({ config: { graders: 1, contentDir: reviewContent() }, clock: fixedClock('2026-10-05T10:00:00Z') });
  // Staff through course.yaml (lecturer@ and tutor@example.org).
  lecturer = makeUser(t, { email: 'lecturer@example.org', name: 'Lena Lecturer', role: null });
  tutor = makeUser(t, { email: 'tutor@example.org', name: 'Tove Tutor', role: null });
  for (const [name, sid] of [['Ada Lovelace', 's1001'], ['Bo Ek', 's1002'], ['Cy Young', 's1003']] as const) {
    const u = makeUser(t, { name, studentId: sid });
    students.push(u);
    await submitReviewed(await signInAs(t, u), cSource(30 + students.length * 5), `Notes by ${name}.\n`);
  }
  run = await BrowserRun.start('review');
}, 240_000);

afterAll(async () => {
  await run?.close();
  await t?.close();
});

async function signInPage(user: TestUser, viewport: { width: number; height: number }, kind: 'desktop' | 'phone'): Promise<Page> {
  const page = await run.open(kind, { viewport });
  await page.goto(`${t.url}/login`);
  await page.getByLabel('E-mail address').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await settle(page);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.getByRole('button', { name: 'Sign in' }).click()]);
  return page;
}

/** Lets a page finish loading (its favicon included) before a key or click leaves it. */
async function settle(page: Page): Promise<void> {
  await page.waitForLoadState('networkidle');
}

describe('the grading loop in a browser', () => {
  it('a tutor grades three submissions with rubric keys, a line comment and "g"', async () => {
    const page = await signInPage(tutor, DESKTOP, 'desktop');
    await page.goto(`${t.url}/courses/prog1/assignments/reviewed/grading`);
    await run.step(page, 'queue-before');
    await settle(page);
    await Promise.all([page.waitForURL(/\/review\/submissions\/\d+/), page.getByRole('link', { name: 'Grade the next ungraded submission' }).click()]);
    for (let i = 0; i < 3; i++) {
      // 2: Magic numbers (−2); 3: Clear structure (+4).
      await settle(page);
      await Promise.all([page.waitForURL(/done=applied/), page.keyboard.press('2')]);
      await expect.poll(() => page.locator('button.item.applied').count()).toBe(1);
      await settle(page);
      await Promise.all([page.waitForURL(/done=applied/), page.keyboard.press('3')]);
      await expect.poll(() => page.locator('button.item.applied').count()).toBe(2);
      if (i === 1) {
        // By keyboard: j four times to line 4, J twice stretches to 6, c opens the comment there.
        for (let k = 0; k < 4; k++) await page.keyboard.press('j');
        await page.keyboard.press('Shift+J');
        await page.keyboard.press('Shift+J');
        expect(await page.locator('table.code tr.line.selected').evaluateAll((rows) => rows.map((r) => r.id))).toEqual(['L4', 'L5', 'L6']);
        await page.keyboard.press('c');
        await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('c-body');
      } else {
        // A comment on lines 4-6: click 4, shift-click 6; the form moves under line 6.
        await page.locator('a[data-line="4"]').click();
        await page.locator('a[data-line="6"]').click({ modifiers: ['Shift'] });
      }
      expect(await page.locator('#c-from').inputValue()).toBe('4');
      expect(await page.locator('#c-to').inputValue()).toBe('6');
      await page.locator('#c-body').fill(`Three \`printf\` calls in a row: **use a loop**. (${i + 1})`);
      await page.locator('#c-item').selectOption({ label: 'Design: Own tests' });
      await settle(page);
      await Promise.all([page.waitForURL(/done=commented/), page.getByRole('button', { name: 'Add the comment' }).click()]);
      await expect.poll(() => page.locator('.line-comment').first().innerText()).toContain('use a loop');
      if (i === 0) await run.step(page, 'staff-view-desktop');
      // 40 × (Style 2 + Design 6)/10 = 32, autotest 60 × 6/10 = 36: 68 once graded.
      const before = page.url();
      await settle(page);
      await Promise.all([page.waitForURL((u) => u.href !== before && !u.pathname.endsWith('/state')), page.keyboard.press('g')]);
      if (i < 2) await page.waitForURL(/\/review\/submissions\/\d+/);
    }
    await page.waitForURL(/grading\?.*done=none/);
    await expect.poll(() => page.locator('.banner').first().innerText()).toContain('Nothing left');
    await run.step(page, 'queue-done');
    // "p" goes back a student in the queue's order, graded or not.
    await page.locator('table a[href*="/review/submissions/"]').last().click();
    const last = page.url();
    await settle(page);
    await Promise.all([page.waitForURL((u) => u.href !== last && /\/review\/submissions\/\d+/.test(u.pathname)), page.keyboard.press('p')]);
    await expect.poll(() => page.locator('h1').innerText()).toContain('Bo Ek');
    const phone = await signInPage(tutor, PHONE, 'phone');
    await phone.goto(`${t.url}/courses/prog1/assignments/reviewed/grading`);
    await phone.locator('table a[href*="/review/submissions/"]').first().click();
    // On a phone the rubric comes after the code: a link at the top jumps to it.
    await phone.getByRole('link', { name: 'Rubric and score' }).click();
    await expect.poll(() => phone.evaluate(() => Math.round(document.getElementById('rubric-title')!.getBoundingClientRect().top))).toBeLessThan(PHONE.height / 2);
    await run.step(phone, 'staff-view-phone', { phone: true });
  }, 180_000);

  it('the lecturer releases; the student sees the breakdown and inline comments and asks for a regrade', async () => {
    const page = await signInPage(lecturer, DESKTOP, 'desktop');
    await page.goto(`${t.url}/courses/prog1/assignments/reviewed/grading`);
    await settle(page);
    await Promise.all([page.waitForURL(/done=released/), page.getByRole('button', { name: 'Release grades and comments to all students' }).click()]);
    await run.step(page, 'released');

    const phone = await signInPage(students[0]!, PHONE, 'phone');
    await phone.goto(`${t.url}/courses/prog1/assignments/reviewed/submissions`);
    await phone.locator('a[href^="/courses/prog1/submissions/"]').first().click();
    await expect.poll(() => phone.locator('table.breakdown').first().innerText()).toContain('Final score');
    await expect.poll(() => phone.locator('table.breakdown').first().innerText()).toContain('68 / 100');
    await run.step(phone, 'student-receipt-phone', { phone: true });
    await phone.getByRole('link', { name: /comments, and regrade requests/ }).click();
    await expect.poll(() => phone.locator('.line-comment').first().innerText()).toContain('use a loop');
    await run.step(phone, 'student-feedback-phone', { phone: true });
    await phone.locator('#rg-subject').selectOption({ label: 'Rubric: Style: Magic numbers (-2)' });
    await phone.locator('#rg-message').fill('The numbers are line numbers printed on purpose.');
    await settle(phone);
    await Promise.all([phone.waitForURL(/\/regrades\/\d+/), phone.getByRole('button', { name: 'Ask for a regrade' }).click()]);
    await expect.poll(() => phone.locator('.thread').first().innerText()).toContain('on purpose');
    await run.step(phone, 'student-regrade-phone', { phone: true });
  }, 180_000);

  it('the tutor answers the request from the dashboard; the student reads the answer', async () => {
    const page = await signInPage(tutor, DESKTOP, 'desktop');
    await page.goto(`${t.url}/courses/prog1/dashboard`);
    await page.getByRole('link', { name: /reviewed: Ada Lovelace/ }).click();
    await page.locator('#close-outcome').selectOption('answered');
    await page.locator('#close-body').fill('Fair point: printing line numbers is what the task asks. The item stays, the numbers are still *magic*.');
    await settle(page);
    await Promise.all([page.waitForURL(/done=closed/), page.getByRole('button', { name: 'Close the request' }).click()]);
    await expect.poll(() => page.locator('.regrade-state').first().innerText()).toContain('answered');
    await run.step(page, 'tutor-answered');
    const phone = await signInPage(students[0]!, PHONE, 'phone');
    await phone.goto(page.url().replace(/\?.*$/, ''));
    await expect.poll(() => phone.locator('.thread .message.staff').first().innerText()).toContain('Fair point');
    await run.step(phone, 'student-reads-answer', { phone: true });
  }, 120_000);

  it('a resubmission after grading: the queue offers the newest, which counts, and the diff reads well on a phone', async () => {
    const cy = students[2]!;
    t.clock.set('2026-10-06T10:00:00Z');
    const newest = await submitReviewed(await signInAs(t, cy), cSource(45).replace('/* line 20 */', '/* line twenty */'), 'Notes by Cy Young, second try.\n');
    const page = await signInPage(tutor, DESKTOP, 'desktop');
    await page.goto(`${t.url}/courses/prog1/assignments/reviewed/grading`);
    // counts: last: the newest tested submission is the one that counts (gradebook/counted.ts), so
    // the queue puts it in front of the grader, not the older one already graded.
    const link = page.getByRole('link', { name: 'Submission 2 of Cy Young', exact: true });
    await expect.poll(() => link.count()).toBe(1);
    await run.step(page, 'queue-newer');
    await Promise.all([page.waitForURL(new RegExp(`/review/submissions/${newest}$`)), link.click()]);
    const phone = await signInPage(tutor, PHONE, 'phone');
    await phone.goto(page.url());
    await phone.getByRole('link', { name: /changes between #1 and #2/ }).click();
    await expect.poll(() => phone.locator('.diff-file').first().innerText()).toContain('line twenty');
    await run.step(phone, 'diff-phone', { phone: true });
  }, 120_000);
});
