import { wantsJson } from '../../core/http.js';
import type { RouteContext } from '../../core/routes.js';
import type { Deps } from '../../plugin.js';
import { currentOf } from '../assignments/policy.js';
import { environmentStatus } from './status.js';
import { getEnvironment } from './store.js';

/** GET …/:slug/environment: the current version's environment, its state and build log. */
export function environmentPage(deps: Deps) {
  return (ctx: RouteContext) => {
    const course = ctx.state.course!;
    const { assignment, version } = currentOf(ctx);
    const status = environmentStatus(deps.db, version);
    const row = status ? getEnvironment(deps.db, status.hash) : null;
    ctx.set('Cache-Control', 'private, no-store');
    if (wantsJson(ctx)) {
      ctx.body = status ? { ...status, log: row?.log ?? '' } : { state: 'none' };
      return;
    }
    ctx.render('environments/environment.njk', { course, slug: assignment.slug, isStaffView: true, status, log: row?.log ?? '', refresh: status?.state === 'building' || status?.state === 'queued' });
  };
}
