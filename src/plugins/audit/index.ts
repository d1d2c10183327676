import type { Plugin } from '../../plugin.js';
import { recordStaffRequests } from './middleware.js';
import { auditRoutes } from './routes.js';

/**
 * The audit log: its table (store.ts; other plugins call recordAudit inside their own
 * transactions), the middleware that records staff requests under the action their route
 * declares (`audit('name')`), and the administrator's page.
 */
const audit: Plugin = {
  name: 'audit',
  create(deps) {
    return {
      middleware: [recordStaffRequests(deps)],
      routes: (r) => auditRoutes(r, deps),
    };
  },
};

export default audit;
