import { accessRule, type Access, type ParamLoader } from '../../core/routes.js';
import { isStaffRole, requireUser, roleIn, type CurrentUser } from '../../lib/auth.js';
import { UserError } from '../../lib/errors.js';
import type { AppContext, Deps } from '../../plugin.js';
import { getComment, type Comment } from './comment-store.js';
import type { PageEntry, Viewer } from './library.js';

/**
 * Who may read a course page, and who may change a comment. A page's front matter says who reads
 * it (public, enrolled, staff; a release date); files take the visibility of the nearest
 * index.md above them. Pages are served by pattern routes open to anyone: the page's own rule is
 * applied once the page is found (readAccess).
 */

export function isReleased(entry: PageEntry, now: number): boolean {
  const release = entry.version.meta.release;
  return release === null || now >= release;
}

/** Whether the viewer may read the page. Staff see everything, including pages with errors. */
export function canSee(entry: PageEntry, viewer: Viewer): boolean {
  if (isStaffRole(viewer.role)) return true;
  const v = entry.version;
  if (v.metaError) return false;
  if (!isReleased(entry, viewer.now)) return false;
  if (v.meta.visibility === 'staff') return false;
  if (v.meta.visibility === 'enrolled') return viewer.role !== null;
  return true;
}

export type ReadAccess = 'ok' | 'login' | 'hidden';

/**
 * Whether `user` may read `entry` (null: a course home without index.md, or a file's folder
 * without one): anonymous readers of an enrolled page are sent to sign in; everything else they
 * may not read is a 404.
 */
export function readAccess(entry: PageEntry | null, viewer: Viewer, user: CurrentUser | null, now: number): ReadAccess {
  if (!entry) return viewer.role ? 'ok' : user ? 'hidden' : 'login';
  if (canSee(entry, viewer)) return 'ok';
  const v = entry.version;
  if (!user && !v.metaError && isReleased(entry, now) && v.meta.visibility === 'enrolled') return 'login';
  return 'hidden';
}

const NO_SUCH_COMMENT = 'There is no such comment.';

/**
 * The `:comment` of /courses/:course/comments/:comment/…: signing in comes first, then the comment
 * of this course is loaded into ctx.state.comment; any other id is the same 404.
 */
export function commentParam(deps: Deps): ParamLoader {
  return (idText, ctx, next) => {
    requireUser(ctx);
    const id = Number(idText);
    const comment = Number.isSafeInteger(id) ? getComment(deps.db, id) : undefined;
    if (!comment || comment.course !== ctx.params.course) throw new UserError(404, NO_SUCH_COMMENT);
    ctx.state.comment = comment;
    return next();
  };
}

/** The comment the route's `:comment` loaded. */
export function commentOf(ctx: AppContext): Comment {
  const c = ctx.state.comment as Comment | undefined;
  if (!c) throw new Error('commentOf: the route has no :comment parameter');
  return c;
}

/** Staff of the course hide and delete comments; for anyone else there is no such comment (404). */
export const moderator: Access = accessRule('course staff (moderate comments)', (ctx) => {
  requireUser(ctx);
  if (!isStaffRole(roleIn(ctx, ctx.params.course ?? ''))) throw new UserError(404, NO_SUCH_COMMENT);
});

/** The comment's author edits it; for anyone else there is no such comment (404). */
export const commentAuthor: Access = accessRule('the comment\'s author', (ctx) => {
  const user = requireUser(ctx);
  if (commentOf(ctx).userId !== user.id) throw new UserError(404, NO_SUCH_COMMENT);
});
