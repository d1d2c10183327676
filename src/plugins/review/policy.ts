import { requireStaff, requireUser, roleIn, type CurrentUser } from '../../lib/auth.js';
import type { Course } from '../../lib/content.js';
import { UserError } from '../../lib/errors.js';
import { accessRule, type Access, type ParamLoader, type RouteContext } from '../../core/routes.js';
import type { AppContext, Deps } from '../../plugin.js';
import { currentOr404, currentVersion, type Current } from '../assignments/store.js';
import { visibleOf, visibleSubmission } from '../submissions/policy.js';
import type { Submission } from '../submissions/store.js';
import { isId } from './forms.js';
import { getRegrade, type Regrade } from './store.js';

/**
 * Who may see and do what in manual grading (the server decides; pages only hide what a role
 * cannot use):
 * - tutors and lecturers of the course: read every submission, grade (apply rubric items,
 *   adjust, comment, mark graded), answer regrade requests, assign graders;
 * - lecturers: also change the rubric's definition and release grades, unless course.yaml's
 *   `tutors_can` lets tutors do one or both;
 * - a student: their own submissions' manual grades and comments once released (the student who
 *   handed it in, not the rest of a team), and regrade requests on them within the window;
 * - everyone else: 404, so that nothing about a submission leaks.
 *
 * The submission of a `/courses/:course/…/submissions/:id` route is loaded by the submissions
 * plugin's `:id` loader (owner, team member or staff; 404 otherwise); the rules below narrow it.
 */

export type StaffPower = 'edit_rubric' | 'release';

const POWER_TEXT: Record<StaffPower, string> = { edit_rubric: 'change the rubric', release: 'release grades' };

export function mayDo(ctx: AppContext, course: Course, power: StaffPower): boolean {
  const role = roleIn(ctx, course.slug);
  return role === 'lecturer' || (role === 'tutor' && (course.tutorsCan ?? []).includes(power));
}

function noSuchSubmission(): never {
  throw new UserError(404, 'There is no such submission.');
}

/** The route's submission is for staff only: 404 to its student, as to anyone else. */
function staffOnSubmission(ctx: RouteContext): void {
  if (!visibleOf(ctx).staff) noSuchSubmission();
}

/** The student who handed the submission in, or staff (a team mate who did not: 404). */
function submitterOrStaffCheck(ctx: RouteContext): CurrentUser {
  const user = requireUser(ctx);
  const v = visibleOf(ctx);
  if (!v.staff && v.submission.userId !== user.id) noSuchSubmission();
  return user;
}

/** Staff of the course, on a submission of the course (its student gets the same 404 as anyone). */
export const submissionStaff: Access = accessRule('course staff', staffOnSubmission);

/** The student who handed the submission in, or the course's staff. */
export const submitterOrStaff: Access = accessRule('the submitting student or course staff', (ctx) => {
  submitterOrStaffCheck(ctx);
});

/** The student who handed the submission in; staff are told (403) that only they may. */
export const submitter: Access = accessRule('the submitting student', (ctx) => {
  const user = submitterOrStaffCheck(ctx);
  if (visibleOf(ctx).submission.userId !== user.id) throw new UserError(403, 'Only the student who submitted can ask for a regrade.');
});

/**
 * Lecturers, or tutors when course.yaml's `tutors_can` lists the power; other tutors are told
 * (403) that only lecturers can; everyone else 404 (on a submission's route, its own 404; on an
 * assignment's route, an unknown assignment is a 404 before the 403). Made once per app:
 * `const power = powers(deps)`, then `power('release')` on the route line.
 */
export function powers(deps: Deps): (p: StaffPower) => Access {
  return (p) =>
    accessRule(`lecturer, or tutor with tutors_can ${p}`, (ctx) => {
      if (ctx.params.id !== undefined) staffOnSubmission(ctx);
      const course = ctx.state.course!;
      requireStaff(ctx, course.slug);
      if (ctx.params.slug !== undefined) currentOf(ctx, deps);
      if (!mayDo(ctx, course, p)) throw new UserError(403, `Only lecturers can ${POWER_TEXT[p]} in this course.`);
    });
}

export interface Loaded {
  course: Course;
  submission: Submission;
  current: Current;
  user: CurrentUser;
  staff: boolean;
}

/** The route's submission (loaded and checked by the `:id` loader and the route's rule) with its assignment's current version. */
export function loaded(ctx: RouteContext, deps: Deps): Loaded {
  const v = visibleOf(ctx);
  const course = ctx.state.course!;
  const current = currentVersion(deps.db, course.slug, v.assignment.slug) ?? { assignment: v.assignment, version: v.version };
  return { course, submission: v.submission, current, user: ctx.state.user!, staff: v.staff };
}

/** The route's assignment (`:slug`) at its current version, or 404. */
export function currentOf(ctx: RouteContext, deps: Deps): Current {
  return currentOr404(deps.db, ctx.state.course!.slug, ctx.params.slug);
}

// ---- regrade requests (`:rid`) ----

export interface LoadedRegrade extends Loaded {
  regrade: Regrade;
}

/**
 * The `:rid` of /courses/:course/regrades/:rid: the request and its submission, for a signed-in
 * reader who may see the submission (the route's rule narrows it); 404 otherwise.
 */
export function regradeParam(deps: Deps): ParamLoader {
  return (ridText, ctx, next) => {
    requireUser(ctx);
    const course = ctx.state.course!;
    const regrade = getRegrade(deps.db, isId(ridText) ? Number(ridText) : -1);
    if (!regrade) throw new UserError(404, 'There is no such regrade request.');
    ctx.state.visible = visibleSubmission(ctx, deps, course.slug, String(regrade.submissionId));
    ctx.state.regradeRequest = regrade;
    return next();
  };
}

/** The regrade request the route's `:rid` loaded, with its submission. */
export function regradeOf(ctx: RouteContext, deps: Deps): LoadedRegrade {
  const regrade = ctx.state.regradeRequest as Regrade | undefined;
  if (!regrade) throw new Error('regradeOf: the route has no :rid parameter');
  return { ...loaded(ctx, deps), regrade };
}

function regradeReaderCheck(ctx: RouteContext): boolean {
  const user = submitterOrStaffCheck(ctx);
  const staff = visibleOf(ctx).staff;
  if (!staff && (ctx.state.regradeRequest as Regrade).userId !== user.id) throw new UserError(404, 'There is no such regrade request.');
  return staff;
}

/** The student who asked, or the course's staff. */
export const regradeReader: Access = accessRule('the asking student or course staff', (ctx) => {
  regradeReaderCheck(ctx);
});

/** The course's staff; the student who asked is told (403) that only staff can close it. */
export const regradeStaff: Access = accessRule('course staff', (ctx) => {
  if (!regradeReaderCheck(ctx)) throw new UserError(403, 'Only staff can close a regrade request.');
});
