import { z } from 'zod';
import { inputOf, type RouteContext } from '../../core/routes.js';
import { roleIn, type CurrentUser } from '../../lib/auth.js';
import type { Course } from '../../lib/content.js';
import { UserError } from '../../lib/errors.js';
import type { AppContext, Deps } from '../../plugin.js';
import { addComment, listComments, removeComment, RATE_LIMIT, setCommentHidden, updateComment } from './comment-store.js';
import { createCommentMarkdown, markdownReady } from './markdown.js';
import { commentOf } from './policy.js';

/**
 * Comments under course pages: members of the course (students and staff) write them in
 * markdown (raw HTML off, links checked by markdown-it's validateLink, no images); staff hide
 * and delete; the author may edit for a short while; a user may post only so many per minute.
 */

export const EDIT_WINDOW_MS = 15 * 60_000;
export { RATE_LIMIT };
export const MAX_COMMENT_LENGTH = 10_000;

/** The comment form (posting and editing); the body's rules are checked by the handler, which shows the form again. */
export const commentForm = z.object({ page: z.string().default(''), body: z.string().default('') });
/** Hide (hidden=1, the default) or show again (hidden=0). */
export const hideForm = z.object({ hidden: z.string().optional() });
export const deleteForm = z.object({});

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

export interface CommentViews {
  /** A page's comments as the viewer sees them. */
  of(course: string, page: string, viewer: { userId: number | null; staff: boolean; now: number; version?: string }): Promise<CommentView[]>;
}

/** Comment markdown to HTML, memoised per comment version (id + last change), for one app (ids are its database's). */
export function createCommentViews(deps: Deps): CommentViews {
  const md = createCommentMarkdown();
  const htmlCache = new Map<string, string>();
  const cacheKey = (id: number, version: number, body: string) => `${id}:${version}:${body.length}`;
  const render = (id: number, version: number, body: string): string => {
    const key = cacheKey(id, version, body);
    const hit = htmlCache.get(key);
    if (hit !== undefined) return hit;
    const html = md.render(body);
    if (htmlCache.size >= 2000) htmlCache.delete(htmlCache.keys().next().value!);
    htmlCache.set(key, html);
    return html;
  };
  return {
    async of(course, page, viewer) {
      const rows = listComments(deps.db, course, page, viewer.staff, viewer.version);
      for (const c of rows) {
        // Loads the highlighter or KaTeX the first time a comment needs them, without blocking.
        const ready = htmlCache.has(cacheKey(c.id, c.editedAt ?? c.createdAt, c.body)) ? null : markdownReady(c.body, true);
        if (ready) await ready;
      }
      return rows.map((c) => {
        const own = viewer.userId === c.userId;
        const left = c.createdAt + EDIT_WINDOW_MS - viewer.now;
        return {
          id: c.id,
          authorName: c.authorName,
          html: render(c.id, c.editedAt ?? c.createdAt, c.body),
          body: c.body,
          createdAt: c.createdAt,
          createdIso: new Date(c.createdAt).toISOString(),
          editedAt: c.editedAt,
          hidden: c.hiddenAt !== null,
          own,
          canEdit: own && left > 0,
          editMinutesLeft: Math.max(1, Math.ceil(left / 60_000)),
        };
      });
    },
  };
}

/** What the comment handlers need from the pages plugin. */
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

export interface CommentHandlers {
  post(ctx: RouteContext): Promise<void>;
  edit(ctx: RouteContext): Promise<void>;
  hide(ctx: RouteContext): Promise<void>;
  remove(ctx: RouteContext): Promise<void>;
}

export function commentHandlers(deps: Deps, host: CommentHost): CommentHandlers {
  const userOf = (ctx: RouteContext): CurrentUser => ctx.state.user!;
  return {
    async post(ctx) {
      const course = ctx.state.course!;
      const user = userOf(ctx);
      const form = inputOf(ctx, commentForm);
      const key = form.page;
      const url = await host.pageUrl(ctx, course, key);
      if (!roleIn(ctx, course.slug)) throw new UserError(403, 'Only students and staff of this course can comment.');
      const body = cleanBody(form.body);
      const problem = bodyProblem(body);
      if (problem) {
        ctx.status = 422;
        return host.renderWithDraft(ctx, course, key, { body, error: problem });
      }
      const now = deps.clock.now();
      const result = addComment(deps.db, { course: course.slug, page: key, userId: user.id, body, now });
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
    },

    async edit(ctx) {
      const course = ctx.state.course!;
      const comment = commentOf(ctx);
      const url = await host.pageUrl(ctx, course, comment.page);
      const now = deps.clock.now();
      if (now - comment.createdAt > EDIT_WINDOW_MS) {
        throw new UserError(403, `Comments can be edited for ${EDIT_WINDOW_MS / 60_000} minutes after posting; this one was posted ${Math.floor((now - comment.createdAt) / 60_000)} minutes ago.`);
      }
      const body = cleanBody(inputOf(ctx, commentForm).body);
      const problem = bodyProblem(body);
      if (problem) throw new UserError(422, problem);
      updateComment(deps.db, comment.id, body, now);
      ctx.redirect(`${url}#comment-${comment.id}`);
    },

    async hide(ctx) {
      const course = ctx.state.course!;
      const comment = commentOf(ctx);
      const hidden = inputOf(ctx, hideForm).hidden !== '0';
      setCommentHidden(deps.db, comment.id, hidden, userOf(ctx).id, deps.clock.now());
      ctx.state.log.info({ comment: comment.id, hidden }, hidden ? 'comment hidden' : 'comment shown again');
      const url = await host.pageUrl(ctx, course, comment.page).catch(() => `/courses/${course.slug}/`);
      ctx.redirect(`${url}#comment-${comment.id}`);
    },

    async remove(ctx) {
      const course = ctx.state.course!;
      const comment = commentOf(ctx);
      removeComment(deps.db, comment.id);
      ctx.state.log.info({ comment: comment.id, author: comment.userId }, 'comment deleted');
      const url = await host.pageUrl(ctx, course, comment.page).catch(() => `/courses/${course.slug}/`);
      ctx.redirect(`${url}#comments`);
    },
  };
}
