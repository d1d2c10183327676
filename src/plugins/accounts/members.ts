import type { Role } from '../../lib/auth.js';
import type { Deps } from '../../plugin.js';
import { roleResolver } from '../../middleware/session.js';
import { findUserByEmail, findUserById, toCurrentUser, type UserRow } from './users.js';

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
