import type { Deps } from '../../plugin.js';
import type { Current } from '../assignments/store.js';
import { resultSummaries } from '../autotest/store.js';
import type { Submission } from '../submissions/store.js';
import { breakdownOf } from './grading.js';
import { releasedAt } from './store.js';
import { breakdownRows } from './view.js';

export interface ReviewSummary {
  /** Where staff grade it, or where the student reads the feedback. */
  url: string;
  released: boolean;
  /** The final-score breakdown: always for staff, for the student once released. */
  breakdown: Array<{ label: string; value: string }> | null;
}

/** What a submission's receipt page shows of manual grading, for the viewer. */
export function reviewSummary(deps: Deps, current: Current, submission: Submission, staff: boolean, course: string): ReviewSummary {
  const released = releasedAt(deps.db, submission.assignmentId, submission.userId) !== null;
  const url = staff ? `/courses/${course}/review/submissions/${submission.id}` : `/courses/${course}/submissions/${submission.id}/feedback`;
  if (!staff && !released) return { url, released, breakdown: null };
  const autotest = resultSummaries(deps.db, submission.assignmentId).get(submission.id)?.gradable ?? null;
  return { url, released, breakdown: breakdownRows(breakdownOf(deps.db, current, submission, autotest).breakdown) };
}
