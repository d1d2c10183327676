import { anyone, audit, input, signedIn, type PluginRouter } from '../../core/routes.js';
import { commentForm, deleteForm, hideForm } from './comments.js';
import { COURSES_PATH, FILE_PATH, PAGE_PATH, type PageHandlers } from './page-handlers.js';
import { commentAuthor, moderator } from './policy.js';

/**
 * Course pages, their files and comments. Pages and files are open to anyone at the route: each
 * page's front matter says who may read it, applied once the page is found (policy.ts). The
 * catch-all page route comes last: every other plugin's routes under /courses/ are matched first.
 */
export function pageRoutes(r: PluginRouter, h: PageHandlers): void {
  r.get('/', anyone, h.home);
  r.pattern('get', '/courses/', COURSES_PATH, anyone, h.courses);

  r.post('/courses/:course/comments', signedIn, input(commentForm), audit('comment.post'), h.comments.post);
  r.post('/courses/:course/comments/:comment/edit', commentAuthor, input(commentForm), audit('comment.edit'), h.comments.edit);
  r.post('/courses/:course/comments/:comment/hide', moderator, input(hideForm), audit('comment.hide'), h.comments.hide);
  r.post('/courses/:course/comments/:comment/delete', moderator, input(deleteForm), audit('comment.delete'), h.comments.remove);

  r.pattern('get', '/courses/:course/files/*', FILE_PATH, anyone, h.file);
  r.pattern('get', '/courses/:course/*', PAGE_PATH, anyone, h.page);
}
