import { isStaffRole, requireUser, roleIn } from '../../lib/auth.js';
import { UserError } from '../../lib/errors.js';
import { accessRule, type Access, type ParamLoader } from '../../core/routes.js';
import type { AppContext, Deps } from '../../plugin.js';
import { getAssignmentById, getVersion, type Assignment, type Version } from '../assignments/store.js';
import { ownsSubmission } from './owner.js';
import { getSubmission, type Submission } from './store.js';

export interface VisibleSubmission {
  submission: Submission;
  assignment: Assignment;
  version: Version;
  staff: boolean;
}

const SUBMISSION_ID = /^\d{1,12}$/;

/**
 * Who may see a submission, in one place: its owner (or a member of its team) and the staff of its
 * course. Everyone else, and an id that is not one of this course's submissions, gets the same
 * 404, so that nothing about a submission leaks. Signing in comes first (a browser is sent to the
 * sign-in page and back).
 */
export function visibleSubmission(ctx: AppContext, deps: Deps, course: string, idText: string): VisibleSubmission {
  const user = requireUser(ctx);
  const id = SUBMISSION_ID.test(idText) ? Number(idText) : NaN;
  const submission = Number.isFinite(id) ? getSubmission(deps.db, id) : undefined;
  const assignment = submission ? getAssignmentById(deps.db, submission.assignmentId) : undefined;
  const staff = isStaffRole(roleIn(ctx, course));
  if (!submission || !assignment || assignment.course !== course || (!staff && !ownsSubmission(deps.db, submission.id, user.id))) {
    throw new UserError(404, 'There is no such submission.');
  }
  const version = getVersion(deps.db, submission.versionId)!;
  return { submission, assignment, version, staff };
}

/** The `:id` of /courses/:course/…/submissions/:id: loads the submission the reader may see into ctx.state.visible. */
export function submissionParam(deps: Deps): ParamLoader {
  return (idText, ctx, next) => {
    ctx.state.visible = visibleSubmission(ctx, deps, ctx.params.course ?? '', idText);
    return next();
  };
}

/** The submission the route's `:id` loaded. */
export function visibleOf(ctx: AppContext): VisibleSubmission {
  const v = ctx.state.visible as VisibleSubmission | undefined;
  if (!v) throw new Error('visibleOf: the route has no :id submission parameter');
  return v;
}

/**
 * The assignment's own submissions (the list and the upload): anyone signed in with a role in the
 * course; everyone else gets the same 404 as for an assignment that does not exist.
 */
export const courseRole: Access = accessRule('course member', (ctx) => {
  requireUser(ctx);
  if (!roleIn(ctx, ctx.params.course ?? '')) throw new UserError(404, 'There is no such assignment.');
});

/**
 * A submission's own pages: its owner, a member of its team, or the course's staff. The `:id`
 * loader (submissionParam) has already decided, with one 404 for everyone else; this rule names it.
 */
export const seesSubmission: Access = accessRule('owner, team member or course staff (:id)', (ctx) => {
  visibleOf(ctx);
});
