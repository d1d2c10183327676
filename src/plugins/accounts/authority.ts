import type { Db } from '../../db/open.js';
import type { CurrentUser, Role } from '../../lib/auth.js';
import type { Content } from '../../lib/content.js';
import { enrolmentsOf, type UserRow } from './users.js';

/**
 * The one home of the rule on who may vouch for an account: hand out the link that sets its
 * password, or correct its name while it has none. An e-mail address on a roster proves nothing
 * about who holds the link, so the power stays inside the course that brought the account in:
 *
 * - the operator (CLI) and site administrators may vouch for anyone;
 * - a lecturer may vouch only for an account their course's roster import created, that has no
 *   password yet, is no administrator, and holds no staff role (by enrolment or by a listing in a
 *   course.yaml) in a course they do not lecture.
 *
 * Another course importing an existing address only enrols it. The rule is checked when a link is
 * issued and again when it is used. Its counterpart is `staffListing`: a password set through a
 * course's link does not bring the staff roles other courses list for that address.
 */
export type Voucher = 'operator' | CurrentUser;

/** Staff role granted to `user` by the course.yaml of `course`, if any. */
export function staffListing(content: Content, course: string, user: { email: string; claimedVia?: string | null | undefined }): 'tutor' | 'lecturer' | null {
  const listed = content.course(course)?.staff.find((s) => s.email === user.email);
  if (!listed) return null;
  if (user.claimedVia && user.claimedVia !== course) return null;
  return listed.role;
}

/** Every course in which the account holds a staff role, by listing or by enrolment. */
function staffCourses(db: Db, content: Content, target: UserRow): string[] {
  const listed = content.courses.filter((c) => c.staff.some((s) => s.email === target.email)).map((c) => c.slug);
  const enrolled = enrolmentsOf(db, target.id)
    .filter((e) => e.role !== 'student')
    .map((e) => e.course);
  return [...new Set([...listed, ...enrolled])];
}

/**
 * Whether an account holds power beyond a student's: site administrator, or staff (by listing or
 * enrolment) in any course. A sign-in provider's word about an e-mail address may open a student
 * account, never one of these (src/plugins/accounts/oauth.ts): their owner connects a provider
 * while signed in.
 */
export function holdsStaffPower(deps: { db: Db; content: Content }, target: UserRow): boolean {
  return target.is_admin === 1 || staffCourses(deps.db, deps.content, target).length > 0;
}

/**
 * Whether `voucher`, acting for `course`, may set up the credentials of `target`. `lectures` says
 * in which courses the voucher is a lecturer (for a link issued before issuers were recorded: only
 * the link's own course).
 */
export function mayVouch(deps: { db: Db; content: Content }, voucher: Voucher | { lectures(course: string): boolean }, target: UserRow, course: string): boolean {
  if (voucher === 'operator' || ('isAdmin' in voucher && voucher.isAdmin)) return true;
  const lectures = 'lectures' in voucher ? voucher.lectures : lecturesFor(deps, voucher);
  if (target.is_admin === 1 || target.password_hash !== null) return false;
  if (!lectures(course) || target.created_in !== course) return false;
  return staffCourses(deps.db, deps.content, target).every(lectures);
}

/** The courses a signed-in (non-admin) user lectures: listed as lecturer, or enrolled as one. */
export function lecturesFor(deps: { db: Db; content: Content }, user: CurrentUser): (course: string) => boolean {
  const enrolled = new Map<string, Role>(enrolmentsOf(deps.db, user.id).map((e) => [e.course, e.role]));
  return (course) => {
    if (user.isAdmin) return true;
    const listed = staffListing(deps.content, course, user);
    return (listed ?? enrolled.get(course)) === 'lecturer';
  };
}
