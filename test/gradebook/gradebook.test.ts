import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRIORITY } from '../../src/plugins/autotest/queue.js';
import { recordBeats } from '../../src/plugins/autotest/redis-store.js';
import { fixedClock } from '../../src/lib/clock.js';
import { instantToZoned, zonedToInstant } from '../../src/lib/zoned.js';
import { ROOT, createTestApp, type TestApp } from '../helpers/index.js';
import { makeUser, signIn, type SignedInAgent } from '../helpers/accounts.js';
import { upload } from '../helpers/submit.js';

/**
 * The gradebook's staff pages without grading (graders: 0, so queued jobs stay queued):
 * authorisation, the dashboard's numbers, extensions and intake, re-run priority, the audit log.
 * Scores, exports and the histogram need real results: gradebook-grading.test.ts.
 */
const CORRECT = readFileSync(path.join(ROOT, 'examples/solutions/caesar/caesar.c'));
const MINUTE = 60_000;
// caesar: deadline 2027-06-15T23:59+02:00, 15 min grace, 10 %/day, cap 50 %, hard close 7 d later.
const DEADLINE = Date.parse('2027-06-15T23:59:00+02:00');
const HARD_CLOSE = DEADLINE + 7 * 86_400_000;
// Sessions last 14 days: every clock move in this file stays within that of the start.
const BASE = '2027-06-12T09:00:00Z';

let t: TestApp;
let lecturer: SignedInAgent;
let tutor: SignedInAgent;
let otherTutor: SignedInAgent;
let student: SignedInAgent;
let admin: SignedInAgent;

beforeAll(async () => {
  t = await createTestApp({ config: { graders: 0 }, clock: fixedClock(BASE) });
  lecturer = await signIn(t, { name: 'Lena Lecturer', role: 'lecturer' });
  tutor = await signIn(t, { name: 'Tom Tutor', role: 'tutor' });
  otherTutor = await signIn(t, { name: 'Olga Elsewhere', role: 'tutor', course: 'another-course' });
  student = await signIn(t, { name: 'Ada Student', studentId: 's100' });
  admin = await signIn(t, { name: 'Site Admin', role: null, admin: true });
});
afterAll(async () => {
  await t.close();
});

const json = { headers: { accept: 'application/json' } };
const db = () => t.app.deps.db;
function jobsOf(submissionId: number) {
  return db().prepare('SELECT * FROM jobs WHERE submission_id = ? ORDER BY id').all(submissionId) as Array<{ id: number; state: string; priority: number; reason: string; batch: string | null; version_id: number }>;
}
async function submit(agent: SignedInAgent): Promise<{ id: number; lateMinutes: number; penaltyPct: number; status: number; error?: string }> {
  const res = await upload(agent, 'prog1', 'caesar', [{ name: 'caesar.c', content: CORRECT }]);
  const body = (await res.json()) as { id: number; lateMinutes: number; penaltyPct: number; error?: string };
  return { ...body, status: res.status };
}
async function receipt(agent: SignedInAgent, id: number) {
  const res = await agent.fetch(`/courses/prog1/submissions/${id}`, json);
  return (await res.json()) as { lateMinutes: number; penaltyPct: number };
}

describe('authorisation', () => {
  const views = ['/courses/prog1/dashboard', '/courses/prog1/gradebook', '/courses/prog1/assignments/caesar/students', '/courses/prog1/assignments/caesar/histogram.svg'];
  const lecturerOnly = ['/courses/prog1/gradebook.csv', '/courses/prog1/assignments/caesar/submissions.zip'];

  it('sends anonymous visitors to sign in, and answers 404 to students and to staff of another course', async () => {
    for (const p of [...views, ...lecturerOnly]) {
      const anon = await t.fetch(p);
      expect(anon.status, p).toBe(302);
      expect(anon.headers.get('location'), p).toMatch(/^\/login\?next=/);
      expect((await student.fetch(p)).status, p).toBe(404);
      expect((await otherTutor.fetch(p)).status, p).toBe(404);
    }
    for (const [p, form] of [
      ['/courses/prog1/assignments/caesar/extensions', { user: String(student.user.id), until: '2027-06-20T23:59' }],
      [`/courses/prog1/assignments/caesar/extensions/${student.user.id}/revoke`, {}],
      ['/courses/prog1/assignments/caesar/reruns', { scope: 'all' }],
    ] as const) {
      expect((await student.post(p, form)).status, p).toBe(404);
      expect((await otherTutor.post(p, form)).status, p).toBe(404);
    }
    expect(db().prepare('SELECT count(*) AS n FROM extensions').get()).toEqual({ n: 0 });
    expect(db().prepare("SELECT count(*) AS n FROM jobs WHERE reason = 'rerun'").get()).toEqual({ n: 0 });
  });

  it('lets tutors view and re-run, and keeps extensions and exports for lecturers', async () => {
    for (const p of views) expect((await tutor.fetch(p)).status, p).toBe(200);
    for (const p of lecturerOnly) {
      const res = await tutor.fetch(p);
      expect(res.status, p).toBe(403);
      expect(await res.text()).toMatch(/Only lecturers can/);
    }
    const ext = await tutor.post('/courses/prog1/assignments/caesar/extensions', { user: String(student.user.id), until: '2027-06-20T23:59' });
    expect(ext.status).toBe(403);
    const page = await tutor.get('/courses/prog1/assignments/caesar/students');
    expect(page.text).not.toContain('Grant an extension');
    expect(page.text).not.toContain('submissions.zip');
    expect(page.text).toContain('Queue the re-run');
    for (const p of [...views, ...lecturerOnly]) {
      const res = await lecturer.fetch(p);
      expect(res.status, p).toBe(200);
      await res.arrayBuffer();
    }
  });

  it('answers 404 for unknown courses and assignments', async () => {
    expect((await lecturer.fetch('/courses/nope/dashboard')).status).toBe(404);
    expect((await lecturer.fetch('/courses/prog1/assignments/nope/students')).status).toBe(404);
    expect((await lecturer.fetch('/courses/prog1/assignments/nope/histogram.svg')).status).toBe(404);
  });

  it('refuses state changes without the CSRF token', async () => {
    const res = await lecturer.fetch('/courses/prog1/assignments/caesar/extensions', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ user: String(student.user.id), until: '2027-06-20T23:59' }),
    });
    expect(res.status).toBe(403);
    expect(db().prepare('SELECT count(*) AS n FROM extensions').get()).toEqual({ n: 0 });
  });
});

describe('time zone of the extension form', () => {
  it('reads datetime-local in the course zone, across daylight-saving changes', () => {
    expect(zonedToInstant('2026-10-20T23:59', 'Europe/Stockholm')).toBe(Date.parse('2026-10-20T23:59:00+02:00'));
    expect(zonedToInstant('2026-12-01T08:00', 'Europe/Stockholm')).toBe(Date.parse('2026-12-01T08:00:00+01:00'));
    expect(zonedToInstant('2026-10-20T23:59', 'America/New_York')).toBe(Date.parse('2026-10-20T23:59:00-04:00'));
    // 02:30 on 29 March does not exist in Stockholm: it moves forward an hour.
    expect(zonedToInstant('2026-03-29T02:30', 'Europe/Stockholm')).toBe(Date.parse('2026-03-29T03:30:00+02:00'));
    // 02:30 on 25 October happens twice: the later one.
    expect(zonedToInstant('2026-10-25T02:30', 'Europe/Stockholm')).toBe(Date.parse('2026-10-25T02:30:00+01:00'));
    for (const bad of ['', '2026-02-30T10:00', '2026-10-20', '2026-10-20T24:00', 'tomorrow']) expect(zonedToInstant(bad, 'UTC'), bad).toBeNull();
    expect(instantToZoned(DEADLINE, 'Europe/Stockholm')).toBe('2027-06-15T23:59');
    // What the text field shows and what a person types: the page's 24-hour form, whatever the browser's locale.
    expect(instantToZoned(DEADLINE, 'Europe/Stockholm', ' ')).toBe('2027-06-15 23:59');
    expect(zonedToInstant('2027-06-15 23:59', 'Europe/Stockholm')).toBe(DEADLINE);
  });
});

describe('extensions', () => {
  it('moves the deadline for intake, re-times earlier late work, and revoking puts it back', async () => {
    const s = await signIn(t, { name: 'Late Larry' });
    // Two days after the deadline: late, 20 % off.
    t.clock.set(DEADLINE + 2 * 86_400_000);
    const late = await submit(s);
    expect(late.status).toBe(201);
    expect(late.penaltyPct).toBe(20);

    // Invalid requests re-show the form with the problem, changing nothing.
    for (const [until, message] of [
      ['next week', /give the new deadline as a date and time/],
      ['2027-06-15T20:00', /must be later than the deadline/],
      ['2028-10-20T20:00', /at most a year/],
    ] as const) {
      const res = await lecturer.post('/courses/prog1/assignments/caesar/extensions', { user: String(s.user.id), until });
      expect(res.status, until).toBe(422);
      expect(await res.text()).toMatch(message);
    }
    const notStudent = await lecturer.post('/courses/prog1/assignments/caesar/extensions', { user: String(tutor.user.id), until: '2027-06-20T23:59' });
    expect(notStudent.status).toBe(422);
    expect(await notStudent.text()).toMatch(/choose a student enrolled in this course/);

    // The form says which zone it means, and the lecturer types Stockholm time.
    const page = await lecturer.get(`/courses/prog1/assignments/caesar/students?user=${s.user.id}`);
    expect(page.text).toContain('New deadline, Europe/Stockholm time');
    expect(page.text).toMatch(new RegExp(`<option value="${s.user.id}" selected>`));
    const granted = await lecturer.post('/courses/prog1/assignments/caesar/extensions', { user: String(s.user.id), until: '2027-06-20T23:59' });
    expect(granted.status).toBe(302);
    expect(granted.headers.get('location')).toBe('/courses/prog1/assignments/caesar/students?done=extended&repriced=1');
    const row = db().prepare('SELECT until_at, granted_by FROM extensions WHERE user_id = ?').get(s.user.id) as { until_at: number; granted_by: string };
    expect(row).toEqual({ until_at: Date.parse('2027-06-20T23:59:00+02:00'), granted_by: lecturer.user.email });

    // The earlier late submission is now on time; so is a new one.
    expect(await receipt(s, late.id)).toMatchObject({ lateMinutes: 0, penaltyPct: 0 });
    const onTime = await submit(s);
    expect(onTime).toMatchObject({ status: 201, lateMinutes: 0, penaltyPct: 0 });
    const listed = await lecturer.get('/courses/prog1/assignments/caesar/students?done=extended&repriced=1');
    expect(listed.text).toContain('1 earlier submission(s) were re-timed');
    expect(listed.text).toContain("until 20 Jun 2027, 23:59 CEST");

    // After everyone's hard close the extension still lets this student in (late, shifted).
    t.clock.set(HARD_CLOSE + 60 * MINUTE);
    const other = await signIn(t, { name: 'On-time Olive' });
    expect((await submit(other)).status).toBe(403);
    const shifted = await submit(s);
    expect(shifted.status).toBe(201);
    expect(shifted.penaltyPct).toBeGreaterThan(0);

    // Revoked: the earlier work is late again, and the next upload is refused (hard close).
    const revoked = await lecturer.post(`/courses/prog1/assignments/caesar/extensions/${s.user.id}/revoke`);
    expect(revoked.status).toBe(302);
    expect(revoked.headers.get('location')).toMatch(/done=revoked&repriced=3$/);
    expect(await receipt(s, late.id)).toMatchObject({ penaltyPct: 20 });
    expect((await receipt(s, onTime.id)).penaltyPct).toBe(20);
    expect((await receipt(s, shifted.id)).penaltyPct).toBe(50);
    expect((await submit(s)).status).toBe(403);
    expect((await lecturer.post(`/courses/prog1/assignments/caesar/extensions/${s.user.id}/revoke`)).status).toBe(404);
    t.clock.set(BASE);
  });
});

describe('dashboard', () => {
  it('lists the grading workers with host, jobs done and last seen', async () => {
    const now = t.clock.now();
    recordBeats(t.app.deps.db, [{ id: 'grader-7:1234', host: 'grader-7', pid: 1234, concurrency: 4, running: 1, jobsDone: 42, sandbox: 'bubblewrap', startedAt: now - 60_000, at: now }], now);
    const d = (await (await lecturer.fetch('/courses/prog1/dashboard', json)).json()) as { workers: Array<{ host: string; jobsDone: number; alive: boolean; lastSeen: number }> };
    expect(d.workers).toEqual([expect.objectContaining({ host: 'grader-7', jobsDone: 42, alive: true, lastSeen: now })]);
    const html = await lecturer.get('/courses/prog1/dashboard');
    expect(html.text).toMatch(/grader-7 <span class="muted">\(pid 1234, 4 at once\)<\/span><\/td><td>42<\/td>/);
    recordBeats(t.app.deps.db, [], now + 1000);
    const gone = (await (await lecturer.fetch('/courses/prog1/dashboard', json)).json()) as { workers: Array<{ alive: boolean }> };
    expect(gone.workers[0]!.alive).toBe(false);
  });

  it('counts submissions, the queue and its oldest job, and shows the grading mode and sandbox', async () => {
    const before = (await (await lecturer.fetch('/courses/prog1/dashboard', json)).json()) as Dashboard;
    const a = await signIn(t, { name: 'Dash One' });
    const b = await signIn(t, { name: 'Dash Two' });
    t.clock.set('2027-06-12T10:00:00Z');
    await submit(a);
    t.clock.advance(5 * MINUTE);
    await submit(a);
    await submit(b);
    t.clock.advance(7 * MINUTE);
    const d = (await (await lecturer.fetch('/courses/prog1/dashboard', json)).json()) as Dashboard;
    const caesar = d.assignments.find((x) => x.slug === 'caesar')!;
    const caesarBefore = before.assignments.find((x) => x.slug === 'caesar')!;
    expect(caesar.submissions).toBe(caesarBefore.submissions + 3);
    expect(caesar.students).toBe(caesarBefore.students + 2);
    expect(caesar.state).toBe('open');
    expect(d.assignments.map((x) => x.slug).sort()).toEqual(['caesar', 'stats']);
    expect(d.queue.queued).toBe(before.queue.queued + 3);
    const oldest = db().prepare("SELECT min(enqueued_at) AS t FROM jobs WHERE state = 'queued'").get() as { t: number };
    expect(d.queue.oldestAgeMs).toBe(t.clock.now() - oldest.t);
    expect(d.grading).toBeNull();
    expect(d.unsafeSandbox).toBe(t.app.deps.sandbox.unsafe);
    expect(d.enrolled).toBe((db().prepare("SELECT count(*) AS n FROM enrolments WHERE course = 'prog1' AND role = 'student'").get() as { n: number }).n);

    const html = await lecturer.get('/courses/prog1/dashboard');
    expect(html.text).toContain('href="/courses/prog1/roster"');
    expect(html.text).toContain('none in this process');
    expect(html.text).toMatch(/the oldest has waited <span data-queue="oldest">\d+ (min|h)/);
    // Tutors see the dashboard without the lecturer's roster link.
    expect((await tutor.get('/courses/prog1/dashboard')).text).not.toContain('href="/courses/prog1/roster"');
    t.clock.set(BASE);
  });

  it('lists test runs that gave up under "needs attention"', async () => {
    const s = await signIn(t, { name: 'Broken Bob' });
    const sub = await submit(s);
    // A grading machine whose sandbox keeps failing: every attempt fails until the job gives up.
    const queue = t.app.deps.services.grading.queue;
    const jobId = jobsOf(sub.id)[0]!.id;
    for (let i = 0; i < 3; i++) {
      const job = queue.claim('test-grader', 60_000, jobId)!;
      expect(job).not.toBeNull();
      queue.fail(job, 'test-grader', 'sandbox exploded');
      t.clock.advance(2 * MINUTE);
    }
    expect(queue.get(jobId)!.state).toBe('error');
    const d = (await (await lecturer.fetch('/courses/prog1/dashboard', json)).json()) as Dashboard;
    expect(d.attention).toEqual(expect.arrayContaining([expect.objectContaining({ submissionId: sub.id, kind: 'job', problem: 'sandbox exploded', who: 'Broken Bob' })]));
    const html = await lecturer.get('/courses/prog1/dashboard');
    expect(html.text).toContain(`href="/courses/prog1/submissions/${sub.id}"`);
    expect(html.text).toContain('the job gave up');
    t.clock.set(BASE);
  });
});

interface Dashboard {
  enrolled: number;
  assignments: Array<{ slug: string; state: string; submissions: number; students: number }>;
  queue: { queued: number; running: number; oldestAgeMs: number | null };
  grading: unknown;
  unsafeSandbox: boolean;
  attention: Array<{ submissionId: number; kind: string; problem: string | null; who: string }>;
}

describe('re-runs', () => {
  it('queues re-runs behind live submissions, against the current version, as one batch with progress', async () => {
    const s1 = await signIn(t, { name: 'Rerun One' });
    const s1sub = await submit(s1);
    // The live job was graded (by hand here: no graders in this app) before the re-run.
    const queue = t.app.deps.services.grading.queue;
    for (const j of db().prepare("SELECT id FROM jobs WHERE state = 'queued'").all() as Array<{ id: number }>) queue.cancel(j.id);

    const res = await tutor.post('/courses/prog1/assignments/caesar/reruns', { scope: 'all', version: 'current' });
    expect(res.status).toBe(302);
    const batch = db().prepare('SELECT * FROM rerun_batches ORDER BY created_at DESC, rowid DESC LIMIT 1').get() as { id: string; jobs: number; scope: string; created_by: string };
    expect(res.headers.get('location')).toBe(`/courses/prog1/assignments/caesar/students?done=rerun&jobs=${batch.jobs}#batch-${batch.id}`);
    const total = (db().prepare("SELECT count(*) AS n FROM submissions s JOIN assignments a ON a.id = s.assignment_id WHERE a.slug = 'caesar'").get() as { n: number }).n;
    expect(batch).toMatchObject({ jobs: total, scope: 'all', created_by: tutor.user.email });
    const currentVersion = (db().prepare("SELECT current_version AS v FROM assignments WHERE slug = 'caesar'").get() as { v: number }).v;
    const rerunJobs = db().prepare('SELECT * FROM jobs WHERE batch = ?').all(batch.id) as Array<{ id: number; priority: number; reason: string; version_id: number; state: string }>;
    expect(rerunJobs).toHaveLength(total);
    for (const j of rerunJobs) expect(j).toMatchObject({ priority: PRIORITY.rerun, reason: 'rerun', version_id: currentVersion, state: 'queued' });
    expect(jobsOf(s1sub.id).at(-1)!.batch).toBe(batch.id);

    // A student submits after the re-run was queued: their job still goes first.
    const s2 = await signIn(t, { name: 'Live Lisa' });
    const live = await submit(s2);
    const liveJob = jobsOf(live.id)[0]!;
    expect(liveJob.priority).toBe(PRIORITY.live);
    expect(queue.position(queue.get(liveJob.id)!)).toBe(1);
    for (const j of rerunJobs) expect(queue.position(queue.get(j.id)!)!).toBeGreaterThan(1);
    const first = queue.claim('test-grader', 60_000)!;
    expect(first.id).toBe(liveJob.id);

    // Progress: a grader takes one re-run job and finishes it.
    const second = queue.claim('test-grader', 60_000)!;
    expect(second.batch).toBe(batch.id);
    queue.finish(second.id, 'test-grader', 'done');
    const progress = (await (await tutor.fetch(`/courses/prog1/assignments/caesar/reruns/${batch.id}`, json)).json()) as { progress: Record<string, number> };
    expect(progress.progress).toEqual({ total, queued: total - 1, running: 0, done: 1, error: 0, cancelled: 0 });
    const page = await tutor.get('/courses/prog1/assignments/caesar/students');
    expect(page.text).toContain(`id="batch-${batch.id}"`);
    expect(page.text).toContain(`<span data-count="done">1</span> done`);
    // Batches of another assignment are not found under this one.
    expect((await tutor.fetch(`/courses/prog1/assignments/stats/reruns/${batch.id}`, json)).status).toBe(404);
  });

  it('re-runs one submission, with its own version when asked, and refuses submissions of other assignments', async () => {
    const s = await signIn(t, { name: 'Single Sam' });
    const sub = await submit(s);
    const res = await lecturer.post('/courses/prog1/assignments/caesar/reruns', { scope: 'one', submission: String(sub.id), version: 'own' });
    expect(res.status).toBe(302);
    const jobs = jobsOf(sub.id);
    expect(jobs).toHaveLength(2);
    expect(jobs[1]).toMatchObject({ reason: 'rerun', priority: PRIORITY.rerun, version_id: jobs[0]!.version_id });
    expect((await lecturer.post('/courses/prog1/assignments/stats/reruns', { scope: 'one', submission: String(sub.id) })).status).toBe(404);
    expect((await lecturer.post('/courses/prog1/assignments/caesar/reruns', { scope: 'everything' })).status).toBe(400);
    const none = await lecturer.post('/courses/prog1/assignments/stats/reruns', { scope: 'counted' });
    expect(none.headers.get('location')).toMatch(/done=nothing$/);
  });
});

describe('audit log', () => {
  it('records extensions, re-runs, exports and roster changes; only the site admin reads it, newest first, paged', async () => {
    const gone = makeUser(t, { name: 'Removed Rita' });
    expect((await lecturer.post('/courses/prog1/roster/remove', { user: String(gone.id) })).status).toBe(302);
    expect((await lecturer.post('/courses/prog1/assignments/stats/versions/1/current')).status).toBe(302);
    const csv = await lecturer.fetch('/courses/prog1/gradebook.csv');
    await csv.text();
    // A student's own submission is not a staff action.
    const before = (db().prepare('SELECT count(*) AS n FROM audit_log').get() as { n: number }).n;
    await submit(student);
    expect((db().prepare('SELECT count(*) AS n FROM audit_log').get() as { n: number }).n).toBe(before);

    const res = await admin.fetch('/admin/audit', json);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { entries: Array<{ id: number; action: string; actorEmail: string; course: string; target: string; details: Record<string, unknown> }>; next: number | null };
    const actions = body.entries.map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['extension.grant', 'extension.revoke', 'rerun', 'export.gradebook_csv', 'export.submissions_zip', 'roster.remove', 'assignment.version_current']));
    expect(body.entries.find((e) => e.action === 'assignment.version_current')).toMatchObject({ target: 'POST /courses/prog1/assignments/stats/versions/1/current', details: { status: 302, location: expect.stringContaining('done=current') } });
    const ids = body.entries.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((x, y) => y - x));
    expect(body.entries[0]).toMatchObject({ action: 'export.gradebook_csv', actorEmail: lecturer.user.email, course: 'prog1' });
    const removal = body.entries.find((e) => e.action === 'roster.remove')!;
    expect(removal.details).toMatchObject({ fields: { user: String(gone.id) }, userEmail: gone.email });
    expect(JSON.stringify(removal.details)).not.toContain(lecturer.csrf);
    const grant = body.entries.find((e) => e.action === 'extension.grant')!;
    expect(grant.details).toMatchObject({ assignment: 'caesar', until: '2027-06-20T21:59:00.000Z', repricedSubmissions: 1 });
    const rerun = body.entries.find((e) => e.action === 'rerun' && e.details.scope === 'all')!;
    expect(rerun.actorEmail).toBe(tutor.user.email);

    // Paging: one page of 50 at most, then "before" the last id shown.
    const total = (db().prepare('SELECT count(*) AS n FROM audit_log').get() as { n: number }).n;
    expect(body.entries.length).toBe(Math.min(50, total));
    for (let i = total; i <= 55; i++) await (await lecturer.fetch('/courses/prog1/gradebook.csv')).text();
    const page1 = (await (await admin.fetch('/admin/audit', json)).json()) as typeof body;
    expect(page1.entries).toHaveLength(50);
    expect(page1.next).toBe(page1.entries.at(-1)!.id);
    const page2 = (await (await admin.fetch(`/admin/audit?before=${page1.next}`, json)).json()) as typeof body;
    expect(page2.entries[0]!.id).toBe(page1.next! - 1);
    expect(page2.entries.every((e) => e.id < page1.next!)).toBe(true);

    const html = await admin.get('/admin/audit');
    expect(html.text).toContain('Older entries');
    // In words: the action said as a phrase, the details as labelled values, no JSON or codes on screen.
    expect(html.text).toContain('<td data-action="export.gradebook_csv">downloaded the gradebook as CSV<br>');
    const older = html.text + (await admin.get(`/admin/audit?before=${page1.next}`)).text;
    expect(older).toContain('granted an extension');
    expect(older).toContain('removed someone from the roster');
    expect(older).toContain(`<span class="muted">student:</span> ${gone.email}`);
    expect(older).not.toContain('&quot;fields&quot;');
    expect(html.text).not.toMatch(/>\s*\{&quot;|>\s*\{"/);
    expect(html.text).not.toContain('>export.gradebook_csv<');
    expect((await admin.get('/admin/audit?course=prog1')).res.status).toBe(200);
    expect((await admin.fetch('/admin/audit?before=abc')).status).toBe(400);

    for (const a of [lecturer, tutor, student]) expect((await a.fetch('/admin/audit')).status).toBe(404);
    const anon = await t.fetch('/admin/audit');
    expect(anon.status).toBe(302);
  });
});
