import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../src/lib/clock.js';
import { createTestApp, tempDir, type TestApp } from './helpers/index.js';
import { signIn, type SignedInAgent } from './helpers/accounts.js';
import { makeZip } from './helpers/archives.js';
import { cSource, getJson, postJson, reviewContent, submitReviewed } from './helpers/review.js';
import { upload, waitForResult } from './helpers/submit.js';

/**
 * Files in the staff view: a submitted zip's tree and its entries, binary and oversized files,
 * comments on zip entries; a manual-only final score; a course whose tutors may release and
 * change the rubric (course.yaml `tutors_can`).
 */

let t: TestApp;
let tutor: SignedInAgent;
let student: SignedInAgent;
let zipSub: number;

interface StaffJson {
  shown: { path: string; kind: string; lines: number; highlighted: boolean; entries: number | null } | null;
  breakdown: { final: number | null; max: number | null; mode: string };
  rubric: Array<{ items: Array<{ id: number; title: string }> }>;
}

beforeAll(async () => {
  t = await createTestApp({ config: { graders: 1, contentDir: reviewContent({ tutorsCan: ['release', 'edit_rubric'] }) }, clock: fixedClock('2026-10-05T10:00:00Z') });
  tutor = await signIn(t, { name: 'Tia Tutor', role: 'tutor' });
  student = await signIn(t, { name: 'Sam Student' });
  const dir = tempDir('review-zip-');
  const file = path.join(dir, 'project.zip');
  const entries = [];
  for (let i = 0; i < 50; i++) entries.push({ name: `src/part${i % 5}/f${i}.c`, data: cSource(30 + i) });
  entries.push({ name: 'data/blob.bin', data: Buffer.from([0, 1, 2, 3, 0, 255]) });
  entries.push({ name: 'data/huge.txt', data: 'x'.repeat(1024 * 1024 + 10) });
  await makeZip(file, entries);
  const res = await upload(student, 'prog1', 'project', [{ name: 'project.zip', content: readFileSync(file) }]);
  expect(res.status, await res.clone().text()).toBe(201);
  zipSub = ((await res.json()) as { id: number }).id;
  await waitForResult(student, 'prog1', zipSub, 120_000);
}, 240_000);

afterAll(async () => {
  await t?.close();
});

const view = (id: number, file?: string) => `/courses/prog1/review/submissions/${id}${file ? `?file=${encodeURIComponent(file)}` : ''}`;

describe('a submitted zip', () => {
  it('lists its tree and shows an entry as highlighted lines', async () => {
    const top = await getJson<StaffJson>(tutor, view(zipSub));
    expect(top.body.shown).toMatchObject({ path: 'project.zip', kind: 'zip' });
    expect(top.body.shown!.entries).toBeGreaterThanOrEqual(52);
    const html = await (await tutor.fetch(view(zipSub))).text();
    expect(html).toContain('?file=project.zip%2Fsrc%2Fpart3%2Ff13.c');
    const entry = await getJson<StaffJson>(tutor, view(zipSub, 'project.zip/src/part3/f13.c'));
    expect(entry.body.shown).toMatchObject({ kind: 'text', lines: 43, highlighted: true });
    expect((await getJson<StaffJson>(tutor, view(zipSub, 'project.zip/data/blob.bin'))).body.shown!.kind).toBe('binary');
    expect((await getJson<StaffJson>(tutor, view(zipSub, 'project.zip/data/huge.txt'))).body.shown!.kind).toBe('large');
    expect((await tutor.fetch(view(zipSub, 'project.zip/src/none.c'))).status).toBe(404);
    expect((await tutor.fetch(view(zipSub, 'project.zip/../../etc/passwd'))).status).toBe(404);
  });

  it('takes line comments on an entry, not on binary entries or past the end', async () => {
    const ok = await postJson(tutor, `${view(zipSub)}/comments`, { path: 'project.zip/src/part3/f13.c', from: '10', body: 'Why 10?' });
    expect(ok.status).toBe(200);
    expect((await postJson(tutor, `${view(zipSub)}/comments`, { path: 'project.zip/src/part3/f13.c', from: '44', body: 'x' })).status).toBe(400);
    expect((await postJson(tutor, `${view(zipSub)}/comments`, { path: 'project.zip/data/blob.bin', from: '1', body: 'x' })).status).toBe(422);
    const html = await (await tutor.fetch(view(zipSub, 'project.zip/src/part3/f13.c'))).text();
    expect(html).toContain('Why 10?');
  });

  it('manual only: the final is the rubric once graded', async () => {
    const before = await getJson<StaffJson>(tutor, view(zipSub));
    expect(before.body.breakdown).toMatchObject({ mode: 'manual', final: null });
    const works = before.body.rubric[0]!.items.find((i) => i.title === 'Works')!;
    await postJson(tutor, `${view(zipSub)}/items`, { item: String(works.id), applied: '1' });
    const after = await postJson<{ breakdown: StaffJson['breakdown'] }>(tutor, `${view(zipSub)}/state`, { state: 'graded' });
    expect(after.body.breakdown).toMatchObject({ final: 6, max: 10 });
  });
});

describe('binary and long files', () => {
  it('a binary file is not shown as text; a 2,000-line file is highlighted whole', async () => {
    const bin = await submitReviewed(student, 'int main;\n\u0000\u0001binary', 'n\n');
    expect((await getJson<StaffJson>(tutor, view(bin))).body.shown!.kind).toBe('binary');
    const long = await submitReviewed(student, cSource(2000));
    expect((await getJson<StaffJson>(tutor, view(long))).body.shown).toMatchObject({ kind: 'text', lines: 2000, highlighted: true });
  });
});

describe('tamper flags', () => {
  it('are shown to staff when the run row carries them', async () => {
    const { db } = t.app.deps;
    // Another part of Lectern records tamper flags on runs; without its column, one is added here.
    const cols = db.prepare<[], { name: string }>('PRAGMA table_info(results)').all().map((c) => c.name);
    const col = cols.find((c) => c.startsWith('tamper')) ?? 'tamper_flags';
    if (!cols.includes(col)) db.exec(`ALTER TABLE results ADD COLUMN ${col} TEXT`);
    db.prepare(`UPDATE results SET ${col} = ? WHERE submission_id = ?`).run(JSON.stringify(['wrote results.json outside the harness']), zipSub);
    const body = (await getJson<{ tamper: string[] }>(tutor, view(zipSub))).body;
    expect(body.tamper.join(' ')).toContain('wrote results.json outside the harness');
    const html = await (await tutor.fetch(view(zipSub))).text();
    expect(html).toContain('Tamper flags');
    expect(await (await student.fetch(`/courses/prog1/submissions/${zipSub}`)).text()).not.toContain('outside the harness');
  });
});

describe('tutors_can in course.yaml', () => {
  it('lets tutors change the rubric and release; students still may not', async () => {
    const g = await postJson(tutor, '/courses/prog1/assignments/project/rubric/groups', { title: 'Report', max: '5', scoring: 'positive' });
    expect(g.status).toBe(200);
    expect((await postJson(tutor, '/courses/prog1/assignments/project/release', { action: 'release' })).status).toBe(200);
    expect((await postJson(student, '/courses/prog1/assignments/project/rubric/groups', { title: 'Mine', max: '5' })).status).toBe(404);
    const fb = await getJson<{ released: boolean; breakdown: { final: number } }>(student, `/courses/prog1/submissions/${zipSub}/feedback`);
    // The new group (max 5) raises the manual maximum: 6 of 15.
    expect(fb.body).toMatchObject({ released: true, breakdown: { final: 6, max: 15 } });
    // project has regrade_window: 0.
    const works = (await getJson<StaffJson>(tutor, view(zipSub))).body.rubric[0]!.items[0]!;
    const r = await postJson<{ error: string }>(student, `/courses/prog1/submissions/${zipSub}/regrades`, { subject: `item:${works.id}`, message: 'please' });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatch(/no regrade/);
  });
});
