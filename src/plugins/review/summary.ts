import type { Deps } from '../../plugin.js';
import { currentVersion, type Current } from '../assignments/store.js';
import { points as fmtPoints } from '../../lib/format.js';
import type { Submission } from '../submissions/store.js';
import type { FinalMode } from './config.js';
import { breakdownOf, gradableResult, gradingRule } from './grading.js';
import { gradesReleasedAt } from './release.js';
import { adjustmentsOf } from './store.js';
import { breakdownRows } from './view.js';

/**
 * What the student-facing pages (the receipt, the history list, live status) say about a
 * submission's score, so that they never contradict the final score review/score.ts makes:
 * - once the viewer may see the final (staff always, the student after release), the final with
 *   its breakdown is the score, and the autotest score is named as one part of it;
 * - before that, when the final is not the autotest score alone (manual or both), the autotest
 *   score is named as a part and no "after the late penalty" figure is given (the penalty is
 *   applied once, to the final);
 * - with `final: autotest` before release, the autotest score after the penalty is the score.
 */
export interface GradeNote {
  mode: FinalMode;
  released: boolean;
  /** The viewer sees the final score and its breakdown. */
  finalShown: boolean;
  /** The autotest score is not the whole grade: pages label it and leave the penalty to the final. */
  autotestIsPart: boolean;
  /** How pages name the autotest score when it is a part. */
  autotestLabel: string;
  final: { score: number | null; max: number | null; text: string } | null;
}

export interface ReviewSummary {
  /** Where staff grade it, or where the student reads the feedback. */
  url: string;
  released: boolean;
  /** The final-score breakdown: always for staff, for the student once released. */
  breakdown: Array<{ label: string; value: string }> | null;
  /** The rubric items applied and the adjustments, each with its points (same visibility as breakdown). */
  items: Array<{ label: string; value: string }>;
  note: GradeNote;
}

function signed(n: number): string {
  return n > 0 ? `+${fmtPoints(n)}` : fmtPoints(n);
}

function labelFor(mode: FinalMode, finalShown: boolean): string {
  if (mode === 'manual') return 'tests (the grade is given by the teachers)';
  if (mode === 'both') return 'tests, one part of the grade';
  return finalShown ? 'tests' : 'score';
}

function summarise(deps: Deps, current: Current, submission: Submission, staff: boolean, course: string | null): { note: GradeNote; summary: Omit<ReviewSummary, 'note' | 'url'> } {
  const releasedAt = gradesReleasedAt(deps.db, submission.assignmentId, submission.userId);
  const released = releasedAt !== null;
  const mode = gradingRule(current).final;
  const finalShown = staff || released;
  const note: GradeNote = { mode, released, finalShown, autotestIsPart: mode !== 'autotest' || finalShown, autotestLabel: labelFor(mode, finalShown), final: null };
  if (!finalShown) return { note, summary: { released, breakdown: null, items: [] } };
  const { breakdown, groups } = breakdownOf(deps.db, current, submission, gradableResult(deps.db, submission.id));
  note.final = {
    score: breakdown.final,
    max: breakdown.max,
    text: breakdown.final === null ? `not given yet (${breakdown.missing})` : `${fmtPoints(breakdown.final)} / ${fmtPoints(breakdown.max)}`,
  };
  const items = course === null || mode === 'autotest' ? [] : groups.flatMap((g) => g.group.items.filter((i) => g.appliedIds.has(i.id)).map((i) => ({ label: `${g.group.title}: ${i.title}`, value: signed(i.points) })));
  if (course !== null) for (const a of adjustmentsOf(deps.db, submission.id)) items.push({ label: `Adjustment: ${a.reason}`, value: signed(a.points) });
  return { note, summary: { released, breakdown: breakdownRows(breakdown), items } };
}

/** The grade note alone, for the status line and the history list (the assignment's current rule). */
export function gradeNote(deps: Deps, submission: Submission, course: string, slug: string, staff: boolean, fallback: Current): GradeNote {
  return summarise(deps, currentVersion(deps.db, course, slug) ?? fallback, submission, staff, null).note;
}

/** What a submission's receipt page shows of manual grading, for the viewer. */
export function reviewSummary(deps: Deps, current: Current, submission: Submission, staff: boolean, course: string): ReviewSummary {
  const url = staff ? `/courses/${course}/review/submissions/${submission.id}` : `/courses/${course}/submissions/${submission.id}/feedback`;
  const { note, summary } = summarise(deps, current, submission, staff, course);
  return { url, note, ...summary };
}
