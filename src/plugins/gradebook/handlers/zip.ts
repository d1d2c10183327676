import { attachment } from '../../../core/http.js';
import type { RouteMiddleware } from '../../../core/routes.js';
import type { Deps } from '../../../plugin.js';
import { recordAudit } from '../../audit/store.js';
import { assignmentGrades } from '../grades.js';
import { actorOf, assignmentOf, courseOf } from '../policy.js';
import { studentsOf } from '../table.js';
import { countedSubmissionsZip } from '../zip.js';

/** Every student's counted submission as one zip (zip.ts), streamed; audited. */
export function submissionsZip(deps: Deps): RouteMiddleware {
  return async (ctx) => {
    const course = courseOf(ctx);
    const actor = actorOf(ctx);
    const current = assignmentOf(ctx, deps);
    const grades = assignmentGrades(deps.db, current, studentsOf(deps, course));
    // yazl loads on first use: exports are rare, start-up time matters at every deploy.
    const { ZipFile } = (await import('yazl')).default;
    const zip = countedSubmissionsZip({ ...deps, log: ctx.state.log }, grades, { slug: current.assignment.slug, ZipFile });
    ctx.state.audited = true;
    recordAudit(deps.db, {
      at: deps.clock.now(),
      actor,
      course: course.slug,
      action: 'export.submissions_zip',
      target: `${current.assignment.slug} / counted submissions`,
      details: { assignment: current.assignment.slug, students: zip.students, files: zip.files },
    });
    ctx.set('Content-Disposition', attachment(`${course.slug}-${current.assignment.slug}-submissions.zip`));
    ctx.set('Cache-Control', 'private, no-store');
    ctx.type = 'application/zip';
    ctx.body = zip.stream;
  };
}
