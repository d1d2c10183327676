import { isStaffRole, requireStaff, requireUser, roleIn, type CurrentUser } from '../../lib/auth.js';
import { courseOr404, type Course } from '../../lib/content.js';
import { UserError } from '../../lib/errors.js';
import type { AppContext, Deps } from '../../plugin.js';
import { getAssignmentById, getVersion, currentVersion, type Current } from '../assignments/store.js';
import { getSubmission, type Submission } from '../submissions/store.js';

/**
 * Who may see and do what in manual grading (the server decides; pages only hide what a role
 * cannot use):
 * - tutors and lecturers of the course: read every submission, grade (apply rubric items,
 *   adjust, comment, mark graded), answer regrade requests, assign graders;
 * - lecturers: also change the rubric's definition and release grades, unless course.yaml's
 *   `tutors_can` lets tutors do one or both;
 * - a student: their own submissions' manual grades and comments once released, and regrade
 *   requests on them within the window;
 * - everyone else: 404, so that nothing about a submission leaks.
 */
/** A route handler's context: AppContext with the route's parameters. */
export type RouteContext = AppContext & { params: Record<string, string | undefined> };

export type StaffPower = 'edit_rubric' | 'release';

const POWER_TEXT: Record<StaffPower, string> = { edit_rubric: 'change the rubric', release: 'release grades' };

export function mayDo(ctx: AppContext, course: Course, power: StaffPower): boolean {
  const role = roleIn(ctx, course.slug);
  return role === 'lecturer' || (role === 'tutor' && (course.tutorsCan ?? []).includes(power));
}

export function requirePower(ctx: AppContext, course: Course, power: StaffPower): CurrentUser {
  const { user } = requireStaff(ctx, course.slug);
  if (!mayDo(ctx, course, power)) throw new UserError(403, `Only lecturers can ${POWER_TEXT[power]} in this course.`);
  return user;
}

export interface Loaded {
  course: Course;
  submission: Submission;
  current: Current;
  user: CurrentUser;
  staff: boolean;
}

/** A submission of the course with its assignment's current version; staff or the owner only (404 otherwise). */
export function loadSubmission(ctx: RouteContext, deps: Deps, opts: { staffOnly: boolean }): Loaded {
  const user = requireUser(ctx);
  const course = courseOr404(deps.content, ctx.params.course);
  const idText = ctx.params.id ?? '';
  const id = /^\d{1,12}$/.test(idText) ? Number(idText) : NaN;
  const submission = Number.isFinite(id) ? getSubmission(deps.db, id) : undefined;
  const assignment = submission ? getAssignmentById(deps.db, submission.assignmentId) : undefined;
  const staff = isStaffRole(roleIn(ctx, course.slug));
  if (!submission || !assignment || assignment.course !== course.slug || (!staff && (opts.staffOnly || submission.userId !== user.id))) {
    throw new UserError(404, 'There is no such submission.');
  }
  const current = currentVersion(deps.db, course.slug, assignment.slug) ?? { assignment, version: getVersion(deps.db, submission.versionId)! };
  return { course, submission, current, user, staff };
}

/** A positive whole number from a form or URL, or a 400 naming the field. */
export function idFrom(value: string | undefined, field: string): number {
  if (!value || !/^\d{1,12}$/.test(value)) throw new UserError(400, `${field}: give a number.`);
  return Number(value);
}

/** A number of points (may be negative, at most three decimals shown), or a 400 naming the field. */
export function pointsFrom(value: string | undefined, field: string, opts: { min?: number; max?: number } = {}): number {
  const text = (value ?? '').trim().replace(',', '.').replace('−', '-');
  const n = /^[-+]?\d{1,6}(\.\d{1,3})?$/.test(text) ? Number(text) : NaN;
  const min = opts.min ?? -1000;
  const max = opts.max ?? 1000;
  if (!Number.isFinite(n)) throw new UserError(400, `${field}: give a number of points, like 2 or -0.5.`);
  if (n < min || n > max) throw new UserError(400, `${field}: must be between ${min} and ${max}.`);
  return n;
}

/** Markdown text from a form, or a 400/422 naming the field. */
export function textFrom(value: string | undefined, field: string, max: number, required = true): string {
  const text = (value ?? '').replace(/\r\n?/g, '\n').split('\u0000').join('').trim();
  if (required && !text) throw new UserError(400, `${field}: write something.`);
  if (text.length > max) throw new UserError(422, `${field}: at most ${max} characters (this has ${text.length}).`);
  return text;
}
