import type { AppContext } from './context.js';
import { UserError } from './errors.js';

export type Role = 'student' | 'tutor' | 'lecturer';

export interface CurrentUser {
  id: number;
  email: string;
  name: string;
  studentId: string | null;
  isAdmin: boolean;
  /**
   * The course whose sign-up link set the password, when one did: staff listings by e-mail in other
   * courses do not apply (src/plugins/accounts/authority.ts).
   */
  claimedVia?: string | null;
}

export function isStaffRole(role: Role | null): role is 'tutor' | 'lecturer' {
  return role === 'tutor' || role === 'lecturer';
}

/** The signed-in user, or null. Filled by the accounts plugin's session middleware. */
export function currentUser(ctx: AppContext): CurrentUser | null {
  return ctx.state.user ?? null;
}

/** The user's role in a course (a site admin counts as lecturer everywhere). */
export function roleIn(ctx: AppContext, course: string): Role | null {
  return ctx.state.roleIn ? ctx.state.roleIn(course) : null;
}

/** Browsers go to the login page and come back; API clients get 401. */
export function requireUser(ctx: AppContext): CurrentUser {
  const user = currentUser(ctx);
  if (user) return user;
  if (ctx.accepts('html', 'json') === 'html' && ctx.method === 'GET') {
    ctx.redirect(`/login?next=${encodeURIComponent(ctx.originalUrl)}`);
    throw new UserError(302, 'Sign in first.');
  }
  throw new UserError(401, 'Sign in first.');
}

/**
 * Staff-only resources answer 404 to everyone else, so their existence is not leaked.
 * `roles` defaults to tutor and lecturer.
 */
export function requireRole(ctx: AppContext, course: string, roles: Role[] = ['tutor', 'lecturer']): CurrentUser {
  const user = requireUser(ctx);
  const role = roleIn(ctx, course);
  if (!role || !roles.includes(role)) throw new UserError(404, 'Not found.');
  return user;
}

/** A course's tutor or lecturer (404 for everyone else), and whether they are its lecturer. */
export function requireStaff(ctx: AppContext, course: string): { user: CurrentUser; isLecturer: boolean } {
  const user = requireRole(ctx, course, ['tutor', 'lecturer']);
  return { user, isLecturer: roleIn(ctx, course) === 'lecturer' };
}

/** A course's lecturer; a tutor is told (403) that only lecturers may do `what`. */
export function requireLecturer(ctx: AppContext, course: string, what: string): CurrentUser {
  const { user, isLecturer } = requireStaff(ctx, course);
  if (!isLecturer) throw new UserError(403, `Only lecturers can ${what}.`);
  return user;
}
