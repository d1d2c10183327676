import { z } from 'zod';
import { wantsJson } from '../../../core/http.js';
import { inputOf, type RouteMiddleware } from '../../../core/routes.js';
import { UserError } from '../../../lib/errors.js';
import type { Deps } from '../../../plugin.js';
import { assignmentSubmissions, getSubmission, type Submission } from '../../submissions/store.js';
import { assignmentGrades } from '../grades.js';
import { actorOf, assignmentOf, courseOf, idOf } from '../policy.js';
import { getBatch, startRerun } from '../reruns.js';
import { studentsOf } from '../table.js';

/** What to re-run: one submission, every counted one, or all; against the current version or each one's own. */
export const rerunForm = z.object({
  scope: z.enum(['one', 'counted', 'all'], { message: 'choose one, counted or all.' }),
  version: z.enum(['current', 'own'], { message: 'choose current or own.' }).default('current'),
  submission: z.string().optional(),
});

/** Queues a re-run batch behind live submissions; 409 (JSON) or a notice when nothing matched. */
export function startRerunHandler(deps: Deps): RouteMiddleware {
  return async (ctx) => {
    const course = courseOf(ctx);
    const actor = actorOf(ctx);
    const current = assignmentOf(ctx, deps);
    ctx.state.audited = true;
    const { assignment } = current;
    const { scope, version, submission } = inputOf(ctx, rerunForm);
    let subs: Submission[];
    let target: string;
    if (scope === 'one') {
      const id = idOf(submission);
      const s = id === null ? undefined : getSubmission(deps.db, id);
      if (!s || s.assignmentId !== assignment.id) throw new UserError(404, 'There is no such submission of this assignment.');
      subs = [s];
      target = `${assignment.slug} / submission ${s.id}`;
    } else if (scope === 'counted') {
      subs = assignmentGrades(deps.db, current, studentsOf(deps, course))
        .map((g) => g.rerunTarget?.submission)
        .filter((s) => s !== undefined)
        // A team's counted submission is every member's: run it once.
        .filter((s, i, all) => all.findIndex((x) => x.id === s.id) === i);
      target = `${assignment.slug} / counted submissions`;
    } else {
      subs = assignmentSubmissions(deps.db, assignment.id);
      target = `${assignment.slug} / all submissions`;
    }
    const base = `/courses/${course.slug}/assignments/${assignment.slug}/students`;
    if (!subs.length) {
      if (wantsJson(ctx)) throw new UserError(409, 'There was nothing to re-run: no submissions matched.');
      return ctx.redirect(`${base}?done=nothing`);
    }
    const batch = startRerun(deps, { current, course: course.slug, scope, submissions: subs, ownVersion: version === 'own', actor, target });
    ctx.state.log.info({ course: course.slug, slug: assignment.slug, batch: batch.id, jobs: batch.jobs, scope, by: actor.email }, 're-run queued');
    if (wantsJson(ctx)) {
      ctx.status = 201;
      ctx.body = batch;
      return;
    }
    ctx.redirect(`${base}?done=rerun&jobs=${batch.jobs}#batch-${batch.id}`);
  };
}

/** A re-run batch's progress (JSON), or the students page at the batch. */
export function rerunBatch(deps: Deps): RouteMiddleware {
  return async (ctx) => {
    const course = courseOf(ctx);
    const current = assignmentOf(ctx, deps);
    const batch = getBatch(deps.db, current.assignment.id, ctx.params.batch ?? '');
    if (!batch) throw new UserError(404, 'There is no such re-run.');
    ctx.set('Cache-Control', 'no-store');
    if (wantsJson(ctx)) {
      ctx.body = batch;
      return;
    }
    ctx.redirect(`/courses/${course.slug}/assignments/${current.assignment.slug}/students#batch-${batch.id}`);
  };
}
