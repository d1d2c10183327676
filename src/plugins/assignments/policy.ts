import type { RouteContext, RouteMiddleware } from '../../core/routes.js';
import { isStaffRole, roleIn, type CurrentUser } from '../../lib/auth.js';
import { UserError } from '../../lib/errors.js';
import type { AppContext, Deps } from '../../plugin.js';
import { currentOr404, currentOrPending, NOT_OPEN_YET, type Current } from './store.js';

/**
 * Loads the route's assignment and its current version (`ctx.state.current`), 404 "There is no
 * such assignment." when the course has none by that `:slug`. Written on the route line after the
 * access rule, so that an outsider is answered by the rule (sign in, or 404) as before, never told
 * whether the assignment exists. Not a `router.param` loader: that would run before every
 * plugin's access rule on /courses/:course/assignments/:slug/….
 */
export function assignment(deps: Pick<Deps, 'db'>): RouteMiddleware {
  return (ctx, next) => {
    ctx.state.current = currentOr404(deps.db, ctx.state.course!.slug, ctx.params.slug);
    return next();
  };
}

/**
 * The same for the assignment's own page: while a new assignment's first version waits for its
 * self-check, a page (409) that says it is not open yet, to staff with a link to the check.
 */
export function assignmentPage(deps: Pick<Deps, 'db'>): RouteMiddleware {
  const load = assignment(deps);
  return (ctx, next) => {
    const course = ctx.state.course!;
    const waiting = currentOrPending(deps.db, course.slug, ctx.params.slug);
    if (waiting && waiting.assignment.currentVersionId === null) {
      const { isStaff } = roleOf(ctx);
      ctx.render('assignments/not-open.njk', { course, slug: waiting.assignment.slug, title: waiting.version.config.title, isStaff, isStaffView: isStaff, message: NOT_OPEN_YET });
      ctx.status = 409;
      ctx.set('Retry-After', '60');
      return Promise.resolve();
    }
    return load(ctx, next);
  };
}

/**
 * The same for staff pages that also serve an assignment with no current version yet (its first
 * version waits for its self-check): that version is loaded instead, so staff see the check and
 * can confirm it. Handlers tell the two apart by `assignment.currentVersionId`.
 */
export function assignmentForStaff(deps: Pick<Deps, 'db'>): RouteMiddleware {
  return (ctx, next) => {
    const current = currentOrPending(deps.db, ctx.state.course!.slug, ctx.params.slug);
    if (!current) throw new UserError(404, 'There is no such assignment.');
    ctx.state.current = current;
    return next();
  };
}

function isCurrent(value: unknown): value is Current {
  return typeof value === 'object' && value !== null && 'assignment' in value && 'version' in value;
}

/** The assignment `assignment(deps)` loaded for this route. */
export function currentOf(ctx: AppContext): Current {
  const current = ctx.state.current;
  if (!isCurrent(current)) throw new Error('currentOf: the route declares no assignment(deps) loader');
  return current;
}

/** The signed-in member's standing in the route's course (after the `member` access rule). */
export function roleOf(ctx: RouteContext): { isStaff: boolean; isLecturer: boolean } {
  const role = roleIn(ctx, ctx.state.course!.slug);
  return { isStaff: !!role && isStaffRole(role), isLecturer: role === 'lecturer' };
}

/** Whether a student (not staff) may not see the assignment yet. */
export function notOpenFor(isStaff: boolean, current: Current, now: number): boolean {
  return !isStaff && current.version.config.opensAt !== null && now < current.version.config.opensAt;
}

/** The signed-in user a route's access rule (member, staff, lecturer) let through. */
export function userOf(ctx: AppContext): CurrentUser {
  const user = ctx.state.user;
  if (!user) throw new Error('userOf: the route declares no access rule that signs in');
  return user;
}
