import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/lib/clock.js';
import { createTestApp, type TestApp } from '../helpers/index.js';
import { makeUser, signInAs, type SignedInAgent, type TestUser } from '../helpers/accounts.js';
import { copyDemoContent, writeShellAssignment } from '../helpers/content.js';
import { upload, waitForResult } from '../helpers/submit.js';

/**
 * The gradebook's weighted total over HTTP on real grading runs: weights and maxima from
 * course.yaml and from the page (course.yaml wins), a late penalty, a team's submission counted
 * for each member, `counts: best`, and the CSV giving the same numbers as the page with the
 * team beside a team assignment's score.
 */

// Each test scores what answer.txt says, out of 10.
const SCORE = 'read n < answer.txt\nprintf \'{"score": %s, "max_score": 10}\' "$n" > results.json\n';

let t: TestApp;
let ada: TestUser, bo: TestUser, cy: TestUser;
let a: SignedInAgent, b: SignedInAgent, c: SignedInAgent, lect: SignedInAgent;
const json = { accept: 'application/json' };

async function submit(agent: SignedInAgent, slug: string, answer: string): Promise<void> {
  const res = await upload(agent, 'prog1', slug, [{ name: 'answer.txt', content: `${answer}\n` }], { accept: 'application/json' });
  expect(res.status).toBe(201);
  const { id } = (await res.json()) as { id: number };
  const status = await waitForResult(agent, 'prog1', id);
  expect(status.state).toBe('done');
}

function csvRows(text: string): string[][] {
  return text
    .trim()
    .split('\r\n')
    .map((l) => l.split(','));
}

beforeAll(async () => {
  const dir = copyDemoContent();
  // The demo's own assignments are left out of the total (weight 0); quiz weighs 2; lab is out of 5.
  appendFileSync(path.join(dir, 'course.yaml'), '\ngradebook:\n  weights: { caesar: 0, stats: 0, quiz: 2 }\n  max: { lab: 5 }\n');
  writeShellAssignment(dir, 'quiz', { title: 'Quiz', opens: '2026-09-01T00:00:00Z', deadline: '2026-12-01T00:00:00Z', script: SCORE, wall: '20s', counts: 'best' });
  const lab = writeShellAssignment(dir, 'lab', { title: 'Lab', opens: '2026-09-01T00:00:00Z', deadline: '2026-10-01T00:00:00Z', script: SCORE, wall: '20s' });
  appendFileSync(path.join(lab, 'assignment.yaml'), 'late:\n  penalty_per_day: 10\n  hard_close: 7d\n');
  const pair = writeShellAssignment(dir, 'pair', { title: 'Pair', opens: '2026-09-01T00:00:00Z', deadline: '2026-12-01T00:00:00Z', script: SCORE, wall: '20s' });
  appendFileSync(path.join(pair, 'assignment.yaml'), 'team:\n  min: 1\n  max: 2\n');
  t = await createTestApp({ config: { contentDir: dir, graders: 1 }, clock: fixedClock('2026-09-20T10:00:00Z') });
  ada = makeUser(t, { name: 'Ada Lovelace', studentId: 's1' });
  bo = makeUser(t, { name: 'Bo Ek', studentId: 's2' });
  cy = makeUser(t, { name: 'Cy Young', studentId: 's3' });
  a = await signInAs(t, ada);
  b = await signInAs(t, bo);
  c = await signInAs(t, cy);
  lect = await signInAs(t, makeUser(t, { role: 'lecturer', name: 'Lena Lecturer' }));

  // Ada and Bo form a team for pair; Ada hands in for both.
  await a.get('/courses/prog1/assignments/pair/team');
  expect((await a.post('/courses/prog1/assignments/pair/team', { name: 'Owls' }, { headers: json })).status).toBe(200);
  expect((await a.post('/courses/prog1/assignments/pair/team/invite', { who: 's2' }, { headers: json })).status).toBe(200);
  await b.get('/courses/prog1/assignments/pair/team');
  const invites = (await (await b.fetch('/courses/prog1/assignments/pair/team', { headers: json })).json()) as { invites: Array<{ id: number }> };
  expect((await b.post(`/courses/prog1/assignments/pair/team/invites/${invites.invites[0]!.id}/accept`, {}, { headers: json })).status).toBe(200);
  await submit(a, 'pair', '6');
  await submit(a, 'quiz', '8');
  // Cy: 3 then 9; quiz counts the best.
  await submit(c, 'quiz', '3');
  await submit(c, 'quiz', '9');
  await submit(c, 'quiz', '5');
  // Ada hands the lab in a day late: 10 % off 4 points.
  t.clock.set('2026-10-01T12:00:00Z');
  await submit(a, 'lab', '4');
}, 240_000);

afterAll(async () => {
  await t?.close();
});

/** The totals column of the gradebook page, by student id. */
async function pageTotals(): Promise<Map<number, string>> {
  const page = await lect.get('/courses/prog1/gradebook');
  expect(page.res.status).toBe(200);
  const out = new Map<number, string>();
  for (const m of page.text.matchAll(/<tr data-student="(\d+)">[\s\S]*?<td data-total><strong>([^<]*)<\/strong>/g)) out.set(Number(m[1]), m[2]!);
  return out;
}

describe('the weighted total', () => {
  it('is Σ weight × score ÷ maximum ÷ Σ weight, after penalties, with a team score for each member', async () => {
    // Ada: quiz 8/10 × 2, lab 4 − 10 % = 3.6 of 5 (course.yaml's maximum), pair 6/10: (1.6 + 0.72 + 0.6) / 4.
    // Bo: only the team's pair 0.6 / 4. Cy: quiz best 9/10 × 2 / 4.
    const totals = await pageTotals();
    expect(totals.get(ada.id)).toBe('73 %');
    expect(totals.get(bo.id)).toBe('15 %');
    expect(totals.get(cy.id)).toBe('45 %');
    const page = await lect.get('/courses/prog1/gradebook');
    expect(page.text).toContain('Total = Σ (weight × counted score ÷ maximum) ÷ Σ weight');
    const adaRow = new RegExp(`<tr data-student="${ada.id}">[\\s\\S]*?</tr>`).exec(page.text)![0];
    expect(adaRow).toContain('3.6 / 10');
    expect(adaRow).toContain('(−10 %)');
    expect(adaRow).toContain('team Owls');
  });

  it('takes weights and maxima from the page where course.yaml gives none, and never overrides course.yaml', async () => {
    const form = await lect.get('/courses/prog1/gradebook');
    expect(form.text).toContain('name="weight-pair"');
    expect(form.text).not.toContain('name="weight-quiz"');
    expect(form.text).not.toContain('name="max-lab"');
    const bad = await lect.post('/courses/prog1/gradebook/settings', { 'weight-pair': 'lots' }, { headers: json });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^weight-pair: /);
    // pair weighs 3 and is out of 8: a bonus past the maximum is possible, the total shows it.
    const ok = await lect.post('/courses/prog1/gradebook/settings', { 'weight-pair': '3', 'max-pair': '8', 'weight-quiz': '100', 'max-lab': '1' }, { headers: json });
    expect(ok.status).toBe(200);
    const totals = await pageTotals();
    // Ada: (1.6 + 0.72 + 3 × 6/8) / 6; Bo: 3 × 0.75 / 6; Cy: 1.8 / 6.
    expect(totals.get(ada.id)).toBe(`${Math.round(((1.6 + 0.72 + 2.25) / 6) * 100 * 1000) / 1000} %`);
    expect(totals.get(bo.id)).toBe('37.5 %');
    expect(totals.get(cy.id)).toBe('30 %');
    // A tutor may look but not change them.
    const tutor = await signInAs(t, makeUser(t, { role: 'tutor', name: 'Tom Tutor' }));
    expect((await tutor.post('/courses/prog1/gradebook/settings', { 'weight-pair': '1' }, { headers: json })).status).toBe(403);
  });

  it('exports the same numbers, the maximum and weight rows, and the team beside a team assignment', async () => {
    const res = await lect.fetch('/courses/prog1/gradebook.csv');
    expect(res.status).toBe(200);
    const rows = csvRows(await res.text());
    expect(rows[0]).toEqual(['email', 'student_id', 'name', 'caesar', 'lab', 'pair', 'pair_team', 'quiz', 'stats', 'total_percent']);
    expect(rows[1]).toEqual(['', '', '(maximum points)', '', '5', '8', '', '10', '', '']);
    expect(rows[2]).toEqual(['', '', '(weight)', '0', '1', '3', '', '2', '0', '']);
    const byId = new Map(rows.slice(3).map((r) => [r[1], r]));
    expect(byId.get('s1')).toEqual([ada.email, 's1', 'Ada Lovelace', '', '3.6', '6', 'Owls', '8', '', String(Math.round(((1.6 + 0.72 + 2.25) / 6) * 100 * 1000) / 1000)]);
    expect(byId.get('s2')).toEqual([bo.email, 's2', 'Bo Ek', '', '', '6', 'Owls', '', '', '37.5']);
    expect(byId.get('s3')).toEqual([cy.email, 's3', 'Cy Young', '', '', '', '', '9', '', '30']);
  });
});
