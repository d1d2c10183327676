import type { Db } from '../../db/open.js';
import type { Deps } from '../../plugin.js';
import type { AssignmentConfig } from '../assignments/config.js';
import type { Current } from '../assignments/store.js';
import { resultSummaries } from '../autotest/store.js';
import type { Student } from '../accounts/users.js';
import { assignmentSubmissions, type Submission } from '../submissions/store.js';
import { gradingOf } from './config.js';
import { round3 } from './score.js';
import { gradesOfAssignment } from './store.js';

/**
 * What the grading queue puts in front of a grader per student: the submission that counts in
 * the gradebook (the gradebook's rule, asked once below in countedSubmissions), so the queue
 * and the gradebook never disagree. A student with nothing counted yet gets the submission that
 * would count once graded. When the student has a newer submission that is not graded (so it
 * does not count yet), the entry says so: the queue links it and "next" goes to it when manual
 * grading decides the final.
 */

export type QueueState = 'ungraded' | 'in_progress' | 'graded';

/** A newer submission waiting only for staff: "next ungraded" goes to it. */
const NOT_GRADED = 'not graded yet';

export interface QueueEntry {
  userId: number;
  submission: Submission | null;
  state: QueueState | null;
  graderId: number | null;
  /** A newer submission than `submission` without a final score (not graded, or not tested yet). */
  newer: { submission: Submission; state: QueueState; why: string } | null;
}

/** The gradebook's counted submission per student (null: nothing counts yet). The one call into the counted rule. */
function countedSubmissions(deps: Pick<Deps, 'services'>, current: Current, students: Student[]) {
  return deps.services.grades.ofAssignment(current, students);
}

/**
 * Before anything counts: the submission to grade per student, by the bundle's `counts` rule
 * among gradable autotest runs, or the newest when the final is manual only or nothing ran.
 */
export function gradingCandidates(db: Db, current: Current, config: AssignmentConfig = current.version.config): Map<number, Submission> {
  const rule = gradingOf(config);
  const results = rule.final === 'manual' ? null : resultSummaries(db, current.assignment.id);
  const out = new Map<number, { s: Submission; key: number; ranked: boolean }>();
  for (const s of assignmentSubmissions(db, current.assignment.id)) {
    const r = results?.get(s.id)?.gradable ?? null;
    const score = r && r.score !== null ? round3(r.score * (1 - s.penaltyPct / 100)) : null;
    const prev = out.get(s.userId);
    // assignmentSubmissions is ordered by number within a student: later wins a tie.
    if (!prev) out.set(s.userId, { s, key: score ?? -Infinity, ranked: score !== null });
    else if (score !== null && (!prev.ranked || config.counts === 'last' || score >= prev.key)) out.set(s.userId, { s, key: score, ranked: true });
    else if (score === null && !prev.ranked) out.set(s.userId, { s, key: -Infinity, ranked: false });
  }
  return new Map([...out].map(([u, v]) => [u, v.s]));
}

export function queueEntries(deps: Pick<Deps, 'db' | 'services'>, current: Current, students: Student[], graders: Map<number, number>): QueueEntry[] {
  const { db } = deps;
  const counted = countedSubmissions(deps, current, students);
  // Asked only when a student has nothing counted yet (most have, once grading is under way).
  let candidatesMap: Map<number, Submission> | null = null;
  const candidate = (userId: number) => (candidatesMap ??= gradingCandidates(db, current)).get(userId);
  const grades = gradesOfAssignment(db, current.assignment.id);
  const final = gradingOf(current.version.config).final;
  const manualDecides = final !== 'autotest';
  const usesTests = final !== 'manual';
  const stateOf = (s: Submission): QueueState => grades.get(s.id)?.state ?? 'ungraded';
  return students.map((student, i) => {
    const g = counted[i]!;
    const submission = g.counted?.submission ?? candidate(student.id) ?? g.latest?.submission ?? null;
    const latest = g.latest;
    let newer: QueueEntry['newer'] = null;
    if (submission && latest && latest.submission.id !== submission.id && latest.submission.submittedAt >= submission.submittedAt && latest.final === null) {
      const state = stateOf(latest.submission);
      const why = latest.pending ? 'waiting for its tests' : usesTests && latest.graded === null ? 'no test result that counts' : manualDecides && state !== 'graded' ? NOT_GRADED : 'it does not count';
      newer = { submission: latest.submission, state, why };
    }
    return { userId: student.id, submission, state: submission ? stateOf(submission) : null, graderId: graders.get(student.id) ?? null, newer };
  });
}

/** Where "grade the next" takes a grader for this entry, or null when the entry has nothing to grade in that state. */
export function queueTarget(e: QueueEntry, wanted: QueueState, manualDecides: boolean): Submission | null {
  if (e.submission && e.state === wanted) return e.submission;
  if (wanted === 'ungraded' && manualDecides && e.newer && e.newer.why === NOT_GRADED) return e.newer.submission;
  return null;
}
