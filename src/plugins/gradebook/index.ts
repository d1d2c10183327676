import { isStaffRole, roleIn } from '../../lib/auth.js';
import { fromOldShape, type OldShapePlugin } from '../../core/assemble.js';
import type { AppMiddleware, Deps } from '../../plugin.js';
import { findUserById } from '../accounts/users.js';
import { recordAudit } from '../audit/store.js';
import { registerRoutes } from './routes.js';

/** Staff actions of other plugins, by path, named for the audit log. */
const KNOWN_ACTIONS: Array<[RegExp, string]> = [
  [/^\/courses\/[^/]+\/roster\/import$/, 'roster.import'],
  [/^\/courses\/[^/]+\/roster\/remove$/, 'roster.remove'],
  [/^\/courses\/[^/]+\/roster\/links$/, 'roster.signup_links'],
  [/^\/courses\/[^/]+\/assignments\/new$/, 'assignment.upload'],
  [/^\/courses\/[^/]+\/assignments\/[^/]+\/upload$/, 'assignment.upload'],
  [/^\/courses\/[^/]+\/assignments\/[^/]+\/versions\/[^/]+\/current$/, 'assignment.version_current'],
  [/^\/courses\/[^/]+\/assignments\/[^/]+\/variants\/[^/]+\/regenerate$/, 'variant.regenerate'],
  [/^\/courses\/[^/]+\/comments$/, 'comment.post'],
  [/^\/courses\/[^/]+\/comments\/[^/]+\/edit$/, 'comment.edit'],
  [/^\/courses\/[^/]+\/comments\/[^/]+\/hide$/, 'comment.hide'],
  [/^\/courses\/[^/]+\/comments\/[^/]+\/delete$/, 'comment.delete'],
];

/** Form fields worth keeping: small, and nothing secret or bulky. */
const SKIP_FIELD = /csrf|password|token|secret|^csv$|^body$/i;

/**
 * Records every successful state-changing request a course's staff make under /courses/<course>/,
 * so that actions of plugins without their own audit hook (roster import and removal, bundle
 * uploads, version switches, regenerations, comment moderation) are in the log too. This
 * plugin's own handlers write richer entries inside their transactions and mark the request.
 */
function auditStaffRequests(deps: Deps): AppMiddleware {
  return async (ctx, next) => {
    await next();
    if (ctx.method !== 'POST' || ctx.status >= 400 || ctx.state.audited) return;
    const m = /^\/courses\/([a-z0-9][a-z0-9-]{0,63})\//.exec(ctx.path);
    const user = ctx.state.user;
    if (!m || !user) return;
    const course = m[1]!;
    if (!isStaffRole(roleIn(ctx, course))) return;
    try {
      const action = KNOWN_ACTIONS.find(([re]) => re.test(ctx.path))?.[1] ?? 'request';
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

const gradebook: OldShapePlugin = {
  name: 'gradebook',
  middleware: (deps) => [auditStaffRequests(deps)],
  routes(router, deps) {
    registerRoutes(router, deps);
  },
};

export default fromOldShape(gradebook);
