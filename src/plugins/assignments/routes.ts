import { anyone, audit, input, lecturer, member, staff, type PluginRouter, type RouteContext } from '../../core/routes.js';
import { freezeHandlers, moveForwardForm, reachForm } from './freeze-handlers.js';
import { assignment, assignmentForStaff, assignmentPage } from './policy.js';
import { makeCurrentForm, staffHandlers } from './staff-handlers.js';
import type { AssignmentsApp } from './state.js';
import { studentHandlers } from './student-handlers.js';
import { previewQuery, variantHandlers } from './variant-handlers.js';

/**
 * Every route of the assignments plugin. Handlers: student-handlers.ts (list, statement, starter
 * files), staff-handlers.ts (staff page, uploads, versions, variants CSV), variant-handlers.ts
 * (preview, regenerate), freeze-handlers.ts (a version's reach, moving students forward).
 * `assignment(deps)` loads :slug's current version after the access rule (policy.ts): 409 "not
 * open yet" while a new assignment's first version waits for its self-check; the staff routes that
 * must work meanwhile (staff page, upload, make current, variants CSV, preview) use
 * `assignmentForStaff(deps)`, which loads that waiting version instead.
 */
export function assignmentRoutes(r: PluginRouter, app: AssignmentsApp): void {
  const { deps } = app;
  const loaded = assignment(deps);
  // Also a new assignment whose first version still waits for its self-check.
  const loadedForStaff = assignmentForStaff(deps);
  const student = studentHandlers(app);
  const staffPages = staffHandlers(app);
  const variants = variantHandlers(app, staffPages);
  const freeze = freezeHandlers(deps);

  r.get('/courses/:course/assignments/', member, student.list);
  r.get('/courses/:course/assignments/new', lecturer('upload assignments'), staffPages.newForm);
  r.post('/courses/:course/assignments/new', lecturer('upload assignments'), audit('assignment.upload'), staffPages.create);
  r.get('/courses/:course/assignments/:slug/', member, assignmentPage(deps), student.page);
  r.get('/courses/:course/assignments/:slug/starter.zip', member, loaded, student.starterZip);
  r.get('/courses/:course/assignments/:slug/starter/*file', member, loaded, student.starterFile);

  r.get('/courses/:course/assignments/:slug/staff', staff, loadedForStaff, staffPages.staffPage);
  r.post('/courses/:course/assignments/:slug/upload', lecturer('upload assignments'), audit('assignment.upload'), loadedForStaff, staffPages.upload);
  r.post('/courses/:course/assignments/:slug/versions/:number/current', lecturer('change the current version'), audit('assignment.version_current'), loadedForStaff, input(makeCurrentForm), staffPages.makeCurrent);
  r.get('/courses/:course/assignments/:slug/variants.csv', staff, loadedForStaff, staffPages.variantsCsv);

  r.get('/courses/:course/assignments/:slug/preview', staff, loadedForStaff, input(previewQuery, { from: 'query' }), variants.preview);
  r.post('/courses/:course/assignments/:slug/variants/:user/regenerate', lecturer('regenerate variants'), audit('variant.regenerate'), loaded, variants.regenerate);

  r.post('/courses/:course/assignments/:slug/versions/:number/reach', lecturer('decide whom a version reaches'), audit('assignment.version_reach'), loaded, input(reachForm), freeze.reach);
  r.post('/courses/:course/assignments/:slug/versions/move-forward', lecturer('move students to another version'), audit('assignment.move_forward'), loaded, input(moveForwardForm), freeze.moveForward);

  // Last, so that they only see what the routes above did not take: the router matches
  // "/x" patterns with a trailing slash too.
  r.get('/courses/:course/assignments', anyone, addSlash);
  r.get('/courses/:course/assignments/:slug', anyone, addSlash);
}

function addSlash(ctx: RouteContext, next: () => Promise<unknown>) {
  if (ctx.path.endsWith('/')) return next();
  ctx.redirect(`${ctx.path}/${ctx.querystring ? `?${ctx.querystring}` : ''}`);
}
