import { audit, input, lecturer, staff, type PluginRouter } from '../../core/routes.js';
import { checkForm, runForm, type SimilarityHandlers } from './handlers.js';

/**
 * Staff only: outsiders and students get the same 404 as for any staff page, so the report's
 * existence is not shown to them. Tutors may read; lecturers start runs and checks. The handlers
 * write their own audit entries (with details), reading a pair and exporting included.
 */
export function similarityRoutes(r: PluginRouter, h: SimilarityHandlers): void {
  r.get('/courses/:course/assignments/:slug/similarity', staff, h.report);
  r.post('/courses/:course/assignments/:slug/similarity', lecturer('make similarity reports'), input(runForm), audit('similarity.run'), h.run);
  r.get('/courses/:course/assignments/:slug/similarity/:report/pairs.csv', staff, audit('similarity.export_csv'), h.pairsCsv);
  r.get('/courses/:course/assignments/:slug/similarity/:report/pairs/:rank', staff, audit('similarity.view_pair'), h.pair);
  r.post('/courses/:course/assignments/:slug/similarity/:report/pairs/:rank/evidence', lecturer('run variant checks'), input(checkForm), audit('similarity.variant_check'), h.check);
}
