import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentVersion } from '../../src/plugins/assignments/store.js';
import { makeZip, type ArchiveEntry } from '../helpers/archives.js';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { copyDemoContent } from '../helpers/content.js';
import { createTestApp, tempDir, type TestApp } from '../helpers/index.js';
import { upload as uploadFiles } from '../helpers/submit.js';

/**
 * Issue 19 item 4: a variant freezes the student's parameters; a version may fix the text,
 * starters and tests. The rule is src/plugins/assignments/freeze.ts.
 */
const YAML = (title: string, file = 'answer.txt') => `title: ${title}
opens: 2026-01-01T00:00:00+00:00
deadline: 2027-12-01T23:59:00+01:00
files: ${file}
test:
  command: [/bin/sh, tests/run.sh]
`;
// The generator's numbers come from the seed, so two students differ and a re-roll would show.
const GEN_N = '#!/usr/bin/python3\nimport json, sys\nseed = json.load(sys.stdin)["seed"]\nprint(json.dumps({"n": int(seed[:6], 16)}))\n';
const GEN_M = '#!/usr/bin/python3\nimport json, sys\nseed = json.load(sys.stdin)["seed"]\nprint(json.dumps({"m": int(seed[:6], 16) % 97}))\n';

function bundle(title: string, statement: string, generate: string, file = 'answer.txt'): ArchiveEntry[] {
  return [
    { name: 'assignment.yaml', data: YAML(title, file) },
    { name: 'statement.md', data: statement },
    { name: 'generate', data: generate, mode: 0o100755 },
    { name: 'starter/answer.txt', data: 'n = {{ n }}\n' },
    { name: 'tests/run.sh', data: 'echo ok\n', mode: 0o100755 },
  ];
}

let t: TestApp;
let content: string;
let lena: SignedInAgent;
let ada: SignedInAgent;
const scratch = tempDir('lectern-freeze-');

async function publish(entries: ArchiveEntry[]): Promise<Response> {
  const file = path.join(scratch, `b-${Math.random().toString(36).slice(2)}.zip`);
  await makeZip(file, entries);
  const form = new FormData();
  form.append('bundle', new Blob([new Uint8Array(readFileSync(file))]), 'bundle.zip');
  return lena.fetch(`/courses/prog1/assignments/freeze/upload?_csrf=${encodeURIComponent(lena.csrf)}`, { method: 'POST', body: form });
}

function numberOf(html: string, word: string): string {
  const m = new RegExp(`${word} (\\d+)`).exec(html);
  if (!m) throw new Error(`no "${word} <number>" in the page`);
  return m[1]!;
}

beforeAll(async () => {
  content = copyDemoContent();
  const dir = path.join(content, 'assignments', 'freeze');
  mkdirSync(path.join(dir, 'tests'), { recursive: true });
  mkdirSync(path.join(dir, 'starter'), { recursive: true });
  writeFileSync(path.join(dir, 'assignment.yaml'), YAML('Frozen one'));
  writeFileSync(path.join(dir, 'statement.md'), '# Frozen\n\nThe frist text, number {{ n }}.\n');
  writeFileSync(path.join(dir, 'generate'), GEN_N, { mode: 0o755 });
  writeFileSync(path.join(dir, 'starter', 'answer.txt'), 'n = {{ n }}\n');
  writeFileSync(path.join(dir, 'tests', 'run.sh'), 'echo ok\n', { mode: 0o755 });
  // A second course, so that its lecturer can try this one.
  mkdirSync(path.join(content, 'courses', 'other'), { recursive: true });
  writeFileSync(path.join(content, 'courses', 'other', 'course.yaml'), 'title: Other course\ntimezone: UTC\n');
  t = await createTestApp({ config: { contentDir: content, graders: 0 } });
  lena = await signIn(t, { role: 'lecturer', name: 'Lena Lecturer' });
  ada = await signIn(t, { name: 'Ada Student' });
});
afterAll(async () => {
  await t.close();
  rmSync(content, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

describe('variant freezing and version fixes', () => {
  let adaN = '';

  it('a fix with the same generator reaches a student who opened version 1, with her own numbers', async () => {
    const first = (await ada.get('/courses/prog1/assignments/freeze/')).text;
    expect(first).toContain('The frist text');
    adaN = numberOf(first, 'number');
    expect(first).toContain('<h1>Frozen one</h1>');

    const r = await publish(bundle('Frozen one (fixed)', '# Frozen\n\nThe first text, number {{ n }}.\n', GEN_N));
    expect(r.headers.get('location')).toContain('done=created&v=2');
    const after = (await ada.get('/courses/prog1/assignments/freeze/')).text;
    // The new title over the new statement, never the new title over the old one.
    expect(after).toContain('<h1>Frozen one (fixed)</h1>');
    expect(after).toContain(`The first text, number ${adaN}.`);
    const starter = await ada.fetch('/courses/prog1/assignments/freeze/starter/answer.txt');
    expect(await starter.text()).toBe(`n = ${adaN}\n`);

    const staff = (await lena.get('/courses/prog1/assignments/freeze/staff')).text;
    expect(staff).toContain('follows its generator');
    expect(staff).toMatch(/1 opened version 1: see version 2/);
  });

  it('a version with a new generator reaches new students only; the others keep the newest fix that reaches them', async () => {
    // Version 3 also renames the file to hand in.
    const r = await publish(bundle('Reshaped', '# Reshaped\n\nYour residue is {{ m }}.\n', GEN_M, 'residue.txt'));
    expect(r.headers.get('location')).toContain('done=created&v=3');
    const adaPage = (await ada.get('/courses/prog1/assignments/freeze/')).text;
    expect(adaPage).toContain('<h1>Frozen one (fixed)</h1>');
    expect(adaPage).toContain(`The first text, number ${adaN}.`);
    const bob = await signIn(t, { name: 'Bob Student' });
    const bobPage = (await bob.get('/courses/prog1/assignments/freeze/')).text;
    expect(bobPage).toContain('<h1>Reshaped</h1>');
    expect(bobPage).toMatch(/Your residue is \d+\./);

    // Ada's submission is tested by the version she reads; Bob's by the current one.
    const db = t.app.deps.db;
    const versionOf = (n: number) => (db.prepare('SELECT id FROM assignment_versions WHERE number = ? AND assignment_id = (SELECT id FROM assignments WHERE slug = ?)').get(n, 'freeze') as { id: number }).id;
    // Each hands in the file their own statement asks for; the other name is refused.
    expect((await uploadFiles(ada, 'prog1', 'freeze', [{ name: 'residue.txt', content: '42\n' }])).status).toBe(422);
    expect((await uploadFiles(bob, 'prog1', 'freeze', [{ name: 'answer.txt', content: '42\n' }])).status).toBe(422);
    for (const [who, expected, file] of [[ada, 2, 'answer.txt'], [bob, 3, 'residue.txt']] as const) {
      const res = await uploadFiles(who, 'prog1', 'freeze', [{ name: file, content: '42\n' }]);
      expect(res.status).toBe(201);
      const id = ((await res.json()) as { id: number }).id;
      expect((db.prepare('SELECT version_id FROM submissions WHERE id = ?').get(id) as { version_id: number }).version_id).toBe(versionOf(expected));
      expect((db.prepare('SELECT version_id FROM jobs WHERE submission_id = ?').get(id) as { version_id: number }).version_id).toBe(versionOf(expected));
    }

    // A re-run "with the current version" tests each with the newest version that reaches them.
    await lena.get('/courses/prog1/assignments/freeze/students');
    const rerun = await lena.post('/courses/prog1/assignments/freeze/reruns', { scope: 'all', version: 'current' });
    expect(rerun.status).toBe(302);
    const reruns = db.prepare("SELECT s.user_id, j.version_id FROM jobs j JOIN submissions s ON s.id = j.submission_id WHERE j.reason = 'rerun'").all() as Array<{ user_id: number; version_id: number }>;
    expect(reruns.map((r) => [r.user_id, r.version_id]).sort()).toEqual([[ada.user.id, versionOf(2)], [bob.user.id, versionOf(3)]].sort());

    const staff = (await lena.get('/courses/prog1/assignments/freeze/staff')).text;
    expect(staff).toMatch(/1 opened version 1: see version 2/);
    expect(staff).toContain('Move all 1 to version 3, keeping their parameters');
    expect(staff).toContain(`aria-label="Move to version 3: ${ada.user.name}"`);
  });

  it('the lecturer decides: a version for new students only, then moving one student forward keeps her numbers', async () => {
    expect((await lena.post('/courses/prog1/assignments/freeze/versions/3/reach', { reach: 'everyone' })).status).toBe(302);
    expect((await ada.get('/courses/prog1/assignments/freeze/')).text).toContain('<h1>Reshaped</h1>');
    const set = await lena.post('/courses/prog1/assignments/freeze/versions/3/reach', { reach: 'new' });
    expect(set.headers.get('location')).toContain('done=reach-new');
    expect((await ada.get('/courses/prog1/assignments/freeze/')).text).toContain(`number ${adaN}`);
    expect((await lena.get('/courses/prog1/assignments/freeze/staff')).text).toContain('reaches new students only');

    const moved = await lena.post('/courses/prog1/assignments/freeze/versions/move-forward', { user: String(ada.user.id) });
    expect(moved.headers.get('location')).toContain('done=moved&n=1&v=3');
    const page = (await ada.get('/courses/prog1/assignments/freeze/')).text;
    expect(page).toContain('<h1>Reshaped</h1>');
    const db = t.app.deps.db;
    const row = db.prepare("SELECT params FROM variants WHERE user_id = ? AND assignment_id = (SELECT id FROM assignments WHERE slug = 'freeze')").get(ada.user.id) as { params: string };
    expect(JSON.parse(row.params)).toEqual({ n: Number(adaN) });
    const audit = db.prepare("SELECT action FROM audit_log WHERE action LIKE 'assignment.%' ORDER BY id").all() as Array<{ action: string }>;
    expect(audit.map((a) => a.action)).toEqual(expect.arrayContaining(['assignment.version_reach', 'assignment.move_forward']));
    expect(currentVersion(db, 'prog1', 'freeze')!.version.number).toBe(3);
  });

  it('only the course lecturer may set a reach or move students; every refusal is a clear 4xx', async () => {
    const tutor = await signIn(t, { role: 'tutor', name: 'Tim Tutor' });
    const student = await signIn(t, { name: 'Sam Student' });
    const otherLecturer = await signIn(t, { role: 'lecturer', course: 'other', name: 'Olga Other' });
    const outsider = await signIn(t, { role: null, name: 'Otto Outsider' });
    for (const [path, body] of [
      ['/courses/prog1/assignments/freeze/versions/3/reach', { reach: 'everyone' }],
      ['/courses/prog1/assignments/freeze/versions/move-forward', { user: 'everyone' }],
    ] as const) {
      const asTutor = await tutor.post(path, body);
      expect(asTutor.status).toBe(403);
      expect(await asTutor.text()).toMatch(/Only lecturers can/);
      for (const a of [student, otherLecturer, outsider]) expect((await a.post(path, body)).status).toBe(404);
      expect((await t.fetch(path, { method: 'POST', body: new URLSearchParams(body), redirect: 'manual' })).status).toBeGreaterThanOrEqual(300);
      expect((await lena.post(path, { ...body, _csrf: 'forged' })).status).toBe(403);
    }
    expect((await lena.post('/courses/prog1/assignments/freeze/versions/2/reach', { reach: 'new' })).status).toBe(409);
    expect((await lena.post('/courses/prog1/assignments/freeze/versions/3/reach', { reach: 'sometimes' })).status).toBe(400);
    const notMember = await lena.post('/courses/prog1/assignments/freeze/versions/move-forward', { user: String(otherLecturer.user.id) });
    expect(notMember.status).toBe(404);
    expect((await lena.post('/courses/prog1/assignments/nope/versions/move-forward', { user: 'everyone' })).status).toBe(404);
  });
});
