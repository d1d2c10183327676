import type { Db } from '../../db/open.js';
import type { Current } from '../assignments/store.js';
import { resultsOf, type ResultSummary } from '../autotest/store.js';
import type { Submission } from '../submissions/store.js';
import { gradingOf, type GradingConfig } from './config.js';
import { finalScore, groupScore, manualPart, type FinalBreakdown, type Part } from './score.js';
import { listRubric, syncRubric, syncedVersion, type RubricGroup } from './rubric-store.js';
import { adjustmentSums, appliedForAssignment, appliedItems, adjustmentsOf, gradesOfAssignment, gradeOf } from './store.js';

/** The grading rule of an assignment: its current version's (the rule is the assignment's, not a submission's). */
export function gradingRule(current: Current): GradingConfig {
  return gradingOf(current.version.config);
}

/**
 * The rubric, with assignment.yaml's brought in once per version made current (an item the file
 * dropped is retired as of that version's import).
 */
export function rubricOf(db: Db, current: Current): RubricGroup[] {
  const { assignment, version } = current;
  if (syncedVersion(db, assignment.id) !== version.id) syncRubric(db, assignment.id, version.id, gradingOf(version.config).rubric, version.createdAt);
  return listRubric(db, assignment.id);
}

export interface GroupView {
  group: RubricGroup;
  score: number;
  appliedIds: Set<number>;
}

/** The manual part of one submission and each group's total. */
export function manualOf(groups: RubricGroup[], applied: Set<number> | number[]): { part: Part; groups: GroupView[] } {
  const set = applied instanceof Set ? applied : new Set(applied);
  const inputs = groups.map((g) => ({ max: g.max, scoring: g.scoring, applied: g.items.filter((i) => set.has(i.id)).map((i) => i.points) }));
  return {
    part: manualPart(inputs),
    groups: groups.map((g, i) => ({ group: g, score: groupScore(inputs[i]!), appliedIds: new Set(g.items.filter((it) => set.has(it.id)).map((it) => it.id)) })),
  };
}

function autotestPart(r: Pick<ResultSummary, 'score' | 'maxScore'> | null | undefined): Part | null {
  return r && r.score !== null ? { score: r.score, max: r.maxScore ?? 0 } : null;
}

/** A submission's latest gradable autotest result (a later run that could not grade takes nothing away), or null. */
export function gradableResult(db: Db, submissionId: number): Pick<ResultSummary, 'score' | 'maxScore'> | null {
  return resultsOf(db, submissionId).filter((r) => r.gradable).at(-1) ?? null;
}

/** One submission's full breakdown (staff see it at once; students once released). */
export function breakdownOf(db: Db, current: Current, submission: Submission, autotest: Pick<ResultSummary, 'score' | 'maxScore'> | null): { breakdown: FinalBreakdown; groups: GroupView[]; graded: boolean } {
  const rule = gradingRule(current);
  const groups = rubricOf(db, current);
  const manual = manualOf(groups, appliedItems(db, submission.id));
  const grade = gradeOf(db, submission.id);
  const graded = grade?.state === 'graded';
  const adjustments = adjustmentsOf(db, submission.id).reduce((t, a) => t + a.points, 0);
  const breakdown = finalScore(rule, { autotest: autotestPart(autotest), manual: graded ? manual.part : null, adjustments, penaltyPct: submission.penaltyPct });
  return { breakdown, groups: manual.groups, graded };
}

/**
 * Final scores of every submission of an assignment, for the gradebook (staff: manual grades
 * count whether released or not). Returns a function of the submission and its latest gradable
 * autotest result; queries run once per assignment, not per submission.
 */
export function finalScorer(db: Db, current: Current): (s: Submission, autotest: ResultSummary | null) => FinalBreakdown {
  const rule = gradingRule(current);
  const groups = rubricOf(db, current);
  const applied = appliedForAssignment(db, current.assignment.id);
  const adjust = adjustmentSums(db, current.assignment.id);
  const grades = gradesOfAssignment(db, current.assignment.id);
  return (s, autotest) =>
    finalScore(rule, {
      autotest: autotestPart(autotest),
      manual: grades.get(s.id)?.state === 'graded' ? manualOf(groups, applied.get(s.id) ?? []).part : null,
      adjustments: adjust.get(s.id) ?? 0,
      penaltyPct: s.penaltyPct,
    });
}
