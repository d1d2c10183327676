import type { Deps } from '../../plugin.js';
import { findUserById, usersWantingResultMail } from '../accounts/users.js';
import { getAssignmentById, getVersion } from '../assignments/store.js';
import { lastResultId, resultsAfter } from '../autotest/store.js';
import { submissionOwners } from '../submissions/owner.js';
import { getSubmission } from '../submissions/store.js';
import type { Mailer } from './mailer.js';
import { getWatermark, setWatermark } from './outbox.js';

/**
 * "Your result is in", for the students who asked for it on their account page: every new result
 * (a run of the autotests, a re-run too) is looked at once, in order, and a message queued for
 * each owner of the submission who wants one; the high-water mark moves in the same transaction
 * as the messages, so none is lost or doubled across restarts. The message names the submission
 * and links to it; it carries no score (what the student may see is the page's business). The
 * first time (mail just turned on), results from before are skipped.
 */
const BATCH = 200;

export function notifyResults(deps: Deps, mailer: Mailer): number {
  const { db } = deps;
  // Looked at without the write lock first: most rounds find nothing new.
  const seen = getWatermark(db, 'results');
  if (seen !== null && lastResultId(db) <= seen) return 0;
  return db
    .transaction(() => {
      const mark = getWatermark(db, 'results');
      if (mark === null) {
        setWatermark(db, 'results', lastResultId(db));
        return 0;
      }
      const rows = resultsAfter(db, mark, BATCH);
      for (const r of rows) {
        const submission = getSubmission(db, r.submissionId);
        if (!submission) continue;
        const wanting = usersWantingResultMail(db, submissionOwners(db, submission.id));
        if (!wanting.length) continue;
        const assignment = getAssignmentById(db, submission.assignmentId);
        if (!assignment) continue;
        const title = getVersion(db, submission.versionId)?.config.title ?? assignment.slug;
        const course = deps.content.course(assignment.course) ?? { slug: assignment.course, title: assignment.course };
        const submitter = submission.userId;
        for (const user of wanting) {
          mailer.queue({
            kind: 'result',
            template: 'mail/messages/result.njk',
            vars: {
              name: user.name,
              title,
              number: submission.number,
              course,
              byOther: submitter !== user.id ? (findUserById(db, submitter)?.name ?? null) : null,
              url: `${deps.config.publicUrl}/courses/${encodeURIComponent(assignment.course)}/submissions/${submission.id}`,
            },
            to: user.email,
            userId: user.id,
            course: assignment.course,
          });
        }
      }
      if (rows.length) setWatermark(db, 'results', rows[rows.length - 1]!.id);
      return rows.length;
    })
    .immediate();
}
