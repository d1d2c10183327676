import path from 'node:path';
import type { CurrentUser } from '../../lib/auth.js';
import type { Course, StaffRole } from '../../lib/content.js';
import { UserError } from '../../lib/errors.js';
import type { Deps } from '../../plugin.js';
import { mayVouch } from '../accounts/authority.js';
import { issueSignupToken, signupUrl } from '../accounts/signup.js';
import { createUser, enrol, enrolmentRole, findUserByEmail, findUserById } from '../accounts/users.js';
import { recordAudit } from '../audit/store.js';
import { appointRefusal } from './rules.js';

/** The file that would win over the web for this course. */
export function courseFile(deps: Pick<Deps, 'content'>, course: Course): string {
  return path.relative(deps.content.root, path.join(course.dir, 'course.yaml')) || 'course.yaml';
}

export interface Appointed {
  email: string;
  name: string;
  role: StaffRole;
  /** A sign-up link to hand over, for an account without a password the actor may vouch for. */
  link: string | null;
  created: boolean;
  /** The link was also queued as a message to them (mail is configured). */
  mailed: boolean;
}

/**
 * Appoints one person to a course's staff in one transaction with its audit entry: an existing
 * account is enrolled with the role (nothing else about it changes), a new address gets an
 * account of this course without a password and a sign-up link, mailed to them in the same
 * transaction when the site sends mail, and shown once to the person who appointed either way
 * (a message can be lost in a spam folder; the appointer can hand it over).
 */
export function appoint(deps: Deps, course: Course, actor: CurrentUser, who: { email: string; name: string; role: StaffRole }): Appointed {
  const refusal = appointRefusal(actor, who.role);
  if (refusal) throw new UserError(403, refusal);
  const listed = course.staff.find((s) => s.email === who.email);
  if (listed) throw new UserError(409, `${who.email} is listed in ${courseFile(deps, course)} as ${listed.role}; change it there.`);
  return deps.db.transaction((): Appointed => {
    let row = findUserByEmail(deps.db, who.email);
    let created = false;
    if (row) {
      // A lecturer may not turn another lecturer into a tutor: that is taking a role away.
      if (!actor.isAdmin && enrolmentRole(deps.db, row.id, course.slug) === 'lecturer') throw new UserError(403, `${who.email} is a lecturer of this course; only the site administrator can change that.`);
      if (row.is_admin === 1 && !actor.isAdmin) throw new UserError(403, `${who.email} is a site administrator; they already have every role.`);
    } else {
      if (!who.name) throw new UserError(400, 'name: is required for someone without an account yet.');
      const id = createUser(deps.db, { email: who.email, name: who.name, createdIn: course.slug }, deps.clock);
      row = findUserById(deps.db, id)!;
      created = true;
    }
    enrol(deps.db, { userId: row.id, course: course.slug, role: who.role }, deps.clock);
    let link: string | null = null;
    let mailed = false;
    if (row.password_hash === null && mayVouch(deps, actor, row, course.slug)) {
      const { token, expiresAt } = issueSignupToken(deps.db, deps.clock, row.id, { course: course.slug, issuer: actor });
      link = signupUrl(deps.config.publicUrl, token);
      const queued = deps.services.mail.queue({
        kind: 'signup',
        template: 'mail/messages/signup.njk',
        vars: { name: row.name, email: row.email, url: link, expiresAt, course, issuer: actor.name },
        to: row.email,
        userId: row.id,
        course: course.slug,
      });
      mailed = queued !== null;
    }
    recordAudit(deps.db, { at: deps.clock.now(), actor, course: course.slug, action: 'course.staff_add', target: `${course.slug} / ${row.email}`, details: { role: who.role, newAccount: created } });
    return { email: row.email, name: row.name, role: who.role, link, created, mailed };
  })();
}
