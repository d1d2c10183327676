import { wantsJson } from '../../../core/http.js';
import type { RouteMiddleware } from '../../../core/routes.js';
import type { Deps } from '../../../plugin.js';
import { durationText } from '../../autotest/forecast.js';
import { dashboardData } from '../dashboard.js';
import { age } from '../../../lib/format.js';
import { courseOf, isLecturer } from '../policy.js';

/** The course dashboard: its data (dashboard.ts) as JSON, or rendered. */
export function dashboardPage(deps: Deps): RouteMiddleware {
  return async (ctx) => {
    const course = courseOf(ctx);
    const data = await dashboardData(deps, course);
    ctx.set('Cache-Control', 'no-store');
    if (wantsJson(ctx)) {
      ctx.body = data;
      return;
    }
    ctx.render('gradebook/dashboard.njk', {
      ...data,
      course,
      isLecturer: isLecturer(ctx),
      isStaffView: true,
      oldestAge: data.queue.oldestAgeMs === null ? null : age(data.queue.oldestAgeMs),
      drainText: data.queue.drainMs === null ? null : durationText(data.queue.drainMs),
    });
  };
}
