import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import type { Current } from '../assignments/store.js';
import type { ResultSummary } from '../autotest/store.js';
import { finalScorer, gradingRule, rubricOf } from '../review/grading.js';
import { finalScore, manualPart, type Part } from '../review/score.js';
import { adjustmentSums, gradesOfAssignment } from '../review/store.js';
import { extensionFor, listExtensions, toSubmission, type Submission } from '../submissions/store.js';
import { listTeams } from '../teams/store.js';
import type { Student } from '../accounts/users.js';
import { bestGradedOf, countedOf } from './counted.js';
import { assignmentStamp, countingCandidates, pendingOfAssignment, type CandidateRow, type CeilingKey } from './store.js';

export type { Student } from '../accounts/users.js';

/** The gradebook's counting rule offered to other plugins (the review queue grades what counts). */
export interface GradesService {
  /** Each student's counted and latest submission with its final score, in the order given. */
  ofAssignment(current: Current, students: Student[]): StudentGrade[];
}

declare module '../../plugin.js' {
  interface Services {
    grades: GradesService;
  }
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
  /** In the running for counting (counted.ts). */
  ready: boolean;
  /** final, or the most it can reach while only staff's part is missing. */
  ceiling: number | null;
}

export interface StudentGrade {
  student: Student;
  submissions: number;
  /** The newest submission, graded or not. */
  latest: ScoredSubmission | null;
  /** The graded submission with the highest score after penalty (the later one on a tie). */
  best: ScoredSubmission | null;
  /** The one that counts (counted.ts); its final is null while it waits for staff. */
  counted: ScoredSubmission | null;
  /** What a "re-run counted" touches: the counted submission, else the newest one. */
  rerunTarget: ScoredSubmission | null;
  extensionUntil: number | null;
  /** The student's team for this assignment now, if any. */
  team: { id: number; name: string } | null;
}

interface OwnerGrade {
  submissions: number;
  latest: ScoredSubmission | null;
  best: ScoredSubmission | null;
  counted: ScoredSubmission | null;
}

function percentOf(final: number | null, max: number | null): number | null {
  if (final === null || max === null || max <= 0) return null;
  return Math.max(0, Math.min(100, (final / max) * 100));
}

/**
 * Per owner (the submitter, or each member recorded with a team's submission) of an
 * assignment: the newest, the best graded and the counted submission. The store narrows each
 * owner's submissions in SQL to the few that can be any of these; the final scores come from
 * review's finalScore and the choice from counted.ts.
 */
export function ownerGrades(db: Db, current: Current): ReadonlyMap<number, OwnerGrade> {
  // Read before computing: a change made meanwhile by another process leaves an older stamp on
  // what is kept, and the next view computes again.
  const stamp = assignmentStamp(db, current.assignment.id);
  const cache = kept(db);
  const hit = cache.get(current.assignment.id);
  // The rule is the version's, unless a caller asks with another config (review's queue may).
  const rule = JSON.stringify([current.version.id, current.version.config.counts, current.version.config.grading ?? null]);
  if (hit && hit.stamp === stamp && hit.rule === rule) return hit.grades;
  const grades = computeOwnerGrades(db, current);
  cache.set(current.assignment.id, { stamp, rule, grades });
  return grades;
}

/**
 * A pure memo, not app state: per database handle (made once per handle by preparedFor, like the
 * prepared statements), by assignment id, the owners' grades as computed from the database. Each
 * read checks the assignment's stamp (moved by the database's own triggers) and the rule before it
 * reuses an entry, so dropping the memo changes nothing but speed; entries are never mutated.
 */
const kept = preparedFor(() => new Map<number, { stamp: number; rule: string; grades: ReadonlyMap<number, OwnerGrade> }>());

function computeOwnerGrades(db: Db, current: Current): Map<number, OwnerGrade> {
  const { assignment, version } = current;
  const rule = gradingRule(current);
  const full = manualPart(rubricOf(db, current).map((g) => ({ max: g.max, scoring: 'negative' as const, applied: [] })));
  const adjust = adjustmentSums(db, assignment.id);
  const reviewed = new Set<number>([...gradesOfAssignment(db, assignment.id).keys(), ...adjust.keys()]);
  const key: CeilingKey =
    rule.final === 'autotest'
      ? { manual: false, ka: 1, kf: 0, kc: 0 }
      : rule.final === 'both'
        ? { manual: false, ka: 0, kf: rule.weights.autotest, kc: rule.weights.manual }
        : { manual: true, ka: 0, kf: 0, kc: full.max };
  const rows = countingCandidates(db, assignment.id, key, reviewed);
  const pending = pendingOfAssignment(db, assignment.id);
  const score = finalScorer(db, current);
  const scored = new Map<number, ScoredSubmission>();
  const scoredOf = (r: CandidateRow): ScoredSubmission => {
    const known = scored.get(r.id);
    if (known) return known;
    const submission = toSubmission(r);
    const graded: ResultSummary | null = r.graded_status === null ? null : { status: r.graded_status, score: r.score, maxScore: r.max_score, gradable: true, createdAt: r.graded_at! };
    const latest: ResultSummary | null = r.latest_status === null ? null : { status: r.latest_status, score: r.latest_score, maxScore: r.latest_max, gradable: r.latest_gradable === 1, createdAt: r.latest_at! };
    const breakdown = score(submission, graded);
    const autotest: Part | null = graded && graded.score !== null ? { score: graded.score, max: graded.maxScore ?? 0 } : null;
    const ready = rule.final === 'manual' || autotest !== null;
    const ceiling = breakdown.final ?? (ready ? finalScore(rule, { autotest, manual: full, adjustments: adjust.get(r.id) ?? 0, penaltyPct: r.penalty_pct }).final : null);
    const maxScore = breakdown.max ?? graded?.maxScore ?? null;
    const s: ScoredSubmission = { submission, latest, graded, pending: pending.has(r.id), final: breakdown.final, maxScore, percent: percentOf(breakdown.final, maxScore), ready, ceiling };
    scored.set(r.id, s);
    return s;
  };
  const out = new Map<number, OwnerGrade>();
  // Rows come ordered by owner, then hand-in order (ids are given in the order the server accepts submissions).
  let i = 0;
  while (i < rows.length) {
    const owner = rows[i]!.owner_id;
    const list: ScoredSubmission[] = [];
    let latest: ScoredSubmission | null = null;
    const n = rows[i]!.n;
    for (; i < rows.length && rows[i]!.owner_id === owner; i++) {
      const s = scoredOf(rows[i]!);
      list.push(s);
      if (rows[i]!.is_newest) latest = s;
    }
    out.set(owner, { submissions: n, latest, best: bestGradedOf(list), counted: countedOf(list, version.config.counts) });
  }
  return out;
}

/**
 * Per student of the list: latest, best and counted submission of one assignment. Students
 * without submissions are listed with nulls.
 */
export function assignmentGrades(db: Db, current: Current, students: Student[]): StudentGrade[] {
  const { assignment } = current;
  const owners = ownerGrades(db, current);
  const extensions = new Map(listExtensions(db, assignment.id).map((e) => [e.userId, e.untilAt]));
  const teamOfUser = new Map<number, { id: number; name: string }>();
  for (const t of listTeams(db, assignment.id)) for (const m of t.members) teamOfUser.set(m.userId, { id: t.id, name: t.name });
  return students.map((student) => {
    const g = owners.get(student.id);
    return {
      student,
      submissions: g?.submissions ?? 0,
      latest: g?.latest ?? null,
      best: g?.best ?? null,
      counted: g?.counted ?? null,
      rerunTarget: g?.counted ?? g?.latest ?? null,
      extensionUntil: teamOfUser.has(student.id) ? extensionFor(db, assignment.id, student.id) : (extensions.get(student.id) ?? null),
      team: teamOfUser.get(student.id) ?? null,
    };
  });
}
