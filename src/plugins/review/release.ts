import type { Db } from '../../db/open.js';
import { releasedAt } from './store.js';

/**
 * The one answer to "are this assignment's grades released for this student?" — for the review
 * plugin's own pages (receipt grade, feedback page, regrade window) and for anything else that
 * waits on release, such as autotest results and output marked `after_published` (Gradescope's
 * and PrairieLearn's visibility): pass `gradesReleased(...)` as the viewer's `published` flag.
 *
 * Grades are released for a student when staff released the whole assignment or that student
 * alone (whichever came first counts); withdrawing a release hides everything again. Staff see
 * everything regardless; this answers for the student.
 *
 * Stable names, kept for other plugins: `gradesReleased` (boolean) and `gradesReleasedAt`
 * (the time, or null); also offered as the `review` service (service.ts).
 */
export function gradesReleasedAt(db: Db, assignmentId: number, userId: number): number | null {
  return releasedAt(db, assignmentId, userId);
}

export function gradesReleased(db: Db, assignmentId: number, userId: number): boolean {
  return gradesReleasedAt(db, assignmentId, userId) !== null;
}
