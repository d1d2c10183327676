import type { Deps } from '../../plugin.js';
import type { Current } from '../assignments/store.js';
import type { Submission } from '../submissions/store.js';
import { gradesReleased, gradesReleasedAt } from './release.js';
import { gradeNote, reviewSummary, type GradeNote, type ReviewSummary } from './summary.js';

/**
 * What manual grading tells other plugins about a submission, so that they read it through
 * `deps.services.review` (declared below) rather than importing this plugin's modules: whether the
 * student's grades are released, and what the student-facing pages say of the score.
 */
export interface ReviewService {
  /** Whether the assignment's manual grades are released for the student (src/plugins/review/release.ts). */
  gradesReleased(assignmentId: number, userId: number): boolean;
  gradesReleasedAt(assignmentId: number, userId: number): number | null;
  /** The grade note for a status line or history list (the assignment's current rule; `fallback` when it has none). */
  gradeNote(submission: Submission, course: string, slug: string, staff: boolean, fallback: Current): GradeNote;
  /** What a submission's receipt page shows of manual grading, for the viewer. */
  reviewSummary(current: Current, submission: Submission, staff: boolean, course: string): ReviewSummary;
}

declare module '../../plugin.js' {
  interface Services {
    /** Manual grading's answers for other plugins' pages (src/plugins/review/service.ts). */
    review: ReviewService;
  }
}

export function createReviewService(deps: Deps): ReviewService {
  return {
    gradesReleased: (assignmentId, userId) => gradesReleased(deps.db, assignmentId, userId),
    gradesReleasedAt: (assignmentId, userId) => gradesReleasedAt(deps.db, assignmentId, userId),
    gradeNote: (submission, course, slug, staff, fallback) => gradeNote(deps, submission, course, slug, staff, fallback),
    reviewSummary: (current, submission, staff, course) => reviewSummary(deps, current, submission, staff, course),
  };
}
