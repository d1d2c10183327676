import { wantsJson } from '../../../core/http.js';
import { inputOf, type RouteContext } from '../../../core/routes.js';
import { UserError } from '../../../lib/errors.js';
import { formatDateTime } from '../../../lib/views.js';
import type { Deps } from '../../../plugin.js';
import { findUserById } from '../../accounts/users.js';
import { recordAudit } from '../../audit/store.js';
import { points as fmtPoints } from '../../../lib/format.js';
import type { Mailer } from '../../mail/mailer.js';
import { submissionFiles } from '../../submissions/store.js';
import { regradeCloseForm, regradeMessageForm, regradeRequestForm } from '../forms.js';
import { breakdownOf, gradableResult } from '../grading.js';
import { renderMarkdown } from '../markdown.js';
import { loaded, regradeOf, type LoadedRegrade } from '../policy.js';
import { gradesReleasedAt } from '../release.js';
import { getItem } from '../rubric-store.js';
import * as store from '../store.js';
import { breakdownRows, commentViews, fileTree, shownFile } from '../view.js';
import { auditEntry, flash, regradeOpen } from './common.js';

/** What the student sees of manual grading (staff may open it too), and regrade requests: asking, the conversation, closing. */
export function feedbackHandlers(deps: Deps, mailer: Mailer) {
  /** Staff answered or closed a regrade request: the student hears of it by mail (when mail is on). */
  function mailRegradeAnswer(l: LoadedRegrade, body: string | null, outcome: string | null): void {
    const student = findUserById(deps.db, l.regrade.userId);
    if (!student) return;
    mailer.queue({
      kind: 'regrade-answer',
      template: 'mail/messages/regrade-answer.njk',
      vars: { name: student.name, staff: l.user.name, title: l.current.version.config.title, course: l.course, body, outcome, url: `${deps.config.publicUrl}/courses/${l.course.slug}/regrades/${l.regrade.id}` },
      to: student.email,
      userId: student.id,
      course: l.course.slug,
    });
  }

  const signed = (n: number) => (n > 0 ? `+${fmtPoints(n)}` : fmtPoints(n));

  return {
    /** The student's feedback page (staff may open it to see what the student sees). */
    async feedback(ctx: RouteContext) {
      const l = loaded(ctx, deps);
      const { course, submission, current } = l;
      const when = (ms: number | null) => formatDateTime(ms, course.timezone);
      const releasedAt = gradesReleasedAt(deps.db, submission.assignmentId, submission.userId);
      const released = releasedAt !== null;
      const files = submissionFiles(deps.db, submission.id);
      const regrades = store.regradesOf(deps.db, submission.id);
      const window = regradeOpen(deps, current, releasedAt);
      ctx.set('Cache-Control', 'no-store');
      if (!released) {
        if (wantsJson(ctx)) {
          ctx.body = { released: false };
          return;
        }
        ctx.render('review/feedback.njk', { course, slug: current.assignment.slug, title: current.version.config.title, submission, released: false, staffPreview: l.staff });
        return;
      }
      const { breakdown, groups } = breakdownOf(deps.db, current, submission, gradableResult(deps.db, submission.id));
      const rubric = groups.map((g) => g.group);
      const comments = await commentViews(store.commentsOf(deps.db, submission.id), rubric);
      const wanted = typeof ctx.query.file === 'string' && ctx.query.file ? ctx.query.file : null;
      const shown = await shownFile(deps, files, wanted, comments);
      const appliedGroups = groups.map((g) => ({
        title: g.group.title,
        score: fmtPoints(g.score),
        max: fmtPoints(g.group.max),
        items: g.group.items.filter((i) => g.appliedIds.has(i.id)).map((i) => ({ id: i.id, title: i.title, description: i.description, pointsText: signed(i.points) })),
      }));
      const adjustments = store.adjustmentsOf(deps.db, submission.id).map((a) => ({ reason: a.reason, text: signed(a.points) }));
      if (wantsJson(ctx)) {
        ctx.body = { released: true, releasedAt, breakdown, groups: appliedGroups, adjustments, comments: comments.map((c) => ({ id: c.id, path: c.path, lineStart: c.lineStart, lineEnd: c.lineEnd, html: c.html, itemId: c.itemId })), regrades, regradeWindow: window };
        return;
      }
      ctx.render('review/feedback.njk', {
        ...flash(ctx),
        course,
        slug: current.assignment.slug,
        title: current.version.config.title,
        submission,
        released: true,
        releasedWhen: when(releasedAt),
        staffPreview: l.staff,
        breakdown: breakdownRows(breakdown),
        groups: appliedGroups,
        adjustments,
        comments,
        files: fileTree(files, shown, comments),
        shown,
        regrades: regrades.map((r) => ({ ...r, when: when(r.createdAt) })),
        window: { ...window, untilText: window.until === null ? '' : when(window.until) },
        subjects: [
          ...appliedGroups.flatMap((g) => g.items.map((i) => ({ value: `item:${i.id}`, label: `Rubric: ${g.title}: ${i.title} (${i.pointsText})` }))),
          ...comments.map((c) => ({ value: `comment:${c.id}`, label: `Comment on ${c.path}, ${c.range}` })),
        ],
      });
    },

    /** A student asks for a regrade of one rubric item or comment, within the window after release. */
    async request(ctx: RouteContext) {
      const { course, submission, current, user } = loaded(ctx, deps);
      const form = inputOf(ctx, regradeRequestForm);
      const window = regradeOpen(deps, current, gradesReleasedAt(deps.db, submission.assignmentId, submission.userId));
      if (!window.open) throw new UserError(409, window.reason);
      let itemId: number | null = null;
      let commentId: number | null = null;
      let subject: string;
      if (form.subject.kind === 'item') {
        const item = getItem(deps.db, form.subject.id);
        if (!item || item.assignmentId !== current.assignment.id || !store.appliedItems(deps.db, submission.id).has(item.id)) throw new UserError(400, 'subject: that rubric item is not part of this grade.');
        itemId = item.id;
        subject = `Rubric item: ${item.title} (${fmtPoints(item.points)})`;
      } else {
        const c = store.getComment(deps.db, form.subject.id);
        if (!c || c.submissionId !== submission.id) throw new UserError(400, 'subject: that comment is not on this submission.');
        commentId = c.id;
        subject = `Comment on ${c.path}, line ${c.lineStart}${c.lineEnd !== c.lineStart ? `–${c.lineEnd}` : ''}`;
      }
      if (store.openRegradeFor(deps.db, submission.id, itemId, commentId)) throw new UserError(409, 'subject: you already have an open request about this; add to it instead.');
      const now = deps.clock.now();
      const id = deps.db.transaction(() => {
        const rid = store.createRegrade(deps.db, { submissionId: submission.id, userId: user.id, itemId, commentId, subject, at: now });
        store.addRegradeMessage(deps.db, { regradeId: rid, authorId: user.id, staff: false, body: form.message, at: now });
        recordAudit(deps.db, { at: now, actor: user, course: course.slug, action: 'regrade.request', target: `${current.assignment.slug} / submission ${submission.id}`, details: { regrade: rid, subject } });
        return rid;
      })();
      ctx.state.audited = true;
      if (wantsJson(ctx)) {
        ctx.status = 201;
        ctx.body = { id };
        return;
      }
      ctx.redirect(`/courses/${course.slug}/regrades/${id}?done=requested`);
    },

    /** The open regrade requests of a course, for its staff. */
    openList(ctx: RouteContext) {
      const course = ctx.state.course!;
      const open = store.openRegradesInCourse(deps.db, course.slug, 500);
      ctx.set('Cache-Control', 'no-store');
      if (wantsJson(ctx)) {
        ctx.body = { open };
        return;
      }
      ctx.render('review/regrades.njk', { isStaffView: true, course, open: open.map((r) => ({ ...r, when: formatDateTime(r.createdAt, course.timezone) })) });
    },

    async regrade(ctx: RouteContext) {
      const l = regradeOf(ctx, deps);
      const messages = store.regradeMessages(deps.db, l.regrade.id);
      const html = await renderMarkdown(messages.map((m) => m.body));
      ctx.set('Cache-Control', 'no-store');
      if (wantsJson(ctx)) {
        ctx.body = { regrade: l.regrade, messages };
        return;
      }
      ctx.render('review/regrade.njk', {
        ...flash(ctx),
        isStaffView: l.staff,
        course: l.course,
        slug: l.current.assignment.slug,
        title: l.current.version.config.title,
        regrade: { ...l.regrade, when: formatDateTime(l.regrade.createdAt, l.course.timezone) },
        submission: l.submission,
        staff: l.staff,
        student: findUserById(deps.db, l.regrade.userId)?.name ?? '',
        messages: messages.map((m) => ({ ...m, html: html.get(m.body) ?? '', when: formatDateTime(m.createdAt, l.course.timezone) })),
      });
    },

    reply(ctx: RouteContext) {
      const l = regradeOf(ctx, deps);
      if (l.regrade.state !== 'open') throw new UserError(409, 'This request is closed.');
      const { body } = inputOf(ctx, regradeMessageForm);
      deps.db.transaction(() => {
        store.addRegradeMessage(deps.db, { regradeId: l.regrade.id, authorId: l.user.id, staff: l.staff, body, at: deps.clock.now() });
        if (l.staff) auditEntry(deps, ctx, l.course.slug, 'regrade.reply', `${l.current.assignment.slug} / submission ${l.submission.id}`, { regrade: l.regrade.id });
        if (l.staff) mailRegradeAnswer(l, body, null);
      })();
      if (wantsJson(ctx)) {
        ctx.body = { ok: true };
        return;
      }
      ctx.redirect(`/courses/${l.course.slug}/regrades/${l.regrade.id}?done=replied`);
    },

    close(ctx: RouteContext) {
      const l = regradeOf(ctx, deps);
      if (l.regrade.state !== 'open') throw new UserError(409, 'This request is closed already.');
      const { outcome, body } = inputOf(ctx, regradeCloseForm);
      const now = deps.clock.now();
      deps.db.transaction(() => {
        if (body) store.addRegradeMessage(deps.db, { regradeId: l.regrade.id, authorId: l.user.id, staff: true, body, at: now });
        store.closeRegrade(deps.db, { id: l.regrade.id, state: outcome, at: now, by: l.user.id });
        auditEntry(deps, ctx, l.course.slug, `regrade.${outcome}`, `${l.current.assignment.slug} / submission ${l.submission.id}`, { regrade: l.regrade.id });
        mailRegradeAnswer(l, body || null, outcome);
      })();
      if (wantsJson(ctx)) {
        ctx.body = { ok: true, state: outcome };
        return;
      }
      ctx.redirect(`/courses/${l.course.slug}/regrades/${l.regrade.id}?done=closed`);
    },
  };
}
