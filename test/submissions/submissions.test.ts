import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import yazl from 'yazl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, createTestApp, type TestApp } from '../helpers/index.js';
import { makeUser, signIn, signInAs, type SignedInAgent } from '../helpers/accounts.js';
import { upload } from '../helpers/submit.js';

const CORRECT = readFileSync(path.join(ROOT, 'examples/solutions/caesar/caesar.c'));
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function zip(entries: Array<{ name: string; content: Buffer | string; compress?: boolean }>): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const e of entries) z.addBuffer(Buffer.from(e.content), e.name, { compress: e.compress ?? true });
  z.end();
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    z.outputStream.on('data', (c: Buffer) => chunks.push(c));
    z.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    z.outputStream.on('error', reject);
  });
}

let t: TestApp;
let student: SignedInAgent;

function counts() {
  const db = t.app.deps.db;
  return {
    submissions: (db.prepare('SELECT count(*) AS n FROM submissions').get() as { n: number }).n,
    jobs: (db.prepare('SELECT count(*) AS n FROM jobs').get() as { n: number }).n,
    tmp: readdirSync(path.join(t.dataDir, 'blobs', 'tmp')).length,
  };
}

beforeAll(async () => {
  // No graders: these tests are about intake; grading has its own file.
  t = await createTestApp({ config: { graders: 0 } });
  student = await signIn(t, { name: 'Ada Student' });
});
afterAll(async () => {
  await t.close();
});

describe('submission intake', () => {
  it('stores the files and the job, and answers with a receipt', async () => {
    const before = counts();
    const res = await upload(student, 'prog1', 'caesar', [{ name: 'caesar.c', content: CORRECT }]);
    expect(res.status).toBe(201);
    const receipt = (await res.json()) as { id: number; number: number; submittedAt: string; files: Array<{ name: string; sha256: string; size: number }>; url: string };
    expect(receipt.number).toBe(1);
    expect(receipt.submittedAt).toBe(new Date(t.clock.now()).toISOString());
    expect(receipt.files).toEqual([{ name: 'caesar.c', sha256: sha(CORRECT), size: CORRECT.length }]);
    expect(res.headers.get('location')).toBe(receipt.url);
    const after = counts();
    expect(after.submissions).toBe(before.submissions + 1);
    expect(after.jobs).toBe(before.jobs + 1);
    expect(after.tmp).toBe(0);
    const blob = path.join(t.dataDir, 'blobs', sha(CORRECT).slice(0, 2), sha(CORRECT).slice(2));
    expect(readFileSync(blob)).toEqual(CORRECT);

    const page = await student.get(receipt.url);
    expect(page.res.status).toBe(200);
    expect(page.text).toContain(sha(CORRECT));
    expect(page.text).toContain('Waiting to be tested');
    const download = await student.fetch(`${receipt.url}/files/caesar.c`);
    expect(download.headers.get('content-disposition')).toContain('attachment');
    expect(Buffer.from(await download.arrayBuffer())).toEqual(CORRECT);
  });

  it('a browser form post is redirected to the receipt page (POST, redirect, GET)', async () => {
    const res = await upload(student, 'prog1', 'caesar', [{ name: 'caesar.c', content: CORRECT }], { accept: 'text/html' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/^\/courses\/prog1\/submissions\/\d+$/);
  });

  it('a rejected browser upload leads back to the form it came from, never to another host', async () => {
    const form = new FormData();
    form.append('files', new Blob([Buffer.from('x')]), 'cesar.c');
    const post = (referer: string) =>
      student.fetch(`/courses/prog1/assignments/caesar/submissions?_csrf=${encodeURIComponent(student.csrf)}`, { method: 'POST', body: form, headers: { accept: 'text/html', referer } });
    const origin = new URL(t.url).origin;
    const res = await post(`${origin}/courses/prog1/assignments/caesar/submissions`);
    expect(res.status).toBe(422);
    const html = await res.text();
    expect(html).toContain('<a href="/courses/prog1/assignments/caesar/submissions">Back to the form, to try again</a>');
    expect(html).toContain('<a href="/courses/prog1/">The course page</a>');
    const foreign = await (await post('http://elsewhere.example/courses/prog1/assignments/caesar/submissions')).text();
    expect(foreign).not.toContain('Back to the form');
    expect(foreign).not.toContain('elsewhere.example');
    expect(foreign).toContain('<a href="/courses/prog1/">The course page</a>');
  });

  it('accepts a single .zip of the files', async () => {
    const res = await upload(student, 'prog1', 'caesar', [{ name: 'work.zip', content: await zip([{ name: 'caesar/caesar.c', content: CORRECT }]) }]);
    expect(res.status).toBe(201);
    expect(((await res.json()) as { files: unknown[] }).files).toEqual([{ name: 'caesar.c', sha256: sha(CORRECT), size: CORRECT.length }]);
  });

  const rejected: Array<[string, () => Promise<Response>, number, RegExp]> = [
    ['no file', () => upload(student, 'prog1', 'caesar', []), 400, /No file was uploaded/],
    ['an empty file', () => upload(student, 'prog1', 'caesar', [{ name: 'caesar.c', content: '' }]), 400, /"caesar.c" is empty/],
    ['a wrong name', () => upload(student, 'prog1', 'caesar', [{ name: 'cesar.c', content: CORRECT }]), 422, /missing: caesar\.c; not expected: cesar\.c/],
    ['a file over the size limit', () => upload(student, 'prog1', 'caesar', [{ name: 'caesar.c', content: Buffer.alloc(300 * 1024, 'a') }]), 413, /limit of 256 KB/],
    ['too many files', () => upload(student, 'prog1', 'caesar', [{ name: 'caesar.c', content: CORRECT }, { name: 'extra.c', content: 'x' }]), 413, /Too many files: at most 1/],
    ['a field over its limit', () => upload(student, 'prog1', 'caesar', [{ name: 'caesar.c', content: CORRECT }], { extra: { note: 'x'.repeat(10_000) } }), 413, /field "note" is longer than the limit/],
    ['a missing CSRF token', () => upload(student, 'prog1', 'caesar', [{ name: 'caesar.c', content: CORRECT }], { csrf: null }), 403, /expired or came from another site/],
    ['a wrong CSRF token', () => upload(student, 'prog1', 'caesar', [{ name: 'caesar.c', content: CORRECT }], { csrf: 'forged' }), 403, /expired or came from another site/],
    ['a zip slip', async () => upload(student, 'prog1', 'caesar', [{ name: 'a.zip', content: await zipSlip() }]), 422, /"\.\."|not allowed/],
    ['a zip bomb', async () => upload(student, 'prog1', 'caesar', [{ name: 'a.zip', content: await zip([{ name: 'caesar.c', content: Buffer.alloc(200 * 1024, 0) }]) }]), 422, /zip bomb|expands/],
    ['a zip with the wrong file', async () => upload(student, 'prog1', 'caesar', [{ name: 'a.zip', content: await zip([{ name: 'main.c', content: CORRECT }]) }]), 422, /missing: caesar\.c/],
    ['a damaged zip', () => upload(student, 'prog1', 'caesar', [{ name: 'a.zip', content: Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(100, 7)]) }]), 422, /zip file cannot/],
    ['an unknown assignment', () => upload(student, 'prog1', 'nope', [{ name: 'caesar.c', content: CORRECT }]), 404, /no such assignment/],
  ];

  it.each(rejected)('refuses %s with a clear message, storing nothing', async (_what, send, status, message) => {
    const before = counts();
    const res = await send();
    expect(res.status).toBe(status);
    const body = (await res.json()) as { error: string };
    expect(body.error).toMatch(message);
    expect(counts()).toEqual({ ...before, tmp: 0 });
  });

  it('refuses malformed multipart and other content types', async () => {
    const bad = await student.fetch(`/courses/prog1/assignments/caesar/submissions?_csrf=${encodeURIComponent(student.csrf)}`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=XYZ', accept: 'application/json' },
      body: '--XYZ\r\nContent-Disposition: form-data; name="files"; filename="caesar.c"\r\n\r\nint main',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/not valid multipart|cut off/);
    const noBoundary = await student.fetch(`/courses/prog1/assignments/caesar/submissions?_csrf=${encodeURIComponent(student.csrf)}`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data', accept: 'application/json' },
      body: 'x',
    });
    expect(noBoundary.status).toBe(400);
    const json = await student.fetch('/courses/prog1/assignments/caesar/submissions', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': student.csrf },
      body: '{}',
    });
    expect(json.status).toBe(415);
    expect(counts().tmp).toBe(0);
  });

  it("hides another student's submission, files and status behind 404", async () => {
    const res = await upload(student, 'prog1', 'caesar', [{ name: 'caesar.c', content: CORRECT }]);
    const { id } = (await res.json()) as { id: number };
    const other = await signIn(t);
    for (const p of [`/courses/prog1/submissions/${id}`, `/courses/prog1/submissions/${id}/files/caesar.c`, `/courses/prog1/submissions/${id}/status`, `/courses/prog1/submissions/${id}/events`]) {
      expect((await other.fetch(p, { headers: { accept: 'application/json' } })).status).toBe(404);
    }
    expect((await other.fetch('/courses/prog1/submissions/99999999', { headers: { accept: 'application/json' } })).status).toBe(404);
    expect((await other.fetch('/courses/prog1/submissions/abc', { headers: { accept: 'application/json' } })).status).toBe(404);
    const tutor = await signIn(t, { role: 'tutor' });
    expect((await tutor.fetch(`/courses/prog1/submissions/${id}`)).status).toBe(200);
    const outsider = await signIn(t, { role: null });
    expect((await outsider.fetch('/courses/prog1/assignments/caesar/submissions', { headers: { accept: 'application/json' } })).status).toBe(404);
  });

  it('shows the history with receipts, newest first', async () => {
    const me = await signIn(t);
    await upload(me, 'prog1', 'caesar', [{ name: 'caesar.c', content: 'int main(void){return 1;}\n' }]);
    await upload(me, 'prog1', 'caesar', [{ name: 'caesar.c', content: CORRECT }]);
    const res = await me.fetch('/courses/prog1/assignments/caesar/submissions', { headers: { accept: 'application/json' } });
    const body = (await res.json()) as { submissions: Array<{ number: number; files: Array<{ sha256: string }>; status: { state: string; position: number } }> };
    expect(body.submissions.map((s) => s.number)).toEqual([2, 1]);
    expect(body.submissions[0]!.files[0]!.sha256).toBe(sha(CORRECT));
    expect(body.submissions[0]!.status.state).toBe('queued');
    const html = await me.get('/courses/prog1/assignments/caesar/submissions');
    expect(html.text).toContain('Your submissions');
    expect(html.text).toContain('enctype="multipart/form-data"');
  });

  it('moves an older queued job of the same student behind the new one', async () => {
    const me = await signIn(t);
    const first = (await (await upload(me, 'prog1', 'caesar', [{ name: 'caesar.c', content: CORRECT }])).json()) as { id: number };
    const second = (await (await upload(me, 'prog1', 'caesar', [{ name: 'caesar.c', content: CORRECT }])).json()) as { id: number };
    const prio = (id: number) => (t.app.deps.db.prepare('SELECT priority FROM jobs WHERE submission_id = ?').get(id) as { priority: number }).priority;
    expect(prio(first.id)).toBeLessThan(prio(second.id));
  });
});

describe('deadlines on intake (fixed clock)', () => {
  it('refuses before opening and after the hard close; records late minutes and penalty', async () => {
    const user = makeUser(t);
    const start = t.clock.now();
    try {
      // Sessions expire by the same clock, so sign in again after each jump.
      t.clock.set('2026-08-31T12:00:00+02:00');
      let me = await signInAs(t, user);
      let res = await upload(me, 'prog1', 'caesar', [{ name: 'caesar.c', content: CORRECT }]);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: string }).error).toMatch(/opens for submissions/);

      // A day and 20 minutes after the deadline: two started days past the 15-minute grace.
      t.clock.set('2027-06-17T00:19:00+02:00');
      me = await signInAs(t, user);
      res = await upload(me, 'prog1', 'caesar', [{ name: 'caesar.c', content: CORRECT }]);
      expect(res.status).toBe(201);
      const late = (await res.json()) as { lateMinutes: number; penaltyPct: number };
      expect(late).toMatchObject({ lateMinutes: 24 * 60 + 20, penaltyPct: 20 });

      t.clock.set('2027-06-23T00:15:00+02:00');
      me = await signInAs(t, user);
      res = await upload(me, 'prog1', 'caesar', [{ name: 'caesar.c', content: CORRECT }]);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: string }).error).toMatch(/closed for submissions/);
    } finally {
      t.clock.set(start);
    }
  });

  it('an extension moves the student deadline', async () => {
    const user = makeUser(t);
    const db = t.app.deps.db;
    const { id: assignmentId } = db.prepare("SELECT id FROM assignments WHERE course = 'prog1' AND slug = 'caesar'").get() as { id: number };
    db.prepare('INSERT INTO extensions (assignment_id, user_id, until_at, granted_by, granted_at) VALUES (?, ?, ?, ?, ?)').run(
      assignmentId,
      user.id,
      Date.parse('2027-06-20T23:59:00+02:00'),
      'lecturer@example.org',
      t.clock.now(),
    );
    const start = t.clock.now();
    try {
      t.clock.set('2027-06-19T12:00:00+02:00');
      const me = await signInAs(t, user);
      const res = await upload(me, 'prog1', 'caesar', [{ name: 'caesar.c', content: CORRECT }]);
      expect(res.status).toBe(201);
      expect(await res.json()).toMatchObject({ lateMinutes: 0, penaltyPct: 0 });
    } finally {
      t.clock.set(start);
    }
  });

  it('limits submissions per hour with a clear message', async () => {
    const me = await signIn(t);
    for (let i = 0; i < 20; i++) expect((await upload(me, 'prog1', 'caesar', [{ name: 'caesar.c', content: CORRECT }])).status).toBe(201);
    const res = await upload(me, 'prog1', 'caesar', [{ name: 'caesar.c', content: CORRECT }]);
    expect(res.status).toBe(429);
    expect(((await res.json()) as { error: string }).error).toMatch(/20 times per hour.*Try again in 60 minutes/);
    t.clock.advance(3_600_001);
    expect((await upload(me, 'prog1', 'caesar', [{ name: 'caesar.c', content: CORRECT }])).status).toBe(201);
  });
});

async function zipSlip(): Promise<Buffer> {
  // yazl refuses "..", so write the entry under a safe name of the same length and patch it.
  const buf = await zip([{ name: 'aa/caesar.c', content: CORRECT, compress: false }]);
  let s = buf.toString('latin1');
  s = s.split('aa/caesar.c').join('../caesar.c');
  return Buffer.from(s, 'latin1');
}
