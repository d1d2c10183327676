import { wantsJson } from '../../../core/http.js';
import { inputOf, type RouteContext } from '../../../core/routes.js';
import type { Deps } from '../../../plugin.js';
import { releaseForm } from '../forms.js';
import { currentOf, loaded } from '../policy.js';
import { gradesReleasedAt } from '../release.js';
import * as store from '../store.js';
import { auditEntry, staffUrl } from './common.js';

/** Releasing manual grades to one student or to the whole assignment, and withdrawing a release. */
export function releaseHandlers(deps: Deps) {
  return {
    async student(ctx: RouteContext) {
      const l = loaded(ctx, deps);
      const withdraw = inputOf(ctx, releaseForm).action === 'withdraw';
      deps.db.transaction(() => {
        const changed = withdraw
          ? store.withdrawRelease(deps.db, l.current.assignment.id, l.submission.userId)
          : store.release(deps.db, { assignmentId: l.current.assignment.id, userId: l.submission.userId, at: deps.clock.now(), by: l.user.id });
        if (changed) auditEntry(deps, ctx, l.course.slug, withdraw ? 'review.release_withdraw' : 'review.release_student', `${l.current.assignment.slug} / user ${l.submission.userId}`, { userId: l.submission.userId });
      })();
      if (wantsJson(ctx)) {
        ctx.body = { ok: true, releasedAt: gradesReleasedAt(deps.db, l.current.assignment.id, l.submission.userId) };
        return;
      }
      ctx.redirect(`${staffUrl(l.course.slug, l.submission.id)}?done=${withdraw ? 'withdrawn' : 'released'}`);
    },

    async assignment(ctx: RouteContext) {
      const course = ctx.state.course!;
      const current = currentOf(ctx, deps);
      const actor = ctx.state.user!;
      const withdraw = inputOf(ctx, releaseForm).action === 'withdraw';
      deps.db.transaction(() => {
        const changed = withdraw
          ? store.withdrawRelease(deps.db, current.assignment.id, store.WHOLE_ASSIGNMENT)
          : store.release(deps.db, { assignmentId: current.assignment.id, userId: store.WHOLE_ASSIGNMENT, at: deps.clock.now(), by: actor.id });
        if (changed) auditEntry(deps, ctx, course.slug, withdraw ? 'review.release_withdraw' : 'review.release_all', `${current.assignment.slug} / all students`, {});
      })();
      if (wantsJson(ctx)) {
        ctx.body = { ok: true, releases: store.releasesOf(deps.db, current.assignment.id) };
        return;
      }
      ctx.redirect(`/courses/${course.slug}/assignments/${current.assignment.slug}/grading?done=${withdraw ? 'withdrawn' : 'released'}`);
    },
  };
}
