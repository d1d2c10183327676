import type { RouteContext } from '../../core/routes.js';
import { roleIn, type CurrentUser } from '../../lib/auth.js';
import type { Course } from '../../lib/content.js';
import type { Deps } from '../../plugin.js';
import { currentOr404, type Current } from '../assignments/store.js';

/**
 * Who may do what (the server decides; pages only hide what a role cannot use), declared on each
 * route line in routes.ts:
 * - outsiders, students and staff of other courses: 404 for everything here (`staff`);
 * - tutors: the dashboard, the students page, the gradebook, the histogram, and re-runs
 *   (re-running tests changes no grade rule, and tutors are the ones who notice a broken run);
 * - lecturers (and site admins): also extensions, weights, the CSV export and the submissions
 *   zip (`lecturer(what)`);
 * - the audit log: site admins only (the audit plugin).
 * The helpers below read what the route's access rule has already checked.
 */

/** The route's course, loaded by the core's `:course` loader. */
export function courseOf(ctx: RouteContext): Course {
  return ctx.state.course!;
}

/** The signed-in member of staff the route's access rule let through. */
export function actorOf(ctx: RouteContext): CurrentUser {
  return ctx.state.user!;
}

/** Whether the member of staff is a lecturer of the route's course (pages show lecturers' controls). */
export function isLecturer(ctx: RouteContext): boolean {
  return roleIn(ctx, courseOf(ctx).slug) === 'lecturer';
}

/** The route's assignment (`:slug`) as it is now; 404 when the course has no such assignment. */
export function assignmentOf(ctx: RouteContext, deps: Pick<Deps, 'db'>): Current {
  return currentOr404(deps.db, courseOf(ctx).slug, ctx.params.slug);
}

/** A row id typed in a form (a student, a submission): its number, or null when it is not one. */
export function idOf(text: string | undefined): number | null {
  return /^\d{1,12}$/.test(text ?? '') ? Number(text) : null;
}
