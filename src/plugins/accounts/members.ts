import type { Role } from '../../lib/auth.js';
import type { Course, StaffRole } from '../../lib/content.js';
import type { Deps } from '../../plugin.js';
import { roleResolver } from './session.js';
import { findUserByEmail, findUserById, listEnrolled, toCurrentUser, type UserRow } from './users.js';

/**
 * The one way for a course's staff to name a person (`?user=`, `?as=`, `/variants/:user/...`):
 * by id or e-mail, answered only for members of that course (enrolled, or listed as its staff).
 * A non-member and an unknown reference get the same null, so staff of one course learn nothing
 * about the accounts of another, not even that they exist.
 */
export function findMember(deps: Pick<Deps, 'db' | 'content'>, course: string, ref: string | number | undefined | null): { row: UserRow; role: Role } | null {
  if (ref === undefined || ref === null) return null;
  const text = String(ref).trim();
  let row: UserRow | undefined;
  if (/^\d{1,15}$/.test(text)) row = findUserById(deps.db, Number(text));
  else if (text.includes('@') && text.length <= 254) row = findUserByEmail(deps.db, text);
  if (!row) return null;
  const role = roleResolver(deps, toCurrentUser(row))(course);
  return role ? { row, role } : null;
}

/**
 * One person on a course's staff: listed in its course.yaml (the file's role, changed only in the
 * file), or appointed on the web (an enrolment row with role tutor or lecturer in that course).
 * Who may change them is the courses plugin's rule (src/plugins/courses/rules.ts).
 */
export interface StaffMember {
  userId: number | null;
  email: string;
  name: string;
  role: StaffRole;
  from: 'file' | 'web';
  hasPassword: boolean;
}

/** A course's staff: those its course.yaml lists first, then those appointed on the web. */
export function staffOf(deps: Pick<Deps, 'db'>, course: Course): StaffMember[] {
  const listed = new Set(course.staff.map((s) => s.email));
  const fromFile = course.staff.map((s): StaffMember => {
    const row = findUserByEmail(deps.db, s.email);
    return { userId: row?.id ?? null, email: s.email, name: row?.name ?? '(no account yet)', role: s.role, from: 'file', hasPassword: !!row?.password_hash };
  });
  const fromWeb = listEnrolled(deps.db, course.slug)
    .filter((e) => e.role !== 'student' && !listed.has(e.email))
    .map((e): StaffMember => ({ userId: e.id, email: e.email, name: e.name, role: e.role as StaffRole, from: 'web', hasPassword: e.hasPassword }));
  return [...fromFile, ...fromWeb];
}
