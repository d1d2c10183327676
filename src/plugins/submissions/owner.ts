import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import { teamOf } from '../teams/store.js';

/**
 * Whose a submission is: the one rule every plugin asks (intake, the queue, the gradebook,
 * manual grading, regrade requests, similarity). A submission made now belongs to the
 * submitter's team for the assignment, or to the submitter alone; once made, it belongs to the
 * members recorded with it (submission_members), whatever happens to the team afterwards.
 */
export interface Owner {
  teamId: number | null;
  teamName: string | null;
  /** User ids, the submitter among them. */
  members: number[];
}

function statements(db: Db) {
  return {
    members: db.prepare<[number], { user_id: number }>('SELECT user_id FROM submission_members WHERE submission_id = ? ORDER BY user_id'),
    isMember: db.prepare<{ submissionId: number; userId: number }, { one: number }>(
      'SELECT 1 AS one FROM submission_members WHERE submission_id = :submissionId AND user_id = :userId',
    ),
    ofAssignment: db.prepare<[number], { submission_id: number; user_id: number }>(
      `SELECT m.submission_id, m.user_id FROM submission_members m JOIN submissions s ON s.id = m.submission_id
        WHERE s.assignment_id = ? ORDER BY m.submission_id, m.user_id`,
    ),
  };
}

const sql = preparedFor(statements);

/** Who a submission this user hands in now would belong to. */
export function ownerFor(db: Db, assignmentId: number, userId: number): Owner {
  const team = teamOf(db, assignmentId, userId);
  if (!team) return { teamId: null, teamName: null, members: [userId] };
  return { teamId: team.id, teamName: team.name, members: team.members.map((m) => m.userId) };
}

/** The users a submission belongs to. */
export function submissionOwners(db: Db, submissionId: number): number[] {
  return sql(db)
    .members.all(submissionId)
    .map((r) => r.user_id);
}

/** Whether the submission is this user's own (alone or as a member of the team at the time). */
export function ownsSubmission(db: Db, submissionId: number, userId: number): boolean {
  return sql(db).isMember.get({ submissionId, userId }) !== undefined;
}

/** submission id -> its owners, for a whole assignment (the gradebook's one query). */
export function ownersOfAssignment(db: Db, assignmentId: number): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const r of sql(db).ofAssignment.all(assignmentId)) {
    const list = out.get(r.submission_id);
    if (list) list.push(r.user_id);
    else out.set(r.submission_id, [r.user_id]);
  }
  return out;
}
