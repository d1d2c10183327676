/**
 * Results as the server shows them: the one visibility rule, and the result types other plugins
 * name (their home is the run step, ./run/grade.ts).
 */
export type { Grade, GradeDetails, LeaderboardEntry, OutputFormat, ResultImage, RunStatus, TestOutcome, Visibility } from './run/grade.js';
import type { TestOutcome, Visibility } from './run/grade.js';

export interface ResultViewer {
  staff: boolean;
  /** The student's own deadline has passed. */
  afterDeadline: boolean;
  /** Staff have published the grades of this assignment (after_published opens). */
  published?: boolean;
}

/** The one rule of what a visibility lets a viewer see. */
export function isVisible(v: Visibility, viewer: ResultViewer): boolean {
  if (viewer.staff || v === 'visible') return true;
  if (v === 'after_due_date') return viewer.afterDeadline;
  if (v === 'after_published') return viewer.published === true;
  return false;
}

/** What a viewer may see of the tests: staff everything, students by each test's visibility. */
export function visibleTests(tests: TestOutcome[], viewer: ResultViewer): TestOutcome[] {
  if (viewer.staff) return tests;
  return tests.filter((t) => isVisible(t.visibility, viewer));
}
