import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/lib/clock.js';
import { getAssignment } from '../../src/plugins/assignments/store.js';
import { gradesReleased, gradesReleasedAt } from '../../src/plugins/review/release.js';
import { createTestApp, type TestApp } from '../helpers/index.js';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { cSource, getJson, postJson, reviewContent, submitReviewed } from '../helpers/review.js';

/**
 * The release rule (review/release.ts, the one answer other plugins ask) and what the student's
 * pages say about the score before and after release: one final score with its breakdown, the
 * same on the receipt, the history list, the live status and the gradebook's students page.
 */

interface GradeNote {
  mode: string;
  released: boolean;
  finalShown: boolean;
  autotestIsPart: boolean;
  final: { score: number | null; max: number | null; text: string } | null;
}
interface StatusJson {
  status: { result: { score: number | null; finalScore: number | null }; grade: GradeNote };
}

let t: TestApp;
let lecturer: SignedInAgent;
let tutor: SignedInAgent;
let ada: SignedInAgent;
let bo: SignedInAgent;
let adaSub: number;
let boSub: number;
let assignmentId: number;

const staffView = (id: number) => `/courses/prog1/review/submissions/${id}`;
const receipt = (id: number) => `/courses/prog1/submissions/${id}`;
const history = '/courses/prog1/assignments/reviewed/submissions';
const text = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');

beforeAll(async () => {
  t = await createTestApp({ config: { graders: 1, contentDir: reviewContent() }, clock: fixedClock('2026-10-05T10:00:00Z') });
  lecturer = await signIn(t, { name: 'Lena Lecturer', role: 'lecturer' });
  tutor = await signIn(t, { name: 'Tom Tutor', role: 'tutor' });
  ada = await signIn(t, { name: 'Ada Lovelace', email: 'ada@example.org' });
  bo = await signIn(t, { name: 'Bo Ek', email: 'bo@example.org' });
  boSub = await submitReviewed(bo, cSource(30));
  // Ada hands in two started days late: 20 % off.
  t.clock.set('2026-10-12T10:00:00Z');
  adaSub = await submitReviewed(ada, cSource(50));
  assignmentId = getAssignment(t.app.deps.db, 'prog1', 'reviewed')!.id;
  const view = await getJson<{ rubric: Array<{ items: Array<{ id: number; key: string }> }> }>(tutor, staffView(adaSub));
  const items = Object.fromEntries(view.body.rubric.flatMap((g) => g.items.map((i) => [i.key, i.id])));
  // Style 4 − 2 = 2, Design 4: manual 6 of 10; 60 × 0.6 + 40 × 0.6 = 60, +5 = 65, −20 %: 52.
  for (const key of ['magic', 'structure']) expect((await postJson(tutor, `${staffView(adaSub)}/items`, { item: String(items[key]), applied: '1' })).status).toBe(200);
  expect((await postJson(tutor, `${staffView(adaSub)}/adjustments`, { points: '5', reason: 'Careful report' })).status).toBe(200);
  expect((await postJson(tutor, `${staffView(adaSub)}/state`, { state: 'graded' })).status).toBe(200);
}, 240_000);

afterAll(async () => {
  await t?.close();
});

describe('the release rule', () => {
  it('answers per student: after a release for one student, for the whole assignment, and after withdrawing', async () => {
    const db = t.app.deps.db;
    const ids = { ada: (await getJson<{ student: { id: number } }>(tutor, staffView(adaSub))).body.student.id, bo: (await getJson<{ student: { id: number } }>(tutor, staffView(boSub))).body.student.id };
    expect(gradesReleased(db, assignmentId, ids.ada)).toBe(false);
    expect((await postJson(lecturer, `${staffView(adaSub)}/release`, { action: 'release' })).status).toBe(200);
    expect(gradesReleasedAt(db, assignmentId, ids.ada)).toBe(t.clock.now());
    expect(gradesReleased(db, assignmentId, ids.bo)).toBe(false);
    expect((await postJson(lecturer, '/courses/prog1/assignments/reviewed/release', { action: 'release' })).status).toBe(200);
    expect(gradesReleased(db, assignmentId, ids.bo)).toBe(true);
    expect((await postJson(lecturer, '/courses/prog1/assignments/reviewed/release', { action: 'withdraw' })).status).toBe(200);
    expect(gradesReleased(db, assignmentId, ids.bo)).toBe(false);
    // Ada's own release stands after the whole-assignment one is withdrawn.
    expect(gradesReleased(db, assignmentId, ids.ada)).toBe(true);
    expect((await postJson(lecturer, `${staffView(adaSub)}/release`, { action: 'withdraw' })).status).toBe(200);
    expect(gradesReleased(db, assignmentId, ids.ada)).toBe(false);
  });
});

describe('the score on the student\'s pages', () => {
  it('before release: the test score is named a part of the grade, with no penalised figure and no final', async () => {
    const { body } = await getJson<StatusJson>(ada, receipt(adaSub));
    expect(body.status.grade).toMatchObject({ mode: 'both', released: false, finalShown: false, autotestIsPart: true, final: null });
    const page = text(await (await ada.fetch(receipt(adaSub))).text());
    expect(page).toContain('tests, one part of the grade 6 / 10');
    expect(page).not.toMatch(/final score \d/);
    expect(page).not.toContain('after the late penalty');
    expect(page).not.toContain('4.8');
    expect(page).not.toContain('Careful report');
    const list = text(await (await ada.fetch(history)).text());
    expect(list).toContain('6 / 10 tests, one part of the grade');
    expect(list).not.toContain('4.8');
  });

  it('staff see the one final score on the receipt, in the live status and on the gradebook\'s students page', async () => {
    const { body } = await getJson<StatusJson>(tutor, receipt(adaSub));
    expect(body.status.grade.final).toMatchObject({ score: 52, max: 100, text: '52 / 100' });
    const page = text(await (await tutor.fetch(receipt(adaSub))).text());
    expect(page).toContain('final score 52 / 100');
    expect(page).toContain('Final score 52 / 100');
    const students = text(await (await tutor.fetch('/courses/prog1/assignments/reviewed/students')).text());
    expect(students).toContain('52 / 100');
    const events = await tutor.fetch(`${receipt(adaSub)}/events`);
    const reader = events.body!.getReader();
    let stream = '';
    while (!stream.includes('event: status')) stream += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    expect(stream).toContain('final score 52 / 100');
  });

  it('after release: one final score with its breakdown on the receipt and in the history list, matching the feedback page', async () => {
    expect((await postJson(lecturer, `${staffView(adaSub)}/release`, { action: 'release' })).status).toBe(200);
    const feedback = await getJson<{ breakdown: { final: number; max: number } }>(ada, `${receipt(adaSub)}/feedback`);
    expect(feedback.body.breakdown).toMatchObject({ final: 52, max: 100 });
    const { body } = await getJson<StatusJson>(ada, receipt(adaSub));
    expect(body.status.grade).toMatchObject({ released: true, finalShown: true, final: { score: 52, max: 100 } });
    const page = text(await (await ada.fetch(receipt(adaSub))).text());
    expect(page).toContain('final score 52 / 100');
    for (const row of ['Automatic tests (worth 60) 6 / 10 → 36', 'Manual grading (worth 40) 6 / 10 → 24', 'Adjustments +5', 'Before the late penalty 65', 'Late penalty (20 %) −13', 'Final score 52 / 100', 'Style: Magic numbers -2', 'Design: Clear structure +4', 'Adjustment: Careful report +5']) {
      expect(page).toContain(row);
    }
    expect(page).not.toContain('after the late penalty of 20 %');
    const list = text(await (await ada.fetch(history)).text());
    expect(list).toContain('52 / 100 final');
    // Bo's grades are not released: nothing of them shows to Bo.
    const boPage = text(await (await bo.fetch(receipt(boSub))).text());
    expect(boPage).not.toMatch(/final score/i);
  });
});
