import { audit, input, lecturer, staff, type PluginRouter } from '../../core/routes.js';
import type { Deps } from '../../plugin.js';
import { gradebookCsv, gradebookPage, saveWeights, weightsForm } from './handlers/book.js';
import { dashboardPage } from './handlers/dashboard.js';
import { extensionForm, grantExtensionHandler, revokeExtensionHandler } from './handlers/extensions.js';
import { rerunBatch, rerunForm, startRerunHandler } from './handlers/reruns.js';
import { histogramImage, studentsPage } from './handlers/students.js';
import { submissionsZip } from './handlers/zip.js';

/**
 * The gradebook's routes: the course dashboard, an assignment's students page (extensions,
 * re-runs, downloads) and the course's gradebook. Who may do what: policy.ts. The handlers that
 * change something write their own audit entries (the names below) inside their transactions.
 */
export function gradebookRoutes(r: PluginRouter, deps: Deps): void {
  r.get('/courses/:course/dashboard', staff, dashboardPage(deps));

  r.get('/courses/:course/assignments/:slug/students', staff, studentsPage(deps));
  r.get('/courses/:course/assignments/:slug/histogram.svg', staff, histogramImage(deps));
  r.post('/courses/:course/assignments/:slug/extensions', lecturer('grant extensions'), input(extensionForm), audit('extension.grant'), grantExtensionHandler(deps));
  r.post('/courses/:course/assignments/:slug/extensions/:user/revoke', lecturer('revoke extensions'), audit('extension.revoke'), revokeExtensionHandler(deps));
  r.post('/courses/:course/assignments/:slug/reruns', staff, input(rerunForm), audit('rerun'), startRerunHandler(deps));
  r.get('/courses/:course/assignments/:slug/reruns/:batch', staff, rerunBatch(deps));
  r.get('/courses/:course/assignments/:slug/submissions.zip', lecturer('download all submissions'), audit('export.submissions_zip'), submissionsZip(deps));

  r.get('/courses/:course/gradebook', staff, gradebookPage(deps));
  r.post('/courses/:course/gradebook/settings', lecturer('change weights and maxima'), input(weightsForm), audit('gradebook.weights'), saveWeights(deps));
  r.get('/courses/:course/gradebook.csv', lecturer('export grades'), audit('export.gradebook_csv'), gradebookCsv(deps));
}
