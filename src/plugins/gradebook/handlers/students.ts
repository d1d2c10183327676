import type { RouteContext, RouteMiddleware } from '../../../core/routes.js';
import type { Deps } from '../../../plugin.js';
import type { Current } from '../../assignments/store.js';
import { bookHref, PAGE_SIZES, parseBookQuery, selectRows, STATUSES } from '../book.js';
import { countedRuleText } from '../counted.js';
import { assignmentState, when } from '../format.js';
import { lateness } from '../../../lib/format.js';
import { assignmentGrades, type ScoredSubmission } from '../grades.js';
import { binScores, histogramSvg } from '../histogram.js';
import { assignmentOf, courseOf, isLecturer } from '../policy.js';
import { recentBatches } from '../reruns.js';
import { scoreText, studentsOf } from '../table.js';
import { instantToZoned } from '../../../lib/zoned.js';

/** The notice a redirect back to the students page asks for (`?done=`). */
const NOTICES: Record<string, (q: RouteContext['query']) => string> = {
  extended: (q) => `Extension saved.${Number(q.repriced) ? ` ${Number(q.repriced)} earlier submission(s) were re-timed against the new deadline.` : ''}`,
  revoked: (q) => `Extension revoked.${Number(q.repriced) ? ` ${Number(q.repriced)} earlier submission(s) were re-timed against the normal deadline.` : ''}`,
  rerun: (q) => `Re-run queued: ${Number(q.jobs) || 0} job(s), behind live student submissions. Progress is shown below.`,
  nothing: () => 'There was nothing to re-run: no submissions matched.',
};

/**
 * An assignment's students page: one page of students (searched, filtered and sorted like the
 * gradebook, book.ts, from the URL), their latest, best and counted submissions, the histogram,
 * extensions and re-runs. `extra` overrides (a form's error and what was typed).
 */
export function renderStudents(ctx: RouteContext, deps: Pick<Deps, 'db' | 'clock'>, current: Current, extra: Record<string, unknown> = {}): void {
  const course = courseOf(ctx);
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
    isLecturer: isLecturer(ctx),
    isStaffView: true,
    histogram: histogramSvg(hist, { title: `Scores: ${config.title}`, id: `hist-${assignment.slug}` }),
    hist,
    rows: shown.rows
      .map((b) => byId.get(b.id)!)
      .map((g) => ({
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

export function studentsPage(deps: Deps): RouteMiddleware {
  return async (ctx) => {
    renderStudents(ctx, deps, assignmentOf(ctx, deps));
  };
}

/** The counted scores' histogram as an SVG image of its own. */
export function histogramImage(deps: Deps): RouteMiddleware {
  return async (ctx) => {
    const current = assignmentOf(ctx, deps);
    const grades = assignmentGrades(deps.db, current, studentsOf(deps, courseOf(ctx)));
    const hist = binScores(grades.map((g) => g.counted?.percent ?? null));
    ctx.set('Cache-Control', 'private, no-store');
    ctx.type = 'image/svg+xml; charset=utf-8';
    ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n${histogramSvg(hist, { title: `Scores: ${current.version.config.title}`, id: `hist-${current.assignment.slug}` })}`;
  };
}
