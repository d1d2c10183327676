import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import type { RunStatus } from '../autotest/results.js';

/**
 * The gradebook's tables: `gradebook_entries` (a read model of submissions, their owners and
 * their latest gradable score, kept by triggers in migration 0020) and `gradebook_settings`
 * (weights and maxima set on the page).
 */

/**
 * How a submission ranks before staff have graded it: its final score with full marks for the
 * manual part (the most it can still reach), before rounding. Linear in what the entries hold:
 * max(0, ka·score + kf·score/max + kc) × (1 − penalty/100). The exact rule runs in JavaScript
 * (review's finalScore) over the few rows this narrows the choice to.
 */
export interface CeilingKey {
  /** Whether a submission is in the running without a gradable run (final: manual). */
  manual: boolean;
  ka: number;
  kf: number;
  kc: number;
}

export interface CandidateRow {
  owner_id: number;
  /** Submissions of this owner for the assignment. */
  n: number;
  is_newest: number;
  id: number;
  assignment_id: number;
  version_id: number;
  user_id: number;
  team_id: number | null;
  number: number;
  submitted_at: number;
  deadline_at: number;
  late_minutes: number;
  penalty_pct: number;
  total_bytes: number;
  score: number | null;
  max_score: number | null;
  graded_status: RunStatus | null;
  graded_at: number | null;
  latest_status: RunStatus | null;
  latest_gradable: number | null;
  latest_score: number | null;
  latest_max: number | null;
  latest_at: number | null;
}

const KEY = `max(0, :ka * coalesce(e.score, 0) + :kf * coalesce(e.score / nullif(e.max_score, 0), 0) + :kc) * (1 - e.penalty_pct / 100.0)`;
const READY = `(:manual OR e.score IS NOT NULL)`;
const REVIEWED = `e.submission_id IN (SELECT value FROM json_each(:reviewed))`;

function statements(db: Db) {
  return {
    // Per owner: the newest submission, the newest one in the running, and every one whose
    // ceiling is within rounding of the owner's highest among those staff have not touched;
    // plus every submission staff have graded or adjusted. The counted submission is always
    // among them (counted.ts), whatever the rule and the grades.
    candidates: db.prepare<{ assignmentId: number; manual: number; ka: number; kf: number; kc: number; reviewed: string }, CandidateRow>(
      `WITH t AS (
         SELECT e.owner_id, count(*) AS n, max(e.submission_id) AS newest,
                max(CASE WHEN ${READY} THEN e.submission_id END) AS newest_ready,
                max(CASE WHEN ${READY} AND NOT ${REVIEWED} THEN ${KEY} END) AS top
           FROM gradebook_entries e WHERE e.assignment_id = :assignmentId GROUP BY e.owner_id
       ), c AS MATERIALIZED (
         SELECT t.owner_id, t.n, e.submission_id = t.newest AS is_newest, e.submission_id, e.score, e.max_score, e.result_id
           FROM t JOIN gradebook_entries e ON e.assignment_id = :assignmentId AND e.owner_id = t.owner_id
          WHERE e.submission_id = t.newest OR e.submission_id = t.newest_ready
             OR (${READY} AND ${KEY} >= t.top - 0.0011)
             OR ${REVIEWED}
       )
       SELECT c.owner_id, c.n, c.is_newest,
              s.id, s.assignment_id, s.version_id, s.user_id, s.team_id, s.number, s.submitted_at, s.deadline_at,
              s.late_minutes, s.penalty_pct, s.total_bytes, c.score, c.max_score,
              g.status AS graded_status, g.created_at AS graded_at,
              l.status AS latest_status, l.gradable AS latest_gradable, l.score AS latest_score, l.max_score AS latest_max, l.created_at AS latest_at
         FROM c CROSS JOIN submissions s ON s.id = c.submission_id
         LEFT JOIN results g ON g.id = c.result_id
         LEFT JOIN results l ON l.id = (SELECT max(x.id) FROM results x WHERE x.submission_id = c.submission_id)
        ORDER BY c.owner_id, c.submission_id`,
    ),
    stamp: db.prepare<{ assignmentId: number }, { stamp: number }>('SELECT stamp FROM gradebook_stamps WHERE assignment_id = :assignmentId'),
    pending: db.prepare<{ assignmentId: number }, { submission_id: number }>(
      `SELECT DISTINCT j.submission_id FROM jobs j CROSS JOIN submissions s
        WHERE j.state IN ('queued', 'running') AND s.id = j.submission_id AND s.assignment_id = :assignmentId`,
    ),
    settings: db.prepare<{ course: string }, { slug: string } & StoredSetting>(
      'SELECT slug, weight, max_points AS maxPoints FROM gradebook_settings WHERE course = :course',
    ),
    setSetting: db.prepare<{ course: string; slug: string; weight: number | null; maxPoints: number | null; by: number; at: number }>(
      `INSERT INTO gradebook_settings (course, slug, weight, max_points, updated_by, updated_at) VALUES (:course, :slug, :weight, :maxPoints, :by, :at)
       ON CONFLICT (course, slug) DO UPDATE SET weight = excluded.weight, max_points = excluded.max_points, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
    ),
  };
}

const sql = preparedFor(statements);

export function countingCandidates(db: Db, assignmentId: number, key: CeilingKey, reviewed: Iterable<number>): CandidateRow[] {
  return sql(db).candidates.all({ assignmentId, manual: key.manual ? 1 : 0, ka: key.ka, kf: key.kf, kc: key.kc, reviewed: JSON.stringify([...reviewed]) });
}

/**
 * The assignment's change counter (migration 0020's triggers move it on every change to what its
 * counted submissions are made of); read from the database each time, so several processes on
 * one database (cluster mode) each see every change.
 */
export function assignmentStamp(db: Db, assignmentId: number): number {
  return sql(db).stamp.get({ assignmentId })?.stamp ?? 0;
}

/** Submissions of an assignment with a job queued or running (through the partial index of 0020). */
export function pendingOfAssignment(db: Db, assignmentId: number): Set<number> {
  return new Set(sql(db).pending.all({ assignmentId }).map((r) => r.submission_id));
}

export interface StoredSetting {
  weight: number | null;
  maxPoints: number | null;
}

export function gradebookSettings(db: Db, course: string): Map<string, StoredSetting> {
  return new Map(sql(db).settings.all({ course }).map(({ slug, ...setting }) => [slug, setting]));
}

export function saveGradebookSetting(db: Db, s: { course: string; slug: string; weight: number | null; maxPoints: number | null; by: number; at: number }): void {
  sql(db).setSetting.run(s);
}
