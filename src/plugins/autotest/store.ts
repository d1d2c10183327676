import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import { NO_DETAILS, gradeDetails, normaliseTest, type Grade, type GradeDetails, type RunStatus, type TestOutcome } from './run/grade.js';
import type { TamperFlag } from './run/tamper.js';

export interface StoredResult {
  id: number;
  jobId: number;
  submissionId: number;
  status: RunStatus;
  score: number | null;
  maxScore: number | null;
  gradable: boolean;
  output: string;
  tests: TestOutcome[];
  problem: string | null;
  durationMs: number;
  worker: string | null;
  createdAt: number;
  /** Staff only. */
  tamper: TamperFlag[];
  details: GradeDetails;
}

interface ResultRow {
  id: number;
  job_id: number;
  submission_id: number;
  status: RunStatus;
  score: number | null;
  max_score: number | null;
  gradable: number;
  output: string;
  tests: string;
  problem: string | null;
  duration_ms: number;
  cpu_ms?: number | null;
  worker: string | null;
  created_at: number;
  tamper: string | null;
  details: string;
}

function parseDetails(text: string): GradeDetails {
  const d = JSON.parse(text) as Partial<GradeDetails>;
  return { ...NO_DETAILS, ...d };
}

function toResult(r: ResultRow): StoredResult {
  return {
    id: r.id,
    jobId: r.job_id,
    submissionId: r.submission_id,
    status: r.status,
    score: r.score,
    maxScore: r.max_score,
    gradable: r.gradable === 1,
    output: r.output,
    tests: (JSON.parse(r.tests) as Array<Partial<TestOutcome> & { name: string }>).map(normaliseTest),
    problem: r.problem,
    durationMs: r.duration_ms,
    worker: r.worker,
    createdAt: r.created_at,
    tamper: r.tamper ? (JSON.parse(r.tamper) as TamperFlag[]) : [],
    details: parseDetails(r.details),
  };
}

function statements(db: Db) {
  return {
    insert: db.prepare<Omit<ResultRow, 'id'>>(
      `INSERT INTO results (job_id, submission_id, status, score, max_score, gradable, output, tests, problem, duration_ms, cpu_ms, worker, created_at, tamper, details)
       VALUES (:job_id, :submission_id, :status, :score, :max_score, :gradable, :output, :tests, :problem, :duration_ms, :cpu_ms, :worker, :created_at, :tamper, :details)
       ON CONFLICT (job_id) DO NOTHING`,
    ),
    latest: db.prepare<[number], ResultRow>('SELECT * FROM results WHERE submission_id = ? ORDER BY id DESC LIMIT 1'),
    all: db.prepare<[number], ResultRow>('SELECT * FROM results WHERE submission_id = ? ORDER BY id'),
    byJob: db.prepare<[number], ResultRow>('SELECT * FROM results WHERE job_id = ?'),
    summaries: db.prepare<{ assignmentId: number }, { id: number; submission_id: number; status: RunStatus; score: number | null; max_score: number | null; gradable: number; created_at: number }>(
      `SELECT r.id, r.submission_id, r.status, r.score, r.max_score, r.gradable, r.created_at
         FROM results r JOIN submissions s ON s.id = r.submission_id
        WHERE s.assignment_id = :assignmentId ORDER BY r.id`,
    ),
    pending: db.prepare<{ assignmentId: number }, { submission_id: number }>(
      `SELECT DISTINCT j.submission_id FROM jobs j JOIN submissions s ON s.id = j.submission_id
        WHERE s.assignment_id = :assignmentId AND j.state IN ('queued', 'running')`,
    ),
    batch: db.prepare<{ batch: string }, { state: string; n: number }>('SELECT state, count(*) AS n FROM jobs WHERE batch = :batch GROUP BY state'),
    ungradable: db.prepare<{ course: string; limit: number }, { submission_id: number; user_id: number; number: number; slug: string; status: RunStatus; problem: string | null; at: number }>(
      `SELECT r.submission_id, s.user_id, s.number, a.slug, r.status, r.problem, r.created_at AS at
         FROM results r
         -- CROSS JOIN keeps the few ungradable results (partial index of 0020) outermost: the
         -- other order reads every submission of the course.
         CROSS JOIN submissions s ON s.id = r.submission_id
         JOIN assignments a ON a.id = s.assignment_id
        WHERE a.course = :course AND r.gradable = 0
          AND r.id = (SELECT max(id) FROM results WHERE submission_id = r.submission_id)
        ORDER BY r.id DESC LIMIT :limit`,
    ),
    tampered: db.prepare<{ course: string; limit: number }, { submission_id: number; user_id: number; number: number; slug: string; status: RunStatus; tamper: string; at: number }>(
      `SELECT r.submission_id, s.user_id, s.number, a.slug, r.status, r.tamper, r.created_at AS at
         FROM results r
         CROSS JOIN submissions s ON s.id = r.submission_id
         JOIN assignments a ON a.id = s.assignment_id
        WHERE a.course = :course AND r.tamper IS NOT NULL
          AND r.id = (SELECT max(id) FROM results WHERE submission_id = r.submission_id)
        ORDER BY r.id DESC LIMIT :limit`,
    ),
    failedJobs: db.prepare<{ course: string; limit: number }, { submission_id: number; user_id: number; number: number; slug: string; error: string | null; at: number | null }>(
      `SELECT j.submission_id, s.user_id, s.number, a.slug, j.last_error AS error, j.finished_at AS at
         FROM jobs j
         CROSS JOIN submissions s ON s.id = j.submission_id
         JOIN assignments a ON a.id = s.assignment_id
        WHERE a.course = :course AND j.state = 'error'
          AND j.id = (SELECT max(id) FROM jobs WHERE submission_id = j.submission_id)
        ORDER BY j.id DESC LIMIT :limit`,
    ),
  };
}
const sql = preparedFor(statements);

const newer = preparedFor((db: Db) => ({
  after: db.prepare<{ after: number; limit: number }, { id: number; submission_id: number }>('SELECT id, submission_id FROM results WHERE id > :after ORDER BY id LIMIT :limit'),
  last: db.prepare<[], { id: number | null }>('SELECT max(id) AS id FROM results'),
}));

/** Results recorded after the result `afterId`, oldest first (the mail plugin's "your result is in"). */
export function resultsAfter(db: Db, afterId: number, limit: number): Array<{ id: number; submissionId: number }> {
  return newer(db)
    .after.all({ after: afterId, limit })
    .map((r) => ({ id: r.id, submissionId: r.submission_id }));
}

export function lastResultId(db: Db): number {
  return newer(db).last.get()?.id ?? 0;
}

/** Records a job's result; false when one exists already (a job is recorded once). */
export function insertResult(db: Db, r: { jobId: number; submissionId: number; grade: Grade; durationMs: number; cpuMs?: number | undefined; worker: string | null; at: number }): boolean {
  return (
    sql(db).insert.run({
      job_id: r.jobId,
      submission_id: r.submissionId,
      status: r.grade.status,
      score: r.grade.score,
      max_score: r.grade.maxScore,
      gradable: r.grade.gradable ? 1 : 0,
      output: r.grade.output,
      tests: JSON.stringify(r.grade.tests),
      problem: r.grade.problem,
      duration_ms: Math.round(r.durationMs),
      cpu_ms: r.cpuMs === undefined ? null : Math.round(r.cpuMs),
      worker: r.worker,
      created_at: r.at,
      tamper: r.grade.tamper?.length ? JSON.stringify(r.grade.tamper) : null,
      details: JSON.stringify(gradeDetails(r.grade)),
    }).changes === 1
  );
}

export function latestResult(db: Db, submissionId: number): StoredResult | null {
  const r = sql(db).latest.get(submissionId);
  return r ? toResult(r) : null;
}

export function resultsOf(db: Db, submissionId: number): StoredResult[] {
  return sql(db).all.all(submissionId).map(toResult);
}

export function resultOfJob(db: Db, jobId: number): StoredResult | null {
  const r = sql(db).byJob.get(jobId);
  return r ? toResult(r) : null;
}

export interface ResultSummary {
  status: RunStatus;
  score: number | null;
  maxScore: number | null;
  gradable: boolean;
  createdAt: number;
}

/**
 * Every submission of an assignment that has a result: its latest result, and its latest
 * gradable one (a re-run that could not grade does not take a score away). For the gradebook.
 */
export function resultSummaries(db: Db, assignmentId: number): Map<number, { latest: ResultSummary; gradable: ResultSummary | null }> {
  const out = new Map<number, { latest: ResultSummary; gradable: ResultSummary | null }>();
  for (const r of sql(db).summaries.all({ assignmentId })) {
    const summary: ResultSummary = { status: r.status, score: r.score, maxScore: r.max_score, gradable: r.gradable === 1, createdAt: r.created_at };
    const prev = out.get(r.submission_id);
    out.set(r.submission_id, { latest: summary, gradable: summary.gradable ? summary : (prev?.gradable ?? null) });
  }
  return out;
}

/** Submissions of an assignment with a job queued or running. */
export function pendingSubmissions(db: Db, assignmentId: number): Set<number> {
  return new Set(sql(db).pending.all({ assignmentId }).map((r) => r.submission_id));
}

export interface BatchProgress {
  total: number;
  queued: number;
  running: number;
  done: number;
  error: number;
  cancelled: number;
}

/** How far a re-run batch (jobs.batch) has got. */
export function batchProgress(db: Db, batch: string): BatchProgress {
  const p: BatchProgress = { total: 0, queued: 0, running: 0, done: 0, error: 0, cancelled: 0 };
  for (const r of sql(db).batch.all({ batch })) {
    if (r.state in p) p[r.state as keyof BatchProgress] += r.n;
    p.total += r.n;
  }
  return p;
}

export interface AttentionRun {
  submissionId: number;
  userId: number;
  number: number;
  slug: string;
  /** result: the latest result could not grade; job: the latest job gave up (error); tamper: student code tried to reach outside its sandbox. */
  kind: 'result' | 'job' | 'tamper';
  status: string;
  problem: string | null;
  at: number | null;
}

/** Test runs in a course whose latest outcome is "could not be graded", a job that gave up, or a run with tamper signs. */
export function runsNeedingAttention(db: Db, course: string, limit = 50): AttentionRun[] {
  const s = sql(db);
  const out = new Map<number, AttentionRun>();
  for (const r of s.ungradable.all({ course, limit })) {
    out.set(r.submission_id, { submissionId: r.submission_id, userId: r.user_id, number: r.number, slug: r.slug, kind: 'result', status: r.status, problem: r.problem, at: r.at });
  }
  for (const r of s.tampered.all({ course, limit })) {
    if (out.has(r.submission_id)) continue;
    const flags = JSON.parse(r.tamper) as TamperFlag[];
    out.set(r.submission_id, { submissionId: r.submission_id, userId: r.user_id, number: r.number, slug: r.slug, kind: 'tamper', status: r.status, problem: flags.map((f) => f.detail).join('; '), at: r.at });
  }
  for (const j of s.failedJobs.all({ course, limit })) {
    if (!out.has(j.submission_id)) out.set(j.submission_id, { submissionId: j.submission_id, userId: j.user_id, number: j.number, slug: j.slug, kind: 'job', status: 'error', problem: j.error, at: j.at });
  }
  return [...out.values()].sort((a, b) => (b.at ?? 0) - (a.at ?? 0)).slice(0, limit);
}
