import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/lib/clock.js';
import { createTestApp, tempDir, type TestApp } from '../helpers/index.js';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { makeZip } from '../helpers/archives.js';
import { cSource, getJson, postJson, reviewContent, submitReviewed } from '../helpers/review.js';
import { upload, waitForResult } from '../helpers/submit.js';

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

describe('the diff between two zip submissions', () => {
  it('compares entry by entry: one changed line, added, removed, binary changed, unchanged, and bounded', async () => {
    const dir = tempDir('review-zip2-');
    const file = path.join(dir, 'project.zip');
    const entries = [];
    for (let i = 0; i < 50; i++) {
      if (i === 7) continue; // removed
      const text = i === 13 ? cSource(43).replace('/* line 10 */', '/* line ten */') : cSource(30 + i);
      entries.push({ name: `src/part${i % 5}/f${i}.c`, data: text });
    }
    entries.push({ name: 'src/new.c', data: 'int added;\n' });
    entries.push({ name: 'data/blob.bin', data: Buffer.from([0, 1, 2, 3, 0, 254]) });
    entries.push({ name: 'data/huge.txt', data: 'x'.repeat(1024 * 1024 + 10) });
    // A rewrite of 5,000 lines: its diff is cut, the counts are whole.
    entries.push({ name: 'src/long.txt', data: Array.from({ length: 5000 }, (_, n) => `new ${n}`).join('\n') });
    await makeZip(file, entries);
    const res = await upload(student, 'prog1', 'project', [{ name: 'project.zip', content: readFileSync(file) }]);
    expect(res.status, await res.clone().text()).toBe(201);
    const second = ((await res.json()) as { id: number }).id;
    await waitForResult(student, 'prog1', second, 120_000);

    interface DiffJson { files: Array<{ name: string; change: string; added: number; removed: number; shownLines: number; cut: number }> }
    const { status, body } = await getJson<DiffJson>(tutor, `${view(second)}/diff?against=${zipSub}`);
    expect(status).toBe(200);
    const by = new Map(body.files.map((f) => [f.name, f]));
    expect(by.get('project.zip/src/part3/f13.c')).toMatchObject({ change: 'changed', added: 1, removed: 1 });
    expect(by.get('project.zip/src/part2/f7.c')).toMatchObject({ change: 'removed', removed: 37 });
    expect(by.get('project.zip/src/new.c')).toMatchObject({ change: 'added', added: 1 });
    expect(by.get('project.zip/data/blob.bin')!.change).toBe('binary');
    expect(by.get('project.zip/data/huge.txt')!.change).toBe('same');
    expect(by.get('project.zip/src/part0/f0.c')!.change).toBe('same');
    expect(by.get('project.zip/src/long.txt')).toMatchObject({ change: 'added', added: 5000 });
    expect(body.files.filter((f) => f.change !== 'same')).toHaveLength(5);
    expect(by.has('project.zip')).toBe(false);

    const html = await (await tutor.fetch(`${view(second)}/diff?against=${zipSub}`)).text();
    expect(html).toContain('binary, changed');
    expect(html).toContain('/* line ten */');
    expect(html).toContain('49 unchanged');

    // Bounded: a 5,000-line rewrite of an entry shows at most 2,000 diff lines and says how many it left out.
    const dir3 = tempDir('review-zip3-');
    const third = path.join(dir3, 'project.zip');
    await makeZip(third, entries.map((e) => (e.name === 'src/long.txt' ? { name: e.name, data: Array.from({ length: 5000 }, (_, n) => `changed ${n}`).join('\n') } : e)));
    const r3 = await upload(student, 'prog1', 'project', [{ name: 'project.zip', content: readFileSync(third) }]);
    expect(r3.status).toBe(201);
    const thirdId = ((await r3.json()) as { id: number }).id;
    await waitForResult(student, 'prog1', thirdId, 120_000);
    const d3 = await getJson<DiffJson>(tutor, `${view(thirdId)}/diff?against=${second}`);
    const long = d3.body.files.find((f) => f.name === 'project.zip/src/long.txt')!;
    expect(long).toMatchObject({ added: 5000, removed: 5000 });
    expect(long.shownLines).toBeLessThanOrEqual(2000);
    expect(long.cut).toBeGreaterThan(0);
    expect(await (await tutor.fetch(`${view(thirdId)}/diff?against=${second}`)).text()).toMatch(/\d+ more lines of this diff are not shown/);
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
