import { z } from 'zod';
import { wantsJson } from '../../../core/http.js';
import { inputOf, type RouteMiddleware } from '../../../core/routes.js';
import { UserError } from '../../../lib/errors.js';
import type { Deps } from '../../../plugin.js';
import { findMember } from '../../accounts/members.js';
import { grantExtension, MAX_EXTENSION_MS, revokeExtension } from '../extensions.js';
import { when } from '../format.js';
import type { Student } from '../grades.js';
import { actorOf, assignmentOf, courseOf, idOf } from '../policy.js';
import { studentsOf } from '../table.js';
import { instantToZoned, zonedToInstant } from '../../../lib/zoned.js';
import { renderStudents } from './students.js';

/**
 * The extension form: a student and a new deadline in the course's zone. Read as given: what is
 * wrong with it is said on the students page, re-rendered with what was typed (422).
 */
export const extensionForm = z.object({ user: z.string().optional(), until: z.string().optional() });

/** Grants (or moves) a student's extension; the page again with the problem when the form is wrong. */
export function grantExtensionHandler(deps: Deps): RouteMiddleware {
  return async (ctx) => {
    const course = courseOf(ctx);
    const actor = actorOf(ctx);
    const current = assignmentOf(ctx, deps);
    // This plugin writes its own audit entries, inside the transaction that makes the change.
    ctx.state.audited = true;
    const form = inputOf(ctx, extensionForm);
    const fail = (message: string) => {
      if (wantsJson(ctx)) throw new UserError(422, message);
      renderStudents(ctx, deps, current, { error: message, extensionForm: { user: Number(form.user) || null, until: form.until ?? '' } });
      ctx.status = 422;
    };
    const id = idOf(form.user);
    const student: Student | undefined = id === null ? undefined : studentsOf(deps, course).find((x) => x.id === id);
    if (!student) return fail('user: choose a student enrolled in this course.');
    const until = zonedToInstant(form.until ?? '', course.timezone);
    if (until === null) return fail(`until: give the new deadline as a date and time, like ${instantToZoned(current.version.config.deadlineAt, course.timezone, ' ')} (${course.timezone}, 24-hour).`);
    const deadline = current.version.config.deadlineAt;
    if (until <= deadline) return fail(`until: an extension must be later than the deadline everyone has (${when(deadline, course)}).`);
    if (until > deadline + MAX_EXTENSION_MS) return fail('until: an extension can be at most a year past the deadline; check the year.');
    const change = grantExtension(deps, { current, course: course.slug, student, until, actor });
    ctx.state.log.info({ course: course.slug, slug: current.assignment.slug, user: student.id, until, by: actor.email, repriced: change.repriced }, 'extension granted');
    if (wantsJson(ctx)) {
      ctx.body = { user: student.id, until: new Date(until).toISOString(), repriced: change.repriced };
      return;
    }
    ctx.redirect(`/courses/${course.slug}/assignments/${current.assignment.slug}/students?done=extended&repriced=${change.repriced}`);
  };
}

/** Revokes a student's extension (`:user`, an id or e-mail); 404 when they have none. */
export function revokeExtensionHandler(deps: Deps): RouteMiddleware {
  return async (ctx) => {
    const course = courseOf(ctx);
    const actor = actorOf(ctx);
    const current = assignmentOf(ctx, deps);
    ctx.state.audited = true;
    const row = findMember(deps, course.slug, ctx.params.user)?.row;
    if (!row) throw new UserError(404, 'There is no such student in this course.');
    const change = revokeExtension(deps, { current, course: course.slug, student: { id: row.id, email: row.email, name: row.name, studentId: row.student_id }, actor });
    if (!change) throw new UserError(404, `${row.name} has no extension for this assignment.`);
    ctx.state.log.info({ course: course.slug, slug: current.assignment.slug, user: row.id, by: actor.email }, 'extension revoked');
    if (wantsJson(ctx)) {
      ctx.body = { user: row.id, revoked: true, repriced: change.repriced };
      return;
    }
    ctx.redirect(`/courses/${course.slug}/assignments/${current.assignment.slug}/students?done=revoked&repriced=${change.repriced}`);
  };
}
