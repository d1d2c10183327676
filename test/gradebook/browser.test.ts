import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { systemClock } from '../../src/lib/clock.js';
import { createUser, enrol } from '../../src/plugins/accounts/users.js';
import { BrowserRun, scratch } from '../helpers/browser.js';
import { demoContentOpenNow, startServerProcess, type ServerProcess } from '../helpers/server-process.js';

/**
 * The gradebook of a 60-student course in Debian's Chromium against a real server process: sort
 * by a column, search and filter, page through, at 1280 px with JavaScript and at 390 px without
 * it, every view a link that keeps the others' settings.
 */
const lecturer = { email: 'lena.book@example.org', name: 'Lena Lecturer', password: 'lena has a long password 1' };
const STUDENTS = 60;
const dirs = scratch();
let server: ServerProcess;
let run: BrowserRun;
let base: string;
let dataDir: string;
const totals = new Map<string, number>();

beforeAll(async () => {
  dataDir = dirs.dir('lectern-browser-gradebook-');
  mkdirSync(dataDir, { recursive: true });
  const db = openDatabase(databasePath(dataDir));
  migrate(db);
  enrol(db, { userId: createUser(db, lecturer, systemClock), course: 'prog1', role: 'lecturer' }, systemClock);
  for (let i = 1; i <= STUDENTS; i++) {
    const name = `${['Ada', 'Bo', 'Cy', 'Di'][i % 4]} Student${String(i).padStart(2, '0')}`;
    enrol(db, { userId: createUser(db, { email: `s${i}@example.org`, name, studentId: `S${1000 + i}` }, systemClock), course: 'prog1', role: 'student' }, systemClock);
  }
  db.close();
  const content = dirs.track(demoContentOpenNow());
  [server, run] = await Promise.all([startServerProcess({ LECTERN_DATA: dataDir, LECTERN_CONTENT: content, LECTERN_GRADERS: '0' }), BrowserRun.start('gradebook')]);
  base = server.url;
  // A recorded history (the server imported the assignments): caesar graded for everyone but
  // every fifth student, whose submission still waits for its tests; stats for a few.
  const w = openDatabase(databasePath(dataDir));
  try {
    const version = (slug: string) => w.prepare<[string, string], { a: number; v: number }>('SELECT a.id AS a, a.current_version AS v FROM assignments a WHERE a.course = ? AND a.slug = ?').get('prog1', slug)!;
    const users = w.prepare<[], { id: number; name: string; student_id: string }>("SELECT u.id, u.name, u.student_id FROM users u JOIN enrolments e ON e.user_id = u.id WHERE e.role = 'student' ORDER BY u.id").all();
    const sub = w.prepare('INSERT INTO submissions (assignment_id, version_id, user_id, number, submitted_at, deadline_at, late_minutes, penalty_pct, total_bytes) VALUES (?, ?, ?, 1, ?, ?, 0, 0, 10)');
    const member = w.prepare('INSERT INTO submission_members (submission_id, user_id) VALUES (?, ?)');
    const job = w.prepare("INSERT INTO jobs (submission_id, version_id, state, priority, attempts, max_attempts, enqueued_at, not_before, reason) VALUES (?, ?, ?, 100, 1, 3, ?, ?, 'submission')");
    const result = w.prepare("INSERT INTO results (job_id, submission_id, status, score, max_score, gradable, output, tests, duration_ms, worker, created_at) VALUES (?, ?, 'failed', ?, 10, 1, '', '[]', 100, 'test', ?)");
    const now = Date.now();
    w.transaction(() => {
      for (const [slug, every] of [['caesar', 1], ['stats', 7]] as const) {
        const { a, v } = version(slug);
        users.forEach((u, i) => {
          if (i % every !== 0) return;
          const id = Number(sub.run(a, v, u.id, now - 3_600_000, now + 86_400_000).lastInsertRowid);
          member.run(id, u.id);
          const waiting = slug === 'caesar' && i % 5 === 4;
          const j = Number(job.run(id, v, waiting ? 'queued' : 'done', now, now).lastInsertRowid);
          if (waiting) return;
          const score = (i * 7) % 11;
          result.run(j, id, score, now);
          totals.set(u.student_id, (totals.get(u.student_id) ?? 0) + score / 10);
        });
      }
    })();
  } finally {
    w.close();
  }
}, 180_000);

afterAll(async () => {
  await run?.close();
  if (server && server.child.exitCode === null) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  dirs.cleanup();
});

async function signIn(page: Page, next: string): Promise<void> {
  await page.goto(`${base}${next}`);
  await page.waitForURL(/\/login\?next=/);
  await page.getByLabel('E-mail address').fill(lecturer.email);
  await page.getByLabel('Password').fill(lecturer.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}${next}`);
}

/** The student ids of the rows shown, in order, and each row's total, read in one evaluate. */
async function shownRows(page: Page): Promise<Array<{ id: string; total: string; cells: string[] }>> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('table.gradebook tbody tr')).map((tr) => ({
      id: (tr.querySelector('th .muted')?.textContent ?? '').trim(),
      total: (tr.querySelector('[data-total]')?.textContent ?? '').trim(),
      cells: Array.from(tr.querySelectorAll('[data-cell]')).map((td) => (td.textContent ?? '').trim()),
    })),
  );
}

const pct = (text: string) => (text === '' ? -1 : Number(text.replace(' %', '')));

describe('the gradebook in the browser', () => {
  it('sorts by the total, searches, filters and pages at 1280 px, keeping each setting in the URL', { timeout: 180_000 }, async () => {
    const page = await run.open('desktop');
    await signIn(page, '/courses/prog1/gradebook');
    expect(await page.locator('#gb-summary').innerText()).toContain(`of ${STUDENTS} matching`);
    await run.step(page, 'gradebook-desktop');

    await page.getByRole('link', { name: /Total \(weighted %\)/ }).click();
    await page.waitForURL(/sort=total&dir=desc/);
    let rows = await shownRows(page);
    expect(rows).toHaveLength(50);
    const shown = rows.map((r) => pct(r.total));
    expect(shown).toEqual([...shown].sort((x, y) => y - x));
    // The top total is the largest of the recorded history: (caesar + stats fractions) / 2.
    const best = Math.max(...totals.values());
    expect(shown[0]).toBeCloseTo((best / 2) * 100, 2);
    expect(await page.locator('th[aria-sort="descending"]').innerText()).toContain('Total');
    await run.step(page, 'sorted-by-total');

    await page.getByLabel('Status').selectOption('waiting');
    await page.getByLabel('Rows per page').selectOption('25');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/status=waiting/);
    expect(page.url()).toContain('sort=total');
    rows = await shownRows(page);
    expect(rows.length).toBe(STUDENTS / 5);
    for (const r of rows) expect(r.cells[0]).toBe('waiting for tests');
    await run.step(page, 'filtered-waiting');

    await page.getByLabel('Status').selectOption('');
    await page.getByLabel('Name, e-mail or student id').fill('ada');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/q=ada/);
    rows = await shownRows(page);
    expect(rows.length).toBe(15);
    expect((await page.locator('table.gradebook tbody th').allInnerTexts()).every((t) => t.startsWith('Ada '))).toBe(true);

    await page.getByLabel('Name, e-mail or student id').fill('');
    await page.getByRole('button', { name: 'Show' }).click();
    // A GET form sends its empty fields too.
    await page.waitForURL(/[?&]q=(&|$)/);
    await page.getByRole('link', { name: 'Next ›' }).click();
    await page.waitForURL(/page=2/);
    expect(page.url()).toMatch(/sort=total/);
    expect(page.url()).toMatch(/per=25/);
    expect(await page.locator('#gb-summary').innerText()).toContain(`Students 26–50 of ${STUDENTS} matching`);
    await run.step(page, 'page-2');
    await run.assertClean('desktop');
  });

  it('does the same at 390 px without JavaScript: sort by an assignment, filter, page', { timeout: 180_000 }, async () => {
    const page = await run.open('phone', { javaScript: false });
    await signIn(page, '/courses/prog1/gradebook');
    await run.step(page, 'gradebook-phone');
    await page.locator('table.gradebook thead').getByRole('link', { name: 'Caesar', exact: false }).first().click();
    await page.waitForURL(/sort=caesar&dir=desc/);
    let rows = await shownRows(page);
    const fractions = rows.map((r) => (/^([\d.]+) \/ 10/.exec(r.cells[0]!) ? Number(/^([\d.]+)/.exec(r.cells[0]!)![1]) : -1));
    expect(fractions).toEqual([...fractions].sort((x, y) => y - x));
    await run.step(page, 'phone-sorted-by-caesar');
    await page.getByLabel('Name, e-mail or student id').fill('S105');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL(/q=S105/);
    rows = await shownRows(page);
    expect(rows.map((r) => r.id).sort()).toEqual(['S1050', 'S1051', 'S1052', 'S1053', 'S1054', 'S1055', 'S1056', 'S1057', 'S1058', 'S1059']);
    expect(page.url()).toContain('sort=caesar');
    await run.step(page, 'phone-search');
    await page.goto(`${base}/courses/prog1/gradebook?sort=caesar&dir=asc&per=25&page=3`);
    expect(await page.locator('#gb-summary').innerText()).toContain('Students 51–60 of 60 matching');
    await page.getByRole('link', { name: '‹ Previous' }).click();
    await page.waitForURL(/page=2/);
    expect(page.url()).toContain('sort=caesar&dir=asc');
    await run.step(page, 'phone-page-2');
    run.expect(400, /\/gradebook\?sort=nonsense$/);
    const bad = await page.goto(`${base}/courses/prog1/gradebook?sort=nonsense`);
    expect(bad?.status()).toBe(400);
    expect(await page.locator('main').innerText()).toContain('sort: choose name, email, id, total or an assignment id.');
    await run.assertClean('phone');
  });
});
