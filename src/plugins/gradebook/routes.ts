import { wantsJson } from '../../middleware/errors.js';
import { diskSpace } from '../../lib/unavailable.js';
import { requireLecturer, requireStaff, requireUser } from '../../lib/auth.js';
import { readForm } from '../../lib/body.js';
import { courseOr404, type Course } from '../../lib/content.js';
import { UserError } from '../../lib/errors.js';
import { formatDateTime } from '../../lib/views.js';
import type { AppContext, AppRouter, Deps } from '../../plugin.js';
import { csvField } from '../accounts/roster.js';
import { findMember } from '../accounts/members.js';
import { findUserById, listEnrolled } from '../accounts/users.js';
import { currentOr404, listAssignments, type Current } from '../assignments/store.js';
import { findVariant, listGeneratorRuns } from '../assignments/variants.js';
import { currentPlan, deadlineForecasts, durationText } from '../autotest/forecast.js';
import { listWorkers } from '../autotest/redis-store.js';
import { runsNeedingAttention } from '../autotest/store.js';
import { selfCheckWarnings, waitingVersions } from '../autotest/self-check-store.js';
import { openRegradesInCourse } from '../review/store.js';
import { assignmentSubmissions, getSubmission, submissionCounts } from '../submissions/store.js';
import { auditedCourses, listAudit, recordAudit } from '../audit/store.js';
import { auditDetails, auditPhrase } from '../audit/words.js';
import { grantExtension, MAX_EXTENSION_MS, revokeExtension } from './extensions.js';
import { age, assignmentState, lateness, points, when } from './format.js';
import { bookHref, PAGE_SIZES, parseBookQuery, selectRows, STATUSES, type BookCell, type BookRow } from './book.js';
import { countedRuleText } from './counted.js';
import { assignmentGrades, type ScoredSubmission, type Student, type StudentGrade } from './grades.js';
import { saveGradebookSetting } from './store.js';
import { assignmentWeights, TOTAL_RULE_TEXT, weightedTotal } from './weights.js';
import { binScores, histogramSvg } from './histogram.js';
import { getBatch, recentBatches, startRerun, type RerunScope } from './reruns.js';
import { countedSubmissionsZip } from './zip.js';
import { instantToZoned, zonedToInstant } from './zoned.js';

type RouteContext = AppContext & { params: Record<string, string | undefined> };

/**
 * Who may do what (the server decides; pages only hide what a role cannot use):
 * - outsiders, students and staff of other courses: 404 for everything here;
 * - tutors: the dashboard, the students page, the gradebook, the histogram, and re-runs
 *   (re-running tests changes no grade rule, and tutors are the ones who notice a broken run);
 * - lecturers (and site admins): also extensions, the CSV export and the submissions zip;
 * - the audit log: site admins only.
 */
function studentsOf(deps: Deps, course: Course): Student[] {
  return listEnrolled(deps.db, course.slug, 'student').map((s) => ({ id: s.id, email: s.email, name: s.name, studentId: s.studentId }));
}

function attachment(name: string): string {
  const safe = name.replace(/[^\w.\- ]/g, '_');
  return `attachment; filename="${safe}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

function scoreText(s: ScoredSubmission | null): string {
  if (!s) return '';
  if (s.final === null) return s.pending ? 'waiting for tests' : s.ready ? 'needs grading' : s.latest ? 'not graded' : 'no result';
  return s.maxScore !== null ? `${points(s.final)} / ${points(s.maxScore)}` : points(s.final);
}

const NOTICES: Record<string, (q: AppContext['query']) => string> = {
  extended: (q) => `Extension saved.${Number(q.repriced) ? ` ${Number(q.repriced)} earlier submission(s) were re-timed against the new deadline.` : ''}`,
  revoked: (q) => `Extension revoked.${Number(q.repriced) ? ` ${Number(q.repriced)} earlier submission(s) were re-timed against the normal deadline.` : ''}`,
  rerun: (q) => `Re-run queued: ${Number(q.jobs) || 0} job(s), behind live student submissions. Progress is shown below.`,
  nothing: () => 'There was nothing to re-run: no submissions matched.',
};

/** Coming deadlines the dashboard forecasts. */
const FORECAST_HORIZON_MS = 14 * 86_400_000;

export function registerRoutes(router: AppRouter, deps: Deps): void {
  const grading = () => deps.services.grading;

  // ---- course dashboard ----
  router.get('/courses/:course/dashboard', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const { isLecturer } = requireStaff(ctx, course.slug);
    const now = deps.clock.now();
    const enrolled = listEnrolled(deps.db, course.slug, 'student').length;
    const current = listAssignments(deps.db, course.slug);
    const generatorFailures: Array<{ slug: string; title: string; who: string; message: string; at: string; version: number }> = [];
    const assignments = current.map(({ assignment, version }) => {
      const counts = submissionCounts(deps.db, assignment.id);
      const state = assignmentState(version.config, now);
      // A failed generator run matters while that student still has no variant (looked up for
      // those few students only: listing every variant costs a page at 1,000 students).
      const seen = new Set<number>();
      for (const r of listGeneratorRuns(deps.db, assignment.id, 50)) {
        if (r.outcome !== 'failed' || r.userId === null || seen.has(r.userId) || findVariant(deps.db, assignment.id, r.userId)) continue;
        seen.add(r.userId);
        generatorFailures.push({ slug: assignment.slug, title: version.config.title, who: r.userName ?? `user ${r.userId}`, message: r.message, at: when(r.createdAt, course), version: r.versionNumber });
      }
      return {
        slug: assignment.slug,
        title: version.config.title,
        state: state.state,
        stateText: state.text,
        opens: when(version.config.opensAt, course),
        deadline: when(version.config.deadlineAt, course),
        version: version.number,
        submissions: counts.submissions,
        students: counts.students,
        lastSubmission: counts.last === null ? '' : when(counts.last, course),
      };
    });
    const names = new Map<number, string>();
    const nameOf = (id: number) => {
      if (!names.has(id)) names.set(id, findUserById(deps.db, id)?.name ?? `user ${id}`);
      return names.get(id)!;
    };
    const selfChecks = selfCheckWarnings(deps.db, course.slug);
    const attention = runsNeedingAttention(deps.db, course.slug, 30).map((a) => ({ ...a, who: nameOf(a.userId), when: a.at === null ? '' : when(a.at, course), problem: (a.problem ?? '').split('\n')[0]!.slice(0, 200) }));
    const stats = grading().queue.stats();
    const dispatcher = grading().dispatcher()?.describe() ?? null;
    const drainAt = currentPlan(deps).drainAt;
    const forecast = deadlineForecasts(deps, {
      course: course.slug,
      students: enrolled,
      assignments: current.map(({ assignment, version }) => ({ id: assignment.id, slug: assignment.slug, title: version.config.title, deadlineAt: version.config.deadlineAt })),
      horizonMs: FORECAST_HORIZON_MS,
      targetMs: deps.config.forecastTargetMinutes * 60_000,
    }).map((f) => ({ ...f, deadline: when(f.deadlineAt, course), worstWait: Number.isFinite(f.worstWaitMs) ? durationText(f.worstWaitMs) : null, target: durationText(f.targetMs), run: durationText(f.runMs) }));
    const data = {
      course: { slug: course.slug, title: course.title, timezone: course.timezone },
      enrolled,
      assignments,
      queue: {
        queued: stats.queued,
        running: stats.running,
        oldestQueuedAt: stats.oldestQueuedAt,
        oldestAgeMs: stats.oldestQueuedAt === null ? null : now - stats.oldestQueuedAt,
        drainMs: drainAt === null || stats.queued + stats.running === 0 ? null : Math.max(0, drainAt - now),
      },
      forecast,
      grading: dispatcher,
      workers: listWorkers(deps).map((w) => ({ host: w.host, id: w.id, pid: w.pid, concurrency: w.concurrency, running: w.running, jobsDone: w.jobsDone, lastSeen: w.lastSeen, lastSeenText: when(w.lastSeen, course), alive: w.alive })),
      unsafeSandbox: deps.sandbox.unsafe,
      sandbox: deps.sandbox.describe(),
      generatorFailures,
      attention,
      disk: await diskLine(deps.config.dataDir, deps.config.diskReserveMb),
      selfChecks,
      waitingVersions: waitingVersions(deps.db, course.slug),
      regrades: openRegradesInCourse(deps.db, course.slug, 50).map((r) => ({ id: r.id, slug: r.slug, number: r.number, student: r.student, subject: r.subject, at: r.createdAt })),
    };
    ctx.set('Cache-Control', 'no-store');
    if (wantsJson(ctx)) {
      ctx.body = data;
      return;
    }
    ctx.render('gradebook/dashboard.njk', {
      ...data,
      course,
      isLecturer,
      isStaffView: true,
      oldestAge: data.queue.oldestAgeMs === null ? null : age(data.queue.oldestAgeMs),
      drainText: data.queue.drainMs === null ? null : durationText(data.queue.drainMs),
    });
  });

  // ---- assignment: students, extensions, re-runs, downloads ----
  function renderStudents(ctx: RouteContext, course: Course, current: Current, extra: Record<string, unknown> = {}) {
    const { isLecturer } = requireStaff(ctx, course.slug);
    const { assignment, version } = current;
    const config = version.config;
    const grades = assignmentGrades(deps.db, current, studentsOf(deps, course));
    const hist = binScores(grades.map((g) => g.counted?.percent ?? null));
    const selectedText = typeof ctx.query.user === 'string' ? ctx.query.user : '';
    const selected = grades.find((g) => String(g.student.id) === selectedText);
    const done = typeof ctx.query.done === 'string' ? NOTICES[ctx.query.done] : undefined;
    const row = (s: ScoredSubmission | null) =>
      s && {
        id: s.submission.id,
        number: s.submission.number,
        text: scoreText(s),
        status: s.latest?.status ?? (s.pending ? 'queued' : ''),
        pending: s.pending,
        late: lateness(s.submission.lateMinutes, s.submission.penaltyPct),
        submitted: when(s.submission.submittedAt, course),
      };
    // One page of rows, searched, filtered and sorted like the gradebook (book.ts), from the URL.
    const query = parseBookQuery(ctx.query, [assignment.slug]);
    const due = config.deadlineAt <= deps.clock.now();
    const shown = selectRows(
      grades.map((g) => ({
        id: g.student.id,
        name: g.student.name,
        email: g.student.email,
        studentId: g.student.studentId,
        cells: [
          {
            slug: assignment.slug,
            final: g.counted?.final ?? null,
            fraction: g.counted?.percent ?? null,
            missing: g.submissions === 0 && due,
            late: (g.counted?.submission.lateMinutes ?? 0) > 0,
            needsGrading: g.counted !== null && g.counted.final === null,
            waiting: g.latest?.pending ?? false,
            extension: g.extensionUntil !== null,
            team: g.team?.name ?? null,
          },
        ],
        total: g.counted?.percent ?? null,
      })),
      query,
    );
    const byId = new Map(grades.map((g) => [g.student.id, g]));
    const base = `/courses/${course.slug}/assignments/${assignment.slug}/students`;
    ctx.set('Cache-Control', 'no-store');
    ctx.render('gradebook/students.njk', {
      query,
      statuses: Object.entries(STATUSES).map(([value, label]) => ({ value, label })),
      pageSizes: PAGE_SIZES,
      sortName: bookHref(base, query, { sort: 'name', dir: query.sort === 'name' && query.dir === 'asc' ? 'desc' : 'asc', page: 1 }),
      sortScore: bookHref(base, query, { sort: assignment.slug, dir: query.sort === assignment.slug && query.dir === 'desc' ? 'asc' : 'desc', page: 1 }),
      sortAria: { name: query.sort === 'name' ? (query.dir === 'asc' ? 'ascending' : 'descending') : null, score: query.sort === assignment.slug ? (query.dir === 'asc' ? 'ascending' : 'descending') : null },
      matching: shown.matching,
      enrolled: grades.length,
      page: shown.page,
      pages: shown.pages,
      shownFrom: (shown.page - 1) * query.per + 1,
      shownTo: Math.min(shown.page * query.per, shown.matching),
      prev: shown.page > 1 ? bookHref(base, query, { page: shown.page - 1 }) : null,
      next: shown.page < shown.pages ? bookHref(base, query, { page: shown.page + 1 }) : null,
      countsText: countedRuleText(config.counts),
      students: grades.map((g) => ({ id: g.student.id, name: g.student.name, studentId: g.student.studentId, email: g.student.email })),
      course,
      slug: assignment.slug,
      title: config.title,
      version: version.number,
      counts: config.counts,
      deadline: when(config.deadlineAt, course),
      deadlineLocal: instantToZoned(config.deadlineAt, course.timezone, ' '),
      state: assignmentState(config, deps.clock.now()).text,
      isLecturer,
      isStaffView: true,
      histogram: histogramSvg(hist, { title: `Scores: ${config.title}`, id: `hist-${assignment.slug}` }),
      hist,
      rows: shown.rows.map((b) => byId.get(b.id)!).map((g) => ({
        id: g.student.id,
        name: g.student.name,
        email: g.student.email,
        studentId: g.student.studentId,
        submissions: g.submissions,
        latest: row(g.latest),
        best: row(g.best),
        counted: row(g.counted),
        rerun: g.rerunTarget ? { id: g.rerunTarget.submission.id, number: g.rerunTarget.submission.number } : null,
        extension: g.extensionUntil === null ? null : when(g.extensionUntil, course),
        team: g.team,
      })),
      graded: grades.filter((g) => g.counted).length,
      batches: recentBatches(deps.db, assignment.id).map((b) => ({ ...b, created: when(b.createdAt, course), finished: b.progress.queued + b.progress.running === 0 })),
      extensionForm: {
        user: selected?.student.id ?? null,
        until: instantToZoned(selected?.extensionUntil ?? config.deadlineAt + 86_400_000, course.timezone, ' '),
      },
      ...(done ? { flash: { kind: 'ok', message: done(ctx.query) } } : {}),
      ...extra,
    });
  }

  router.get('/courses/:course/assignments/:slug/students', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    requireStaff(ctx, course.slug);
    renderStudents(ctx, course, currentOr404(deps.db, course.slug, ctx.params.slug));
  });

  router.get('/courses/:course/assignments/:slug/histogram.svg', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    requireStaff(ctx, course.slug);
    const current = currentOr404(deps.db, course.slug, ctx.params.slug);
    const grades = assignmentGrades(deps.db, current, studentsOf(deps, course));
    const hist = binScores(grades.map((g) => g.counted?.percent ?? null));
    ctx.set('Cache-Control', 'private, no-store');
    ctx.type = 'image/svg+xml; charset=utf-8';
    ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n${histogramSvg(hist, { title: `Scores: ${current.version.config.title}`, id: `hist-${current.assignment.slug}` })}`;
  });

  function studentFrom(deps: Deps, course: Course, idText: string | undefined): Student {
    const id = /^\d{1,12}$/.test(idText ?? '') ? Number(idText) : NaN;
    const s = Number.isFinite(id) ? studentsOf(deps, course).find((x) => x.id === id) : undefined;
    if (!s) throw new UserError(400, 'user: choose a student enrolled in this course.');
    return s;
  }

  router.post('/courses/:course/assignments/:slug/extensions', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const actor = requireLecturer(ctx, course.slug, 'grant extensions');
    const current = currentOr404(deps.db, course.slug, ctx.params.slug);
    // This plugin writes its own audit entries, inside the transaction that makes the change.
    ctx.state.audited = true;
    const form = await readForm(ctx);
    const fail = (message: string) => {
      if (wantsJson(ctx)) throw new UserError(422, message);
      renderStudents(ctx, course, current, { error: message, extensionForm: { user: Number(form.user) || null, until: form.until ?? '' } });
      ctx.status = 422;
    };
    let student: Student;
    try {
      student = studentFrom(deps, course, form.user);
    } catch (err) {
      return fail((err as Error).message);
    }
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
  });

  router.post('/courses/:course/assignments/:slug/extensions/:user/revoke', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const actor = requireLecturer(ctx, course.slug, 'revoke extensions');
    const current = currentOr404(deps.db, course.slug, ctx.params.slug);
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
  });

  router.post('/courses/:course/assignments/:slug/reruns', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const { user: actor } = requireStaff(ctx, course.slug);
    const current = currentOr404(deps.db, course.slug, ctx.params.slug);
    ctx.state.audited = true;
    const { assignment } = current;
    const form = await readForm(ctx);
    const scope = form.scope as RerunScope;
    if (scope !== 'one' && scope !== 'counted' && scope !== 'all') throw new UserError(400, 'scope: choose one, counted or all.');
    const version = form.version ?? 'current';
    if (version !== 'current' && version !== 'own') throw new UserError(400, 'version: choose current or own.');
    let subs;
    let target: string;
    if (scope === 'one') {
      const id = /^\d{1,12}$/.test(form.submission ?? '') ? Number(form.submission) : NaN;
      const s = Number.isFinite(id) ? getSubmission(deps.db, id) : undefined;
      if (!s || s.assignmentId !== assignment.id) throw new UserError(404, 'There is no such submission of this assignment.');
      subs = [s];
      target = `${assignment.slug} / submission ${s.id}`;
    } else if (scope === 'counted') {
      subs = assignmentGrades(deps.db, current, studentsOf(deps, course))
        .map((g: StudentGrade) => g.rerunTarget?.submission)
        .filter((s) => s !== undefined)
        // A team's counted submission is every member's: run it once.
        .filter((s, i, all) => all.findIndex((x) => x.id === s.id) === i);
      target = `${assignment.slug} / counted submissions`;
    } else {
      subs = assignmentSubmissions(deps.db, assignment.id);
      target = `${assignment.slug} / all submissions`;
    }
    const base = `/courses/${course.slug}/assignments/${assignment.slug}/students`;
    if (!subs.length) {
      if (wantsJson(ctx)) throw new UserError(409, 'There was nothing to re-run: no submissions matched.');
      return ctx.redirect(`${base}?done=nothing`);
    }
    const batch = startRerun(deps, { current, course: course.slug, scope, submissions: subs, ownVersion: version === 'own', actor, target });
    ctx.state.log.info({ course: course.slug, slug: assignment.slug, batch: batch.id, jobs: batch.jobs, scope, by: actor.email }, 're-run queued');
    if (wantsJson(ctx)) {
      ctx.status = 201;
      ctx.body = batch;
      return;
    }
    ctx.redirect(`${base}?done=rerun&jobs=${batch.jobs}#batch-${batch.id}`);
  });

  router.get('/courses/:course/assignments/:slug/reruns/:batch', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    requireStaff(ctx, course.slug);
    const current = currentOr404(deps.db, course.slug, ctx.params.slug);
    const batch = getBatch(deps.db, current.assignment.id, ctx.params.batch ?? '');
    if (!batch) throw new UserError(404, 'There is no such re-run.');
    ctx.set('Cache-Control', 'no-store');
    if (wantsJson(ctx)) {
      ctx.body = batch;
      return;
    }
    ctx.redirect(`/courses/${course.slug}/assignments/${current.assignment.slug}/students#batch-${batch.id}`);
  });

  router.get('/courses/:course/assignments/:slug/submissions.zip', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const actor = requireLecturer(ctx, course.slug, 'download all submissions');
    const current = currentOr404(deps.db, course.slug, ctx.params.slug);
    const grades = assignmentGrades(deps.db, current, studentsOf(deps, course));
    // yazl loads on first use: exports are rare, start-up time matters at every deploy.
    const { ZipFile } = (await import('yazl')).default;
    const zip = countedSubmissionsZip({ ...deps, log: ctx.state.log }, grades, { slug: current.assignment.slug, ZipFile });
    ctx.state.audited = true;
    recordAudit(deps.db, {
      at: deps.clock.now(),
      actor,
      course: course.slug,
      action: 'export.submissions_zip',
      target: `${current.assignment.slug} / counted submissions`,
      details: { assignment: current.assignment.slug, students: zip.students, files: zip.files },
    });
    ctx.set('Content-Disposition', attachment(`${course.slug}-${current.assignment.slug}-submissions.zip`));
    ctx.set('Cache-Control', 'private, no-store');
    ctx.type = 'application/zip';
    ctx.body = zip.stream;
  });

  // ---- gradebook ----
  function gradebook(course: Course) {
    const students = studentsOf(deps, course);
    const assignments = listAssignments(deps.db, course.slug);
    const weights = assignmentWeights(deps.db, course, assignments.map((a) => a.assignment.slug));
    const now = deps.clock.now();
    const columns = assignments.map((a) => {
      const grades = assignmentGrades(deps.db, a, students);
      const weight = weights.get(a.assignment.slug)!;
      // The points shown as the maximum: the configured one, else the highest a counted submission is out of.
      let natural: number | null = null;
      for (const g of grades) if (g.counted?.maxScore != null && (natural === null || g.counted.maxScore > natural)) natural = g.counted.maxScore;
      return {
        slug: a.assignment.slug,
        title: a.version.config.title,
        counts: a.version.config.counts,
        due: a.version.config.deadlineAt <= now,
        isTeam: a.version.config.team !== null,
        weight,
        max: weight.max ?? natural,
        grades,
      };
    });
    const rows = students.map((student, i) => {
      const grades = columns.map((c) => c.grades[i]!);
      const total = weightedTotal(
        grades.map((g, j) => ({ slug: columns[j]!.slug, final: g.counted?.final ?? null, maxScore: g.counted?.maxScore ?? null })),
        weights,
      );
      const cells: BookCell[] = grades.map((g, j) => ({
        slug: columns[j]!.slug,
        final: g.counted?.final ?? null,
        fraction: total.fractions.get(columns[j]!.slug) ?? null,
        missing: g.submissions === 0 && columns[j]!.due,
        late: (g.counted?.submission.lateMinutes ?? 0) > 0,
        needsGrading: g.counted !== null && g.counted.final === null,
        waiting: g.latest?.pending ?? false,
        extension: g.extensionUntil !== null,
        team: g.team?.name ?? null,
      }));
      return { book: { id: student.id, name: student.name, email: student.email, studentId: student.studentId, cells, total: total.percent } satisfies BookRow, grades };
    });
    return { columns, rows };
  }

  function cellText(g: StudentGrade, due: boolean): string {
    if (g.counted) return g.counted.final === null ? 'needs grading' : scoreText(g.counted);
    if (g.submissions) return scoreText(g.latest);
    return due ? 'missing' : '';
  }

  router.get('/courses/:course/gradebook', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const { isLecturer } = requireStaff(ctx, course.slug);
    const { columns, rows } = gradebook(course);
    const query = parseBookQuery(ctx.query, columns.map((c) => c.slug));
    const selected = selectRows(
      rows.map((r) => r.book),
      query,
    );
    const byId = new Map(rows.map((r) => [r.book.id, r]));
    const base = `/courses/${course.slug}/gradebook`;
    const sortLink = (key: string) => ({
      href: bookHref(base, query, { sort: key, dir: query.sort === key ? (query.dir === 'asc' ? 'desc' : 'asc') : key === 'name' || key === 'email' || key === 'id' ? 'asc' : 'desc', page: 1 }),
      aria: query.sort === key ? (query.dir === 'asc' ? 'ascending' : 'descending') : null,
    });
    ctx.set('Cache-Control', 'no-store');
    ctx.render('gradebook/gradebook.njk', {
      course,
      isLecturer,
      isStaffView: true,
      ruleText: TOTAL_RULE_TEXT,
      query,
      statuses: Object.entries(STATUSES).map(([value, label]) => ({ value, label })),
      pageSizes: PAGE_SIZES,
      sort: { name: sortLink('name'), id: sortLink('id'), total: sortLink('total') },
      columns: columns.map((c) => ({
        slug: c.slug,
        title: c.title,
        counts: c.counts,
        countsText: countedRuleText(c.counts),
        isTeam: c.isTeam,
        weight: points(c.weight.weight),
        weightFrom: c.weight.weightFrom,
        max: c.max === null ? '' : points(c.max),
        maxInput: c.weight.max === null ? '' : String(c.weight.max),
        maxFrom: c.weight.maxFrom,
        sort: sortLink(c.slug),
      })),
      matching: selected.matching,
      shownFrom: (selected.page - 1) * query.per + 1,
      shownTo: Math.min(selected.page * query.per, selected.matching),
      enrolled: rows.length,
      page: selected.page,
      pages: selected.pages,
      prev: selected.page > 1 ? bookHref(base, query, { page: selected.page - 1 }) : null,
      next: selected.page < selected.pages ? bookHref(base, query, { page: selected.page + 1 }) : null,
      csvHref: `/courses/${course.slug}/gradebook.csv`,
      rows: selected.rows.map((b) => {
        const r = byId.get(b.id)!;
        return {
          id: b.id,
          name: b.name,
          email: b.email,
          studentId: b.studentId,
          cells: r.grades.map((g, j) => ({
            slug: columns[j]!.slug,
            text: cellText(g, columns[j]!.due),
            late: g.counted && g.counted.submission.penaltyPct ? `−${g.counted.submission.penaltyPct} %` : '',
            lateOnly: b.cells[j]!.late && !g.counted?.submission.penaltyPct,
            extension: g.extensionUntil !== null,
            team: g.team?.name ?? null,
            needsGrading: b.cells[j]!.needsGrading,
            missing: b.cells[j]!.missing,
          })),
          total: b.total === null ? '' : `${points(b.total)} %`,
        };
      }),
      ...(ctx.query.done === 'weights' ? { flash: { kind: 'ok', message: 'Weights and maxima saved.' } } : {}),
    });
  });

  router.post('/courses/:course/gradebook/settings', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const actor = requireLecturer(ctx, course.slug, 'change weights and maxima');
    ctx.state.audited = true;
    const form = await readForm(ctx);
    const assignments = listAssignments(deps.db, course.slug);
    const slugs = assignments.map((a) => a.assignment.slug);
    const weights = assignmentWeights(deps.db, course, slugs);
    const number = (field: string, text: string | undefined, min: number, max: number, above: boolean): number | null => {
      const t = (text ?? '').trim().replace(',', '.');
      if (t === '') return null;
      const n = Number(t);
      if (!/^\d{1,6}(\.\d{1,3})?$/.test(t) || !Number.isFinite(n) || (above ? n <= min : n < min) || n > max) {
        throw new UserError(422, `${field}: give a number ${above ? 'above' : 'from'} ${min} to ${max} (at most three decimals), or leave it empty for the default.`);
      }
      return n;
    };
    const changes: Array<{ slug: string; weight: number | null; maxPoints: number | null }> = [];
    for (const slug of slugs) {
      const w = weights.get(slug)!;
      // What course.yaml sets stays as the file says: the page shows it and cannot change it.
      const weight = w.weightFrom === 'course.yaml' ? null : number(`weight-${slug}`, form[`weight-${slug}`], 0, 1000, false);
      const maxPoints = w.maxFrom === 'course.yaml' ? null : number(`max-${slug}`, form[`max-${slug}`], 0, 100_000, true);
      changes.push({ slug, weight, maxPoints });
    }
    const at = deps.clock.now();
    deps.db.transaction(() => {
      for (const c of changes) saveGradebookSetting(deps.db, { course: course.slug, slug: c.slug, weight: c.weight, maxPoints: c.maxPoints, by: actor.id, at });
      recordAudit(deps.db, { at, actor, course: course.slug, action: 'gradebook.weights', target: `${course.slug} gradebook`, details: { settings: changes } });
    })();
    if (wantsJson(ctx)) {
      ctx.body = { saved: changes };
      return;
    }
    ctx.redirect(`/courses/${course.slug}/gradebook?done=weights#weights`);
  });

  router.get('/courses/:course/gradebook.csv', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const actor = requireLecturer(ctx, course.slug, 'export grades');
    const { columns, rows } = gradebook(course);
    const slugOrder = columns.map((c, j) => ({ slug: c.slug, j, isTeam: c.isTeam })).sort((a, b) => (a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0));
    // Per assignment its score, and for a team assignment the student's team beside it.
    const header = ['email', 'student_id', 'name', ...slugOrder.flatMap((c) => (c.isTeam ? [c.slug, `${c.slug}_team`] : [c.slug])), 'total_percent'];
    const lines = [header.map(csvField).join(',')];
    const meta = (label: string, value: (c: (typeof columns)[number]) => string) =>
      ['', '', label, ...slugOrder.flatMap((c) => (c.isTeam ? [value(columns[c.j]!), ''] : [value(columns[c.j]!)])), ''].map((v) => csvField(v)).join(',');
    lines.push(meta('(maximum points)', (c) => (c.max === null ? '' : points(c.max))));
    lines.push(meta('(weight)', (c) => points(c.weight.weight)));
    for (const r of rows) {
      const cells = slugOrder.flatMap((c) => {
        const g = r.grades[c.j]!;
        const score = g.counted && g.counted.final !== null ? points(g.counted.final) : '';
        return c.isTeam ? [score, g.team?.name ?? ''] : [score];
      });
      lines.push([r.book.email, r.book.studentId, r.book.name, ...cells, r.book.total === null ? '' : points(r.book.total)].map((v) => csvField(v)).join(','));
    }
    ctx.state.audited = true;
    recordAudit(deps.db, { at: deps.clock.now(), actor, course: course.slug, action: 'export.gradebook_csv', target: `${course.slug} gradebook`, details: { students: rows.length, assignments: slugOrder.map((c) => c.slug) } });
    // Excel only reads UTF-8 when the file starts with a byte order mark; other tools may choke on one.
    const bom = ctx.query.excel === '1' ? '\uFEFF' : '';
    ctx.set('Content-Disposition', attachment(`${course.slug}-gradebook.csv`));
    ctx.set('Cache-Control', 'private, no-store');
    ctx.type = 'text/csv; charset=utf-8';
    ctx.body = `${bom}${lines.join('\r\n')}\r\n`;
  });

  // ---- the site admin's audit log ----
  router.get('/admin/audit', async (ctx) => {
    const user = requireUser(ctx);
    if (!user.isAdmin) throw new UserError(404, 'There is nothing at this address.');
    const PAGE = 50;
    const beforeText = typeof ctx.query.before === 'string' ? ctx.query.before : '';
    if (beforeText && !/^\d{1,15}$/.test(beforeText)) throw new UserError(400, 'before: give an entry number.');
    const courseQ = typeof ctx.query.course === 'string' && ctx.query.course ? ctx.query.course : undefined;
    const entries = listAudit(deps.db, { ...(beforeText ? { before: Number(beforeText) } : {}), limit: PAGE + 1, ...(courseQ ? { course: courseQ } : {}) });
    const more = entries.length > PAGE;
    const page = entries.slice(0, PAGE);
    ctx.set('Cache-Control', 'no-store');
    if (wantsJson(ctx)) {
      ctx.body = { entries: page.map((e) => ({ ...e, at: new Date(e.at).toISOString() })), next: more ? page.at(-1)!.id : null };
      return;
    }
    ctx.render('gradebook/audit.njk', {
      entries: page.map((e) => {
        const zone = (e.course ? deps.content.course(e.course)?.timezone : undefined) ?? 'UTC';
        return { ...e, target: e.target.replace(/^POST /, ''), when: new Date(e.at).toISOString().replace('T', ' ').slice(0, 19) + ' UTC', local: e.course ? formatDateTime(e.at, zone) : '', phrase: auditPhrase(e.action), lines: auditDetails(e, zone) };
      }),
      next: more ? page.at(-1)!.id : null,
      first: !beforeText,
      course: courseQ ?? '',
      courses: auditedCourses(deps.db),
      isStaffView: true,
    });
  });
}

/** The data disk's free space for the dashboard; null when it cannot be read. */
async function diskLine(dataDir: string, reserveMb: number): Promise<{ free: string; reserve: string; low: boolean; freeBytes: number } | null> {
  try {
    const d = await diskSpace(dataDir, reserveMb);
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(n < 10 * 1024 * 1024 ? 1 : 0)} MB`;
    return { free: mb(d.freeBytes), reserve: mb(d.reserveBytes), low: d.low, freeBytes: d.freeBytes };
  } catch {
    return null;
  }
}
