import { admin, input, type PluginRouter } from '../../core/routes.js';
import type { Deps } from '../../plugin.js';
import { auditPage, auditQuery } from './page.js';

/** The audit log's one page: for site administrators only (404 for everyone else). */
export function auditRoutes(r: PluginRouter, deps: Deps): void {
  r.get('/admin/audit', admin, input(auditQuery, { from: 'query' }), auditPage(deps));
}
