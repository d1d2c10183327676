import { accessRule } from '../../core/routes.js';
import { requireRole } from '../../lib/auth.js';

/**
 * A course's lecturers only; everyone else, tutors included, gets the same 404 as for a page that
 * does not exist (the roster and the outbox hold addresses and sign-up links: a tutor does not
 * learn that they are there). Unlike the core's `lecturer(what)`, which tells a tutor 403.
 */
export const lecturersOnly = accessRule('course lecturer (404 for others)', (ctx) => {
  requireRole(ctx, ctx.state.course?.slug ?? ctx.params.course ?? '', ['lecturer']);
});
