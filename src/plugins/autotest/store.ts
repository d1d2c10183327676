import type { Db } from '../../db/open.js';
import type { Grade, RunStatus, TestOutcome } from './results.js';

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
  worker: string | null;
  created_at: number;
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
    tests: JSON.parse(r.tests) as TestOutcome[],
    problem: r.problem,
    durationMs: r.duration_ms,
    worker: r.worker,
    createdAt: r.created_at,
  };
}

const cache = new WeakMap<Db, ReturnType<typeof statements>>();
function statements(db: Db) {
  return {
    insert: db.prepare<Omit<ResultRow, 'id'>>(
      `INSERT INTO results (job_id, submission_id, status, score, max_score, gradable, output, tests, problem, duration_ms, worker, created_at)
       VALUES (:job_id, :submission_id, :status, :score, :max_score, :gradable, :output, :tests, :problem, :duration_ms, :worker, :created_at)
       ON CONFLICT (job_id) DO NOTHING`,
    ),
    latest: db.prepare<[number], ResultRow>('SELECT * FROM results WHERE submission_id = ? ORDER BY id DESC LIMIT 1'),
    all: db.prepare<[number], ResultRow>('SELECT * FROM results WHERE submission_id = ? ORDER BY id'),
    byJob: db.prepare<[number], ResultRow>('SELECT * FROM results WHERE job_id = ?'),
  };
}
function sql(db: Db) {
  let s = cache.get(db);
  if (!s) {
    s = statements(db);
    cache.set(db, s);
  }
  return s;
}

/** Records a job's result; false when one exists already (a job is recorded once). */
export function insertResult(db: Db, r: { jobId: number; submissionId: number; grade: Grade; durationMs: number; worker: string | null; at: number }): boolean {
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
      worker: r.worker,
      created_at: r.at,
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
