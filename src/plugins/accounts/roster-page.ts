import type busboy from 'busboy';
import { attachment } from '../../core/http.js';
import { inputOf, type RouteContext } from '../../core/routes.js';
import { readForm } from '../../lib/body.js';
import type { Course } from '../../lib/content.js';
import { UserError } from '../../lib/errors.js';
import type { AppContext, Deps } from '../../plugin.js';
import { staffOf } from './members.js';
import { importRoster, issueSignupLinks, MAX_ROSTER_BYTES, parseRoster, signupLinksCsv, type RosterProblem, type SignupLink } from './roster.js';
import { linksForm, removeForm, sendLinkForm } from './forms.js';
import { SIGNUP_TTL_DAYS } from './signup.js';
import { findUserById, listEnrolled, unenrol } from './users.js';

/** Reads the roster text from a pasted field (urlencoded) or an uploaded file (multipart). */
async function readRosterUpload(ctx: AppContext): Promise<string> {
  if (!ctx.request.is('multipart/form-data')) {
    const form = await readForm(ctx, MAX_ROSTER_BYTES * 2);
    return form.csv ?? '';
  }
  const { default: createBusboy } = await import('busboy');
  return new Promise<string>((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = createBusboy({ headers: ctx.req.headers, limits: { files: 1, fileSize: MAX_ROSTER_BYTES, fields: 10, fieldSize: MAX_ROSTER_BYTES } });
    } catch {
      reject(new UserError(400, 'The upload could not be read: the form is malformed.'));
      return;
    }
    const chunks: Buffer[] = [];
    let pasted = '';
    let tooBig = false;
    bb.on('file', (_name, stream) => {
      // A form cut off inside the file fails the file stream too; busboy's own 'error' below answers it.
      stream.on('error', () => undefined);
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', () => {
        tooBig = true;
      });
    });
    bb.on('field', (name, value) => {
      if (name === 'csv') pasted = value;
    });
    bb.on('error', () => reject(new UserError(400, 'The upload was cut off or malformed. Try again.')));
    bb.on('close', () => {
      if (tooBig) return reject(new UserError(413, `The roster file is larger than ${MAX_ROSTER_BYTES / 1024} KiB.`));
      const file = Buffer.concat(chunks).toString('utf8');
      resolve(file.trim() ? file : pasted);
    });
    ctx.req.pipe(bb);
  });
}

const NOTICES: Record<string, (q: AppContext['query']) => string> = {
  imported: (q) =>
    `Roster imported: ${Number(q.created) || 0} new account(s), ${Number(q.enrolled) || 0} existing account(s) added, ${Number(q.unchanged) || 0} already on the roster. Download the sign-up links below and send them to the new students.` +
    (Number(q.foreign) ? ` ${Number(q.foreign)} of the addresses already have an account brought in by another course: they are enrolled, but their sign-up link comes from that course (or the site administrator).` : ''),
  removed: () => 'The student was removed from the course. Their account and submissions are kept.',
  mailed: (q) =>
    `${Number(q.mailed) || 0} sign-up link(s) are queued for mailing; the mail page shows when each is sent.` +
    (Number(q.withheld) ? ` ${Number(q.withheld)} student(s) without a password have accounts brought in by another course (or hold a staff role elsewhere): their link comes from there or from the site administrator.` : ''),
  nolinks: (q) =>
    Number(q.withheld)
      ? `No sign-up links to hand out here: the ${Number(q.withheld)} student(s) without a password have accounts brought in by another course (or hold a staff role elsewhere); their link comes from there or from the site administrator.`
      : 'Every student on the roster has already set a password: there are no sign-up links to hand out.',
};

/**
 * The lecturer's roster page: import CSV, list and remove students, download sign-up links. Every
 * route is for the course's lecturers (routes.ts: lecturersOnly), so ctx.state.course and user are there.
 */
export function rosterHandlers(deps: Deps) {
  // The mail plugin's service, read when a request needs it (never while plugins are created).
  const mail = () => deps.services.mail;

  /** Queues one sign-up message per link; inside the transaction that issued the links. */
  function mailLinks(ctx: AppContext, course: Course, links: SignupLink[]): void {
    for (const link of links) {
      mail().queue({
        kind: 'signup',
        template: 'mail/messages/signup.njk',
        vars: { name: link.name, email: link.email, url: link.url, expiresAt: link.expiresAt, course, issuer: ctx.state.user!.name },
        to: link.email,
        userId: link.userId,
        course: course.slug,
      });
    }
  }

  function render(ctx: AppContext, course: Course, extra: Record<string, unknown> = {}) {
    const done = typeof ctx.query.done === 'string' ? NOTICES[ctx.query.done] : undefined;
    ctx.set('Cache-Control', 'no-store');
    ctx.render('accounts/roster.njk', {
      course,
      students: listEnrolled(deps.db, course.slug),
      staff: staffOf(deps, course),
      linkDays: SIGNUP_TTL_DAYS,
      mailOn: mail().enabled,
      isStaffView: true,
      ...(done ? { flash: { kind: 'ok', message: done(ctx.query) } } : {}),
      ...extra,
    });
  }

  function page(ctx: RouteContext) {
    render(ctx, ctx.state.course!);
  }

  async function importCsv(ctx: RouteContext) {
    const course = ctx.state.course!;
    const text = await readRosterUpload(ctx);
    const fail = (problems: RosterProblem[]) => {
      const message = `Nothing was imported: the roster has ${problems.length} problem${problems.length === 1 ? '' : 's'}. Fix ${problems.length === 1 ? 'it' : 'them all'} and import again.`;
      const details = problems.map((p) => (p.line ? `line ${p.line}: ${p.message}` : p.message));
      if (ctx.accepts('html', 'json') === 'json') throw new UserError(422, message, details);
      render(ctx, course, { error: message, problems: details, csv: text.length <= 64 * 1024 ? text : '' });
      ctx.status = 422;
    };
    if (!text.trim()) return fail([{ line: 0, message: 'Paste the roster or choose a CSV file.' }]);
    const { rows, problems } = parseRoster(text);
    if (problems.length) return fail(problems);
    const result = importRoster(deps, course.slug, rows, ctx.state.user!);
    ctx.state.log.info({ course: course.slug, rows: rows.length, created: result.created, enrolled: result.enrolled, foreign: result.foreign }, 'roster imported');
    ctx.redirect(`/courses/${course.slug}/roster?done=imported&created=${result.created}&enrolled=${result.enrolled}&unchanged=${result.unchanged}&foreign=${result.foreign}`);
  }

  function downloadLinks(ctx: RouteContext) {
    const course = ctx.state.course!;
    const { days } = inputOf(ctx, linksForm);
    const { links, withheld } = issueSignupLinks(deps, deps.config.publicUrl, course.slug, { days, issuer: ctx.state.user! });
    if (!links.length) return ctx.redirect(`/courses/${course.slug}/roster?done=nolinks&withheld=${withheld}`);
    ctx.state.log.info({ course: course.slug, links: links.length, withheld, days }, 'sign-up links issued');
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Disposition', attachment(`signup-links-${course.slug}.csv`));
    ctx.type = 'text/csv; charset=utf-8';
    ctx.body = signupLinksCsv(links);
  }

  function mailAllLinks(ctx: RouteContext) {
    const course = ctx.state.course!;
    const { days } = inputOf(ctx, linksForm);
    if (!mail().enabled) throw new UserError(409, 'This site sends no mail (no SMTP server is configured): download the sign-up links as a CSV instead.');
    const { links, withheld } = deps.db.transaction(() => {
      const issued = issueSignupLinks(deps, deps.config.publicUrl, course.slug, { days, issuer: ctx.state.user! });
      mailLinks(ctx, course, issued.links);
      return issued;
    })();
    if (!links.length) return ctx.redirect(`/courses/${course.slug}/roster?done=nolinks&withheld=${withheld}`);
    ctx.state.log.info({ course: course.slug, links: links.length, withheld, days }, 'sign-up links queued for mailing');
    ctx.redirect(`/courses/${course.slug}/roster?done=mailed&mailed=${links.length}&withheld=${withheld}`);
  }

  /** One student's link: mailed when mail is on, otherwise shown on the page to copy and send by hand. */
  function sendLink(ctx: RouteContext) {
    const course = ctx.state.course!;
    const form = inputOf(ctx, sendLinkForm);
    const days = form.days;
    const mailer = mail();
    const userId = Number(form.user);
    const user = Number.isInteger(userId) ? findUserById(deps.db, userId) : undefined;
    const member = user ? listEnrolled(deps.db, course.slug, 'student').find((s) => s.id === user.id) : undefined;
    if (!user || !member) throw new UserError(404, 'That person is not a student on this course’s roster.');
    if (member.hasPassword) throw new UserError(409, `${member.name} has already signed up. If they forgot their password, they can reset it from the sign-in page${mailer.enabled ? '' : ' (or the site administrator can)'}.`);
    const { links } = deps.db.transaction(() => {
      const issued = issueSignupLinks(deps, deps.config.publicUrl, course.slug, { days, userIds: [user.id], issuer: ctx.state.user! });
      mailLinks(ctx, course, issued.links);
      return issued;
    })();
    const link = links[0];
    if (!link) throw new UserError(403, `${member.name}’s account was brought in by another course (or holds a staff role elsewhere): their sign-up link comes from that course or the site administrator.`);
    ctx.state.log.info({ course: course.slug, userId: user.id, mailed: mailer.enabled, days }, 'sign-up link issued for one student');
    if (mailer.enabled) return ctx.redirect(`/courses/${course.slug}/roster?done=mailed&mailed=1`);
    render(ctx, course, { shownLink: { name: member.name, email: member.email, url: link.url, expiresAt: link.expiresAt } });
  }

  function remove(ctx: RouteContext) {
    const course = ctx.state.course!;
    const form = inputOf(ctx, removeForm);
    const userId = Number(form.user);
    const user = Number.isInteger(userId) ? findUserById(deps.db, userId) : undefined;
    if (!user || !unenrol(deps.db, { userId: user.id, course: course.slug })) throw new UserError(404, 'That person is not on this course’s roster.');
    ctx.state.log.info({ course: course.slug, userId: user.id }, 'removed from roster');
    ctx.redirect(`/courses/${course.slug}/roster?done=removed`);
  }

  return { page, importCsv, downloadLinks, mailAllLinks, sendLink, remove };
}

export type RosterHandlers = ReturnType<typeof rosterHandlers>;
