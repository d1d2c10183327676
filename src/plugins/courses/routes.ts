import path from 'node:path';
import { requireLecturer, requireUser, type CurrentUser } from '../../lib/auth.js';
import { readForm } from '../../lib/body.js';
import { COURSE_SLUG, courseOr404, isTimeZone, type Course, type StaffRole, type WebCourse } from '../../lib/content.js';
import { UserError } from '../../lib/errors.js';
import type { AppContext, AppRouter, Deps } from '../../plugin.js';
import { mayVouch } from '../accounts/authority.js';
import { createMailer, type Mailer } from '../mail/mailer.js';
import { issueSignupToken, SIGNUP_TTL_DAYS, signupUrl } from '../accounts/signup.js';
import { createUser, enrol, enrolmentRole, findUserByEmail, findUserById, isEmail, normaliseEmail, unenrol } from '../accounts/users.js';
import { recordAudit } from '../audit/store.js';
import { appointRefusal, removalRefusal, staffOf } from './rules.js';
import { insertWebCourse, listWebCourses, updateWebCourse, webCourse } from './store.js';

type Form = Record<string, string | undefined>;

function text(form: Form, field: string, max: number, required: boolean): string {
  const value = (form[field] ?? '').trim();
  if (required && !value) throw new UserError(400, `${field}: is required.`);
  if (value.length > max) throw new UserError(400, `${field}: at most ${max} characters.`);
  return value;
}

/** The settings a course made on the web has, read from the form; 400 naming the field. */
function settingsFrom(form: Form, slug: string): WebCourse {
  const timezone = text(form, 'timezone', 64, false) || 'UTC';
  if (!isTimeZone(timezone)) throw new UserError(400, 'timezone: not a known IANA time zone, like Europe/Stockholm.');
  return {
    slug,
    title: text(form, 'title', 200, true),
    code: text(form, 'code', 40, false),
    term: text(form, 'term', 80, false),
    timezone,
    description: text(form, 'description', 2000, false),
  };
}

/** The file that would win over the web for this course. */
function courseFile(deps: Deps, course: Course): string {
  return path.relative(deps.content.root, path.join(course.dir, 'course.yaml')) || 'course.yaml';
}

interface Appointed {
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
function appoint(deps: Deps, mailer: Mailer, course: Course, actor: CurrentUser, who: { email: string; name: string; role: StaffRole }): Appointed {
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
      const queued = mailer.queue({
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

function emailFrom(value: string | undefined, field: string): string {
  const email = normaliseEmail(value ?? '');
  if (!isEmail(email)) throw new UserError(400, `${field}: "${(value ?? '').slice(0, 80)}" is not an e-mail address.`);
  return email;
}

export function registerCourseRoutes(router: AppRouter, deps: Deps): void {
  const mailer = createMailer(deps);
  function admin(ctx: AppContext): CurrentUser {
    const user = requireUser(ctx);
    // As the audit log: the page does not exist for anyone else.
    if (!user.isAdmin) throw new UserError(404, 'There is nothing at this address.');
    return user;
  }

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
        lecturers: staffOf(deps, c).filter((s) => s.role === 'lecturer').map((s) => s.email),
      })),
      problem: deps.content.problem ?? null,
      contentRoot: deps.content.root,
      ...extra,
    });
  }

  router.get('/admin/courses', (ctx) => {
    admin(ctx);
    renderAdmin(ctx);
  });

  router.post('/admin/courses', async (ctx) => {
    const actor = admin(ctx);
    const form = await readForm(ctx);
    const slug = (form.slug ?? '').trim().toLowerCase();
    if (!COURSE_SLUG.test(slug)) throw new UserError(400, 'slug: lowercase letters, digits and dashes, starting with a letter or digit (at most 64).');
    if (deps.content.course(slug) || webCourse(deps.db, slug)) throw new UserError(409, `slug: there is already a course "${slug}".`);
    const settings = settingsFrom(form, slug);
    const lecturers = (form.lecturers ?? '')
      .split(/[\s,;]+/)
      .filter(Boolean)
      .map((e) => emailFrom(e, 'lecturers'));
    deps.db.transaction(() => {
      insertWebCourse(deps.db, settings, actor.email, deps.clock.now());
      recordAudit(deps.db, { at: deps.clock.now(), actor, course: slug, action: 'course.create', target: slug, details: { title: settings.title } });
    })();
    deps.content.refresh?.();
    const course = deps.content.course(slug)!;
    const appointed = [...new Set(lecturers)].map((email) => appoint(deps, mailer, course, actor, { email, name: email.split('@')[0]!, role: 'lecturer' }));
    ctx.state.audited = true;
    ctx.state.log.info({ course: slug, lecturers: appointed.length, by: actor.email }, 'course created on the web');
    renderAdmin(ctx, { flash: { kind: 'ok', message: `Course "${settings.title}" (${slug}) created. It is live now at /courses/${slug}/.` }, appointed, linkDays: SIGNUP_TTL_DAYS });
  });

  router.post('/admin/courses/rescan', async (ctx) => {
    admin(ctx);
    deps.content.refresh?.();
    ctx.state.audited = true;
    ctx.redirect('/admin/courses?done=rescanned');
  });

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

  const base = '/courses/:course';

  router.get(`${base}/settings`, (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    requireLecturer(ctx, course.slug, 'change the course settings and staff');
    const done: Record<string, string> = { saved: 'Settings saved. They apply now.', removed: 'Removed from the staff. Their account and anything they did are kept.' };
    const flash = typeof ctx.query.done === 'string' && done[ctx.query.done] ? { kind: 'ok', message: done[ctx.query.done] } : undefined;
    renderSettings(ctx, course, flash ? { flash } : {});
  });

  router.post(`${base}/settings`, async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const actor = requireLecturer(ctx, course.slug, 'change the course settings');
    if (course.source !== 'web') throw new UserError(409, `This course's settings come from ${courseFile(deps, course)}; edit the file (it is picked up within a second, no restart).`);
    const settings = settingsFrom(await readForm(ctx), course.slug);
    deps.db.transaction(() => {
      updateWebCourse(deps.db, settings, deps.clock.now());
      recordAudit(deps.db, { at: deps.clock.now(), actor, course: course.slug, action: 'course.settings', target: course.slug, details: { title: settings.title, code: settings.code, term: settings.term, timezone: settings.timezone } });
    })();
    deps.content.refresh?.();
    ctx.state.audited = true;
    ctx.redirect(`/courses/${course.slug}/settings?done=saved`);
  });

  router.post(`${base}/staff`, async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const actor = requireLecturer(ctx, course.slug, 'add staff');
    const form = await readForm(ctx);
    const role = form.role ?? 'tutor';
    if (role !== 'tutor' && role !== 'lecturer') throw new UserError(400, 'role: choose tutor or lecturer.');
    const appointed = appoint(deps, mailer, course, actor, { email: emailFrom(form.email, 'email'), name: text(form, 'name', 200, false), role });
    ctx.state.audited = true;
    ctx.state.log.info({ course: course.slug, email: appointed.email, role, newAccount: appointed.created, by: actor.email }, 'staff appointed');
    renderSettings(ctx, course, { flash: { kind: 'ok', message: `${appointed.name} (${appointed.email}) is now ${role === 'tutor' ? 'a tutor' : 'a lecturer'} of this course.` }, appointed: [appointed] });
  });

  router.post(`${base}/staff/remove`, async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const actor = requireLecturer(ctx, course.slug, 'remove staff');
    const form = await readForm(ctx);
    const member = staffOf(deps, course).find((s) => s.userId !== null && String(s.userId) === form.user);
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
  });
}
