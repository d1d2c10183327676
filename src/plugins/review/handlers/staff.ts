import { backTo, wantsJson } from '../../../core/http.js';
import { inputOf, type RouteContext } from '../../../core/routes.js';
import { UserError } from '../../../lib/errors.js';
import { formatDateTime } from '../../../lib/views.js';
import type { Deps } from '../../../plugin.js';
import { findUserById } from '../../accounts/users.js';
import { lateness, points as fmtPoints } from '../../../lib/format.js';
import { statusFor } from '../../submissions/status.js';
import { extensionFor, getSubmission, studentSubmissions, submissionFiles } from '../../submissions/store.js';
import { diffSubmissions } from '../diff.js';
import { showFile } from '../files.js';
import { adjustmentForm, applyItemForm, commentEditForm, commentForm, diffQuery, idParam, stateForm } from '../forms.js';
import { breakdownOf, gradableResult, gradingRule, rubricOf } from '../grading.js';
import { loaded, mayDo, type Loaded } from '../policy.js';
import { queueEntries } from '../queue.js';
import { gradesReleasedAt } from '../release.js';
import { getItem } from '../rubric-store.js';
import * as store from '../store.js';
import { breakdownRows, commentViews, fileTree, shownFile, splitPath } from '../view.js';
import { auditEntry, flash, staffUrl, tamperFlags } from './common.js';

type Done = { done: string; file?: string | null };

/** The staff view of a submission, the diff between two of a student's submissions, and every grading action on it. */
export function staffHandlers(deps: Deps) {
  const autotestOf = (l: Loaded) => gradableResult(deps.db, l.submission.id);
  const target = (l: Loaded) => `${l.current.assignment.slug} / submission ${l.submission.id}`;

  /** Every grading action answers alike: the new breakdown (JSON), or back to the page with a notice. */
  async function grading(ctx: RouteContext, action: (l: Loaded) => Done | Promise<Done>): Promise<void> {
    const l = loaded(ctx, deps);
    const out = await action(l);
    if (wantsJson(ctx)) {
      const { breakdown } = breakdownOf(deps.db, l.current, l.submission, autotestOf(l));
      ctx.body = { ok: true, done: out.done, breakdown };
      return;
    }
    const to = backTo((ctx.state.input as { back?: string }).back, staffUrl(l.course.slug, l.submission.id, out.file));
    ctx.redirect(`${to}${to.includes('?') ? '&' : '?'}done=${out.done}`);
  }

  function activeItem(l: Loaded, itemId: number, field: string, allowRetired = false) {
    const item = getItem(deps.db, itemId);
    if (!item || item.assignmentId !== l.current.assignment.id) throw new UserError(404, `${field}: there is no such rubric item for this assignment.`);
    if (item.retired && !allowRetired) throw new UserError(409, `${field}: "${item.title}" was removed from the rubric.`);
    return item;
  }

  /** The line range of a comment, checked against the file as shown (a 4xx names what is wrong). */
  async function checkedRange(l: Loaded, f: { path?: string; from: number; to?: number | null }) {
    const path = (f.path ?? '').trim();
    const target = splitPath(submissionFiles(deps.db, l.submission.id), path);
    if (!target) throw new UserError(400, 'path: choose a file of this submission.');
    const start = f.from;
    const end = f.to ?? start;
    if (end < start) throw new UserError(400, 'to: the last line must not be before the first.');
    const shown = await showFile(deps.blobs, target.file, target.entry);
    if (!shown || shown.kind !== 'text') throw new UserError(422, 'path: only text files can have line comments.');
    if (end > shown.lines.length) throw new UserError(400, `to: the file has ${shown.lines.length} lines.`);
    return { path, start, end };
  }

  function commentItem(l: Loaded, itemId: number | null | undefined): number | null {
    if (itemId === null || itemId === undefined) return null;
    rubricOf(deps.db, l.current);
    return activeItem(l, itemId, 'item').id;
  }

  function commentOf(l: Loaded, idText: string | undefined) {
    const c = store.getComment(deps.db, idParam(idText, 'comment'));
    if (!c || c.submissionId !== l.submission.id) throw new UserError(404, 'There is no such comment on this submission.');
    return c;
  }

  return {
    async page(ctx: RouteContext) {
      const l = loaded(ctx, deps);
      const { course, submission, current } = l;
      const student = findUserById(deps.db, submission.userId);
      const files = submissionFiles(deps.db, submission.id);
      const { breakdown, groups, graded } = breakdownOf(deps.db, current, submission, autotestOf(l));
      const rubric = groups.map((g) => g.group);
      const comments = await commentViews(store.commentsOf(deps.db, submission.id), rubric);
      const wanted = typeof ctx.query.file === 'string' && ctx.query.file ? ctx.query.file : null;
      const shown = await shownFile(deps, files, wanted, comments);
      const status = statusFor(deps, { submission, assignment: current.assignment, version: current.version, staff: true });
      const grade = store.gradeOf(deps.db, submission.id);
      const releasedAt = gradesReleasedAt(deps.db, submission.assignmentId, submission.userId);
      const regrades = store.regradesOf(deps.db, submission.id);
      const ext = extensionFor(deps.db, submission.assignmentId, submission.userId);
      const others = studentSubmissions(deps.db, submission.assignmentId, submission.userId);
      const tamper = tamperFlags(deps, submission.id);
      const adjustments = store.adjustmentsOf(deps.db, submission.id);
      const when = (ms: number | null) => formatDateTime(ms, course.timezone);
      ctx.set('Cache-Control', 'no-store');
      if (wantsJson(ctx)) {
        ctx.body = {
          submission: { id: submission.id, number: submission.number, lateMinutes: submission.lateMinutes, penaltyPct: submission.penaltyPct },
          student: student ? { id: student.id, name: student.name, email: student.email, studentId: student.student_id } : null,
          files: files.map((f) => ({ name: f.name, size: f.size })),
          shown: shown ? { path: shown.path, kind: shown.shown.kind, lines: shown.lines.length, highlighted: shown.shown.kind === 'text' && shown.shown.highlighted, entries: shown.shown.kind === 'zip' ? shown.shown.entries.length : null } : null,
          status,
          tamper,
          breakdown,
          graded,
          state: grade?.state ?? 'ungraded',
          rubric: groups.map((g) => ({ id: g.group.id, key: g.group.key, title: g.group.title, max: g.group.max, score: g.score, items: g.group.items.map((i) => ({ id: i.id, key: i.key, title: i.title, points: i.points, applied: g.appliedIds.has(i.id), retired: i.retired })) })),
          adjustments,
          comments: comments.map((c) => ({ id: c.id, path: c.path, lineStart: c.lineStart, lineEnd: c.lineEnd, body: c.body, itemId: c.itemId })),
          releasedAt,
          extensionUntil: ext,
          regrades,
          others: others.map((o) => ({ id: o.id, number: o.number })),
        };
        return;
      }
      let key = 0;
      const shortcuts = new Map<number, number>();
      for (const g of groups) for (const i of g.group.items) if (!i.retired && key < 9) shortcuts.set(i.id, ++key);
      const entry = student ? queueEntries(deps, current, [{ id: student.id, email: student.email, name: student.name, studentId: student.student_id }], store.gradersOf(deps.db, current.assignment.id))[0] : undefined;
      const counted = entry?.submission ?? null;
      const newer = entry?.newer ?? null;
      ctx.render('review/staff.njk', {
        ...flash(ctx),
        isStaffView: true,
        course,
        slug: current.assignment.slug,
        title: current.version.config.title,
        submission,
        submitted: when(submission.submittedAt),
        late: lateness(submission.lateMinutes, submission.penaltyPct),
        extension: ext === null ? null : when(ext),
        student: student ? { id: student.id, name: student.name, email: student.email, studentId: student.student_id } : null,
        others: others.map((o) => ({ id: o.id, number: o.number, submitted: when(o.submittedAt), current: o.id === submission.id })),
        files: fileTree(files, shown, comments),
        shown,
        status,
        staff: true,
        tamper,
        rubric: groups.map((g) => ({
          ...g.group,
          score: fmtPoints(g.score),
          maxText: fmtPoints(g.group.max),
          items: g.group.items.map((i) => ({ ...i, applied: g.appliedIds.has(i.id), pointsText: i.points > 0 ? `+${fmtPoints(i.points)}` : fmtPoints(i.points), shortcut: shortcuts.get(i.id) ?? null })),
        })),
        activeItems: rubric.flatMap((g) => g.items.filter((i) => !i.retired).map((i) => ({ id: i.id, title: `${g.title}: ${i.title}` }))),
        breakdown: breakdownRows(breakdown),
        rule: gradingRule(current),
        adjustments: adjustments.map((a) => ({ ...a, text: a.points > 0 ? `+${fmtPoints(a.points)}` : fmtPoints(a.points), when: when(a.createdAt) })),
        comments,
        grade: grade ? { ...grade, when: when(grade.updatedAt) } : null,
        target: counted?.id === submission.id,
        counted: counted && counted.id !== submission.id ? { id: counted.id, number: counted.number } : null,
        newer: newer && newer.submission.id !== submission.id ? { id: newer.submission.id, number: newer.submission.number, why: newer.why } : null,
        released: releasedAt === null ? null : when(releasedAt),
        mayRelease: mayDo(ctx, course, 'release'),
        mayEditRubric: mayDo(ctx, course, 'edit_rubric'),
        regrades: regrades.map((r) => ({ ...r, when: when(r.createdAt) })),
        queryGrader: typeof ctx.query.grader === 'string' && /^(any|none|me|\d{1,12})$/.test(ctx.query.grader) ? ctx.query.grader : 'any',
      });
    },

    async diff(ctx: RouteContext) {
      const l = loaded(ctx, deps);
      const { against } = inputOf(ctx, diffQuery);
      const other = getSubmission(deps.db, against);
      if (!other || other.assignmentId !== l.submission.assignmentId || other.userId !== l.submission.userId) throw new UserError(404, 'against: there is no such submission of this student.');
      const [older, newer] = other.number < l.submission.number ? [other, l.submission] : [l.submission, other];
      const { files: diffs, truncatedZips } = await diffSubmissions(deps.blobs, submissionFiles(deps.db, older.id), submissionFiles(deps.db, newer.id));
      ctx.set('Cache-Control', 'no-store');
      if (wantsJson(ctx)) {
        ctx.body = { older: older.id, newer: newer.id, truncatedZips, files: diffs.map((d) => ({ name: d.name, change: d.change, added: d.added, removed: d.removed, shownLines: d.lines.length, cut: d.cut, note: d.note })) };
        return;
      }
      const changed = diffs.filter((d) => d.change !== 'same');
      ctx.render('review/diff.njk', { isStaffView: true, course: l.course, title: l.current.version.config.title, submission: l.submission, older, newer, diffs: changed, unchanged: diffs.length - changed.length, truncatedZips });
    },

    async applyItem(ctx: RouteContext) {
      await grading(ctx, (l) => {
        const f = inputOf(ctx, applyItemForm);
        const applied = f.applied === '1' || f.applied === 'on' || f.applied === 'true';
        rubricOf(deps.db, l.current);
        const item = activeItem(l, f.item, 'item', !applied);
        const now = deps.clock.now();
        deps.db.transaction(() => {
          const changed = store.setApplied(deps.db, { submissionId: l.submission.id, itemId: item.id, applied, by: l.user.id, at: now });
          store.touchGrade(deps.db, { submissionId: l.submission.id, assignmentId: l.current.assignment.id, graderId: l.user.id, at: now });
          if (changed) auditEntry(deps, ctx, l.course.slug, applied ? 'review.item_apply' : 'review.item_remove', target(l), { item: item.key, title: item.title, points: item.points });
        })();
        return { done: applied ? 'applied' : 'removed', file: f.file ?? null };
      });
    },

    async addAdjustment(ctx: RouteContext) {
      await grading(ctx, (l) => {
        const { points, reason } = inputOf(ctx, adjustmentForm);
        const now = deps.clock.now();
        deps.db.transaction(() => {
          store.addAdjustment(deps.db, { submissionId: l.submission.id, points, reason, by: l.user.id, at: now });
          store.touchGrade(deps.db, { submissionId: l.submission.id, assignmentId: l.current.assignment.id, graderId: l.user.id, at: now });
          auditEntry(deps, ctx, l.course.slug, 'review.adjust', target(l), { points, reason });
        })();
        return { done: 'adjusted' };
      });
    },

    async deleteAdjustment(ctx: RouteContext) {
      await grading(ctx, (l) => {
        const adj = store.getAdjustment(deps.db, idParam(ctx.params.adj, 'adjustment'));
        if (!adj || adj.submissionId !== l.submission.id) throw new UserError(404, 'There is no such adjustment on this submission.');
        deps.db.transaction(() => {
          store.deleteAdjustment(deps.db, adj.id);
          auditEntry(deps, ctx, l.course.slug, 'review.adjust_delete', target(l), { points: adj.points, reason: adj.reason });
        })();
        return { done: 'unadjusted' };
      });
    },

    async addComment(ctx: RouteContext) {
      await grading(ctx, async (l) => {
        const f = inputOf(ctx, commentForm);
        const { path, start, end } = await checkedRange(l, f);
        const itemId = commentItem(l, f.item);
        const now = deps.clock.now();
        deps.db.transaction(() => {
          const id = store.addComment(deps.db, { submissionId: l.submission.id, path, start, end, body: f.body, itemId, by: l.user.id, at: now });
          // A comment tied to a rubric item applies the item: the comment says why.
          if (itemId !== null) store.setApplied(deps.db, { submissionId: l.submission.id, itemId, applied: true, by: l.user.id, at: now });
          store.touchGrade(deps.db, { submissionId: l.submission.id, assignmentId: l.current.assignment.id, graderId: l.user.id, at: now });
          auditEntry(deps, ctx, l.course.slug, 'review.comment', target(l), { comment: id, path, lines: [start, end], item: itemId });
        })();
        return { done: 'commented', file: path };
      });
    },

    async editComment(ctx: RouteContext) {
      await grading(ctx, (l) => {
        const c = commentOf(l, ctx.params.cid);
        const f = inputOf(ctx, commentEditForm);
        const itemId = f.item === undefined ? c.itemId : commentItem(l, f.item);
        deps.db.transaction(() => {
          store.editComment(deps.db, { id: c.id, body: f.body, itemId, at: deps.clock.now() });
          auditEntry(deps, ctx, l.course.slug, 'review.comment_edit', target(l), { comment: c.id, before: c.body.slice(0, 300) });
        })();
        return { done: 'commented', file: c.path };
      });
    },

    async deleteComment(ctx: RouteContext) {
      await grading(ctx, (l) => {
        const c = commentOf(l, ctx.params.cid);
        deps.db.transaction(() => {
          store.deleteComment(deps.db, c.id);
          auditEntry(deps, ctx, l.course.slug, 'review.comment_delete', target(l), { comment: c.id, path: c.path, body: c.body.slice(0, 300) });
        })();
        return { done: 'uncommented', file: c.path };
      });
    },

    /** Marks the grade finished or not; "save and next" goes on to the queue's next student. */
    async setState(ctx: RouteContext) {
      const l = loaded(ctx, deps);
      const f = inputOf(ctx, stateForm);
      const state = f.state;
      deps.db.transaction(() => {
        store.setGradeState(deps.db, { submissionId: l.submission.id, assignmentId: l.current.assignment.id, state, graderId: l.user.id, at: deps.clock.now() });
        auditEntry(deps, ctx, l.course.slug, state === 'graded' ? 'review.graded' : 'review.reopened', target(l), {});
      })();
      if (wantsJson(ctx)) {
        ctx.body = { ok: true, state, breakdown: breakdownOf(deps.db, l.current, l.submission, autotestOf(l)).breakdown };
        return;
      }
      if (f.next === '1') {
        ctx.redirect(`/courses/${l.course.slug}/assignments/${l.current.assignment.slug}/grading/next?after=${l.submission.userId}&grader=${encodeURIComponent(f.grader ?? '')}`);
        return;
      }
      ctx.redirect(`${staffUrl(l.course.slug, l.submission.id)}?done=${state === 'graded' ? 'graded' : 'reopened'}`);
    },
  };
}
