import { z } from 'zod';
import { wantsJson } from '../../core/http.js';
import { inputOf, type RouteMiddleware } from '../../core/routes.js';
import { formatDateTime } from '../../lib/views.js';
import type { Deps } from '../../plugin.js';
import { auditedCourses, listAudit } from './store.js';
import { auditDetails, auditPhrase } from './words.js';

const PAGE = 50;

/** The log's query: `before` an entry number (paging), optionally one course. */
export const auditQuery = z.object({
  before: z.string().regex(/^(\d{1,15})?$/, 'give an entry number.').optional(),
  course: z.string().optional(),
});

/** The site administrator's audit log, newest first, 50 a page; JSON for API clients. */
export function auditPage(deps: Pick<Deps, 'db' | 'content'>): RouteMiddleware {
  return async (ctx) => {
    const query = inputOf(ctx, auditQuery);
    const beforeText = query.before ?? '';
    const courseQ = query.course || undefined;
    const entries = listAudit(deps.db, { ...(beforeText ? { before: Number(beforeText) } : {}), limit: PAGE + 1, ...(courseQ ? { course: courseQ } : {}) });
    const more = entries.length > PAGE;
    const page = entries.slice(0, PAGE);
    ctx.set('Cache-Control', 'no-store');
    if (wantsJson(ctx)) {
      ctx.body = { entries: page.map((e) => ({ ...e, at: new Date(e.at).toISOString() })), next: more ? page.at(-1)!.id : null };
      return;
    }
    ctx.render('audit/audit.njk', {
      entries: page.map((e) => {
        const zone = (e.course ? deps.content.course(e.course)?.timezone : undefined) ?? 'UTC';
        return { ...e, target: e.target.replace(/^POST /, ''), when: new Date(e.at).toISOString().replace('T', ' ').slice(0, 19) + ' UTC', local: e.course ? formatDateTime(e.at, zone) : '', phrase: auditPhrase(e.action), lines: auditDetails(e, zone) };
      }),
      next: more ? page.at(-1)!.id : null,
      first: !beforeText,
      course: courseQ ?? '',
      courses: auditedCourses(deps.db),
      isStaffView: true,
    });
  };
}
