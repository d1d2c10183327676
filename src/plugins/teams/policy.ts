import { accessRule, type Access } from '../../core/routes.js';
import { requireUser, roleIn } from '../../lib/auth.js';
import { UserError } from '../../lib/errors.js';
import type { Deps } from '../../plugin.js';
import { currentOr404, type Current } from '../assignments/store.js';
import { teamConfig, type TeamRules } from './rules.js';

/**
 * Who may use the team pages: any member of the course reads their own team page (students act
 * there when the assignment lets them form teams); staff see every team; lecturers change them.
 * Outsiders get the same 404 as for an assignment that does not exist.
 */

/** A member of the route's course (student or staff); signing in first, a 404 for everyone else. */
export const courseMember: Access = accessRule('course member', (ctx) => {
  requireUser(ctx);
  if (!roleIn(ctx, ctx.params.course ?? '')) throw new UserError(404, 'There is no such assignment.');
});

export type TeamAssignment = Current & { team: TeamRules };

/** The route's assignment, when it is a team assignment (404 otherwise). */
export function teamAssignment(deps: Deps, course: string, slug: string | undefined): TeamAssignment {
  const current = currentOr404(deps.db, course, slug);
  const team = teamConfig(current.version.config);
  if (!team) throw new UserError(404, 'This assignment is not a team assignment.');
  return { ...current, team };
}

const ID = /^\d{1,12}$/;

/** A numeric id in the path (:team, :invite, :user); anything else is "no such <what>" (404). */
export function idParam(text: string | undefined, what: string): number {
  if (!ID.test(text ?? '')) throw new UserError(404, `There is no such ${what}.`);
  return Number(text);
}
