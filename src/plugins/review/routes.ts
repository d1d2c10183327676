import { wantsJson } from '../../middleware/errors.js';
import { requireStaff, requireUser } from '../../lib/auth.js';
import { readForm, readFormAll } from '../../lib/body.js';
import { courseOr404, type Course } from '../../lib/content.js';
import { UserError } from '../../lib/errors.js';
import type { AppContext, AppRouter, Deps } from '../../plugin.js';
import { findUserByEmail, findUserById, listEnrolled } from '../accounts/users.js';
import { currentOr404, type Current } from '../assignments/store.js';
import { recordAudit } from '../audit/store.js';
import { createMailer } from '../mail/mailer.js';
import { lateness, points as fmtPoints, when } from '../gradebook/format.js';
import { statusFor } from '../submissions/index.js';
import { extensionFor, getSubmission, studentSubmissions, submissionFiles, type Submission } from '../submissions/store.js';
import { gradingRule, breakdownOf, gradableResult, rubricOf } from './grading.js';
import { queueEntries, queueTarget, type QueueState } from './queue.js';
import { diffSubmissions } from './diff.js';
import { keyOf } from './config.js';
import { renderMarkdown } from './markdown.js';
import { idFrom, loadSubmission, mayDo, pointsFrom, requirePower, textFrom, type Loaded, type RouteContext } from './policy.js';
import * as store from './store.js';
import { breakdownRows, commentViews, fileTree, shownFile, splitPath } from './view.js';
import { showFile } from './files.js';
import { gradesReleasedAt } from './release.js';

const MAX_COMMENT = 10_000;
const MAX_REASON = 500;

function audit(deps: Deps, ctx: AppContext, course: string, action: string, target: string, details: Record<string, unknown>): void {
  const user = ctx.state.user!;
  recordAudit(deps.db, { at: deps.clock.now(), actor: user, course, action, target, details });
  ctx.state.audited = true;
}

function staffUsers(deps: Deps, course: Course): Array<{ id: number; name: string; email: string }> {
  const out = new Map<number, { id: number; name: string; email: string }>();
  for (const s of course.staff) {
    const u = findUserByEmail(deps.db, s.email);
    if (u) out.set(u.id, { id: u.id, name: u.name, email: u.email });
  }
  for (const role of ['lecturer', 'tutor'] as const) for (const u of listEnrolled(deps.db, course.slug, role)) out.set(u.id, { id: u.id, name: u.name, email: u.email });
  return [...out.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function studentsOf(deps: Deps, course: Course) {
  const staff = new Set(course.staff.map((s) => s.email));
  return listEnrolled(deps.db, course.slug, 'student').filter((s) => !staff.has(s.email));
}

/** Back to where a form came from (a page of this site only), or the given default. */
function back(ctx: AppContext, fallback: string, form: Record<string, string>): string {
  const to = form.back ?? '';
  return to.startsWith('/courses/') && !to.startsWith('//') && !/[\r\n]/.test(to) ? to : fallback;
}

function staffUrl(course: string, id: number, file?: string | null): string {
  return `/courses/${course}/review/submissions/${id}${file ? `?file=${encodeURIComponent(file)}` : ''}`;
}

function autotestOf(deps: Deps, s: Submission) {
  return gradableResult(deps.db, s.id);
}

/** Tamper flags another part of Lectern may record on a run (a column named tamper*), shown to staff only. */
function tamperFlags(deps: Deps, submissionId: number): string[] {
  const row = store.latestRunRow(deps.db, submissionId);
  if (!row) return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(row)) {
    if (!k.startsWith('tamper') || v === null || v === undefined || v === '' || v === 0) continue;
    if (typeof v === 'string') {
      try {
        const parsed: unknown = JSON.parse(v);
        if (Array.isArray(parsed)) out.push(...parsed.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))));
        else if (parsed && typeof parsed === 'object') out.push(...Object.entries(parsed).map(([a, b]) => `${a}: ${typeof b === 'string' ? b : JSON.stringify(b)}`));
        else out.push(String(parsed));
      } catch {
        out.push(v);
      }
    } else out.push(`${k}: ${String(v)}`);
  }
  return out.filter((x) => x && x !== '[]' && x !== '{}');
}

function regradeOpen(deps: Deps, current: Current, releasedAt: number | null): { open: boolean; until: number | null; reason: string } {
  const window = gradingRule(current).regradeWindowMs;
  if (releasedAt === null) return { open: false, until: null, reason: 'Grades are not released yet.' };
  if (window <= 0) return { open: false, until: null, reason: 'This assignment takes no regrade requests.' };
  const until = releasedAt + window;
  if (deps.clock.now() > until) return { open: false, until, reason: 'The time for regrade requests is over.' };
  return { open: true, until, reason: '' };
}

const NOTICES: Record<string, string> = {
  applied: 'Rubric item applied.',
  removed: 'Rubric item removed.',
  adjusted: 'Adjustment saved.',
  unadjusted: 'Adjustment deleted.',
  commented: 'Comment saved.',
  uncommented: 'Comment deleted.',
  graded: 'Marked as graded.',
  reopened: 'Marked as not finished.',
  released: 'Released to the student.',
  withdrawn: 'Release withdrawn.',
  rubric: 'Rubric saved.',
  assigned: 'Graders assigned.',
  none: 'Nothing left to grade with this filter.',
  requested: 'Your regrade request was sent.',
  replied: 'Message sent.',
  closed: 'Request closed.',
};

function flash(ctx: AppContext): Record<string, unknown> {
  const done = typeof ctx.query.done === 'string' ? NOTICES[ctx.query.done] : undefined;
  return done ? { flash: { kind: 'ok', message: done } } : {};
}

export function registerRoutes(router: AppRouter, deps: Deps): void {
  const base = '/courses/:course/review/submissions/:id';

  // ---- the staff view of a submission ----
  router.get(base, async (ctx) => {
    const l = loadSubmission(ctx, deps, { staffOnly: true });
    const { course, submission, current } = l;
    const student = findUserById(deps.db, submission.userId);
    const files = submissionFiles(deps.db, submission.id);
    const { breakdown, groups, graded } = breakdownOf(deps.db, current, submission, autotestOf(deps, submission));
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
    const entry = student ? queueEntries(deps.db, current, [{ id: student.id, email: student.email, name: student.name, studentId: student.student_id }], store.gradersOf(deps.db, current.assignment.id))[0] : undefined;
    const counted = entry?.submission ?? null;
    const newer = entry?.newer ?? null;
    ctx.render('review/staff.njk', {
      ...flash(ctx),
      isStaffView: true,
      course,
      slug: current.assignment.slug,
      title: current.version.config.title,
      submission,
      submitted: when(submission.submittedAt, course),
      late: lateness(submission.lateMinutes, submission.penaltyPct),
      extension: ext === null ? null : when(ext, course),
      student: student ? { id: student.id, name: student.name, email: student.email, studentId: student.student_id } : null,
      others: others.map((o) => ({ id: o.id, number: o.number, submitted: when(o.submittedAt, course), current: o.id === submission.id })),
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
      adjustments: adjustments.map((a) => ({ ...a, text: a.points > 0 ? `+${fmtPoints(a.points)}` : fmtPoints(a.points), when: when(a.createdAt, course) })),
      comments,
      grade: grade ? { ...grade, when: when(grade.updatedAt, course) } : null,
      target: counted?.id === submission.id,
      counted: counted && counted.id !== submission.id ? { id: counted.id, number: counted.number } : null,
      newer: newer && newer.submission.id !== submission.id ? { id: newer.submission.id, number: newer.submission.number, why: newer.why } : null,
      released: releasedAt === null ? null : when(releasedAt, course),
      mayRelease: mayDo(ctx, course, 'release'),
      mayEditRubric: mayDo(ctx, course, 'edit_rubric'),
      regrades: regrades.map((r) => ({ ...r, when: when(r.createdAt, course) })),
      queryGrader: typeof ctx.query.grader === 'string' && /^(any|none|me|\d{1,12})$/.test(ctx.query.grader) ? ctx.query.grader : 'any',
    });
  });

  router.get(`${base}/diff`, async (ctx) => {
    const l = loadSubmission(ctx, deps, { staffOnly: true });
    const otherId = idFrom(typeof ctx.query.against === 'string' ? ctx.query.against : undefined, 'against');
    const other = getSubmission(deps.db, otherId);
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
  });

  /** Every grading action: staff of the course, on a submission of the course; audited. */
  async function grading(ctx: RouteContext, action: (l: Loaded, form: Record<string, string>) => { done: string; file?: string | null } | Promise<{ done: string; file?: string | null }>) {
    const l = loadSubmission(ctx, deps, { staffOnly: true });
    const form = await readForm(ctx);
    const out = await action(l, form);
    if (wantsJson(ctx)) {
      const { breakdown } = breakdownOf(deps.db, l.current, l.submission, autotestOf(deps, l.submission));
      ctx.body = { ok: true, done: out.done, breakdown };
      return;
    }
    const to = back(ctx, staffUrl(l.course.slug, l.submission.id, out.file), form);
    ctx.redirect(`${to}${to.includes('?') ? '&' : '?'}done=${out.done}`);
  }

  function activeItem(l: Loaded, idText: string | undefined, field: string, allowRetired = false) {
    const item = store.getItem(deps.db, idFrom(idText, field));
    if (!item || item.assignmentId !== l.current.assignment.id) throw new UserError(404, `${field}: there is no such rubric item for this assignment.`);
    if (item.retired && !allowRetired) throw new UserError(409, `${field}: "${item.title}" was removed from the rubric.`);
    return item;
  }

  router.post(`${base}/items`, async (ctx) => {
    await grading(ctx, (l, form) => {
      const applied = form.applied === '1' || form.applied === 'on' || form.applied === 'true';
      if (!['0', '1', 'on', 'true', 'false'].includes(form.applied ?? '')) throw new UserError(400, 'applied: give 1 to apply the item or 0 to remove it.');
      rubricOf(deps.db, l.current);
      const item = activeItem(l, form.item, 'item', !applied);
      const now = deps.clock.now();
      deps.db.transaction(() => {
        const changed = store.setApplied(deps.db, { submissionId: l.submission.id, itemId: item.id, applied, by: l.user.id, at: now });
        store.touchGrade(deps.db, { submissionId: l.submission.id, assignmentId: l.current.assignment.id, graderId: l.user.id, at: now });
        if (changed) audit(deps, ctx, l.course.slug, applied ? 'review.item_apply' : 'review.item_remove', `${l.current.assignment.slug} / submission ${l.submission.id}`, { item: item.key, title: item.title, points: item.points });
      })();
      return { done: applied ? 'applied' : 'removed', file: form.file ?? null };
    });
  });

  router.post(`${base}/adjustments`, async (ctx) => {
    await grading(ctx, (l, form) => {
      const points = pointsFrom(form.points, 'points');
      if (points === 0) throw new UserError(400, 'points: an adjustment of 0 changes nothing.');
      const reason = textFrom(form.reason, 'reason', MAX_REASON);
      const now = deps.clock.now();
      deps.db.transaction(() => {
        store.addAdjustment(deps.db, { submissionId: l.submission.id, points, reason, by: l.user.id, at: now });
        store.touchGrade(deps.db, { submissionId: l.submission.id, assignmentId: l.current.assignment.id, graderId: l.user.id, at: now });
        audit(deps, ctx, l.course.slug, 'review.adjust', `${l.current.assignment.slug} / submission ${l.submission.id}`, { points, reason });
      })();
      return { done: 'adjusted' };
    });
  });

  router.post(`${base}/adjustments/:adj/delete`, async (ctx) => {
    await grading(ctx, (l) => {
      const adj = store.getAdjustment(deps.db, idFrom(ctx.params.adj, 'adjustment'));
      if (!adj || adj.submissionId !== l.submission.id) throw new UserError(404, 'There is no such adjustment on this submission.');
      deps.db.transaction(() => {
        store.deleteAdjustment(deps.db, adj.id);
        audit(deps, ctx, l.course.slug, 'review.adjust_delete', `${l.current.assignment.slug} / submission ${l.submission.id}`, { points: adj.points, reason: adj.reason });
      })();
      return { done: 'unadjusted' };
    });
  });

  /** The line range of a comment, checked against the file as shown (a 4xx names what is wrong). */
  async function checkedRange(l: Loaded, form: Record<string, string>) {
    const path = (form.path ?? '').trim();
    const target = splitPath(submissionFiles(deps.db, l.submission.id), path);
    if (!target) throw new UserError(400, 'path: choose a file of this submission.');
    const start = idFrom(form.from, 'from');
    const end = form.to ? idFrom(form.to, 'to') : start;
    if (start < 1) throw new UserError(400, 'from: lines are numbered from 1.');
    if (end < start) throw new UserError(400, 'to: the last line must not be before the first.');
    const shown = await showFile(deps.blobs, target.file, target.entry);
    if (!shown || shown.kind !== 'text') throw new UserError(422, 'path: only text files can have line comments.');
    if (end > shown.lines.length) throw new UserError(400, `to: the file has ${shown.lines.length} lines.`);
    return { path, start, end };
  }

  function commentItem(l: Loaded, text: string | undefined): number | null {
    if (!text) return null;
    rubricOf(deps.db, l.current);
    return activeItem(l, text, 'item').id;
  }

  router.post(`${base}/comments`, async (ctx) => {
    await grading(ctx, async (l, form) => {
      const { path, start, end } = await checkedRange(l, form);
      const body = textFrom(form.body, 'body', MAX_COMMENT);
      const itemId = commentItem(l, form.item);
      const now = deps.clock.now();
      deps.db.transaction(() => {
        const id = store.addComment(deps.db, { submissionId: l.submission.id, path, start, end, body, itemId, by: l.user.id, at: now });
        // A comment tied to a rubric item applies the item: the comment says why.
        if (itemId !== null) store.setApplied(deps.db, { submissionId: l.submission.id, itemId, applied: true, by: l.user.id, at: now });
        store.touchGrade(deps.db, { submissionId: l.submission.id, assignmentId: l.current.assignment.id, graderId: l.user.id, at: now });
        audit(deps, ctx, l.course.slug, 'review.comment', `${l.current.assignment.slug} / submission ${l.submission.id}`, { comment: id, path, lines: [start, end], item: itemId });
      })();
      return { done: 'commented', file: path };
    });
  });

  function commentOf(l: Loaded, idText: string | undefined) {
    const c = store.getComment(deps.db, idFrom(idText, 'comment'));
    if (!c || c.submissionId !== l.submission.id) throw new UserError(404, 'There is no such comment on this submission.');
    return c;
  }

  router.post(`${base}/comments/:cid/edit`, async (ctx) => {
    await grading(ctx, (l, form) => {
      const c = commentOf(l, ctx.params.cid);
      const body = textFrom(form.body, 'body', MAX_COMMENT);
      const itemId = form.item === undefined ? c.itemId : commentItem(l, form.item);
      deps.db.transaction(() => {
        store.editComment(deps.db, { id: c.id, body, itemId, at: deps.clock.now() });
        audit(deps, ctx, l.course.slug, 'review.comment_edit', `${l.current.assignment.slug} / submission ${l.submission.id}`, { comment: c.id, before: c.body.slice(0, 300) });
      })();
      return { done: 'commented', file: c.path };
    });
  });

  router.post(`${base}/comments/:cid/delete`, async (ctx) => {
    await grading(ctx, (l) => {
      const c = commentOf(l, ctx.params.cid);
      deps.db.transaction(() => {
        store.deleteComment(deps.db, c.id);
        audit(deps, ctx, l.course.slug, 'review.comment_delete', `${l.current.assignment.slug} / submission ${l.submission.id}`, { comment: c.id, path: c.path, body: c.body.slice(0, 300) });
      })();
      return { done: 'uncommented', file: c.path };
    });
  });

  router.post(`${base}/state`, async (ctx) => {
    const l = loadSubmission(ctx, deps, { staffOnly: true });
    const form = await readForm(ctx);
    const state = form.state;
    if (state !== 'graded' && state !== 'in_progress') throw new UserError(400, 'state: choose graded or in_progress.');
    deps.db.transaction(() => {
      store.setGradeState(deps.db, { submissionId: l.submission.id, assignmentId: l.current.assignment.id, state, graderId: l.user.id, at: deps.clock.now() });
      audit(deps, ctx, l.course.slug, state === 'graded' ? 'review.graded' : 'review.reopened', `${l.current.assignment.slug} / submission ${l.submission.id}`, {});
    })();
    if (wantsJson(ctx)) {
      ctx.body = { ok: true, state, breakdown: breakdownOf(deps.db, l.current, l.submission, autotestOf(deps, l.submission)).breakdown };
      return;
    }
    if (form.next === '1') {
      ctx.redirect(`/courses/${l.course.slug}/assignments/${l.current.assignment.slug}/grading/next?after=${l.submission.userId}&grader=${encodeURIComponent(form.grader ?? '')}`);
      return;
    }
    ctx.redirect(`${staffUrl(l.course.slug, l.submission.id)}${'?'}done=${state === 'graded' ? 'graded' : 'reopened'}`);
  });

  router.post(`${base}/release`, async (ctx) => {
    const l = loadSubmission(ctx, deps, { staffOnly: true });
    requirePower(ctx, l.course, 'release');
    const form = await readForm(ctx);
    const withdraw = form.action === 'withdraw';
    if (form.action !== undefined && form.action !== 'release' && !withdraw) throw new UserError(400, 'action: choose release or withdraw.');
    deps.db.transaction(() => {
      const changed = withdraw
        ? store.withdrawRelease(deps.db, l.current.assignment.id, l.submission.userId)
        : store.release(deps.db, { assignmentId: l.current.assignment.id, userId: l.submission.userId, at: deps.clock.now(), by: l.user.id });
      if (changed) audit(deps, ctx, l.course.slug, withdraw ? 'review.release_withdraw' : 'review.release_student', `${l.current.assignment.slug} / user ${l.submission.userId}`, { userId: l.submission.userId });
    })();
    if (wantsJson(ctx)) {
      ctx.body = { ok: true, releasedAt: gradesReleasedAt(deps.db, l.current.assignment.id, l.submission.userId) };
      return;
    }
    ctx.redirect(`${staffUrl(l.course.slug, l.submission.id)}?done=${withdraw ? 'withdrawn' : 'released'}`);
  });

  // ---- rubric editor ----
  const rubricBase = '/courses/:course/assignments/:slug/rubric';

  function rubricPage(ctx: AppContext, course: Course, current: Current, extra: Record<string, unknown> = {}) {
    const { isLecturer } = requireStaff(ctx, course.slug);
    const groups = rubricOf(deps.db, current);
    const rule = gradingRule(current);
    const fromYaml = rule.rubric !== null;
    const data = groups.map((g) => ({ ...g, items: g.items.map((i) => ({ ...i, uses: store.itemUses(deps.db, i.id) })) }));
    if (wantsJson(ctx)) {
      ctx.body = { rule: { final: rule.final, weights: rule.weights, regradeWindowMs: rule.regradeWindowMs }, fromYaml, groups: data };
      return;
    }
    ctx.render('review/rubric.njk', { ...flash(ctx), isStaffView: true, course, slug: current.assignment.slug, title: current.version.config.title, rule, fromYaml, groups: data, mayEdit: mayDo(ctx, course, 'edit_rubric'), isLecturer, ...extra });
  }

  router.get(rubricBase, async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    requireStaff(ctx, course.slug);
    rubricPage(ctx, course, currentOr404(deps.db, course.slug, ctx.params.slug));
  });

  async function rubricChange(ctx: RouteContext, change: (current: Current, form: Record<string, string>, course: Course) => { affected: number }) {
    const course = courseOr404(deps.content, ctx.params.course);
    requireStaff(ctx, course.slug);
    const current = currentOr404(deps.db, course.slug, ctx.params.slug);
    requirePower(ctx, course, 'edit_rubric');
    rubricOf(deps.db, current);
    const form = await readForm(ctx);
    const out = deps.db.transaction(() => change(current, form, course))();
    if (wantsJson(ctx)) {
      ctx.body = { ok: true, rescored: out.affected };
      return;
    }
    ctx.redirect(`/courses/${course.slug}/assignments/${current.assignment.slug}/rubric?done=rubric`);
  }

  function groupFields(form: Record<string, string>) {
    const title = textFrom(form.title, 'title', 200);
    const max = pointsFrom(form.max, 'max', { min: 0, max: 1000 });
    const scoring = form.scoring ?? 'positive';
    if (scoring !== 'positive' && scoring !== 'negative') throw new UserError(400, 'scoring: choose positive or negative.');
    return { title, max, scoring };
  }

  function groupOf(current: Current, idText: string | undefined) {
    const g = store.getGroup(deps.db, idFrom(idText, 'group'));
    if (!g || g.assignmentId !== current.assignment.id) throw new UserError(404, 'group: there is no such rubric group for this assignment.');
    return g;
  }

  router.post(`${rubricBase}/groups`, async (ctx) => {
    await rubricChange(ctx, (current, form, course) => {
      const f = groupFields(form);
      const existing = store.listRubric(deps.db, current.assignment.id);
      let key = keyOf(f.title);
      for (let n = 2; existing.some((g) => g.key === key); n++) key = `${keyOf(f.title).slice(0, 55)}-${n}`;
      const id = store.addGroup(deps.db, { assignmentId: current.assignment.id, key, ...f, position: existing.length });
      audit(deps, ctx, course.slug, 'rubric.group_add', `${current.assignment.slug} / ${f.title}`, { group: id, ...f });
      return { affected: 0 };
    });
  });

  router.post(`${rubricBase}/groups/:gid`, async (ctx) => {
    await rubricChange(ctx, (current, form, course) => {
      const g = groupOf(current, ctx.params.gid);
      const f = groupFields(form);
      store.updateGroup(deps.db, { id: g.id, ...f, position: g.position });
      const affected = new Set(store.listRubric(deps.db, current.assignment.id).find((x) => x.id === g.id)!.items.flatMap((i) => store.submissionsWithItem(deps.db, i.id))).size;
      audit(deps, ctx, course.slug, 'rubric.group_edit', `${current.assignment.slug} / ${f.title}`, { group: g.id, before: { title: g.title, max: g.max, scoring: g.scoring }, after: f, rescoredSubmissions: affected });
      return { affected };
    });
  });

  router.post(`${rubricBase}/groups/:gid/delete`, async (ctx) => {
    await rubricChange(ctx, (current, _form, course) => {
      const g = groupOf(current, ctx.params.gid);
      const items = store.listRubric(deps.db, current.assignment.id).find((x) => x.id === g.id)!.items;
      if (items.length) throw new UserError(409, 'Remove the group\'s items first (items already used are kept as retired and keep the group).');
      store.deleteGroup(deps.db, g.id);
      audit(deps, ctx, course.slug, 'rubric.group_delete', `${current.assignment.slug} / ${g.title}`, { group: g.id });
      return { affected: 0 };
    });
  });

  function itemFields(form: Record<string, string>) {
    return { title: textFrom(form.title, 'title', 200), description: textFrom(form.description, 'description', 2000, false), points: pointsFrom(form.points, 'points') };
  }

  router.post(`${rubricBase}/items`, async (ctx) => {
    await rubricChange(ctx, (current, form, course) => {
      const g = groupOf(current, form.group);
      const f = itemFields(form);
      const siblings = store.listRubric(deps.db, current.assignment.id).find((x) => x.id === g.id)!.items;
      let key = keyOf(f.title);
      for (let n = 2; siblings.some((i) => i.key === key); n++) key = `${keyOf(f.title).slice(0, 55)}-${n}`;
      const id = store.addItem(deps.db, { groupId: g.id, key, ...f, position: siblings.length });
      audit(deps, ctx, course.slug, 'rubric.item_add', `${current.assignment.slug} / ${g.title} / ${f.title}`, { item: id, ...f });
      return { affected: 0 };
    });
  });

  function itemOf(current: Current, idText: string | undefined) {
    const item = store.getItem(deps.db, idFrom(idText, 'item'));
    if (!item || item.assignmentId !== current.assignment.id) throw new UserError(404, 'item: there is no such rubric item for this assignment.');
    return item;
  }

  router.post(`${rubricBase}/items/:iid`, async (ctx) => {
    await rubricChange(ctx, (current, form, course) => {
      const item = itemOf(current, ctx.params.iid);
      const f = itemFields(form);
      store.updateItem(deps.db, { id: item.id, ...f, position: item.position });
      // Scores are computed from the items' points when read: every submission the item is
      // applied to is re-scored by this change; the count is recorded for the audit.
      const affected = item.points === f.points ? 0 : store.submissionsWithItem(deps.db, item.id).length;
      audit(deps, ctx, course.slug, 'rubric.item_edit', `${current.assignment.slug} / ${f.title}`, { item: item.id, before: { title: item.title, points: item.points }, after: f, rescoredSubmissions: affected });
      return { affected };
    });
  });

  router.post(`${rubricBase}/items/:iid/delete`, async (ctx) => {
    await rubricChange(ctx, (current, _form, course) => {
      const item = itemOf(current, ctx.params.iid);
      const how = store.removeItem(deps.db, item.id, deps.clock.now());
      audit(deps, ctx, course.slug, how === 'deleted' ? 'rubric.item_delete' : 'rubric.item_retire', `${current.assignment.slug} / ${item.title}`, { item: item.id, points: item.points });
      return { affected: 0 };
    });
  });

  // ---- release for the whole assignment ----
  router.post('/courses/:course/assignments/:slug/release', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    requireStaff(ctx, course.slug);
    const current = currentOr404(deps.db, course.slug, ctx.params.slug);
    const actor = requirePower(ctx, course, 'release');
    const form = await readForm(ctx);
    const withdraw = form.action === 'withdraw';
    if (form.action !== undefined && form.action !== 'release' && !withdraw) throw new UserError(400, 'action: choose release or withdraw.');
    deps.db.transaction(() => {
      const changed = withdraw
        ? store.withdrawRelease(deps.db, current.assignment.id, store.WHOLE_ASSIGNMENT)
        : store.release(deps.db, { assignmentId: current.assignment.id, userId: store.WHOLE_ASSIGNMENT, at: deps.clock.now(), by: actor.id });
      if (changed) audit(deps, ctx, course.slug, withdraw ? 'review.release_withdraw' : 'review.release_all', `${current.assignment.slug} / all students`, {});
    })();
    if (wantsJson(ctx)) {
      ctx.body = { ok: true, releases: store.releasesOf(deps.db, current.assignment.id) };
      return;
    }
    ctx.redirect(`/courses/${course.slug}/assignments/${current.assignment.slug}/grading?done=${withdraw ? 'withdrawn' : 'released'}`);
  });

  // ---- the grading queue ----
  const queueBase = '/courses/:course/assignments/:slug/grading';

  function queueFilter(ctx: AppContext, me: number) {
    const graderText = typeof ctx.query.grader === 'string' ? ctx.query.grader : '';
    const stateText = typeof ctx.query.state === 'string' ? ctx.query.state : '';
    let grader: number | 'any' | 'none' | 'me';
    if (graderText === '' || graderText === 'any') grader = 'any';
    else if (graderText === 'none') grader = 'none';
    else if (graderText === 'me') grader = 'me';
    else grader = idFrom(graderText, 'grader');
    if (stateText && !['ungraded', 'in_progress', 'graded', 'any'].includes(stateText)) throw new UserError(400, 'state: choose ungraded, in_progress, graded or any.');
    const state = (stateText || 'any') as QueueState | 'any';
    const graderId = grader === 'me' ? me : grader;
    return { grader, graderId, state, graderText: graderText || 'any', stateText: state };
  }

  function queueOf(course: Course, current: Current) {
    const students = studentsOf(deps, course);
    const graders = store.gradersOf(deps.db, current.assignment.id);
    const entries = queueEntries(deps.db, current, students, graders);
    return { students, entries };
  }

  router.get(queueBase, async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const { user } = requireStaff(ctx, course.slug);
    const current = currentOr404(deps.db, course.slug, ctx.params.slug);
    const f = queueFilter(ctx, user.id);
    const { students, entries } = queueOf(course, current);
    const manualDecides = gradingRule(current).final !== 'autotest';
    const staff = staffUsers(deps, course);
    const names = new Map(staff.map((s) => [s.id, s.name]));
    const progress = [...staff, { id: 0, name: 'Not assigned', email: '' }].map((s) => {
      const mine = entries.filter((e) => (s.id === 0 ? e.graderId === null : e.graderId === s.id) && e.submission);
      return { id: s.id, name: s.name, total: mine.length, graded: mine.filter((e) => e.state === 'graded').length, inProgress: mine.filter((e) => e.state === 'in_progress').length };
    }).filter((p) => p.total > 0 || p.id !== 0);
    const rows = entries
      .map((e, i) => ({ ...e, student: students[i]! }))
      .filter((e) => (f.graderId === 'any' ? true : f.graderId === 'none' ? e.graderId === null : e.graderId === f.graderId))
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
      released: whole ? { when: when(whole.releasedAt, course), by: whole.byName } : null,
      studentReleases: releases.filter((r) => r.userId !== store.WHOLE_ASSIGNMENT).length,
      mayRelease: mayDo(ctx, course, 'release'),
      mayEditRubric: mayDo(ctx, course, 'edit_rubric'),
    });
  });

  router.get(`${queueBase}/next`, async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const { user } = requireStaff(ctx, course.slug);
    const current = currentOr404(deps.db, course.slug, ctx.params.slug);
    const f = queueFilter(ctx, user.id);
    const afterText = typeof ctx.query.after === 'string' && ctx.query.after ? ctx.query.after : null;
    const after = afterText === null ? null : idFrom(afterText, 'after');
    const { entries } = queueOf(course, current);
    const wantedState = f.state === 'any' ? 'ungraded' : f.state;
    const manualDecides = gradingRule(current).final !== 'autotest';
    const fits = (e: (typeof entries)[number]) =>
      queueTarget(e, wantedState, manualDecides) !== null && (f.graderId === 'any' ? true : f.graderId === 'none' ? e.graderId === null : e.graderId === f.graderId);
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
  });

  // The student before this one in the queue's order, whatever their state: a grader going back
  // to fix what they just marked graded.
  router.get(`${queueBase}/prev`, async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    const { user } = requireStaff(ctx, course.slug);
    const current = currentOr404(deps.db, course.slug, ctx.params.slug);
    const f = queueFilter(ctx, user.id);
    const before = idFrom(typeof ctx.query.before === 'string' ? ctx.query.before : undefined, 'before');
    const { entries } = queueOf(course, current);
    const at = entries.findIndex((e) => e.userId === before);
    const end = at < 0 ? entries.length : at;
    const ordered = [...entries.slice(0, end).reverse(), ...entries.slice(end + 1).reverse()];
    const prev = ordered.find((e) => e.submission !== null && (f.graderId === 'any' ? true : f.graderId === 'none' ? e.graderId === null : e.graderId === f.graderId));
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
  });

  router.post(`${queueBase}/assign`, async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    requireStaff(ctx, course.slug);
    const current = currentOr404(deps.db, course.slug, ctx.params.slug);
    const form = await readFormAll(ctx);
    const staff = staffUsers(deps, course);
    const students = studentsOf(deps, course);
    const graderText = form.grader?.at(-1) ?? '';
    const mode = form.mode?.at(-1) ?? 'selected';
    if (mode !== 'selected' && mode !== 'spread') throw new UserError(400, 'mode: choose selected or spread.');
    const changes: Array<[number, number | null]> = [];
    if (mode === 'spread') {
      // Unassigned students go round the chosen graders (all staff when none is chosen).
      const chosen = (form.graders ?? []).map((g) => idFrom(g, 'graders'));
      const pool = chosen.length ? chosen : staff.map((s) => s.id);
      if (pool.some((g) => !staff.some((s) => s.id === g))) throw new UserError(400, 'graders: choose staff of this course.');
      if (!pool.length) throw new UserError(400, 'graders: this course has no staff accounts to assign.');
      const have = store.gradersOf(deps.db, current.assignment.id);
      let i = 0;
      for (const s of students) if (!have.has(s.id)) changes.push([s.id, pool[i++ % pool.length]!]);
    } else {
      const grader = graderText === '' ? null : idFrom(graderText, 'grader');
      if (grader !== null && !staff.some((s) => s.id === grader)) throw new UserError(400, 'grader: choose staff of this course.');
      const ids = (form.students ?? []).map((s) => idFrom(s, 'students'));
      if (!ids.length) throw new UserError(400, 'students: choose at least one student.');
      for (const id of ids) {
        if (!students.some((s) => s.id === id)) throw new UserError(400, 'students: choose students of this course.');
        changes.push([id, grader]);
      }
    }
    deps.db.transaction(() => {
      for (const [userId, graderId] of changes) store.setGrader(deps.db, current.assignment.id, userId, graderId);
      audit(deps, ctx, course.slug, 'review.assign_graders', `${current.assignment.slug} / ${changes.length} student(s)`, { mode, changes: changes.slice(0, 200) });
    })();
    if (wantsJson(ctx)) {
      ctx.body = { ok: true, assigned: changes.length };
      return;
    }
    ctx.redirect(`/courses/${course.slug}/assignments/${current.assignment.slug}/grading?done=assigned`);
  });

  // ---- open regrade requests of a course ----
  router.get('/courses/:course/regrades', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    requireStaff(ctx, course.slug);
    const open = store.openRegradesInCourse(deps.db, course.slug, 500);
    ctx.set('Cache-Control', 'no-store');
    if (wantsJson(ctx)) {
      ctx.body = { open };
      return;
    }
    ctx.render('review/regrades.njk', { isStaffView: true, course, open: open.map((r) => ({ ...r, when: when(r.createdAt, course) })) });
  });

  // ---- the student's feedback page (staff may open it to see what the student sees) ----
  router.get('/courses/:course/submissions/:id/feedback', async (ctx) => {
    const l = loadSubmission(ctx, deps, { staffOnly: false });
    const { course, submission, current } = l;
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
    const { breakdown, groups } = breakdownOf(deps.db, current, submission, autotestOf(deps, submission));
    const rubric = groups.map((g) => g.group);
    const comments = await commentViews(store.commentsOf(deps.db, submission.id), rubric);
    const wanted = typeof ctx.query.file === 'string' && ctx.query.file ? ctx.query.file : null;
    const shown = await shownFile(deps, files, wanted, comments);
    const appliedGroups = groups.map((g) => ({
      title: g.group.title,
      score: fmtPoints(g.score),
      max: fmtPoints(g.group.max),
      items: g.group.items.filter((i) => g.appliedIds.has(i.id)).map((i) => ({ id: i.id, title: i.title, description: i.description, pointsText: i.points > 0 ? `+${fmtPoints(i.points)}` : fmtPoints(i.points) })),
    }));
    const adjustments = store.adjustmentsOf(deps.db, submission.id).map((a) => ({ reason: a.reason, text: a.points > 0 ? `+${fmtPoints(a.points)}` : fmtPoints(a.points) }));
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
      releasedWhen: when(releasedAt, course),
      staffPreview: l.staff,
      breakdown: breakdownRows(breakdown),
      groups: appliedGroups,
      adjustments,
      comments,
      files: fileTree(files, shown, comments),
      shown,
      regrades: regrades.map((r) => ({ ...r, when: when(r.createdAt, course) })),
      window: { ...window, untilText: window.until === null ? '' : when(window.until, course) },
      subjects: [
        ...appliedGroups.flatMap((g) => g.items.map((i) => ({ value: `item:${i.id}`, label: `Rubric: ${g.title}: ${i.title} (${i.pointsText})` }))),
        ...comments.map((c) => ({ value: `comment:${c.id}`, label: `Comment on ${c.path}, ${c.range}` })),
      ],
    });
  });

  router.post('/courses/:course/submissions/:id/regrades', async (ctx) => {
    const l = loadSubmission(ctx, deps, { staffOnly: false });
    const { course, submission, current, user } = l;
    if (submission.userId !== user.id) throw new UserError(403, 'Only the student who submitted can ask for a regrade.');
    const form = await readForm(ctx);
    const window = regradeOpen(deps, current, gradesReleasedAt(deps.db, submission.assignmentId, submission.userId));
    if (!window.open) throw new UserError(409, window.reason);
    const m = /^(item|comment):(\d{1,12})$/.exec(form.subject ?? '');
    if (!m) throw new UserError(400, 'subject: choose the rubric item or comment you are asking about.');
    const message = textFrom(form.message, 'message', 4000);
    let itemId: number | null = null;
    let commentId: number | null = null;
    let subject: string;
    if (m[1] === 'item') {
      const item = store.getItem(deps.db, Number(m[2]));
      if (!item || item.assignmentId !== current.assignment.id || !store.appliedItems(deps.db, submission.id).has(item.id)) throw new UserError(400, 'subject: that rubric item is not part of this grade.');
      itemId = item.id;
      subject = `Rubric item: ${item.title} (${fmtPoints(item.points)})`;
    } else {
      const c = store.getComment(deps.db, Number(m[2]));
      if (!c || c.submissionId !== submission.id) throw new UserError(400, 'subject: that comment is not on this submission.');
      commentId = c.id;
      subject = `Comment on ${c.path}, line ${c.lineStart}${c.lineEnd !== c.lineStart ? `–${c.lineEnd}` : ''}`;
    }
    if (store.openRegradeFor(deps.db, submission.id, itemId, commentId)) throw new UserError(409, 'subject: you already have an open request about this; add to it instead.');
    const now = deps.clock.now();
    const id = deps.db.transaction(() => {
      const rid = store.createRegrade(deps.db, { submissionId: submission.id, userId: user.id, itemId, commentId, subject, at: now });
      store.addRegradeMessage(deps.db, { regradeId: rid, authorId: user.id, staff: false, body: message, at: now });
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
  });

  const mailer = createMailer(deps);

  /** Staff answered or closed a regrade request: the student hears of it by mail (when mail is on). */
  function mailRegradeAnswer(l: ReturnType<typeof loadRegrade>, body: string | null, outcome: string | null): void {
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

  function loadRegrade(ctx: RouteContext) {
    const user = requireUser(ctx);
    const course = courseOr404(deps.content, ctx.params.course);
    const r = store.getRegrade(deps.db, /^\d{1,12}$/.test(ctx.params.rid ?? '') ? Number(ctx.params.rid) : -1);
    ctx.params.id = String(r?.submissionId ?? 'none');
    if (!r) throw new UserError(404, 'There is no such regrade request.');
    const l = loadSubmission(ctx, deps, { staffOnly: false });
    if (!l.staff && r.userId !== user.id) throw new UserError(404, 'There is no such regrade request.');
    return { ...l, course, regrade: r };
  }

  router.get('/courses/:course/regrades/:rid', async (ctx) => {
    const l = loadRegrade(ctx);
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
      regrade: { ...l.regrade, when: when(l.regrade.createdAt, l.course) },
      submission: l.submission,
      staff: l.staff,
      student: findUserById(deps.db, l.regrade.userId)?.name ?? '',
      messages: messages.map((m) => ({ ...m, html: html.get(m.body) ?? '', when: when(m.createdAt, l.course) })),
    });
  });

  router.post('/courses/:course/regrades/:rid/messages', async (ctx) => {
    const l = loadRegrade(ctx);
    if (l.regrade.state !== 'open') throw new UserError(409, 'This request is closed.');
    const form = await readForm(ctx);
    const body = textFrom(form.body, 'body', 4000);
    deps.db.transaction(() => {
      store.addRegradeMessage(deps.db, { regradeId: l.regrade.id, authorId: l.user.id, staff: l.staff, body, at: deps.clock.now() });
      if (l.staff) audit(deps, ctx, l.course.slug, 'regrade.reply', `${l.current.assignment.slug} / submission ${l.submission.id}`, { regrade: l.regrade.id });
      if (l.staff) mailRegradeAnswer(l, body, null);
    })();
    if (wantsJson(ctx)) {
      ctx.body = { ok: true };
      return;
    }
    ctx.redirect(`/courses/${l.course.slug}/regrades/${l.regrade.id}?done=replied`);
  });

  router.post('/courses/:course/regrades/:rid/close', async (ctx) => {
    const l = loadRegrade(ctx);
    if (!l.staff) throw new UserError(403, 'Only staff can close a regrade request.');
    if (l.regrade.state !== 'open') throw new UserError(409, 'This request is closed already.');
    const form = await readForm(ctx);
    const outcome = form.outcome;
    if (outcome !== 'adjusted' && outcome !== 'declined' && outcome !== 'answered') throw new UserError(400, 'outcome: choose adjusted, declined or answered.');
    const body = textFrom(form.body, 'body', 4000, outcome !== 'declined' ? false : true);
    const now = deps.clock.now();
    deps.db.transaction(() => {
      if (body) store.addRegradeMessage(deps.db, { regradeId: l.regrade.id, authorId: l.user.id, staff: true, body, at: now });
      store.closeRegrade(deps.db, { id: l.regrade.id, state: outcome, at: now, by: l.user.id });
      audit(deps, ctx, l.course.slug, `regrade.${outcome}`, `${l.current.assignment.slug} / submission ${l.submission.id}`, { regrade: l.regrade.id });
      mailRegradeAnswer(l, body || null, outcome);
    })();
    if (wantsJson(ctx)) {
      ctx.body = { ok: true, state: outcome };
      return;
    }
    ctx.redirect(`/courses/${l.course.slug}/regrades/${l.regrade.id}?done=closed`);
  });
}
