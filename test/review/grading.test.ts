import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/lib/clock.js';
import { createTestApp, type TestApp } from '../helpers/index.js';
import { makeUser, signIn, signInAs, type SignedInAgent } from '../helpers/accounts.js';
import { cSource, getJson, postJson, reviewContent, submitReviewed } from '../helpers/review.js';

/**
 * Manual grading over HTTP on real grading runs: who may see and do what, rubric items and
 * re-scoring, the final score with weights, adjustments and the late penalty, line comments,
 * release, regrade requests and their window, the grading queue.
 */

interface Breakdown {
  mode: string;
  autotest: { score: number; max: number } | null;
  manual: { score: number; max: number } | null;
  adjustments: number;
  beforePenalty: number | null;
  penaltyPct: number;
  final: number | null;
  max: number | null;
}
interface StaffJson {
  student: { name: string; email: string; studentId: string | null };
  status: { result: { tests: Array<{ name: string }> } };
  breakdown: Breakdown;
  rubric: Array<{ key: string; score: number; items: Array<{ id: number; key: string; applied: boolean }> }>;
  comments: Array<{ id: number; path: string; lineStart: number; lineEnd: number }>;
  shown: { path: string; kind: string; lines: number; highlighted: boolean };
  state: string;
  releasedAt: number | null;
}

let t: TestApp;
let lecturer: SignedInAgent;
let tutor: SignedInAgent;
let ada: SignedInAgent;
let bo: SignedInAgent;
let outsider: SignedInAgent;
let adaSub: number;
let boSub: number;
let items: Record<string, number>;

const staffView = (id: number) => `/courses/prog1/review/submissions/${id}`;

beforeAll(async () => {
  t = await createTestApp({ config: { graders: 1, contentDir: reviewContent() }, clock: fixedClock('2026-10-05T10:00:00Z') });
  lecturer = await signIn(t, { name: 'Lena Lecturer', role: 'lecturer' });
  tutor = await signIn(t, { name: 'Tom Tutor', role: 'tutor' });
  ada = await signIn(t, { name: 'Ada Lovelace', studentId: 's1001', email: 'ada@example.org' });
  bo = await signIn(t, { name: 'Bo Ek' });
  outsider = await signInAs(t, makeUser(t, { name: 'Other Tutor', role: 'tutor', course: 'other-course' }));
  adaSub = await submitReviewed(ada, cSource(60));
  // Bo submits late: two started days after the deadline, 20 % off.
  t.clock.set('2026-10-12T10:00:00Z');
  boSub = await submitReviewed(bo);
  const view = await getJson<StaffJson>(tutor, staffView(adaSub));
  items = Object.fromEntries(view.body.rubric.flatMap((g) => g.items.map((i) => [i.key, i.id])));
}, 240_000);

afterAll(async () => {
  await t?.close();
});

describe('the staff view of a submission', () => {
  it('names the student and shows every test, hidden ones included, and the code with line numbers', async () => {
    const { status, body } = await getJson<StaffJson>(tutor, staffView(adaSub));
    expect(status).toBe(200);
    expect(body.student).toMatchObject({ name: 'Ada Lovelace', email: 'ada@example.org', studentId: 's1001' });
    expect(body.status.result.tests.map((x) => x.name)).toEqual(['visible check', 'secret check']);
    expect(body.shown).toMatchObject({ path: 'main.c', kind: 'text', lines: 60, highlighted: true });
    const html = await (await tutor.fetch(`${staffView(adaSub)}?file=notes.txt`)).text();
    expect(html).toContain('ada@example.org');
    expect(html).toContain('id="L1"');
    expect(html).toContain('expected 42');
  });

  it('is 404 for students, the owner included, and for staff of other courses', async () => {
    for (const who of [ada, bo, outsider]) expect((await who.fetch(staffView(adaSub), { headers: { accept: 'application/json' } })).status).toBe(404);
    expect((await tutor.fetch('/courses/prog1/review/submissions/abc')).status).toBe(404);
    expect((await tutor.fetch('/courses/prog1/review/submissions/999999')).status).toBe(404);
    expect((await tutor.fetch(`${staffView(adaSub)}?file=nope.c`)).status).toBe(404);
  });

  it('escapes what the student wrote', async () => {
    const id = await submitReviewed(bo, '<script>alert(1)</script>\nint x;\n', '<img src=x onerror=alert(1)>\n');
    const html = await (await tutor.fetch(`${staffView(id)}?file=notes.txt`)).text();
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    const c = await (await tutor.fetch(staffView(id))).text();
    expect(c).not.toContain('<script>alert(1)');
  });

  it('shows a diff between two submissions of the same student, and refuses another student\'s', async () => {
    const second = await submitReviewed(bo, cSource(45));
    const { status, body } = await getJson<{ files: Array<{ name: string; change: string; added: number; removed: number }> }>(tutor, `${staffView(second)}/diff?against=${boSub}`);
    expect(status).toBe(200);
    const main = body.files.find((f) => f.name === 'main.c')!;
    expect(main.change).toBe('changed');
    expect(main.added).toBeGreaterThan(0);
    expect(body.files.find((f) => f.name === 'notes.txt')!.change).toBe('same');
    expect((await tutor.fetch(`${staffView(second)}/diff?against=${adaSub}`)).status).toBe(404);
    expect((await tutor.fetch(`${staffView(second)}/diff?against=x`)).status).toBe(400);
  });
});

describe('rubric items, the final score and re-scoring', () => {
  it('applies items; the final needs the grade marked done; weights, adjustments and the penalty apply once', async () => {
    expect((await postJson(tutor, `${staffView(boSub)}/items`, { item: String(items.magic), applied: '1' })).status).toBe(200);
    const r = await postJson<{ breakdown: Breakdown }>(tutor, `${staffView(boSub)}/items`, { item: String(items.structure), applied: '1' });
    // Style 4 - 2 = 2, Design 4: manual 6 of 10, but not marked graded yet.
    expect(r.body.breakdown.final).toBeNull();
    const graded = await postJson<{ breakdown: Breakdown }>(tutor, `${staffView(boSub)}/state`, { state: 'graded' });
    expect(graded.status).toBe(200);
    // 60 × 6/10 + 40 × 6/10 = 60, late 20 %: 48.
    expect(graded.body.breakdown).toMatchObject({ mode: 'both', manual: { score: 6, max: 10 }, autotest: { score: 6, max: 10 }, beforePenalty: 60, penaltyPct: 20, final: 48, max: 100 });
    const adj = await postJson<{ breakdown: Breakdown }>(tutor, `${staffView(boSub)}/adjustments`, { points: '5', reason: 'Good report' });
    expect(adj.body.breakdown).toMatchObject({ adjustments: 5, beforePenalty: 65, final: 52 });
  });

  it('a negative group never goes below 0 and a positive one never past its maximum', async () => {
    for (const k of ['names', 'magic', 'structure', 'tests']) await postJson(tutor, `${staffView(adaSub)}/items`, { item: String(items[k]), applied: '1' });
    const r = await postJson<{ breakdown: Breakdown }>(tutor, `${staffView(adaSub)}/state`, { state: 'graded' });
    // Style 4 - 3 = 1, Design 6: 7 of 10. On time: 36 + 28 = 64.
    expect(r.body.breakdown).toMatchObject({ manual: { score: 7, max: 10 }, final: 64, penaltyPct: 0 });
  });

  it('changing an item\'s points re-scores every submission it is applied to; only lecturers may', async () => {
    expect((await postJson(tutor, `/courses/prog1/assignments/reviewed/rubric/items/${items.magic}`, { title: 'Magic numbers', points: '-1' })).status).toBe(403);
    const res = await postJson<{ rescored: number }>(lecturer, `/courses/prog1/assignments/reviewed/rubric/items/${items.magic}`, { title: 'Magic numbers', points: '-1' });
    expect(res.status).toBe(200);
    expect(res.body.rescored).toBe(2);
    // Bo: Style 3, Design 4 -> 7/10: 36 + 28 + 5 = 69, -20 %: 55.2. Ada: Style 2 + 6 = 8: 36 + 32 = 68.
    expect((await getJson<StaffJson>(tutor, staffView(boSub))).body.breakdown).toMatchObject({ final: 55.2 });
    expect((await getJson<StaffJson>(tutor, staffView(adaSub))).body.breakdown).toMatchObject({ final: 68 });
    const csv = await (await lecturer.fetch('/courses/prog1/gradebook.csv')).text();
    const adaLine = csv.split('\r\n').find((l) => l.startsWith('ada@example.org'))!;
    expect(adaLine).toContain(',68,');
    const admin = await signIn(t, { admin: true, role: null });
    const audit = await getJson<{ entries: Array<{ action: string; details: Record<string, unknown> }> }>(admin, '/admin/audit?course=prog1');
    expect(audit.body.entries.find((e) => e.action === 'rubric.item_edit')!.details).toMatchObject({ rescoredSubmissions: 2 });
    expect(audit.body.entries.map((e) => e.action)).toEqual(expect.arrayContaining(['review.item_apply', 'review.adjust', 'review.graded']));
  });

  it('refuses bad input with a clear 4xx, never a 500', async () => {
    const cases: Array<[string, Record<string, string>, number]> = [
      [`${staffView(adaSub)}/items`, { item: 'x', applied: '1' }, 400],
      [`${staffView(adaSub)}/items`, { item: '999999', applied: '1' }, 404],
      [`${staffView(adaSub)}/items`, { item: String(items.names), applied: 'maybe' }, 400],
      [`${staffView(adaSub)}/adjustments`, { points: 'lots', reason: 'x' }, 400],
      [`${staffView(adaSub)}/adjustments`, { points: '2', reason: '' }, 400],
      [`${staffView(adaSub)}/adjustments`, { points: '0', reason: 'nothing' }, 400],
      [`${staffView(adaSub)}/comments`, { path: 'main.c', from: '61', body: 'past the end' }, 400],
      [`${staffView(adaSub)}/comments`, { path: 'main.c', from: '5', to: '3', body: 'backwards' }, 400],
      [`${staffView(adaSub)}/comments`, { path: '../etc/passwd', from: '1', body: 'x' }, 400],
      [`${staffView(adaSub)}/comments`, { path: 'main.c', from: '1', body: '' }, 400],
      [`${staffView(adaSub)}/comments`, { path: 'main.c', from: '1', body: 'x'.repeat(10_001) }, 422],
      [`${staffView(adaSub)}/state`, { state: 'done' }, 400],
      ['/courses/prog1/assignments/reviewed/rubric/items/abc', { title: 'x', points: '1' }, 400],
      ['/courses/prog1/assignments/reviewed/rubric/groups', { title: 'G', max: '-1' }, 400],
      ['/courses/prog1/assignments/nope/rubric/groups', { title: 'G', max: '1' }, 404],
    ];
    for (const [url, form, status] of cases) {
      const who = url.includes('/rubric/') ? lecturer : tutor;
      const res = await postJson<{ error: string }>(who, url, form);
      expect(res.status, `${url} ${JSON.stringify(form).slice(0, 80)}: ${JSON.stringify(res.body)}`).toBe(status);
      expect(res.body.error).toBeTruthy();
    }
    // Without the CSRF token.
    const res = await tutor.fetch(`${staffView(adaSub)}/items`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `item=${items.names}&applied=1` });
    expect(res.status).toBe(403);
  });
});

describe('line comments and release', () => {
  let commentId: number;

  it('staff comment on a line range, tied to a rubric item (which it applies), then edit it', async () => {
    const r = await postJson(tutor, `${staffView(boSub)}/comments`, { path: 'main.c', from: '3', to: '5', body: 'Use a **loop** here.', item: String(items.tests) });
    expect(r.status).toBe(200);
    const view = (await getJson<StaffJson>(tutor, staffView(boSub))).body;
    const c = view.comments.find((x) => x.lineStart === 3)!;
    expect(c).toMatchObject({ path: 'main.c', lineEnd: 5 });
    expect(view.rubric.flatMap((g) => g.items).find((i) => i.key === 'tests')!.applied).toBe(true);
    commentId = c.id;
    expect((await postJson(lecturer, `${staffView(boSub)}/comments/${commentId}/edit`, { body: 'Use a **loop** here, like `for`.' })).status).toBe(200);
    expect((await postJson(tutor, `${staffView(adaSub)}/comments/${commentId}/edit`, { body: 'wrong submission' })).status).toBe(404);
    const html = await (await tutor.fetch(staffView(boSub))).text();
    expect(html).toContain('<strong>loop</strong>');
  });

  it('students see neither comments nor manual grades before release; tutors may not release', async () => {
    const fb = await getJson<{ released: boolean; comments?: unknown }>(bo, `/courses/prog1/submissions/${boSub}/feedback`);
    expect(fb.body).toEqual({ released: false });
    const page = await (await bo.fetch(`/courses/prog1/submissions/${boSub}`)).text();
    expect(page).not.toContain('Use a');
    expect(page).not.toContain('Final score');
    expect((await postJson(tutor, '/courses/prog1/assignments/reviewed/release', { action: 'release' })).status).toBe(403);
    expect((await postJson(tutor, `${staffView(boSub)}/release`, { action: 'release' })).status).toBe(403);
    expect((await postJson(bo, '/courses/prog1/assignments/reviewed/release', { action: 'release' })).status).toBe(404);
    expect((await postJson(bo, `/courses/prog1/submissions/${boSub}/regrades`, { subject: `item:${items.magic}`, message: 'please' })).status).toBe(409);
  });

  it('a release for one student shows only them their grade, with the time recorded; it can be withdrawn', async () => {
    const r = await postJson<{ releasedAt: number }>(lecturer, `${staffView(adaSub)}/release`, { action: 'release' });
    expect(r.status).toBe(200);
    expect(r.body.releasedAt).toBe(t.clock.now());
    expect((await getJson<{ released: boolean }>(ada, `/courses/prog1/submissions/${adaSub}/feedback`)).body.released).toBe(true);
    expect((await getJson<{ released: boolean }>(bo, `/courses/prog1/submissions/${boSub}/feedback`)).body.released).toBe(false);
    expect((await postJson(lecturer, `${staffView(adaSub)}/release`, { action: 'withdraw' })).status).toBe(200);
    expect((await getJson<{ released: boolean }>(ada, `/courses/prog1/submissions/${adaSub}/feedback`)).body.released).toBe(false);
    expect((await postJson(lecturer, `${staffView(adaSub)}/release`, { action: 'maybe' })).status).toBe(400);
  });

  it('after release the student sees the breakdown, inline comments and applied items, not another student\'s', async () => {
    expect((await postJson(lecturer, '/courses/prog1/assignments/reviewed/release', { action: 'release' })).status).toBe(200);
    const fb = await getJson<{ released: boolean; breakdown: Breakdown; comments: Array<{ html: string; lineStart: number }>; groups: Array<{ title: string; items: Array<{ title: string }> }> }>(
      bo,
      `/courses/prog1/submissions/${boSub}/feedback`,
    );
    expect(fb.body.released).toBe(true);
    // magic −1, structure +4, tests +2 (with the comment): 9 of 10; 36 + 36 + 5 = 77, −20 %: 61.6.
    expect(fb.body.breakdown.final).toBe(61.6);
    expect(fb.body.comments[0]!.html).toContain('<strong>loop</strong>');
    expect(fb.body.groups.flatMap((g) => g.items.map((i) => i.title))).toContain('Magic numbers');
    const page = await (await bo.fetch(`/courses/prog1/submissions/${boSub}/feedback`)).text();
    expect(page).toContain('Late penalty (20 %)');
    expect(page).toContain('like <code>for</code>');
    expect((await ada.fetch(`/courses/prog1/submissions/${boSub}/feedback`)).status).toBe(404);
    const receipt = await (await bo.fetch(`/courses/prog1/submissions/${boSub}`)).text();
    expect(receipt).toContain('Final score');
  });
});

describe('regrade requests', () => {
  let rid: number;

  it('the student asks about an applied item within the window; staff answer and adjust; both see the thread', async () => {
    expect((await postJson(bo, `/courses/prog1/submissions/${boSub}/regrades`, { subject: `item:${items.names}`, message: 'not applied' })).status).toBe(400);
    expect((await postJson(bo, `/courses/prog1/submissions/${boSub}/regrades`, { subject: 'item:abc', message: 'x' })).status).toBe(400);
    expect((await postJson(ada, `/courses/prog1/submissions/${boSub}/regrades`, { subject: `item:${items.magic}`, message: 'x' })).status).toBe(404);
    const r = await postJson<{ id: number }>(bo, `/courses/prog1/submissions/${boSub}/regrades`, { subject: `item:${items.magic}`, message: 'I used a named constant.' });
    expect(r.status).toBe(201);
    rid = r.body.id;
    expect((await postJson(bo, `/courses/prog1/submissions/${boSub}/regrades`, { subject: `item:${items.magic}`, message: 'again' })).status).toBe(409);
    const dash = await getJson<{ open: Array<{ id: number }> }>(tutor, '/courses/prog1/regrades');
    expect(dash.body.open.map((x) => x.id)).toContain(rid);
    expect((await getJson(ada, `/courses/prog1/regrades/${rid}`)).status).toBe(404);
    expect((await postJson(bo, `/courses/prog1/regrades/${rid}/close`, { outcome: 'adjusted' })).status).toBe(403);
    expect((await postJson(tutor, `${staffView(boSub)}/items`, { item: String(items.magic), applied: '0' })).status).toBe(200);
    expect((await postJson(tutor, `/courses/prog1/regrades/${rid}/close`, { outcome: 'adjusted', body: 'You are right, removed.' })).status).toBe(200);
    const thread = await getJson<{ regrade: { state: string }; messages: Array<{ staff: boolean; body: string }> }>(bo, `/courses/prog1/regrades/${rid}`);
    expect(thread.body.regrade.state).toBe('adjusted');
    expect(thread.body.messages.map((m) => m.staff)).toEqual([false, true]);
    expect((await postJson(bo, `/courses/prog1/regrades/${rid}/messages`, { body: 'thanks' })).status).toBe(409);
    const dash2 = await getJson<{ open: Array<{ id: number }> }>(tutor, '/courses/prog1/regrades');
    expect(dash2.body.open.map((x) => x.id)).not.toContain(rid);
  });

  it('closes when the window is over', async () => {
    t.clock.advance(3 * 86_400_000);
    const r = await postJson<{ error: string }>(bo, `/courses/prog1/submissions/${boSub}/regrades`, { subject: `item:${items.structure}`, message: 'late ask' });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatch(/over/);
  });
});

describe('the grading queue', () => {
  it('next goes to the counted submission of the next ungraded student; assignments and filters work', async () => {
    const cy = await signIn(t, { name: 'Cy Young' });
    t.clock.set('2026-10-20T10:00:00Z');
    const cySub = await submitReviewed(cy);
    const queue = await getJson<{ rows: Array<{ userId: number; submission: number | null; state: string; newer: { submission: number; state: string; why: string } | null }> }>(tutor, '/courses/prog1/assignments/reviewed/grading');
    expect(queue.body.rows.find((r) => r.userId === cy.user.id)).toEqual({ userId: cy.user.id, submission: cySub, state: 'ungraded', graderId: null, newer: null });
    // Bo's newer submissions are tested, so under counts: last the newest counts already
    // (gradebook/counted.ts, one rule for the gradebook and the queue): the queue offers it,
    // ungraded, and the gradebook links it, not the older graded one.
    const boRow = queue.body.rows.find((r) => r.userId === bo.user.id)!;
    const boNewest = boRow.submission!;
    expect(boNewest).not.toBe(boSub);
    expect(boRow).toMatchObject({ state: 'ungraded', newer: null });
    const book = await (await lecturer.fetch('/courses/prog1/assignments/reviewed/students')).text();
    expect(book).toContain(`/review/submissions/${boNewest}"`);
    expect(book).not.toContain(`/review/submissions/${boSub}"`);
    const page = await (await tutor.fetch('/courses/prog1/assignments/reviewed/grading')).text();
    expect(page).toContain(`href="/courses/prog1/review/submissions/${boNewest}" aria-label="Submission`);
    expect(await (await tutor.fetch(staffView(boSub))).text()).toContain(`<a href="/courses/prog1/review/submissions/${boNewest}">`);
    const next = await getJson<{ next: number | null }>(tutor, '/courses/prog1/assignments/reviewed/grading/next');
    expect(next.body.next).toBe(boNewest);
    const afterBo = await getJson<{ next: number | null }>(tutor, `/courses/prog1/assignments/reviewed/grading/next?after=${bo.user.id}`);
    expect(afterBo.body.next).toBe(cySub);
    const assign = await postJson(lecturer, '/courses/prog1/assignments/reviewed/grading/assign', { students: String(cy.user.id), grader: String(tutor.user.id), mode: 'selected' });
    expect(assign.status).toBe(200);
    const mine = await getJson<{ rows: Array<{ userId: number }>; progress: Array<{ id: number; total: number; graded: number }> }>(tutor, '/courses/prog1/assignments/reviewed/grading?grader=me');
    expect(mine.body.rows.map((r) => r.userId)).toEqual([cy.user.id]);
    expect(mine.body.progress.find((p) => p.id === tutor.user.id)).toMatchObject({ total: 1, graded: 0 });
    const lecturersNext = await getJson<{ next: number | null }>(lecturer, '/courses/prog1/assignments/reviewed/grading/next?grader=me');
    expect(lecturersNext.body.next).toBeNull();
    await postJson(tutor, `${staffView(cySub)}/state`, { state: 'graded' });
    expect((await getJson<{ next: number | null }>(tutor, '/courses/prog1/assignments/reviewed/grading/next?grader=me')).body.next).toBeNull();
    expect((await getJson<{ next: number | null }>(tutor, '/courses/prog1/assignments/reviewed/grading/next')).body.next).toBe(boNewest);
    // Once graded, the newest counts (counts: last), in the queue and the gradebook alike.
    await postJson(tutor, `${staffView(boNewest)}/state`, { state: 'graded' });
    const after = await getJson<{ rows: Array<{ userId: number; submission: number | null; state: string; newer: unknown }> }>(tutor, '/courses/prog1/assignments/reviewed/grading');
    expect(after.body.rows.find((r) => r.userId === bo.user.id)).toMatchObject({ submission: boNewest, state: 'graded', newer: null });
    expect(await (await lecturer.fetch('/courses/prog1/assignments/reviewed/students')).text()).toContain(`/review/submissions/${boNewest}"`);
    expect((await tutor.fetch('/courses/prog1/assignments/reviewed/grading?state=weird', { headers: { accept: 'application/json' } })).status).toBe(400);
    expect((await postJson(tutor, '/courses/prog1/assignments/reviewed/grading/assign', { students: String(cy.user.id), grader: String(ada.user.id) })).status).toBe(400);
    // The gradebook and histogram use the final score.
    expect(book).toContain('/ 100');
  });
});
