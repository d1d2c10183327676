import { wantsJson } from '../../../core/http.js';
import { inputOf, type RouteContext } from '../../../core/routes.js';
import type { Course } from '../../../lib/content.js';
import { UserError } from '../../../lib/errors.js';
import { formatDateTime } from '../../../lib/views.js';
import type { Deps } from '../../../plugin.js';
import type { Current } from '../../assignments/store.js';
import { assignForm, idList, idParam, nextQuery, prevQuery, queueQuery } from '../forms.js';
import { gradingRule } from '../grading.js';
import { currentOf, mayDo } from '../policy.js';
import { queueEntries, queueTarget, type QueueState } from '../queue.js';
import * as store from '../store.js';
import { auditEntry, flash, staffUrl, staffUsers, studentsOf } from './common.js';

type GraderFilter = number | 'any' | 'none' | 'me';

/** The grading queue of an assignment: the list with its filters, the next and previous student, and the assignment of graders. */
export function queueHandlers(deps: Deps) {
  function queueFilter(q: { grader: GraderFilter; state?: string | undefined }, rawGrader: unknown, me: number) {
    const graderText = typeof rawGrader === 'string' ? rawGrader : '';
    const state = (q.state || 'any') as QueueState | 'any';
    const graderId = q.grader === 'me' ? me : q.grader;
    return { grader: q.grader, graderId, state, graderText: graderText || 'any', stateText: state };
  }

  function queueOf(course: Course, current: Current) {
    const students = studentsOf(deps, course);
    const graders = store.gradersOf(deps.db, current.assignment.id);
    const entries = queueEntries(deps, current, students, graders);
    return { students, entries };
  }

  const byGrader = (graderId: number | 'any' | 'none', e: { graderId: number | null }) => (graderId === 'any' ? true : graderId === 'none' ? e.graderId === null : e.graderId === graderId);

  return {
    list(ctx: RouteContext) {
      const course = ctx.state.course!;
      const current = currentOf(ctx, deps);
      const f = queueFilter(inputOf(ctx, queueQuery), ctx.query.grader, ctx.state.user!.id);
      const { students, entries } = queueOf(course, current);
      const manualDecides = gradingRule(current).final !== 'autotest';
      const staff = staffUsers(deps, course);
      const names = new Map(staff.map((s) => [s.id, s.name]));
      const progress = [...staff, { id: 0, name: 'Not assigned', email: '' }]
        .map((s) => {
          const mine = entries.filter((e) => (s.id === 0 ? e.graderId === null : e.graderId === s.id) && e.submission);
          return { id: s.id, name: s.name, total: mine.length, graded: mine.filter((e) => e.state === 'graded').length, inProgress: mine.filter((e) => e.state === 'in_progress').length };
        })
        .filter((p) => p.total > 0 || p.id !== 0);
      const rows = entries
        .map((e, i) => ({ ...e, student: students[i]! }))
        .filter((e) => byGrader(f.graderId, e))
        .filter((e) => (f.state === 'any' ? true : queueTarget(e, f.state, manualDecides) !== null));
      const releases = store.releasesOf(deps.db, current.assignment.id);
      const whole = releases.find((r) => r.userId === store.WHOLE_ASSIGNMENT);
      ctx.set('Cache-Control', 'no-store');
      if (wantsJson(ctx)) {
        ctx.body = { progress, rows: rows.map((r) => ({ userId: r.userId, submission: r.submission?.id ?? null, state: r.state, graderId: r.graderId, newer: r.newer ? { submission: r.newer.submission.id, state: r.newer.state, why: r.newer.why } : null })), released: whole ? whole.releasedAt : null };
        return;
      }
      ctx.render('review/queue.njk', {
        ...flash(ctx),
        isStaffView: true,
        course,
        slug: current.assignment.slug,
        title: current.version.config.title,
        rule: gradingRule(current),
        staffList: staff,
        progress,
        filter: f,
        rows: rows.map((r) => ({ id: r.student.id, name: r.student.name, email: r.student.email, studentId: r.student.studentId, submission: r.submission ? { id: r.submission.id, number: r.submission.number } : null, newer: r.newer ? { id: r.newer.submission.id, number: r.newer.submission.number, why: r.newer.why } : null, state: r.state, grader: r.graderId === null ? null : (names.get(r.graderId) ?? `user ${r.graderId}`) })),
        released: whole ? { when: formatDateTime(whole.releasedAt, course.timezone), by: whole.byName } : null,
        studentReleases: releases.filter((r) => r.userId !== store.WHOLE_ASSIGNMENT).length,
        mayRelease: mayDo(ctx, course, 'release'),
        mayEditRubric: mayDo(ctx, course, 'edit_rubric'),
      });
    },

    next(ctx: RouteContext) {
      const course = ctx.state.course!;
      const current = currentOf(ctx, deps);
      const q = inputOf(ctx, nextQuery);
      const f = queueFilter(q, ctx.query.grader, ctx.state.user!.id);
      const after = q.after ?? null;
      const { entries } = queueOf(course, current);
      const wantedState = f.state === 'any' ? 'ungraded' : f.state;
      const manualDecides = gradingRule(current).final !== 'autotest';
      const fits = (e: (typeof entries)[number]) => queueTarget(e, wantedState, manualDecides) !== null && byGrader(f.graderId, e);
      // The student after the one just graded, wrapping round: every grader walks the list in the same order.
      const start = after === null ? 0 : entries.findIndex((e) => e.userId === after) + 1;
      const ordered = [...entries.slice(start), ...entries.slice(0, start)];
      const next = ordered.find((e) => fits(e) && e.userId !== after);
      const grader = encodeURIComponent(f.graderText);
      if (!next) {
        if (wantsJson(ctx)) {
          ctx.body = { next: null };
          return;
        }
        ctx.redirect(`/courses/${course.slug}/assignments/${current.assignment.slug}/grading?grader=${grader}&done=none`);
        return;
      }
      const target = queueTarget(next, wantedState, manualDecides)!;
      if (wantsJson(ctx)) {
        ctx.body = { next: target.id, userId: next.userId };
        return;
      }
      ctx.redirect(`${staffUrl(course.slug, target.id)}?grader=${grader}`);
    },

    /** The student before this one in the queue's order, whatever their state: a grader going back to fix what they just marked graded. */
    prev(ctx: RouteContext) {
      const course = ctx.state.course!;
      const current = currentOf(ctx, deps);
      const q = inputOf(ctx, prevQuery);
      const f = queueFilter(q, ctx.query.grader, ctx.state.user!.id);
      const { entries } = queueOf(course, current);
      const at = entries.findIndex((e) => e.userId === q.before);
      const end = at < 0 ? entries.length : at;
      const ordered = [...entries.slice(0, end).reverse(), ...entries.slice(end + 1).reverse()];
      const prev = ordered.find((e) => e.submission !== null && byGrader(f.graderId, e));
      const grader = encodeURIComponent(f.graderText);
      if (wantsJson(ctx)) {
        ctx.body = { prev: prev?.submission?.id ?? null, userId: prev?.userId ?? null };
        return;
      }
      if (!prev) {
        ctx.redirect(`/courses/${course.slug}/assignments/${current.assignment.slug}/grading?grader=${grader}&done=none`);
        return;
      }
      ctx.redirect(`${staffUrl(course.slug, prev.submission!.id)}?grader=${grader}`);
    },

    assign(ctx: RouteContext) {
      const course = ctx.state.course!;
      const current = currentOf(ctx, deps);
      const form = inputOf(ctx, assignForm);
      const staff = staffUsers(deps, course);
      const students = studentsOf(deps, course);
      const changes: Array<[number, number | null]> = [];
      if (form.mode === 'spread') {
        // Unassigned students go round the chosen graders (all staff when none is chosen).
        const chosen = idList(form.graders, 'graders');
        const pool = chosen.length ? chosen : staff.map((s) => s.id);
        if (pool.some((g) => !staff.some((s) => s.id === g))) throw new UserError(400, 'graders: choose staff of this course.');
        if (!pool.length) throw new UserError(400, 'graders: this course has no staff accounts to assign.');
        const have = store.gradersOf(deps.db, current.assignment.id);
        let i = 0;
        for (const s of students) if (!have.has(s.id)) changes.push([s.id, pool[i++ % pool.length]!]);
      } else {
        const grader = form.grader === '' ? null : idParam(form.grader, 'grader');
        if (grader !== null && !staff.some((s) => s.id === grader)) throw new UserError(400, 'grader: choose staff of this course.');
        const ids = idList(form.students, 'students');
        if (!ids.length) throw new UserError(400, 'students: choose at least one student.');
        for (const sid of ids) {
          if (!students.some((s) => s.id === sid)) throw new UserError(400, 'students: choose students of this course.');
          changes.push([sid, grader]);
        }
      }
      deps.db.transaction(() => {
        for (const [userId, graderId] of changes) store.setGrader(deps.db, current.assignment.id, userId, graderId);
        auditEntry(deps, ctx, course.slug, 'review.assign_graders', `${current.assignment.slug} / ${changes.length} student(s)`, { mode: form.mode, changes: changes.slice(0, 200) });
      })();
      if (wantsJson(ctx)) {
        ctx.body = { ok: true, assigned: changes.length };
        return;
      }
      ctx.redirect(`/courses/${course.slug}/assignments/${current.assignment.slug}/grading?done=assigned`);
    },
  };
}
