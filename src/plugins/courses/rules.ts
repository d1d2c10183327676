import type { CurrentUser } from '../../lib/auth.js';
import type { StaffRole } from '../../lib/content.js';
import type { StaffMember } from '../accounts/members.js';

/**
 * Who a course's staff are, and who may change them. Where a course's settings come from (file
 * or web) is decided in src/lib/content.ts (mergeCourses); this is the staff half of that rule:
 *
 * - listed in course.yaml: the file's role, shown as "from course.yaml", changed only in the file;
 * - appointed on the web: an enrolment row with role tutor or lecturer in that course only;
 * - the administrator appoints and removes lecturers and tutors; a course's lecturer appoints and
 *   removes tutors of that course, and edits that course's settings when it has no course.yaml.
 *   Nobody's power reaches another course: every route is under /courses/<slug>/ and checks the
 *   role in that course alone.
 *
 * Who is on the staff (staffOf) is read from the accounts' tables, in src/plugins/accounts/members.ts.
 */

/** Why `actor` may not give `role` in this course, or null when they may. */
export function appointRefusal(actor: CurrentUser, role: StaffRole): string | null {
  if (actor.isAdmin || role === 'tutor') return null;
  return 'Only the site administrator can appoint lecturers; a lecturer can add tutors.';
}

/** Why `actor` may not remove `member` from the course's staff, or null when they may. */
export function removalRefusal(actor: CurrentUser, member: StaffMember, courseFile: string): { status: 403 | 409; message: string } | null {
  if (member.from === 'file') return { status: 409, message: `${member.email} is listed in ${courseFile}; remove them there (the file is the source of truth for the people it lists).` };
  if (member.role === 'lecturer' && !actor.isAdmin) return { status: 403, message: 'Only the site administrator can remove a lecturer; a lecturer can remove tutors.' };
  return null;
}
