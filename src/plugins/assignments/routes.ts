import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { isStaffRole, requireLecturer, requireStaff, requireUser, roleIn, type CurrentUser } from '../../lib/auth.js';
import { courseOr404, type Course } from '../../lib/content.js';
import { UserError } from '../../lib/errors.js';
import { readForm } from '../../lib/body.js';
import { formatDateTime } from '../../lib/views.js';
import { confirmSelfCheck, getSelfCheck } from '../autotest/self-check-store.js';
import type { AppContext, AppRouter, Deps } from '../../plugin.js';
import { findMember } from '../accounts/members.js';
import { listEnrolled } from '../accounts/users.js';
import { ArchiveError, bundleArchiveLimits, DEFAULT_ARCHIVE_LIMITS, extractArchive, unwrapSingleFolder } from './archive.js';
import { describeBytes, describeMs, formatProblem, testPlanOf, type AssignmentConfig } from './config.js';
import { MAX_TEMPLATE_BYTES } from './bundle.js';
import { asText, renderStatement, renderText, type TemplateContext } from './render.js';
import { receiveUpload } from './upload.js';
import { currentOr404, getVersionByNumber, importBundle, listAssignments, listVersions, readBlob, setCurrentVersion, type Current, type Version } from './store.js';
import { reachView } from './freeze-routes.js';
import { shownVersion } from './freeze.js';
import { environmentStatus } from '../environments/routes.js';
import { courseSecret, deriveSeed, ensureVariant, findVariant, listGeneratorRuns, listVariants, regenerateVariant, runGenerator, studentOf } from './variants.js';
import { holdUntilChecked, selfCheckCleared, selfCheckSite } from '../autotest/self-check-gate.js';

/** Uploads and unpacked archives in progress; what a crash leaves here is swept at start-up. */
export function uploadTmpDir(deps: Pick<Deps, 'config'>): string {
  return path.join(deps.config.dataDir, 'tmp', 'assignments');
}

/** Problems found in the course folder at start-up, per course and slug, for the staff pages. */
export type FolderProblems = Map<string, Map<string, string[]>>;

const UPLOAD_LIMIT = DEFAULT_ARCHIVE_LIMITS.maxArchiveBytes;

function when(ms: number | null, course: Course): string {
  if (ms === null) return '';
  return `${formatDateTime(ms, course.timezone)} (${course.timezone})`;
}

type State = 'upcoming' | 'open' | 'late' | 'closed';

function stateOf(config: AssignmentConfig, now: number, course: Course): { state: State; text: string } {
  if (config.opensAt !== null && now < config.opensAt) return { state: 'upcoming', text: `Opens ${when(config.opensAt, course)}` };
  if (now <= config.deadlineAt + config.graceMs) return { state: 'open', text: 'Open' };
  if (now <= config.late.hardCloseAt) return { state: 'late', text: `Deadline passed: late submissions until ${when(config.late.hardCloseAt, course)}` };
  return { state: 'closed', text: 'Closed' };
}

function lateText(config: AssignmentConfig, course: Course): string {
  const grace = config.graceMs ? `${describeMs(config.graceMs)} of grace, then ` : '';
  if (config.late.hardCloseAt <= config.deadlineAt + config.graceMs) return config.graceMs ? `${describeMs(config.graceMs)} of grace; nothing is accepted after that` : 'Not accepted';
  return `${grace}${config.late.penaltyPerDay}% off per day late (at most ${config.late.cap}%), accepted until ${when(config.late.hardCloseAt, course)}`;
}

function dates(config: AssignmentConfig, course: Course, now: number) {
  const s = stateOf(config, now, course);
  return {
    title: config.title,
    opens: when(config.opensAt, course),
    deadline: when(config.deadlineAt, course),
    deadlineAt: config.deadlineAt,
    lateText: lateText(config, course),
    state: s.state,
    stateText: s.text,
    filesText: config.files.join(', '),
  };
}

type RouteContext = AppContext & { params: Record<string, string | undefined> };


/** Signed in and enrolled in the course (any role), else 404 like everything that is not theirs. */
function member(ctx: AppContext, course: Course): { user: CurrentUser; isStaff: boolean; isLecturer: boolean } {
  const user = requireUser(ctx);
  const role = roleIn(ctx, course.slug);
  if (!role) throw new UserError(404, 'Not found.');
  return { user, isStaff: isStaffRole(role), isLecturer: role === 'lecturer' };
}

function starterEntries(version: Version) {
  return version.manifest.filter((e) => e.path.startsWith('starter/') && e.path.length > 'starter/'.length);
}

/** A starter file with the student's parameters filled in (text files only). */
async function starterContent(deps: Deps, version: Version, entry: { path: string; sha256: string; size: number }, ctx: TemplateContext): Promise<Buffer> {
  const raw = await readBlob(deps, entry.sha256);
  if (entry.size > MAX_TEMPLATE_BYTES) return raw;
  const text = asText(raw);
  if (text === null) return raw;
  return Buffer.from(renderText(text, ctx, `${entry.sha256}`, entry.path));
}

function contentTypeFor(name: string, isText: boolean): string {
  if (!isText) return 'application/octet-stream';
  return 'text/plain; charset=utf-8';
}

function attachment(name: string): string {
  const safe = name.replace(/[^\w.\- ]/g, '_');
  return `attachment; filename="${safe}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

const CSV_FORMULA = /^[=+\-@\t\r]/;
function csvCell(value: unknown): string {
  let text: string;
  if (value === null || value === undefined) text = '';
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
  else if (typeof value === 'string') text = CSV_FORMULA.test(value) ? `'${value}` : value;
  else text = JSON.stringify(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function registerRoutes(router: AppRouter, deps: Deps, folderProblems: FolderProblems): void {
  const tmpDir = uploadTmpDir(deps);

  const problemsFor = (course: string, slug?: string): string[] => (slug ? (folderProblems.get(course)?.get(slug) ?? []) : []);

  router.get('/courses/:course/assignments/', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const { isStaff, isLecturer } = member(ctx, course);
    const now = deps.clock.now();
    const items = listAssignments(deps.db, course.slug).map(({ assignment, version }) => {
      const s = stateOf(version.config, now, course);
      return {
        slug: assignment.slug,
        title: version.config.title,
        state: s.state,
        stateText: s.text,
        deadline: when(version.config.deadlineAt, course),
        version: version.number,
        visible: isStaff || s.state !== 'upcoming',
      };
    });
    const fp = [...(folderProblems.get(course.slug) ?? new Map<string, string[]>())].map(([slug, problems]) => ({ slug, problems }));
    ctx.render('assignments/list.njk', { course, items, isStaff, isLecturer, isStaffView: isStaff, folderProblems: isStaff ? fp : [] });
  });

  async function renderNew(ctx: AppContext, course: Course, vars: Record<string, unknown> = {}) {
    ctx.render('assignments/new.njk', { course, maxUpload: describeBytes(UPLOAD_LIMIT), isStaffView: true, slugValue: '', ...vars });
  }

  router.get('/courses/:course/assignments/new', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    requireLecturer(ctx, course.slug, 'upload assignments');
    await renderNew(ctx, course);
  });

  /** Upload -> unpack -> import; every user-caused failure comes back as a list of problems. */
  async function importUpload(ctx: AppContext, course: Course, user: CurrentUser, fixedSlug: string | null): Promise<{ ok: true; slug: string; outcome: string; number: number } | { ok: false; problems: string[]; slug: string }> {
    const upload = await receiveUpload(ctx, { tmpDir, field: 'bundle', maxBytes: UPLOAD_LIMIT });
    const work = await mkdtemp(path.join(tmpDir, 'bundle-'));
    let slug = fixedSlug ?? (upload.fields.slug ?? '').trim();
    try {
      try {
        await extractArchive(upload.file, work, bundleArchiveLimits(deps.config));
      } catch (err) {
        if (err instanceof ArchiveError) return { ok: false, problems: [`${upload.filename || 'the upload'}: ${err.message}`], slug };
        throw err;
      }
      const { root, folder } = await unwrapSingleFolder(work);
      if (!slug) slug = (folder ?? upload.filename.replace(/\.(zip|tar\.gz|tgz)$/i, '')).toLowerCase();
      if (slug === 'new') return { ok: false, problems: ['(import): slug: "new" is reserved; choose another assignment id'], slug };
      const result = await importBundle(deps, { course: course.slug, slug, dir: root, source: 'upload', createdBy: user.email, hold: holdUntilChecked(deps) });
      if (!result.ok) return { ok: false, problems: result.problems.map(formatProblem), slug };
      ctx.state.log.info({ course: course.slug, slug, outcome: result.outcome, version: result.version.number, by: user.email }, 'assignment bundle uploaded');
      return { ok: true, slug, outcome: result.outcome, number: result.version.number };
    } finally {
      await rm(upload.file, { force: true });
      await rm(work, { recursive: true, force: true });
    }
  }

  router.post('/courses/:course/assignments/new', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const user = requireLecturer(ctx, course.slug, 'upload assignments');
    const r = await importUpload(ctx, course, user, null);
    if (!r.ok) {
      ctx.status = 422;
      await renderNew(ctx, course, { problems: r.problems, slugValue: r.slug });
      ctx.status = 422;
      return;
    }
    ctx.redirect(`/courses/${course.slug}/assignments/${r.slug}/staff?done=${r.outcome}&v=${r.number}`);
  });

  router.get('/courses/:course/assignments/:slug/', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const { user, isStaff } = member(ctx, course);
    const { assignment, version: current } = currentOr404(deps.db, course.slug, ctx.params.slug);
    const now = deps.clock.now();
    const base = { course, slug: assignment.slug, isStaff, isStaffView: isStaff, teamRules: current.config.team ?? null, ...dates(current.config, course, now) };
    if (!isStaff && current.config.opensAt !== null && now < current.config.opensAt) {
      ctx.render('assignments/statement.njk', { ...base, notOpen: true, starter: [] });
      return;
    }
    const variant = await ensureVariant(deps, { course: course.slug, slug: assignment.slug, user });
    if (!variant) {
      ctx.render('assignments/unavailable.njk', base);
      ctx.status = 503;
      ctx.set('Retry-After', '60');
      return;
    }
    // The student's frozen parameters, rendered by the version freeze.ts says they see.
    const version = shownVersion(deps.db, { assignment, version: current }, variant);
    const tctx: TemplateContext = { params: variant.params, student: studentOf(user) };
    const html = await statementHtml(version, tctx);
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
  });

  async function statementHtml(version: Version, tctx: TemplateContext): Promise<string | null> {
    const entry = version.manifest.find((e) => e.path === 'statement.md');
    if (!entry) return '';
    const source = (await readBlob(deps, entry.sha256)).toString('utf8');
    try {
      return renderStatement(source, tctx, entry.sha256);
    } catch (err) {
      deps.log.warn({ err: (err as Error).message, version: version.id }, 'statement failed to render');
      return null;
    }
  }

  async function variantForDownload(ctx: RouteContext) {
    const course = courseOr404(deps.content, ctx.params.course);
    const { user, isStaff } = member(ctx, course);
    const { assignment, version: current } = currentOr404(deps.db, course.slug, ctx.params.slug);
    if (!isStaff && current.config.opensAt !== null && deps.clock.now() < current.config.opensAt) throw new UserError(404, 'This assignment is not open yet.');
    const variant = await ensureVariant(deps, { course: course.slug, slug: assignment.slug, user });
    if (!variant) throw new UserError(409, 'Your version of this assignment is not available yet. Try again later.');
    const version = shownVersion(deps.db, { assignment, version: current }, variant);
    return { course, assignment, version, tctx: { params: variant.params, student: studentOf(user) } satisfies TemplateContext };
  }

  router.get('/courses/:course/assignments/:slug/starter.zip', async (ctx) => {
    const { assignment, version, tctx } = await variantForDownload(ctx);
    const entries = starterEntries(version);
    if (!entries.length) throw new UserError(404, 'This assignment has no starter files.');
    // Render everything first: a template error must become an error page, not a broken zip.
    const files: Array<{ name: string; data: Buffer; mode: number }> = [];
    for (const e of entries) files.push({ name: `${assignment.slug}/${e.path.slice('starter/'.length)}`, data: await starterContent(deps, version, e, tctx), mode: e.mode });
    const { default: yazl } = await import('yazl');
    const zip = new yazl.ZipFile();
    for (const f of files) zip.addBuffer(f.data, f.name, { mode: f.mode === 0o755 ? 0o100755 : 0o100644, mtime: new Date(version.createdAt) });
    zip.end();
    ctx.set('Content-Disposition', attachment(`${assignment.slug}-starter.zip`));
    ctx.set('Cache-Control', 'private, no-store');
    ctx.type = 'application/zip';
    ctx.body = zip.outputStream;
  });

  router.get('/courses/:course/assignments/:slug/starter/*file', async (ctx) => {
    const { version, tctx } = await variantForDownload(ctx);
    const rel = ctx.params.file ?? '';
    const entry = starterEntries(version).find((e) => e.path === `starter/${rel}`);
    if (!entry) throw new UserError(404, 'There is no such starter file.');
    const data = await starterContent(deps, version, entry, tctx);
    ctx.set('Content-Disposition', attachment(path.posix.basename(rel)));
    ctx.set('Cache-Control', 'private, no-store');
    ctx.type = contentTypeFor(rel, asText(data) !== null);
    ctx.body = data;
  });

  // ---- staff ----

  async function renderStaff(ctx: AppContext, course: Course, current: Current, extra: Record<string, unknown> = {}) {
    const { isLecturer } = requireStaff(ctx, course.slug);
    const { assignment, version } = current;
    const variants = listVariants(deps.db, assignment.id);
    const perVersion = new Map<number, number>();
    for (const v of variants) perVersion.set(v.version, (perVersion.get(v.version) ?? 0) + 1);
    const done = typeof ctx.query.done === 'string' ? ctx.query.done : '';
    const vq = typeof ctx.query.v === 'string' && /^\d{1,6}$/.test(ctx.query.v) ? ctx.query.v : '';
    const notices: Record<string, string> = {
      created: `Imported as version ${vq}; it is now current.`,
      unchanged: `Nothing changed: the bundle is identical to version ${vq}, the current one.`,
      switched: `The bundle is identical to version ${vq}, which is current again.`,
      current: `Version ${vq} is now current.`,
      held: `Imported as version ${vq}. It becomes current when its self-check passes; until then the current version serves students and grades their submissions.`,
      regenerated: 'The variant was regenerated.',
      'reach-everyone': `Version ${vq} now reaches everyone: students who opened an earlier version see it with their own parameters.`,
      'reach-new': `Version ${vq} now reaches new students only: those who opened an earlier version stay on it until you move them forward.`,
      moved: `${typeof ctx.query.n === 'string' && /^\d{1,9}$/.test(ctx.query.n) ? ctx.query.n : 0} variant(s) moved to version ${vq}, keeping their parameters.`,
    };
    ctx.render('assignments/staff.njk', {
      course,
      slug: assignment.slug,
      isLecturer,
      isStaffView: true,
      ...dates(version.config, course, deps.clock.now()),
      hasGenerator: version.manifest.some((e) => e.path === 'generate'),
      testMode: testPlanOf(version.config).mode,
      environment: environmentStatus(deps, version),
      folderProblems: problemsFor(course.slug, assignment.slug),
      versions: listVersions(deps.db, assignment.id).map((v) => ({
        number: v.number,
        current: v.id === assignment.currentVersionId,
        created: when(v.createdAt, course),
        createdBy: v.createdBy,
        source: v.source,
        hash: v.contentHash.slice(0, 12),
        files: v.manifest.length,
        variants: perVersion.get(v.number) ?? 0,
        check: getSelfCheck(deps.db, v.id),
        pending: v.id === assignment.pendingVersionId,
      })),
      selfCheckSite: selfCheckSite(deps.config),
      students: listEnrolled(deps.db, course.slug, 'student'),
      ...reachView(deps.db, current, perVersion, variants),
      variants: variants.map((v) => ({ ...v, created: when(v.createdAt, course), paramsText: truncate(JSON.stringify(v.params), 160) })),
      runs: listGeneratorRuns(deps.db, assignment.id).map((r) => ({ ...r, created: when(r.createdAt, course) })),
      maxUpload: describeBytes(UPLOAD_LIMIT),
      ...(notices[done] ? { flash: { kind: 'ok', message: notices[done] } } : {}),
      ...extra,
    });
  }

  router.get('/courses/:course/assignments/:slug/staff', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    requireStaff(ctx, course.slug);
    await renderStaff(ctx, course, currentOr404(deps.db, course.slug, ctx.params.slug));
  });

  router.post('/courses/:course/assignments/:slug/upload', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const user = requireLecturer(ctx, course.slug, 'upload assignments');
    const current = currentOr404(deps.db, course.slug, ctx.params.slug);
    const r = await importUpload(ctx, course, user, current.assignment.slug);
    if (!r.ok) {
      await renderStaff(ctx, course, current, { problems: r.problems });
      ctx.status = 422;
      return;
    }
    ctx.redirect(`/courses/${course.slug}/assignments/${r.slug}/staff?done=${r.outcome}&v=${r.number}`);
  });

  router.post('/courses/:course/assignments/:slug/versions/:number/current', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const user = requireLecturer(ctx, course.slug, 'change the current version');
    const { assignment } = currentOr404(deps.db, course.slug, ctx.params.slug);
    const n = Number(ctx.params.number);
    const target = Number.isInteger(n) && n > 0 ? getVersionByNumber(deps.db, assignment.id, n) : undefined;
    if (!target) throw new UserError(404, 'There is no such version.');
    // A version whose self-check found a way to fool it, or that still waits for its check,
    // becomes current only on purpose.
    const check = getSelfCheck(deps.db, target.id);
    const warned = !!check?.warning && check.confirmedAt === null;
    const unchecked = assignment.pendingVersionId === target.id && !selfCheckCleared(deps.db, target.id);
    if (warned || unchecked) {
      const form = await readForm(ctx);
      if (form.confirm !== 'yes') {
        throw new UserError(
          422,
          warned
            ? `The self-check of version ${n} found problems (${check?.message ?? 'see the staff page'}). Tick "make it current anyway" to confirm.`
            : `Version ${n} has not passed its self-check yet. Tick "make it current anyway" to make it current without waiting.`,
        );
      }
      confirmSelfCheck(deps.db, target.id, user.email, deps.clock.now());
    }
    const v = setCurrentVersion(deps.db, assignment.id, n);
    if (!v) throw new UserError(404, 'There is no such version.');
    ctx.state.log.info({ course: course.slug, slug: assignment.slug, version: v.number, by: user.email }, 'assignment version made current');
    ctx.redirect(`/courses/${course.slug}/assignments/${assignment.slug}/staff?done=current&v=${v.number}`);
  });

  router.get('/courses/:course/assignments/:slug/preview', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    requireStaff(ctx, course.slug);
    const { assignment, version: current } = currentOr404(deps.db, course.slug, ctx.params.slug);
    const base = { course, slug: assignment.slug, isStaff: true, isStaffView: true, ...dates(current.config, course, deps.clock.now()) };
    const seedQ = typeof ctx.query.seed === 'string' ? ctx.query.seed : null;
    const userQ = typeof ctx.query.user === 'string' ? ctx.query.user : null;
    let version = current;
    let params: Record<string, unknown>;
    let seed: string;
    let student: { id: string; name: string };
    let label: string;
    if (seedQ !== null) {
      if (seedQ.length < 1 || seedQ.length > 128) throw new UserError(400, 'seed: give between 1 and 128 characters.');
      seed = seedQ;
      student = { id: 'preview', name: 'Preview Student' };
      label = `seed "${seedQ}" with version ${current.number}`;
      const outcome = await runGenerator(deps, current, seed, student);
      if (!outcome.ok) {
        ctx.render('assignments/preview-failed.njk', { ...base, who: `seed "${seedQ}"`, failure: outcome });
        ctx.status = 200;
        return;
      }
      params = outcome.params;
    } else if (userQ !== null && /^\d{1,12}$/.test(userQ)) {
      const row = findMember(deps, course.slug, userQ)?.row;
      if (!row) throw new UserError(404, 'There is no such member of this course.');
      const u = { id: row.id, name: row.name };
      student = studentOf(u);
      const stored = findVariant(deps.db, assignment.id, u.id);
      if (stored) {
        version = shownVersion(deps.db, { assignment, version: current }, stored);
        params = stored.params;
        seed = stored.seed;
        label = version.number === stored.version ? `${row.name}'s stored variant (version ${stored.version})` : `${row.name}'s stored variant (parameters from version ${stored.version}, shown with version ${version.number})`;
      } else {
        seed = deriveSeed(courseSecret(deps.db, course.slug), assignment.slug, student.id);
        const outcome = await runGenerator(deps, current, seed, student);
        if (!outcome.ok) {
          ctx.render('assignments/preview-failed.njk', { ...base, who: row.name, failure: outcome });
          return;
        }
        params = outcome.params;
        label = `what ${row.name} would get from version ${current.number} (no variant yet)`;
      }
    } else {
      throw new UserError(400, 'Give a student (?user=<id>) or a seed (?seed=<text>) to preview.');
    }
    const html = await statementHtml(version, { params, student });
    ctx.render('assignments/statement.njk', {
      ...base,
      preview: label,
      statementHtml: html ?? '<p>The statement failed to render with these parameters.</p>',
      params: JSON.stringify(params, null, 2),
      seed,
      versionNumber: version.number,
      starter: starterEntries(version).map((e) => ({ name: e.path.slice('starter/'.length), size: describeBytes(e.size) })),
    });
  });

  router.post('/courses/:course/assignments/:slug/variants/:user/regenerate', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const actor = requireLecturer(ctx, course.slug, 'regenerate variants');
    const { assignment } = currentOr404(deps.db, course.slug, ctx.params.slug);
    const row = findMember(deps, course.slug, ctx.params.user)?.row;
    if (!row) throw new UserError(404, 'There is no such member of this course.');
    const result = await regenerateVariant(deps, { course: course.slug, slug: assignment.slug, user: { id: row.id, name: row.name }, actor: actor.email });
    if (!result) throw new UserError(404, 'There is no such assignment.');
    if (!result.ok) {
      const current = currentOr404(deps.db, course.slug, ctx.params.slug);
      await renderStaff(ctx, course, current, { error: `Regenerating ${row.name}'s variant failed: ${result.outcome.message}. Nothing was changed; see the generator log below.` });
      ctx.status = 422;
      return;
    }
    ctx.redirect(`/courses/${course.slug}/assignments/${assignment.slug}/staff?done=regenerated`);
  });

  router.get('/courses/:course/assignments/:slug/variants.csv', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    requireStaff(ctx, course.slug);
    const { assignment } = currentOr404(deps.db, course.slug, ctx.params.slug);
    const variants = listVariants(deps.db, assignment.id);
    const keys = [...new Set(variants.flatMap((v) => Object.keys(v.params)))].sort();
    const header = ['user_id', 'student_id', 'name', 'email', 'version', 'seed', 'created_at', ...keys.map((k) => `param:${k}`), 'params_json'];
    const lines = [header.map(csvCell).join(',')];
    for (const v of variants) {
      lines.push(
        [v.userId, v.studentId, v.name, v.email, v.version, v.seed, new Date(v.createdAt).toISOString(), ...keys.map((k) => v.params[k]), JSON.stringify(v.params)].map(csvCell).join(','),
      );
    }
    ctx.set('Content-Disposition', attachment(`${course.slug}-${assignment.slug}-variants.csv`));
    ctx.set('Cache-Control', 'private, no-store');
    ctx.type = 'text/csv; charset=utf-8';
    ctx.body = `${lines.join('\r\n')}\r\n`;
  });

  // Last, so that they only see what the routes above did not take: the router matches
  // "/x" patterns with a trailing slash too.
  const addSlash = (ctx: AppContext, next: () => Promise<unknown>) => {
    if (ctx.path.endsWith('/')) return next();
    ctx.redirect(`${ctx.path}/${ctx.querystring ? `?${ctx.querystring}` : ''}`);
  };
  router.get('/courses/:course/assignments', addSlash);
  router.get('/courses/:course/assignments/:slug', addSlash);
}

function truncate(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
