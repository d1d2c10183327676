import { isStaffRole, roleIn } from '../../lib/auth.js';
import type { AppMiddleware, Deps } from '../../plugin.js';
import { findUserById } from '../accounts/users.js';
import { recordAudit } from './store.js';

/** Form fields worth keeping: small, and nothing secret or bulky. */
const SKIP_FIELD = /csrf|password|token|secret|^csv$|^body$/i;

/**
 * Records every successful (status below 400) POST a course's staff make under
 * /courses/<course>/, under the action its route declares with `audit('name')` on the route line
 * (src/core/routes.ts sets ctx.state.auditAction), or 'request' when the route declares none.
 * Handlers that write richer entries inside their own transactions mark the request
 * (ctx.state.audited) and are left alone here.
 */
export function recordStaffRequests(deps: Pick<Deps, 'db' | 'clock'>): AppMiddleware {
  return async (ctx, next) => {
    await next();
    if (ctx.method !== 'POST' || ctx.status >= 400 || ctx.state.audited) return;
    const m = /^\/courses\/([a-z0-9][a-z0-9-]{0,63})\//.exec(ctx.path);
    const user = ctx.state.user;
    if (!m || !user) return;
    const course = m[1]!;
    if (!isStaffRole(roleIn(ctx, course))) return;
    try {
      const action = typeof ctx.state.auditAction === 'string' ? ctx.state.auditAction : 'request';
      const details: Record<string, unknown> = { status: ctx.status };
      const location = ctx.response.get('Location');
      if (location) details.location = location.slice(0, 300);
      const form = ctx.state.parsedForm as Record<string, string[]> | undefined;
      if (form) {
        const fields: Record<string, string> = {};
        for (const [k, v] of Object.entries(form)) if (!SKIP_FIELD.test(k)) fields[k] = (v.at(-1) ?? '').slice(0, 200);
        if (Object.keys(fields).length) details.fields = fields;
        if (fields.user && /^\d{1,12}$/.test(fields.user)) details.userEmail = findUserById(deps.db, Number(fields.user))?.email ?? null;
      }
      recordAudit(deps.db, { at: deps.clock.now(), actor: user, course, action, target: `POST ${ctx.path}`, details });
    } catch (err) {
      ctx.state.log.error({ err }, 'could not record a staff action in the audit log');
    }
  };
}
