import type { Db } from '../../db/open.js';
import { readCache } from '../../db/read-cache.js';
import { isStaffRole, requireUser, roleIn } from '../../lib/auth.js';
import { readForm } from '../../lib/body.js';
import type { Course } from '../../lib/content.js';
import { UserError } from '../../lib/errors.js';
import type { AppContext, AppRouter, Deps } from '../../plugin.js';
import { createCommentMarkdown, markdownReady } from './markdown.js';

/**
 * Comments under course pages: members of the course (students and staff) write them in
 * markdown (raw HTML off, links checked by markdown-it's validateLink, no images); staff hide
 * and delete; the author may edit for a short while; a user may post only so many per minute.
 */

export const EDIT_WINDOW_MS = 15 * 60_000;
export const RATE_LIMIT = { count: 5, windowMs: 60_000 };
export const MAX_COMMENT_LENGTH = 10_000;

interface CommentRow {
  id: number;
  course: string;
  page: string;
  user_id: number;
  body: string;
  created_at: number;
  edited_at: number | null;
  hidden_at: number | null;
  author_name: string;
}

export interface CommentView {
  id: number;
  authorName: string;
  html: string;
  body: string;
  createdAt: number;
  createdIso: string;
  editedAt: number | null;
  hidden: boolean;
  own: boolean;
  canEdit: boolean;
  /** Minutes left in the edit window (for the label). */
  editMinutesLeft: number;
}

export function createCommentStore(db: Db) {
  const s = {
    list: db.prepare<{ course: string; page: string; staff: number }, CommentRow>(
      `SELECT c.id, c.course, c.page, c.user_id, c.body, c.created_at, c.edited_at, c.hidden_at, u.name AS author_name
       FROM comments c JOIN users u ON u.id = c.user_id
       WHERE c.course = :course AND c.page = :page AND (:staff = 1 OR c.hidden_at IS NULL)
       ORDER BY c.created_at, c.id`,
    ),
    get: db.prepare<{ id: number }, CommentRow>(
      `SELECT c.id, c.course, c.page, c.user_id, c.body, c.created_at, c.edited_at, c.hidden_at, u.name AS author_name
       FROM comments c JOIN users u ON u.id = c.user_id WHERE c.id = :id`,
    ),
    insert: db.prepare<{ course: string; page: string; user_id: number; body: string; now: number }>(
      'INSERT INTO comments (course, page, user_id, body, created_at) VALUES (:course, :page, :user_id, :body, :now)',
    ),
    recent: db.prepare<{ user_id: number; since: number }, { n: number; oldest: number | null }>(
      'SELECT count(*) AS n, min(created_at) AS oldest FROM comments WHERE user_id = :user_id AND created_at > :since',
    ),
    update: db.prepare<{ id: number; body: string; now: number }>('UPDATE comments SET body = :body, edited_at = :now WHERE id = :id'),
    hide: db.prepare<{ id: number; now: number | null; by: number | null }>('UPDATE comments SET hidden_at = :now, hidden_by = :by WHERE id = :id'),
    remove: db.prepare<{ id: number }>('DELETE FROM comments WHERE id = :id'),
  };
  const insertLimited = db.transaction((c: { course: string; page: string; userId: number; body: string; now: number }) => {
    const recent = s.recent.get({ user_id: c.userId, since: c.now - RATE_LIMIT.windowMs });
    if (recent && recent.n >= RATE_LIMIT.count) {
      return { ok: false as const, retryAfterMs: (recent.oldest ?? c.now) + RATE_LIMIT.windowMs - c.now };
    }
    const info = s.insert.run({ course: c.course, page: c.page, user_id: c.userId, body: c.body, now: c.now });
    return { ok: true as const, id: Number(info.lastInsertRowid) };
  });
  const cache = readCache(db);
  return {
    /** With the version the request started at (src/db/read-cache.ts), kept until the database changes. */
    list: (course: string, page: string, staff: boolean, version?: string) =>
      cache.get(`comments:${course}:${page}:${staff ? 1 : 0}`, version, () => s.list.all({ course, page, staff: staff ? 1 : 0 })),
    get: (id: number) => s.get.get({ id }),
    /** Inserts unless the user hit the rate limit; the check and the insert are one transaction. */
    add: (c: { course: string; page: string; userId: number; body: string; now: number }) => insertLimited.immediate(c),
    update: (id: number, body: string, now: number) => s.update.run({ id, body, now }),
    setHidden: (id: number, hidden: boolean, by: number, now: number) => s.hide.run({ id, now: hidden ? now : null, by: hidden ? by : null }),
    remove: (id: number) => s.remove.run({ id }),
  };
}

export type CommentStore = ReturnType<typeof createCommentStore>;

const md = createCommentMarkdown();
const htmlCache = new Map<string, string>();

function cacheKey(id: number, version: number, body: string): string {
  return `${id}:${version}:${body.length}`;
}

/** Comment markdown to HTML, memoised per comment version (id + last change). */
export function renderCommentBody(id: number, version: number, body: string): string {
  const key = cacheKey(id, version, body);
  const hit = htmlCache.get(key);
  if (hit !== undefined) return hit;
  const html = md.render(body);
  if (htmlCache.size >= 2000) htmlCache.delete(htmlCache.keys().next().value!);
  htmlCache.set(key, html);
  return html;
}

export async function commentViews(store: CommentStore, course: string, page: string, viewer: { userId: number | null; staff: boolean; now: number; version?: string }): Promise<CommentView[]> {
  const rows = store.list(course, page, viewer.staff, viewer.version);
  for (const c of rows) {
    // Loads the highlighter or KaTeX the first time a comment needs them, without blocking.
    const ready = htmlCache.has(cacheKey(c.id, c.edited_at ?? c.created_at, c.body)) ? null : markdownReady(c.body, true);
    if (ready) await ready;
  }
  return rows.map((c) => {
    const own = viewer.userId === c.user_id;
    const left = c.created_at + EDIT_WINDOW_MS - viewer.now;
    return {
      id: c.id,
      authorName: c.author_name,
      html: renderCommentBody(c.id, c.edited_at ?? c.created_at, c.body),
      body: c.body,
      createdAt: c.created_at,
      createdIso: new Date(c.created_at).toISOString(),
      editedAt: c.edited_at,
      hidden: c.hidden_at !== null,
      own,
      canEdit: own && left > 0,
      editMinutesLeft: Math.max(1, Math.ceil(left / 60_000)),
    };
  });
}

/** What the comment routes need from the pages plugin. */
export interface CommentHost {
  /** The page's URL if it exists and `ctx`'s user may read it (404 otherwise). */
  pageUrl(ctx: AppContext, course: Course, key: string): Promise<string>;
  /** Shows the page again with the comment form holding the draft and the problem (status set by the caller). */
  renderWithDraft(ctx: AppContext, course: Course, key: string, draft: { body: string; error: string }): Promise<void>;
}

function cleanBody(raw: string | undefined): string {
  return (raw ?? '').replace(/\r\n?/g, '\n').split('\u0000').join('').trim();
}

function bodyProblem(body: string): string | null {
  if (!body) return 'Write something before posting.';
  if (body.length > MAX_COMMENT_LENGTH) return `A comment can be at most ${MAX_COMMENT_LENGTH} characters long (this one has ${body.length}).`;
  return null;
}

function member(ctx: AppContext, course: Course) {
  const user = requireUser(ctx);
  const role = roleIn(ctx, course.slug);
  return { user, role, staff: isStaffRole(role) };
}

export function commentRoutes(router: AppRouter, deps: Deps, host: CommentHost, store: CommentStore): void {
  const courseOf = (ctx: { params: Record<string, string | undefined> }): Course => {
    const course = deps.content.course(ctx.params.course ?? '');
    if (!course) throw new UserError(404, 'There is no such course.');
    return course;
  };
  const commentOf = (ctx: { params: Record<string, string | undefined> }, course: Course) => {
    const id = Number(ctx.params.comment);
    const comment = Number.isSafeInteger(id) ? store.get(id) : undefined;
    if (!comment || comment.course !== course.slug) throw new UserError(404, 'There is no such comment.');
    return comment;
  };

  router.post('/courses/:course/comments', async (ctx) => {
    const course = courseOf(ctx);
    const { user, role } = member(ctx, course);
    const form = await readForm(ctx);
    const key = form.page ?? '';
    const url = await host.pageUrl(ctx, course, key);
    if (!role) throw new UserError(403, 'Only students and staff of this course can comment.');
    const body = cleanBody(form.body);
    const problem = bodyProblem(body);
    if (problem) {
      ctx.status = 422;
      return host.renderWithDraft(ctx, course, key, { body, error: problem });
    }
    const now = deps.clock.now();
    const result = store.add({ course: course.slug, page: key, userId: user.id, body, now });
    if (!result.ok) {
      const seconds = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
      ctx.status = 429;
      ctx.set('Retry-After', String(seconds));
      return host.renderWithDraft(ctx, course, key, {
        body,
        error: `You have posted ${RATE_LIMIT.count} comments in the last minute. Please wait ${seconds} second${seconds === 1 ? '' : 's'} and post again; your text is kept below.`,
      });
    }
    ctx.state.log.info({ comment: result.id, course: course.slug, page: key }, 'comment posted');
    ctx.redirect(`${url}#comment-${result.id}`);
  });

  router.post('/courses/:course/comments/:comment/edit', async (ctx) => {
    const course = courseOf(ctx);
    const { user } = member(ctx, course);
    const comment = commentOf(ctx, course);
    if (comment.user_id !== user.id) throw new UserError(404, 'There is no such comment.');
    const url = await host.pageUrl(ctx, course, comment.page);
    const now = deps.clock.now();
    if (now - comment.created_at > EDIT_WINDOW_MS) {
      throw new UserError(403, `Comments can be edited for ${EDIT_WINDOW_MS / 60_000} minutes after posting; this one was posted ${Math.floor((now - comment.created_at) / 60_000)} minutes ago.`);
    }
    const form = await readForm(ctx);
    const body = cleanBody(form.body);
    const problem = bodyProblem(body);
    if (problem) throw new UserError(422, problem);
    store.update(comment.id, body, now);
    ctx.redirect(`${url}#comment-${comment.id}`);
  });

  router.post('/courses/:course/comments/:comment/hide', async (ctx) => {
    const course = courseOf(ctx);
    const { user, staff } = member(ctx, course);
    if (!staff) throw new UserError(404, 'There is no such comment.');
    const comment = commentOf(ctx, course);
    const form = await readForm(ctx);
    const hidden = form.hidden !== '0';
    store.setHidden(comment.id, hidden, user.id, deps.clock.now());
    ctx.state.log.info({ comment: comment.id, hidden }, hidden ? 'comment hidden' : 'comment shown again');
    const url = await host.pageUrl(ctx, course, comment.page).catch(() => `/courses/${course.slug}/`);
    ctx.redirect(`${url}#comment-${comment.id}`);
  });

  router.post('/courses/:course/comments/:comment/delete', async (ctx) => {
    const course = courseOf(ctx);
    const { staff } = member(ctx, course);
    if (!staff) throw new UserError(404, 'There is no such comment.');
    const comment = commentOf(ctx, course);
    await readForm(ctx);
    store.remove(comment.id);
    ctx.state.log.info({ comment: comment.id, author: comment.user_id }, 'comment deleted');
    const url = await host.pageUrl(ctx, course, comment.page).catch(() => `/courses/${course.slug}/`);
    ctx.redirect(`${url}#comments`);
  });
}
