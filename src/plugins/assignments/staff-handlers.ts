import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { attachment } from '../../core/http.js';
import { inputOf, type RouteContext } from '../../core/routes.js';
import { roleIn, type CurrentUser } from '../../lib/auth.js';
import { toCsv, type CsvValue } from '../../lib/csv.js';
import { UserError } from '../../lib/errors.js';
import type { Course } from '../../lib/content.js';
import type { AppContext } from '../../plugin.js';
import { listEnrolled } from '../accounts/users.js';
import { holdUntilChecked, selfCheckCleared, selfCheckSite } from '../autotest/self-check-gate.js';
import { confirmSelfCheck, getSelfCheck } from '../autotest/self-check-store.js';
import { ArchiveError, bundleArchiveLimits, extractArchive, unwrapSingleFolder } from './archive.js';
import { describeBytes, formatProblem, testPlanOf } from './config.js';
import { reachView } from './freeze-handlers.js';
import { currentOf, userOf } from './policy.js';
import { dates, dateText, truncate, UPLOAD_LIMIT, uploadTmpDir } from './present.js';
import type { AssignmentsApp } from './state.js';
import { getVersionByNumber, importBundle, listVersions, setCurrentVersion, type Current } from './store.js';
import { receiveUpload } from './upload.js';
import { listGeneratorRuns, listVariants } from './variants.js';

/** POST …/versions/:number/current: "make it current anyway" when its self-check has not cleared it. */
export const makeCurrentForm = z.object({ confirm: z.string().optional() });

/** What a flash on the staff page says after a redirect with ?done=…&v=… (and n for moves). */
function notices(ctx: AppContext, hasCurrent: boolean): Record<string, string> {
  const vq = typeof ctx.query.v === 'string' && /^\d{1,6}$/.test(ctx.query.v) ? ctx.query.v : '';
  return {
    created: `Imported as version ${vq}; it is now current.`,
    unchanged: `Nothing changed: the bundle is identical to version ${vq}, the current one.`,
    switched: `The bundle is identical to version ${vq}, which is current again.`,
    current: `Version ${vq} is now current.`,
    held: hasCurrent
      ? `Imported as version ${vq}. It becomes current when its self-check passes; until then the current version serves students and grades their submissions.`
      : `Imported as version ${vq}. The assignment opens to students when this version's self-check passes (or when you make it current anyway); until then students cannot open it or submit.`,
    regenerated: 'The variant was regenerated.',
    'reach-everyone': `Version ${vq} now reaches everyone: students who opened an earlier version see it with their own parameters.`,
    'reach-new': `Version ${vq} now reaches new students only: those who opened an earlier version stay on it until you move them forward.`,
    moved: `${typeof ctx.query.n === 'string' && /^\d{1,9}$/.test(ctx.query.n) ? ctx.query.n : 0} variant(s) moved to version ${vq}, keeping their parameters.`,
  };
}

/** The lecturer's pages for one assignment: staff page, bundle uploads, versions, the variants CSV. */
export function staffHandlers(app: AssignmentsApp) {
  const { deps } = app;
  const tmpDir = uploadTmpDir(deps);

  /** The staff page (also re-rendered with an error by the forms that post to it). */
  async function renderStaff(ctx: AppContext, course: Course, current: Current, extra: Record<string, unknown> = {}) {
    const isLecturer = roleIn(ctx, course.slug) === 'lecturer';
    const { assignment, version } = current;
    const variants = listVariants(deps.db, assignment.id);
    const perVersion = new Map<number, number>();
    for (const v of variants) perVersion.set(v.version, (perVersion.get(v.version) ?? 0) + 1);
    const done = typeof ctx.query.done === 'string' ? ctx.query.done : '';
    const hasCurrent = assignment.currentVersionId !== null;
    const flash = notices(ctx, hasCurrent)[done];
    ctx.render('assignments/staff.njk', {
      course,
      slug: assignment.slug,
      isLecturer,
      isStaffView: true,
      hasCurrent,
      ...dates(version.config, course, deps.clock.now()),
      hasGenerator: version.manifest.some((e) => e.path === 'generate'),
      testMode: testPlanOf(version.config).mode,
      environment: deps.services.environments?.status(version) ?? null,
      folderProblems: app.folderProblems.get(course.slug)?.get(assignment.slug) ?? [],
      versions: listVersions(deps.db, assignment.id).map((v) => ({
        number: v.number,
        current: v.id === assignment.currentVersionId,
        created: dateText(v.createdAt, course),
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
      variants: variants.map((v) => ({ ...v, created: dateText(v.createdAt, course), paramsText: truncate(JSON.stringify(v.params), 160) })),
      runs: listGeneratorRuns(deps.db, assignment.id).map((r) => ({ ...r, created: dateText(r.createdAt, course) })),
      maxUpload: describeBytes(UPLOAD_LIMIT),
      ...(flash ? { flash: { kind: 'ok', message: flash } } : {}),
      ...extra,
    });
  }

  function renderNew(ctx: AppContext, course: Course, vars: Record<string, unknown> = {}) {
    ctx.render('assignments/new.njk', { course, maxUpload: describeBytes(UPLOAD_LIMIT), isStaffView: true, slugValue: '', ...vars });
  }

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

  /** GET /courses/:course/assignments/new: the upload form for a new assignment. */
  function newForm(ctx: RouteContext) {
    renderNew(ctx, ctx.state.course!);
  }

  /** POST /courses/:course/assignments/new: a bundle for a new (or existing) slug. */
  async function create(ctx: RouteContext) {
    const course = ctx.state.course!;
    const r = await importUpload(ctx, course, userOf(ctx), null);
    if (!r.ok) {
      ctx.status = 422;
      renderNew(ctx, course, { problems: r.problems, slugValue: r.slug });
      ctx.status = 422;
      return;
    }
    ctx.redirect(`/courses/${course.slug}/assignments/${r.slug}/staff?done=${r.outcome}&v=${r.number}`);
  }

  /** GET …/:slug/staff */
  async function staffPage(ctx: RouteContext) {
    await renderStaff(ctx, ctx.state.course!, currentOf(ctx));
  }

  /** POST …/:slug/upload: a new version of this assignment. */
  async function upload(ctx: RouteContext) {
    const course = ctx.state.course!;
    const current = currentOf(ctx);
    const r = await importUpload(ctx, course, userOf(ctx), current.assignment.slug);
    if (!r.ok) {
      await renderStaff(ctx, course, current, { problems: r.problems });
      ctx.status = 422;
      return;
    }
    ctx.redirect(`/courses/${course.slug}/assignments/${r.slug}/staff?done=${r.outcome}&v=${r.number}`);
  }

  /** POST …/:slug/versions/:number/current */
  async function makeCurrent(ctx: RouteContext) {
    const course = ctx.state.course!;
    const user = userOf(ctx);
    const { assignment } = currentOf(ctx);
    const n = Number(ctx.params.number);
    const target = Number.isInteger(n) && n > 0 ? getVersionByNumber(deps.db, assignment.id, n) : undefined;
    if (!target) throw new UserError(404, 'There is no such version.');
    // A version whose self-check found a way to fool it, or that still waits for its check,
    // becomes current only on purpose.
    const check = getSelfCheck(deps.db, target.id);
    const warned = !!check?.warning && check.confirmedAt === null;
    const unchecked = assignment.pendingVersionId === target.id && !selfCheckCleared(deps.db, target.id);
    if (warned || unchecked) {
      if (inputOf(ctx, makeCurrentForm).confirm !== 'yes') {
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
  }

  /** GET …/:slug/variants.csv: every stored variant with its parameters, one column per parameter. */
  function variantsCsv(ctx: RouteContext) {
    const course = ctx.state.course!;
    const { assignment } = currentOf(ctx);
    const variants = listVariants(deps.db, assignment.id);
    const keys = [...new Set(variants.flatMap((v) => Object.keys(v.params)))].sort();
    const header = ['user_id', 'student_id', 'name', 'email', 'version', 'seed', 'created_at', ...keys.map((k) => `param:${k}`), 'params_json'];
    const rows = variants.map((v): CsvValue[] => [v.userId, v.studentId, v.name, v.email, v.version, v.seed, new Date(v.createdAt).toISOString(), ...keys.map((k) => v.params[k] as CsvValue), JSON.stringify(v.params)]);
    ctx.set('Content-Disposition', attachment(`${course.slug}-${assignment.slug}-variants.csv`));
    ctx.set('Cache-Control', 'private, no-store');
    ctx.type = 'text/csv; charset=utf-8';
    ctx.body = toCsv([header, ...rows]);
  }

  return { renderStaff, newForm, create, staffPage, upload, makeCurrent, variantsCsv };
}
