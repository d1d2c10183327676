import type { Db } from '../../db/open.js';
import type { Current } from '../assignments/store.js';
import { resultSummaries, pendingSubmissions, type ResultSummary } from '../autotest/store.js';
import { finalScorer } from '../review/grading.js';
import { assignmentSubmissions, extensionFor, listExtensions, type Submission } from '../submissions/store.js';
import { ownersOfAssignment } from '../submissions/owner.js';
import { listTeams } from '../teams/store.js';

export interface Student {
  id: number;
  email: string;
  name: string;
  studentId: string | null;
}

export interface ScoredSubmission {
  submission: Submission;
  /** The latest result of the submission (any), for its status. */
  latest: ResultSummary | null;
  /** The latest gradable result: the one whose score counts. */
  graded: ResultSummary | null;
  pending: boolean;
  /** The final score (review's finalScore: the assignment's rule, late penalty once); null when not graded. */
  final: number | null;
  maxScore: number | null;
  /** final as a percentage of maxScore (0..100), for the histogram. */
  percent: number | null;
}

export interface StudentGrade {
  student: Student;
  submissions: number;
  /** The newest submission, graded or not. */
  latest: ScoredSubmission | null;
  /** The graded submission with the highest score after penalty (the later one on a tie). */
  best: ScoredSubmission | null;
  /** The one the bundle's `counts` rule picks among graded submissions. */
  counted: ScoredSubmission | null;
  /** What a "re-run counted" touches: the counted submission, else the newest one. */
  rerunTarget: ScoredSubmission | null;
  extensionUntil: number | null;
  /** The student's team for this assignment now, if any. */
  team: { id: number; name: string } | null;
}

function percentOf(final: number | null, max: number | null): number | null {
  if (final === null || max === null || max <= 0) return null;
  return Math.max(0, Math.min(100, (final / max) * 100));
}

/**
 * Per student of the list: latest, best and counted submission of one assignment. Only gradable
 * results count (a run that could not grade never costs a student); scores are after the late
 * penalty recorded on each submission; `counts: last` takes the newest graded submission,
 * `counts: best` the highest. Students without submissions are listed with nulls.
 */
export function assignmentGrades(db: Db, current: Current, students: Student[]): StudentGrade[] {
  const { assignment, version } = current;
  const results = resultSummaries(db, assignment.id);
  const pending = pendingSubmissions(db, assignment.id);
  const extensions = new Map(listExtensions(db, assignment.id).map((e) => [e.userId, e.untilAt]));
  const byUser = new Map<number, ScoredSubmission[]>();
  const score = finalScorer(db, current);
  // A team's submission counts for every member it was handed in for (owner.ts).
  const owners = ownersOfAssignment(db, assignment.id);
  const teamOfUser = new Map<number, { id: number; name: string }>();
  for (const t of listTeams(db, assignment.id)) for (const m of t.members) teamOfUser.set(m.userId, { id: t.id, name: t.name });
  const subs = assignmentSubmissions(db, assignment.id).sort((a, b) => a.submittedAt - b.submittedAt || a.id - b.id);
  for (const s of subs) {
    const r = results.get(s.id);
    const graded = r?.gradable ?? null;
    const breakdown = score(s, graded);
    const final = breakdown.final;
    const maxScore = breakdown.max ?? graded?.maxScore ?? null;
    const scored: ScoredSubmission = { submission: s, latest: r?.latest ?? null, graded, pending: pending.has(s.id), final, maxScore, percent: percentOf(final, maxScore) };
    for (const userId of owners.get(s.id) ?? [s.userId]) {
      const list = byUser.get(userId);
      if (list) list.push(scored);
      else byUser.set(userId, [scored]);
    }
  }
  return students.map((student) => {
    // In the order handed in, so the newest is last.
    const list = byUser.get(student.id) ?? [];
    const graded = list.filter((s) => s.final !== null);
    const latest = list.at(-1) ?? null;
    let best: ScoredSubmission | null = null;
    for (const s of graded) if (!best || s.final! >= best.final!) best = s;
    const counted = version.config.counts === 'best' ? best : (graded.at(-1) ?? null);
    return {
      student,
      submissions: list.length,
      latest,
      best,
      counted,
      rerunTarget: counted ?? latest,
      extensionUntil: teamOfUser.has(student.id) ? extensionFor(db, assignment.id, student.id) : (extensions.get(student.id) ?? null),
      team: teamOfUser.get(student.id) ?? null,
    };
  });
}

/** Sum of the counted scores, rounded like penalised() does. */
export function totalOf(scores: Array<number | null>): number {
  return Math.round(scores.reduce<number>((t, s) => t + (s ?? 0), 0) * 1000) / 1000;
}
