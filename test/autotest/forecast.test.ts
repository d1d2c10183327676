import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { burstWait, durationText, planQueue, serviceMs, slotsNeeded, type ArrivalProfile } from '../../src/plugins/autotest/forecast.js';
import { currentVersion } from '../../src/plugins/assignments/store.js';
import { createTestApp, type TestApp } from '../helpers/index.js';
import { makeUser, signIn, signInAs, type SignedInAgent } from '../helpers/accounts.js';
import { copyDemoContent, writeShellAssignment } from '../helpers/content.js';
import { upload, type StatusJson } from '../helpers/submit.js';

const NOW = Date.parse('2026-10-01T09:00:00Z');
const MIN = 60_000;

describe('the queue plan', () => {
  it('lists queued jobs onto the slot free first, from each version’s recorded cost', () => {
    const short = { wallMs: 10_000, cpuMs: 8_000 };
    const long = { wallMs: 40_000, cpuMs: 35_000 };
    const plan = planQueue({
      now: NOW,
      capacity: { slots: 2, cores: 2 },
      // Started 5 s ago: 5 s to go.
      running: [{ id: 1, startedAt: NOW - 5_000, cost: short }],
      queued: [
        { id: 2, cost: long },
        { id: 3, cost: short },
        { id: 4, cost: short },
        { id: 5, cost: null },
      ],
      fallback: { wallMs: 20_000, cpuMs: 20_000 },
    });
    // Slot A: job 1 until +5 s, then job 3 until +15 s, job 4 until +25 s, job 5 (fallback) until +45 s.
    // Slot B: free now, job 2 until +40 s.
    expect(plan.finishAt.get(1)).toBe(NOW + 5_000);
    expect(plan.finishAt.get(2)).toBe(NOW + 40_000);
    expect(plan.finishAt.get(3)).toBe(NOW + 15_000);
    expect(plan.finishAt.get(4)).toBe(NOW + 25_000);
    expect(plan.finishAt.get(5)).toBe(NOW + 45_000);
    expect(plan.drainAt).toBe(NOW + 45_000);
  });

  it('with more graders than cores, CPU-bound runs share the cores', () => {
    const cpuBound = { wallMs: 10_000, cpuMs: 10_000 };
    expect(serviceMs(cpuBound, { slots: 4, cores: 2 })).toBe(20_000);
    // A run that mostly waits (sleep, I/O) is not slowed by sharing.
    expect(serviceMs({ wallMs: 10_000, cpuMs: 1_000 }, { slots: 4, cores: 2 })).toBe(10_000);
    const plan = planQueue({ now: NOW, capacity: { slots: 4, cores: 2 }, running: [], queued: Array.from({ length: 8 }, (_, i) => ({ id: i + 1, cost: cpuBound })), fallback: null });
    // 8 jobs of 10 CPU-seconds on 2 cores: 40 s, whatever the number of slots.
    expect(plan.drainAt).toBe(NOW + 40_000);
  });

  it('without graders or any history there is no estimate', () => {
    expect(planQueue({ now: NOW, capacity: { slots: 0, cores: 2 }, running: [], queued: [{ id: 1, cost: { wallMs: 1, cpuMs: 1 } }], fallback: null }).drainAt).toBeNull();
    const none = planQueue({ now: NOW, capacity: { slots: 2, cores: 2 }, running: [], queued: [{ id: 1, cost: null }], fallback: null });
    expect(none.drainAt).toBeNull();
    expect(none.finishAt.has(1)).toBe(false);
  });
});

describe('a deadline burst', () => {
  // A recorded deadline: 10 % of the class submits in each of the last ten minutes.
  const profile: ArrivalProfile = { slug: 'a1', title: 'A1', binMs: MIN, startMs: -10 * MIN, perStudent: Array.from({ length: 10 }, () => 0.1) };
  const burst = { profile, students: 100, cost: { wallMs: 30_000, cpuMs: 30_000 } };

  it('waits grow while arrivals outrun the graders', () => {
    // 10 a minute arrive, 2 graders of 30 s do 4 a minute: the backlog reaches 64 in the last minute,
    // 16 minutes of work, plus the last run's own half minute.
    const r = burstWait({ ...burst, capacity: { slots: 2, cores: 2 } });
    expect(r.jobs).toBe(100);
    expect(r.worstWaitMs).toBeCloseTo(16.5 * MIN, 6);
  });

  it('says how many graders would keep the wait within the target', () => {
    // 3 graders: 6 a minute, backlog 46 at the end, 7.7 + 0.5 minutes; 2 would not do.
    expect(slotsNeeded(burst, 10 * MIN)).toBe(3);
    expect(burstWait({ ...burst, capacity: { slots: 3, cores: 3 } }).worstWaitMs).toBeLessThanOrEqual(10 * MIN);
    // A run longer than the target cannot be helped by more graders.
    expect(slotsNeeded({ ...burst, cost: { wallMs: 11 * MIN, cpuMs: MIN } }, 10 * MIN)).toBeNull();
  });

  it('speaks in rounded times', () => {
    expect(durationText(20_000)).toBe('less than a minute');
    expect(durationText(90_000)).toBe('about 2 minutes');
    expect(durationText(61_000)).toBe('about 1 minute');
    expect(durationText(3 * 3600_000)).toBe('about 3 hours');
  });
});

describe('forecasts on the pages, from a recorded course history', () => {
  let t: TestApp;
  let students: SignedInAgent[];
  let tutor: SignedInAgent;
  const STUDENTS = 20;
  const PAST_DEADLINE = Date.parse('2026-09-20T12:00:00Z');
  const COMING_DEADLINE = Date.parse('2026-10-03T09:00:00Z');

  beforeAll(async () => {
    const content = copyDemoContent();
    writeShellAssignment(content, 'past', { title: 'Past work', opens: '2026-09-01T08:00:00Z', deadline: '2026-09-20T12:00:00Z', wall: '60s', script: 'cat answer.txt\n' });
    writeShellAssignment(content, 'coming', { title: 'Coming work', opens: '2026-09-01T08:00:00Z', deadline: '2026-10-03T09:00:00Z', wall: '60s', script: 'sleep 30; cat answer.txt\n' });
    t = await createTestApp({ config: { graders: 1, contentDir: content, forecastTargetMinutes: 10 } });
    const users = Array.from({ length: STUDENTS }, () => makeUser(t));
    students = [await signInAs(t, users[0]!), await signInAs(t, users[1]!), await signInAs(t, users[2]!)];
    tutor = await signIn(t, { role: 'tutor' });

    // The recorded history: every student submitted "past" in the second minute before its
    // deadline; "coming" has been graded five times at 30 s of wall and 20 s of CPU time.
    const db = t.app.deps.db;
    const past = currentVersion(db, 'prog1', 'past')!;
    const coming = currentVersion(db, 'prog1', 'coming')!;
    const sub = db.prepare(
      `INSERT INTO submissions (assignment_id, version_id, user_id, number, submitted_at, deadline_at, late_minutes, penalty_pct, total_bytes)
       VALUES (?, ?, ?, ?, ?, ?, 0, 0, 10)`,
    );
    const job = db.prepare(
      `INSERT INTO jobs (submission_id, version_id, state, priority, attempts, max_attempts, enqueued_at, not_before, started_at, finished_at, reason)
       VALUES (?, ?, 'done', 100, 1, 3, ?, ?, ?, ?, 'submission')`,
    );
    const result = db.prepare(
      `INSERT INTO results (job_id, submission_id, status, score, max_score, gradable, output, tests, problem, duration_ms, cpu_ms, worker, created_at)
       VALUES (?, ?, 'passed', 1, 1, 1, '', '[]', NULL, ?, ?, 'recorded', ?)`,
    );
    const record = (assignmentId: number, versionId: number, userId: number, number: number, at: number, deadline: number, wallMs: number, cpuMs: number) => {
      const s = Number(sub.run(assignmentId, versionId, userId, number, at, deadline).lastInsertRowid);
      const j = Number(job.run(s, versionId, at, at, at, at + wallMs).lastInsertRowid);
      result.run(j, s, wallMs, cpuMs, at + wallMs);
    };
    db.transaction(() => {
      users.forEach((u, i) => record(past.assignment.id, past.version.id, u.id, 1, PAST_DEADLINE - 2 * MIN + i * 1000, PAST_DEADLINE, 5_000, 5_000));
      for (let i = 0; i < 5; i++) record(coming.assignment.id, coming.version.id, users[1 + i]!.id, 1, NOW - 86_400_000 + i * MIN, COMING_DEADLINE, 30_000, 20_000);
    })();
  });
  afterAll(async () => {
    await t.close();
  });

  it("warns on the lecturer's dashboard that one grader will not keep up, and says how many would", async () => {
    const res = await tutor.fetch('/courses/prog1/dashboard', { headers: { accept: 'application/json' } });
    expect(res.status).toBe(200);
    const data = (await res.json()) as { forecast: Array<{ slug: string; ok: boolean; expectedSubmissions: number; worstWaitMs: number; slots: number; slotsNeeded: number | null; basedOn: { slug: string } }> };
    const f = data.forecast.find((x) => x.slug === 'coming')!;
    expect(f.basedOn.slug).toBe('past');
    expect(f.expectedSubmissions).toBe(STUDENTS);
    // 20 runs of 30 s on one grader: the last result 10.5 minutes after the burst, more than 10.
    expect(f.slots).toBe(1);
    expect(f.worstWaitMs).toBe(20 * 30_000 + 30_000);
    expect(f.ok).toBe(false);
    // Two graders: 5 minutes of work, plus the last run.
    expect(f.slotsNeeded).toBe(2);
    expect(data.forecast.some((x) => x.slug === 'past')).toBe(false);

    const { text } = await tutor.get('/courses/prog1/dashboard');
    expect(text).toMatch(/data-forecast="coming" data-ok="no"/);
    expect(text).toMatch(/the last students would wait about 11 minutes for their results, more than the target of about 10 minutes/);
    expect(text).toMatch(/<span data-needed="2">2 graders running at once/);
  });

  it("shows a waiting student the expected time to their result beside their place in the queue", async () => {
    const ids: number[] = [];
    for (const student of students) {
      const res = await upload(student, 'prog1', 'coming', [{ name: 'answer.txt', content: 'mine\n' }]);
      expect(res.status).toBe(201);
      ids.push(((await res.json()) as { id: number }).id);
    }
    const student = students[2]!;
    // One grader, 30 s a run by the recorded history (the real run sleeps longer than this test),
    // and a fixed clock: whether the first run has started (at the fixed now) or not, the third
    // student's result is due 90 s from now.
    const res = await student.fetch(`/courses/prog1/submissions/${ids[2]}/status`, { headers: { accept: 'application/json' } });
    const status = (await res.json()) as StatusJson;
    expect(status.state).toBe('queued');
    expect(status.eta).toEqual({ ms: 90_000, text: 'about 2 minutes' });
    const { text } = await student.get(`/courses/prog1/submissions/${ids[2]}`);
    expect(text).toMatch(/number \d in the queue\. <span class="eta" data-eta-ms="90000">Result expected in about 2 minutes\.<\/span>/);
  });
});
