import path from 'node:path';
import { attachment } from '../../core/http.js';
import type { RouteContext } from '../../core/routes.js';
import { UserError } from '../../lib/errors.js';
import { describeBytes } from './config.js';
import { shownVersion } from './freeze.js';
import { currentOf, notOpenFor, roleOf, userOf } from './policy.js';
import { dates, dateText, starterContent, starterEntries, stateOf, statementHtml } from './present.js';
import { asText, type TemplateContext } from './render.js';
import type { AssignmentsApp } from './state.js';
import { getSelfCheck } from '../autotest/self-check-store.js';
import { listAssignments, listNotYetOpen } from './store.js';
import { makeVariant, studentOf } from './variants.js';

/** The pages every member of the course sees: the list, an assignment's statement, its starter files. */
export function studentHandlers(app: AssignmentsApp) {
  const { deps } = app;

  /** GET /courses/:course/assignments/ */
  async function list(ctx: RouteContext) {
    const course = ctx.state.course!;
    const { isStaff, isLecturer } = roleOf(ctx);
    const now = deps.clock.now();
    const items: Array<{ slug: string; title: string; state: string; stateText: string; deadline: string; version: number; visible: boolean }> = listAssignments(deps.db, course.slug).map(({ assignment, version }) => {
      const s = stateOf(version.config, now, course);
      return {
        slug: assignment.slug,
        title: version.config.title,
        state: s.state,
        stateText: s.text,
        deadline: dateText(version.config.deadlineAt, course),
        version: version.number,
        visible: isStaff || s.state !== 'upcoming',
      };
    });
    // A new assignment whose first version waits for its self-check: listed as not open yet,
    // without a link for students and without a word about the check (staff see its state).
    for (const { assignment, version } of listNotYetOpen(deps.db, course.slug)) {
      const check = isStaff ? getSelfCheck(deps.db, version.id) : null;
      const detail = !check ? 'waiting for its self-check' : check.warning && check.confirmedAt === null ? 'its self-check found problems; see the staff page' : check.state === 'error' ? 'its self-check could not run' : 'its self-check is running';
      items.push({
        slug: assignment.slug,
        title: version.config.title,
        state: 'preparing',
        stateText: isStaff ? `Not open to students: ${detail}` : 'Not open yet: being prepared',
        deadline: dateText(version.config.deadlineAt, course),
        version: version.number,
        visible: false,
      });
    }
    const fp = [...(app.folderProblems.get(course.slug) ?? new Map<string, string[]>())].map(([slug, problems]) => ({ slug, problems }));
    ctx.render('assignments/list.njk', { course, items, isStaff, isLecturer, isStaffView: isStaff, folderProblems: isStaff ? fp : [] });
  }

  /** GET /courses/:course/assignments/:slug/: the statement with the student's own parameters. */
  async function page(ctx: RouteContext) {
    const course = ctx.state.course!;
    const user = userOf(ctx);
    const { isStaff } = roleOf(ctx);
    const { assignment, version: current } = currentOf(ctx);
    const now = deps.clock.now();
    const base = { course, slug: assignment.slug, isStaff, isStaffView: isStaff, teamRules: current.config.team ?? null, ...dates(current.config, course, now) };
    if (notOpenFor(isStaff, currentOf(ctx), now)) {
      ctx.render('assignments/statement.njk', { ...base, notOpen: true, starter: [] });
      return;
    }
    const variant = await makeVariant(deps, app.runs, { course: course.slug, slug: assignment.slug, user });
    if (!variant) {
      ctx.render('assignments/unavailable.njk', base);
      ctx.status = 503;
      ctx.set('Retry-After', '60');
      return;
    }
    // The student's frozen parameters, rendered by the version freeze.ts says they see.
    const version = shownVersion(deps.db, { assignment, version: current }, variant);
    const tctx: TemplateContext = { params: variant.params, student: studentOf(user) };
    const html = await statementHtml(deps, version, tctx);
    if (html === null) {
      ctx.render('assignments/unavailable.njk', base);
      ctx.status = 503;
      return;
    }
    ctx.render('assignments/statement.njk', {
      ...base,
      title: version.config.title,
      statementHtml: html,
      starter: starterEntries(version).map((e) => ({ name: e.path.slice('starter/'.length), urlPath: e.path.slice('starter/'.length).split('/').map(encodeURIComponent).join('/'), size: describeBytes(e.size) })),
    });
  }

  async function variantForDownload(ctx: RouteContext) {
    const course = ctx.state.course!;
    const user = userOf(ctx);
    const { isStaff } = roleOf(ctx);
    const current = currentOf(ctx);
    const { assignment } = current;
    if (notOpenFor(isStaff, current, deps.clock.now())) throw new UserError(404, 'This assignment is not open yet.');
    const variant = await makeVariant(deps, app.runs, { course: course.slug, slug: assignment.slug, user });
    if (!variant) throw new UserError(409, 'Your version of this assignment is not available yet. Try again later.');
    const version = shownVersion(deps.db, current, variant);
    return { assignment, version, tctx: { params: variant.params, student: studentOf(user) } satisfies TemplateContext };
  }

  /** GET …/:slug/starter.zip: every starter file, templated with the student's parameters. */
  async function starterZip(ctx: RouteContext) {
    const { assignment, version, tctx } = await variantForDownload(ctx);
    const entries = starterEntries(version);
    if (!entries.length) throw new UserError(404, 'This assignment has no starter files.');
    // Render everything first: a template error must become an error page, not a broken zip.
    const files: Array<{ name: string; data: Buffer; mode: number }> = [];
    for (const e of entries) files.push({ name: `${assignment.slug}/${e.path.slice('starter/'.length)}`, data: await starterContent(deps, e, tctx), mode: e.mode });
    const { default: yazl } = await import('yazl');
    const zip = new yazl.ZipFile();
    for (const f of files) zip.addBuffer(f.data, f.name, { mode: f.mode === 0o755 ? 0o100755 : 0o100644, mtime: new Date(version.createdAt) });
    zip.end();
    ctx.set('Content-Disposition', attachment(`${assignment.slug}-starter.zip`));
    ctx.set('Cache-Control', 'private, no-store');
    ctx.type = 'application/zip';
    ctx.body = zip.outputStream;
  }

  /** GET …/:slug/starter/*file: one starter file. */
  async function starterFile(ctx: RouteContext) {
    const { version, tctx } = await variantForDownload(ctx);
    const rel = ctx.params.file ?? '';
    const entry = starterEntries(version).find((e) => e.path === `starter/${rel}`);
    if (!entry) throw new UserError(404, 'There is no such starter file.');
    const data = await starterContent(deps, entry, tctx);
    ctx.set('Content-Disposition', attachment(path.posix.basename(rel)));
    ctx.set('Cache-Control', 'private, no-store');
    ctx.type = asText(data) !== null ? 'text/plain; charset=utf-8' : 'application/octet-stream';
    ctx.body = data;
  }

  return { list, page, starterZip, starterFile };
}
