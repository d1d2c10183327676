import { audit, type PluginRouter } from '../../core/routes.js';
import type { Deps } from '../../plugin.js';
import { assignment } from '../assignments/policy.js';
import { statusEvents } from './events.js';
import { file, listOwn, show, status, submit } from './handlers.js';
import { courseRole, seesSubmission } from './policy.js';

/**
 * The submissions plugin's routes. `:id` is loaded (and hidden from outsiders with a 404) by the
 * plugin's parameter loader, submissionParam in policy.ts; the upload is multipart, read by intake.ts.
 */
export function routes(r: PluginRouter, deps: Deps): void {
  // assignment(deps): the current version, 404 for no such assignment, 409 "not open yet".
  r.get('/courses/:course/assignments/:slug/submissions', courseRole, assignment(deps), listOwn(deps));
  r.post('/courses/:course/assignments/:slug/submissions', courseRole, audit('submission.create'), assignment(deps), submit(deps));

  r.get('/courses/:course/submissions/:id', seesSubmission, show(deps));
  r.get('/courses/:course/submissions/:id/files/:name', seesSubmission, file(deps));
  r.get('/courses/:course/submissions/:id/status', seesSubmission, status(deps));
  r.get('/courses/:course/submissions/:id/events', seesSubmission, statusEvents(deps));
}
