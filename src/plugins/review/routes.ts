import { audit, input, staff, type PluginRouter } from '../../core/routes.js';
import type { Deps } from '../../plugin.js';
import type { Mailer } from '../mail/mailer.js';
import * as form from './forms.js';
import { feedbackHandlers } from './handlers/feedback.js';
import { queueHandlers } from './handlers/queue.js';
import { releaseHandlers } from './handlers/release.js';
import { rubricHandlers } from './handlers/rubric.js';
import { staffHandlers } from './handlers/staff.js';
import { powers, regradeReader, regradeStaff, submissionStaff, submitter, submitterOrStaff } from './policy.js';

/**
 * Manual grading's routes. A submission's `:id` is loaded by the submissions plugin (404 for
 * outsiders), a regrade request's `:rid` by this plugin (policy.ts); the rule on each line narrows
 * who may pass. Grading actions write their own audit entries; the audit name covers the rest.
 */
export function reviewRoutes(r: PluginRouter, deps: Deps, mailer: Mailer): void {
  const grading = staffHandlers(deps);
  const rubric = rubricHandlers(deps);
  const release = releaseHandlers(deps);
  const queue = queueHandlers(deps);
  const feedback = feedbackHandlers(deps, mailer);
  const power = powers(deps);

  // ---- a submission, for staff: the grading page and every grading action ----
  r.get('/courses/:course/review/submissions/:id', submissionStaff, grading.page);
  r.get('/courses/:course/review/submissions/:id/diff', submissionStaff, input(form.diffQuery, { from: 'query' }), grading.diff);
  r.post('/courses/:course/review/submissions/:id/items', submissionStaff, input(form.applyItemForm), audit('review.item'), grading.applyItem);
  r.post('/courses/:course/review/submissions/:id/adjustments', submissionStaff, input(form.adjustmentForm), audit('review.adjust'), grading.addAdjustment);
  r.post('/courses/:course/review/submissions/:id/adjustments/:adj/delete', submissionStaff, input(form.emptyForm), audit('review.adjust_delete'), grading.deleteAdjustment);
  r.post('/courses/:course/review/submissions/:id/comments', submissionStaff, input(form.commentForm), audit('review.comment'), grading.addComment);
  r.post('/courses/:course/review/submissions/:id/comments/:cid/edit', submissionStaff, input(form.commentEditForm), audit('review.comment_edit'), grading.editComment);
  r.post('/courses/:course/review/submissions/:id/comments/:cid/delete', submissionStaff, input(form.emptyForm), audit('review.comment_delete'), grading.deleteComment);
  r.post('/courses/:course/review/submissions/:id/state', submissionStaff, input(form.stateForm), audit('review.grade_state'), grading.setState);

  // ---- release of manual grades: one student, or the whole assignment ----
  r.post('/courses/:course/review/submissions/:id/release', power('release'), input(form.releaseForm), audit('review.release'), release.student);
  r.post('/courses/:course/assignments/:slug/release', power('release'), input(form.releaseForm), audit('review.release'), release.assignment);

  // ---- the rubric editor ----
  r.get('/courses/:course/assignments/:slug/rubric', staff, rubric.page);
  r.post('/courses/:course/assignments/:slug/rubric/groups', power('edit_rubric'), input(form.groupForm), audit('rubric.group_add'), rubric.addGroup);
  r.post('/courses/:course/assignments/:slug/rubric/groups/:gid', power('edit_rubric'), input(form.groupForm), audit('rubric.group_edit'), rubric.editGroup);
  r.post('/courses/:course/assignments/:slug/rubric/groups/:gid/delete', power('edit_rubric'), audit('rubric.group_delete'), rubric.deleteGroup);
  r.post('/courses/:course/assignments/:slug/rubric/items', power('edit_rubric'), input(form.newItemForm), audit('rubric.item_add'), rubric.addItem);
  r.post('/courses/:course/assignments/:slug/rubric/items/:iid', power('edit_rubric'), input(form.itemForm), audit('rubric.item_edit'), rubric.editItem);
  r.post('/courses/:course/assignments/:slug/rubric/items/:iid/delete', power('edit_rubric'), audit('rubric.item_delete'), rubric.deleteItem);

  // ---- the grading queue ----
  r.get('/courses/:course/assignments/:slug/grading', staff, input(form.queueQuery, { from: 'query' }), queue.list);
  r.get('/courses/:course/assignments/:slug/grading/next', staff, input(form.nextQuery, { from: 'query' }), queue.next);
  r.get('/courses/:course/assignments/:slug/grading/prev', staff, input(form.prevQuery, { from: 'query' }), queue.prev);
  r.post('/courses/:course/assignments/:slug/grading/assign', staff, input(form.assignForm, { lists: true }), audit('review.assign_graders'), queue.assign);

  // ---- the student's feedback and regrade requests ----
  r.get('/courses/:course/submissions/:id/feedback', submitterOrStaff, feedback.feedback);
  r.post('/courses/:course/submissions/:id/regrades', submitter, input(form.regradeRequestForm), audit('regrade.request'), feedback.request);
  r.get('/courses/:course/regrades', staff, feedback.openList);
  r.get('/courses/:course/regrades/:rid', regradeReader, feedback.regrade);
  r.post('/courses/:course/regrades/:rid/messages', regradeReader, input(form.regradeMessageForm), audit('regrade.reply'), feedback.reply);
  r.post('/courses/:course/regrades/:rid/close', regradeStaff, input(form.regradeCloseForm), audit('regrade.close'), feedback.close);
}
