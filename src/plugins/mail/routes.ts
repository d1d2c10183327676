import { admin, type PluginRouter } from '../../core/routes.js';
import { lecturersOnly } from '../accounts/policy.js';
import type { OutboxHandlers } from './outbox-page.js';

/** The mail plugin's pages: what was sent, for a course's lecturers and for the administrator. */
export function mailRoutes(r: PluginRouter, h: OutboxHandlers): void {
  r.get('/courses/:course/mail', lecturersOnly, h.course);
  r.get('/admin/mail', admin, h.site);
}
