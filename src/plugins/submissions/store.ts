import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import { teamOf } from '../teams/store.js';
import { ownerFor, type Owner } from './owner.js';

export interface Submission {
  id: number;
  assignmentId: number;
  versionId: number;
  /** Who handed it in (the receipt names them); see owner.ts for whose it is. */
  userId: number;
  /** The team it was handed in for, or null. */
  teamId: number | null;
  number: number;
  submittedAt: number;
  deadlineAt: number;
  lateMinutes: number;
  penaltyPct: number;
  totalBytes: number;
}

export interface SubmissionFile {
  name: string;
  sha256: string;
  size: number;
}

/** A submissions row as stored; other plugins' queries that select these columns map them with toSubmission. */
export interface SubmissionRow {
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
}

export function toSubmission(r: SubmissionRow): Submission {
  return {
    id: r.id,
    assignmentId: r.assignment_id,
    versionId: r.version_id,
    userId: r.user_id,
    teamId: r.team_id,
    number: r.number,
    submittedAt: r.submitted_at,
    deadlineAt: r.deadline_at,
    lateMinutes: r.late_minutes,
    penaltyPct: r.penalty_pct,
    totalBytes: r.total_bytes,
  };
}

/** A submissions row as a Submission, for this file's own queries (aliases instead of a mapper); `t` is the table's name in the query. */
function submissionColumns(t: string): string {
  return `${t}.id, ${t}.assignment_id AS assignmentId, ${t}.version_id AS versionId, ${t}.user_id AS userId, ${t}.team_id AS teamId, ${t}.number,
    ${t}.submitted_at AS submittedAt, ${t}.deadline_at AS deadlineAt, ${t}.late_minutes AS lateMinutes, ${t}.penalty_pct AS penaltyPct, ${t}.total_bytes AS totalBytes`;
}

function statements(db: Db) {
  return {
    arrivals: db.prepare<{ assignmentId: number; before: number; after: number }, number>(
      `SELECT submitted_at - deadline_at FROM submissions
        WHERE assignment_id = :assignmentId AND submitted_at - deadline_at BETWEEN -:before AND :after`,
    ),
    // Counted in SQL by bin (index submissions_arrivals of 0020): a course's history of 180,000
    // submissions would otherwise travel to JavaScript on every dashboard view.
    arrivalBins: db.prepare<{ assignmentId: number; before: number; after: number; binMs: number }, { bin: number; n: number; last_hour: number }>(
      `SELECT CAST((submitted_at - deadline_at + :before) / :binMs AS INTEGER) AS bin, count(*) AS n,
              sum(submitted_at - deadline_at > -3600000 AND submitted_at - deadline_at <= 0) AS last_hour
         FROM submissions
        WHERE assignment_id = :assignmentId AND submitted_at - deadline_at BETWEEN -:before AND :after
        GROUP BY bin`,
    ),
    byId: db.prepare<[number], Submission>(`SELECT ${submissionColumns('submissions')} FROM submissions WHERE id = ?`),
    byNumber: db.prepare<{ assignmentId: number; userId: number; number: number }, Submission>(
      `SELECT ${submissionColumns('submissions')} FROM submissions WHERE assignment_id = :assignmentId AND user_id = :userId AND number = :number`,
    ),
    // A student's history: every submission they were an owner of (alone or in the team at the time).
    forStudent: db.prepare<{ assignmentId: number; userId: number }, Submission>(
      `SELECT ${submissionColumns('s')} FROM submission_members m JOIN submissions s ON s.id = m.submission_id
        WHERE m.user_id = :userId AND s.assignment_id = :assignmentId ORDER BY s.number DESC, s.id DESC`,
    ),
    forAssignment: db.prepare<{ assignmentId: number }, Submission>(
      `SELECT ${submissionColumns('submissions')} FROM submissions WHERE assignment_id = :assignmentId ORDER BY user_id, number`,
    ),
    // Numbers continue from the highest any owner has seen, so that every member's history reads
    // in order without repeats (and the submitter's own numbers stay unique).
    nextNumber: db.prepare<{ assignmentId: number; userId: number; members: string }, { n: number }>(
      `SELECT coalesce(max(number), 0) + 1 AS n FROM submissions
        WHERE assignment_id = :assignmentId AND (user_id = :userId OR id IN (
          SELECT submission_id FROM submission_members WHERE user_id IN (SELECT value FROM json_each(:members))))`,
    ),
    // Rate limits count per owner: a team shares one allowance, whoever submits.
    countSince: db.prepare<{ assignmentId: number; userId: number; teamId: number | null; since: number }, { n: number; oldest: number | null }>(
      `SELECT count(*) AS n, min(submitted_at) AS oldest FROM submissions
        WHERE assignment_id = :assignmentId AND submitted_at > :since
          AND CASE WHEN :teamId IS NULL THEN user_id = :userId AND team_id IS NULL ELSE team_id = :teamId END`,
    ),
    insert: db.prepare<Omit<SubmissionRow, 'id'>>(
      `INSERT INTO submissions (assignment_id, version_id, user_id, team_id, number, submitted_at, deadline_at, late_minutes, penalty_pct, total_bytes)
       VALUES (:assignment_id, :version_id, :user_id, :team_id, :number, :submitted_at, :deadline_at, :late_minutes, :penalty_pct, :total_bytes)`,
    ),
    insertMember: db.prepare<{ submissionId: number; userId: number }>('INSERT INTO submission_members (submission_id, user_id) VALUES (:submissionId, :userId)'),
    insertFile: db.prepare<{ submissionId: number; name: string; sha256: string; size: number }>(
      'INSERT INTO submission_files (submission_id, name, sha256, size) VALUES (:submissionId, :name, :sha256, :size)',
    ),
    files: db.prepare<[number], SubmissionFile>('SELECT name, sha256, size FROM submission_files WHERE submission_id = ? ORDER BY name'),
    blobUsed: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM submission_files WHERE sha256 = ? LIMIT 1'),
    extension: db.prepare<{ assignmentId: number; userId: number }, { until_at: number }>(
      'SELECT until_at FROM extensions WHERE assignment_id = :assignmentId AND user_id = :userId',
    ),
    extensions: db.prepare<{ assignmentId: number }, { user_id: number; until_at: number; granted_by: string; granted_at: number }>(
      'SELECT user_id, until_at, granted_by, granted_at FROM extensions WHERE assignment_id = :assignmentId ORDER BY user_id',
    ),
    setExtension: db.prepare<{ assignmentId: number; userId: number; untilAt: number; grantedBy: string; grantedAt: number }>(
      `INSERT INTO extensions (assignment_id, user_id, until_at, granted_by, granted_at)
       VALUES (:assignmentId, :userId, :untilAt, :grantedBy, :grantedAt)
       ON CONFLICT (assignment_id, user_id) DO UPDATE SET until_at = excluded.until_at, granted_by = excluded.granted_by, granted_at = excluded.granted_at`,
    ),
    deleteExtension: db.prepare<{ assignmentId: number; userId: number }>('DELETE FROM extensions WHERE assignment_id = :assignmentId AND user_id = :userId'),
    setLateness: db.prepare<{ id: number; deadlineAt: number; lateMinutes: number; penaltyPct: number }>(
      'UPDATE submissions SET deadline_at = :deadlineAt, late_minutes = :lateMinutes, penalty_pct = :penaltyPct WHERE id = :id',
    ),
    counts: db.prepare<{ assignmentId: number }, { submissions: number; students: number; last: number | null }>(
      // Each part from an index alone (0020's submissions_assignment_user): a dashboard at 1,000 students.
      `SELECT (SELECT count(*) FROM submissions WHERE assignment_id = :assignmentId) AS submissions,
              (SELECT count(*) FROM (SELECT user_id FROM submissions WHERE assignment_id = :assignmentId GROUP BY user_id)) AS students,
              (SELECT max(submitted_at) FROM submissions WHERE assignment_id = :assignmentId) AS last`,
    ),
  };
}

export const sql = preparedFor(statements);

export function getSubmission(db: Db, id: number): Submission | undefined {
  return sql(db).byId.get(id);
}

export function getSubmissionByNumber(db: Db, assignmentId: number, userId: number, number: number): Submission | undefined {
  return sql(db).byNumber.get({ assignmentId, userId, number });
}

export function studentSubmissions(db: Db, assignmentId: number, userId: number): Submission[] {
  return sql(db).forStudent.all({ assignmentId, userId });
}

export function assignmentSubmissions(db: Db, assignmentId: number): Submission[] {
  return sql(db).forAssignment.all({ assignmentId });
}

export function submissionFiles(db: Db, submissionId: number): SubmissionFile[] {
  return sql(db).files.all(submissionId);
}

export function blobReferenced(db: Db, sha256: string): boolean {
  return sql(db).blobUsed.get(sha256) !== undefined;
}

/** Where a deadline comes from: the student's own extension, their team's, or a team-mate's. */
export interface ExtensionInfo {
  untilAt: number;
  source: 'own' | 'team' | 'member';
  /** The team-mate whose extension it is (source member). */
  memberName: string | null;
}

/**
 * The extension that applies to a student now. In a team the most generous of the team's own
 * extension and every member's wins, so that the team has one deadline.
 */
export function extensionInfo(db: Db, assignmentId: number, userId: number): ExtensionInfo | null {
  const q = sql(db);
  const own = q.extension.get({ assignmentId, userId })?.until_at ?? null;
  let best: ExtensionInfo | null = own === null ? null : { untilAt: own, source: 'own', memberName: null };
  const team = teamOf(db, assignmentId, userId);
  if (team) {
    if (team.extensionUntil !== null && (!best || team.extensionUntil > best.untilAt)) best = { untilAt: team.extensionUntil, source: 'team', memberName: null };
    for (const m of team.members) {
      if (m.userId === userId) continue;
      const e = q.extension.get({ assignmentId, userId: m.userId })?.until_at ?? null;
      if (e !== null && (!best || e > best.untilAt)) best = { untilAt: e, source: 'member', memberName: m.name };
    }
  }
  return best;
}

export function extensionFor(db: Db, assignmentId: number, userId: number): number | null {
  return extensionInfo(db, assignmentId, userId)?.untilAt ?? null;
}

/** The student's own extension row alone (what staff granted to this person). */
export function ownExtension(db: Db, assignmentId: number, userId: number): number | null {
  return sql(db).extension.get({ assignmentId, userId })?.until_at ?? null;
}

/** Submissions by the user's current owner (their team, or themselves alone) since `since`. */
export function submissionsSince(db: Db, assignmentId: number, userId: number, since: number): { count: number; oldest: number | null } {
  const owner = ownerFor(db, assignmentId, userId);
  const r = sql(db).countSince.get({ assignmentId, userId, teamId: owner.teamId, since });
  return { count: r?.n ?? 0, oldest: r?.oldest ?? null };
}

export interface NewSubmission {
  assignmentId: number;
  versionId: number;
  userId: number;
  submittedAt: number;
  deadlineAt: number;
  lateMinutes: number;
  penaltyPct: number;
  files: SubmissionFile[];
  /** Whose it is; by default resolved here, inside the inserting transaction (ownerFor). */
  owner?: Owner;
}

/**
 * Writes the submission, its files and its owners (the submitter's team as it is now, or the
 * submitter); call inside the transaction that also enqueues its job.
 */
export function insertSubmission(db: Db, s: NewSubmission): Submission {
  const q = sql(db);
  const owner = s.owner ?? ownerFor(db, s.assignmentId, s.userId);
  const members = owner.members.includes(s.userId) ? owner.members : [...owner.members, s.userId];
  const number = q.nextNumber.get({ assignmentId: s.assignmentId, userId: s.userId, members: JSON.stringify(members) })?.n ?? 1;
  const row: Omit<SubmissionRow, 'id'> = {
    assignment_id: s.assignmentId,
    version_id: s.versionId,
    user_id: s.userId,
    team_id: owner.teamId,
    number,
    submitted_at: s.submittedAt,
    deadline_at: s.deadlineAt,
    late_minutes: s.lateMinutes,
    penalty_pct: s.penaltyPct,
    total_bytes: s.files.reduce((n, f) => n + f.size, 0),
  };
  const id = Number(q.insert.run(row).lastInsertRowid);
  for (const f of s.files) q.insertFile.run({ submissionId: id, ...f });
  for (const userId of members) q.insertMember.run({ submissionId: id, userId });
  return toSubmission({ id, ...row });
}

export interface Extension {
  userId: number;
  untilAt: number;
  grantedBy: string;
  grantedAt: number;
}

export function listExtensions(db: Db, assignmentId: number): Extension[] {
  return sql(db)
    .extensions.all({ assignmentId })
    .map((r) => ({ userId: r.user_id, untilAt: r.until_at, grantedBy: r.granted_by, grantedAt: r.granted_at }));
}

/** Grants or moves a student's own deadline (one row per student and assignment). */
export function setExtension(db: Db, e: { assignmentId: number; userId: number } & Omit<Extension, 'userId'>): void {
  sql(db).setExtension.run({ assignmentId: e.assignmentId, userId: e.userId, untilAt: e.untilAt, grantedBy: e.grantedBy, grantedAt: e.grantedAt });
}

export function deleteExtension(db: Db, assignmentId: number, userId: number): boolean {
  return sql(db).deleteExtension.run({ assignmentId, userId }).changes > 0;
}

/** Re-records how late a submission was, when staff move the student's deadline afterwards. */
export function setLateness(db: Db, submissionId: number, l: { deadlineAt: number; lateMinutes: number; penaltyPct: number }): void {
  sql(db).setLateness.run({ id: submissionId, ...l });
}

/**
 * How many of an assignment's submissions arrived in each bin of `binMs` from `beforeMs` before
 * each student's own deadline to `afterMs` after it (bin 0 starts at -beforeMs), and how many in
 * the last hour before it.
 */
export function arrivalBins(db: Db, assignmentId: number, beforeMs: number, afterMs: number, binMs: number): { bins: Array<{ bin: number; n: number }>; lastHour: number } {
  const rows = sql(db).arrivalBins.all({ assignmentId, before: Math.round(beforeMs), after: Math.round(afterMs), binMs: Math.round(binMs) });
  return { bins: rows.map((r) => ({ bin: r.bin, n: r.n })), lastHour: rows.reduce((t, r) => t + (r.last_hour ?? 0), 0) };
}

/** When an assignment's submissions arrived relative to each student's own deadline (ms; negative = before), within a window. */
export function arrivalsAroundDeadline(db: Db, assignmentId: number, beforeMs: number, afterMs: number): number[] {
  return sql(db).arrivals.pluck().all({ assignmentId, before: beforeMs, after: afterMs });
}

export function submissionCounts(db: Db, assignmentId: number): { submissions: number; students: number; last: number | null } {
  return sql(db).counts.get({ assignmentId }) ?? { submissions: 0, students: 0, last: null };
}
