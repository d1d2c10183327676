import { inputOf, type RouteContext } from '../../core/routes.js';
import type { Course } from '../../lib/content.js';
import { UserError } from '../../lib/errors.js';
import type { AppContext, Deps } from '../../plugin.js';
import { staffOf } from '../accounts/members.js';
import { SIGNUP_TTL_DAYS } from '../accounts/signup.js';
import { unenrol } from '../accounts/users.js';
import { recordAudit } from '../audit/store.js';
import { appoint, courseFile } from './appoint.js';
import { newCourseForm, settingsForm, staffForm, staffRemoveForm } from './forms.js';
import { removalRefusal } from './rules.js';
import { insertWebCourse, listWebCourses, updateWebCourse, webCourse } from './store.js';

/**
 * The handlers of the courses plugin (routes.ts declares who may call them): the administrator's
 * course list, and one course's settings and staff for its lecturers. Each change writes its own
 * audit entry, in the transaction that makes it, and marks the request audited.
 */
export function courseHandlers(deps: Deps) {
  function renderAdmin(ctx: AppContext, extra: Record<string, unknown> = {}) {
    const web = new Map(listWebCourses(deps.db).map((w) => [w.slug, w]));
    ctx.set('Cache-Control', 'no-store');
    ctx.render('courses/admin.njk', {
      isStaffView: true,
      courses: deps.content.courses.map((c) => ({
        slug: c.slug,
        title: c.title,
        code: c.code,
        source: c.source ?? 'file',
        file: c.source === 'web' ? null : courseFile(deps, c),
        shadowed: c.source !== 'web' && web.has(c.slug),
        lecturers: staffOf(deps, c)
          .filter((s) => s.role === 'lecturer')
          .map((s) => s.email),
      })),
      problem: deps.content.problem ?? null,
      contentRoot: deps.content.root,
      ...extra,
    });
  }

  function adminPage(ctx: RouteContext) {
    renderAdmin(ctx);
  }

  function create(ctx: RouteContext) {
    const actor = ctx.state.user!;
    const { slug, lecturers, ...fields } = inputOf(ctx, newCourseForm);
    if (deps.content.course(slug) || webCourse(deps.db, slug)) throw new UserError(409, `slug: there is already a course "${slug}".`);
    const settings = { slug, ...fields };
    deps.db.transaction(() => {
      insertWebCourse(deps.db, settings, actor.email, deps.clock.now());
      recordAudit(deps.db, { at: deps.clock.now(), actor, course: slug, action: 'course.create', target: slug, details: { title: settings.title } });
    })();
    deps.content.refresh?.();
    const course = deps.content.course(slug)!;
    const appointed = [...new Set(lecturers)].map((email) => appoint(deps, course, actor, { email, name: email.split('@')[0]!, role: 'lecturer' }));
    ctx.state.audited = true;
    ctx.state.log.info({ course: slug, lecturers: appointed.length, by: actor.email }, 'course created on the web');
    renderAdmin(ctx, { flash: { kind: 'ok', message: `Course "${settings.title}" (${slug}) created. It is live now at /courses/${slug}/.` }, appointed, linkDays: SIGNUP_TTL_DAYS });
  }

  function rescan(ctx: RouteContext) {
    deps.content.refresh?.();
    ctx.state.audited = true;
    ctx.redirect('/admin/courses?done=rescanned');
  }

  // ---- one course: its settings and staff, for its lecturers (and the administrator) ----

  function renderSettings(ctx: AppContext, course: Course, extra: Record<string, unknown> = {}) {
    const user = ctx.state.user!;
    const web = webCourse(deps.db, course.slug);
    ctx.set('Cache-Control', 'no-store');
    ctx.render('courses/settings.njk', {
      isStaffView: true,
      course,
      file: course.source === 'web' ? null : courseFile(deps, course),
      shadowed: course.source !== 'web' && !!web,
      staff: staffOf(deps, course),
      isAdmin: user.isAdmin,
      userId: user.id,
      linkDays: SIGNUP_TTL_DAYS,
      ...extra,
    });
  }

  const DONE: Record<string, string> = { saved: 'Settings saved. They apply now.', removed: 'Removed from the staff. Their account and anything they did are kept.' };

  function settingsPage(ctx: RouteContext) {
    const done = typeof ctx.query.done === 'string' ? DONE[ctx.query.done] : undefined;
    renderSettings(ctx, ctx.state.course!, done ? { flash: { kind: 'ok', message: done } } : {});
  }

  function saveSettings(ctx: RouteContext) {
    const course = ctx.state.course!;
    const actor = ctx.state.user!;
    if (course.source !== 'web') throw new UserError(409, `This course's settings come from ${courseFile(deps, course)}; edit the file (it is picked up within a second, no restart).`);
    const settings = { slug: course.slug, ...inputOf(ctx, settingsForm) };
    deps.db.transaction(() => {
      updateWebCourse(deps.db, settings, deps.clock.now());
      recordAudit(deps.db, { at: deps.clock.now(), actor, course: course.slug, action: 'course.settings', target: course.slug, details: { title: settings.title, code: settings.code, term: settings.term, timezone: settings.timezone } });
    })();
    deps.content.refresh?.();
    ctx.state.audited = true;
    ctx.redirect(`/courses/${course.slug}/settings?done=saved`);
  }

  function addStaff(ctx: RouteContext) {
    const course = ctx.state.course!;
    const actor = ctx.state.user!;
    const { role, email, name } = inputOf(ctx, staffForm);
    const appointed = appoint(deps, course, actor, { email, name, role });
    ctx.state.audited = true;
    ctx.state.log.info({ course: course.slug, email: appointed.email, role, newAccount: appointed.created, by: actor.email }, 'staff appointed');
    renderSettings(ctx, course, { flash: { kind: 'ok', message: `${appointed.name} (${appointed.email}) is now ${role === 'tutor' ? 'a tutor' : 'a lecturer'} of this course.` }, appointed: [appointed] });
  }

  function removeStaff(ctx: RouteContext) {
    const course = ctx.state.course!;
    const actor = ctx.state.user!;
    const { user } = inputOf(ctx, staffRemoveForm);
    const member = staffOf(deps, course).find((s) => s.userId !== null && String(s.userId) === user);
    if (!member) throw new UserError(404, 'user: that person is not on the staff of this course.');
    const refusal = removalRefusal(actor, member, courseFile(deps, course));
    if (refusal) throw new UserError(refusal.status, refusal.message);
    deps.db.transaction(() => {
      unenrol(deps.db, { userId: member.userId!, course: course.slug });
      recordAudit(deps.db, { at: deps.clock.now(), actor, course: course.slug, action: 'course.staff_remove', target: `${course.slug} / ${member.email}`, details: { role: member.role } });
    })();
    ctx.state.audited = true;
    ctx.state.log.info({ course: course.slug, email: member.email, by: actor.email }, 'staff removed');
    ctx.redirect(`/courses/${course.slug}/settings?done=removed`);
  }

  return { adminPage, create, rescan, settingsPage, saveSettings, addStaff, removeStaff };
}

export type CourseHandlers = ReturnType<typeof courseHandlers>;
