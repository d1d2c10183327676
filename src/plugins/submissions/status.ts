import type { Deps } from '../../plugin.js';
import { jobEta } from '../autotest/forecast.js';
import type { PresentedStatus } from '../autotest/present.js';
import { gradesReleased } from '../review/release.js';
import { gradeNote, type GradeNote } from '../review/summary.js';
import { rulesOf, timing } from '../assignments/deadline.js';
import type { VisibleSubmission } from './policy.js';
import { presentStatus } from './present.js';
import { extensionFor } from './store.js';

/** What a viewer may see of a submission's score: the autotest status and how it stands to the final score (review plugin). */
export type StatusView = PresentedStatus & { grade: GradeNote };

/** The grading status a viewer may see, with the student's own deadline deciding after_due_date feedback. */
export function statusFor(deps: Deps, v: VisibleSubmission): StatusView {
  const config = v.version.config;
  const ext = extensionFor(deps.db, v.assignment.id, v.submission.userId);
  const t = timing(rulesOf(config), deps.clock.now(), ext);
  const afterDeadline = t.state === 'closed' || ((t.state === 'late' || t.state === 'grace') && deps.clock.now() > t.deadlineAt);
  const published = gradesReleased(deps.db, v.assignment.id, v.submission.userId);
  const status = deps.services.grading.status(v.submission.id);
  const waiting = status.state === 'queued' || status.state === 'running';
  const presented = presentStatus(status, { staff: v.staff, afterDeadline, published }, config.feedback, v.submission.penaltyPct, waiting ? jobEta(deps, status.jobId) : null);
  return { ...presented, grade: gradeNote(deps, v.submission, v.assignment.course, v.assignment.slug, v.staff, v) };
}
