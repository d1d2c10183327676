import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/lib/clock.js';
import { createTestApp, type TestApp } from '../helpers/index.js';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { getJson, postJson, reviewContent, submitReviewed } from '../helpers/review.js';

/**
 * One counted submission for the gradebook and review's grading queue (gradebook/counted.ts):
 * with `final: autotest + manual` and `counts: last`, a newer submission whose tests ran but that
 * staff have not graded is the counted one on both, shown as "needs grading" in the gradebook
 * rather than the older grade it replaces; once graded, both show its score.
 */
let t: TestApp;
let lecturer: SignedInAgent;
let bo: SignedInAgent;

beforeAll(async () => {
  t = await createTestApp({ config: { graders: 1, contentDir: reviewContent() }, clock: fixedClock('2026-10-05T10:00:00Z') });
  lecturer = await signIn(t, { name: 'Lena Lecturer', role: 'lecturer' });
  bo = await signIn(t, { name: 'Bo Ek', studentId: 's2002' });
}, 60_000);

afterAll(async () => {
  await t?.close();
});

async function counted(): Promise<{ queue: number | null; cell: string; students: string }> {
  const queue = await getJson<{ rows: Array<{ userId: number; submission: number | null }> }>(lecturer, '/courses/prog1/assignments/reviewed/grading');
  const book = (await lecturer.get('/courses/prog1/gradebook')).text;
  const cell = new RegExp(`<tr data-student="${bo.user.id}">[\\s\\S]*?<td data-cell="reviewed"[^>]*>([^<]*)`).exec(book)![1]!.trim();
  const students = (await lecturer.get('/courses/prog1/assignments/reviewed/students')).text;
  const row = new RegExp(`<tr data-student="${bo.user.id}">[\\s\\S]*?</tr>`).exec(students)![0];
  return { queue: queue.body.rows.find((r) => r.userId === bo.user.id)?.submission ?? null, cell, students: /<td data-counted="\d+">([\s\S]*?)<\/td>/.exec(row)![1]! };
}

describe('the counted submission', () => {
  it('is the same on the grading queue, the gradebook and the students page, graded or not', async () => {
    const first = await submitReviewed(bo);
    let now = await counted();
    expect(now.queue).toBe(first);
    expect(now.cell).toBe('needs grading');
    expect(now.students).toContain(`/review/submissions/${first}"`);

    expect((await postJson(lecturer, `/courses/prog1/review/submissions/${first}/state`, { state: 'graded' })).status).toBe(200);
    now = await counted();
    expect(now.queue).toBe(first);
    expect(now.cell).toMatch(/^[\d.]+ \/ 100$/);

    // A newer submission with its test run in: it counts (counts: last) before staff grade it.
    const second = await submitReviewed(bo);
    now = await counted();
    expect(now.queue).toBe(second);
    expect(now.cell).toBe('needs grading');
    expect(now.students).toContain(`/review/submissions/${second}"`);
    expect(now.students).toContain('needs grading');

    expect((await postJson(lecturer, `/courses/prog1/review/submissions/${second}/state`, { state: 'graded' })).status).toBe(200);
    now = await counted();
    expect(now.queue).toBe(second);
    expect(now.cell).toMatch(/^[\d.]+ \/ 100$/);
  });
});
