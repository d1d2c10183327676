import { staff, type PluginRouter } from '../../core/routes.js';
import type { Deps } from '../../plugin.js';
import { assignmentForStaff } from '../assignments/policy.js';
import { environmentPage } from './handlers.js';

/** Every route of the environments plugin. */
export function environmentRoutes(r: PluginRouter, deps: Deps): void {
  r.get('/courses/:course/assignments/:slug/environment', staff, assignmentForStaff(deps), environmentPage(deps));
}
