import { requireStaff } from '../../lib/auth.js';
import { courseOr404 } from '../../lib/content.js';
import { wantsJson } from '../../middleware/errors.js';
import type { AppRouter, Deps } from '../../plugin.js';
import { currentOr404, type Version } from '../assignments/store.js';
import { describeBytes } from '../assignments/config.js';
import { normaliseSpec, specHash } from './environments.js';
import { getEnvironment, type EnvironmentState } from './store.js';

export interface EnvironmentStatus {
  hash: string;
  state: EnvironmentState | 'unknown';
  progress: string;
  error: string | null;
  size: string | null;
  debian: string[];
  python: string[];
}

/** What the staff page shows of a version's environment; null when it runs on the host's /usr. */
export function environmentStatus(deps: Pick<Deps, 'db'>, version: Version): EnvironmentStatus | null {
  const env = version.config.environment;
  if (!env) return null;
  const hash = specHash(normaliseSpec(env, version.manifest));
  const row = getEnvironment(deps.db, hash);
  return { hash, state: row?.state ?? 'unknown', progress: row?.progress ?? '', error: row?.error ?? null, size: row?.bytes ? describeBytes(row.bytes) : null, debian: env.debian, python: env.python };
}

export function registerRoutes(router: AppRouter, deps: Deps): void {
  router.get('/courses/:course/assignments/:slug/environment', async (ctx) => {
    const course = courseOr404(deps.content, ctx.params.course);
    requireStaff(ctx, course.slug);
    const { assignment, version } = currentOr404(deps.db, course.slug, ctx.params.slug);
    const status = environmentStatus(deps, version);
    const row = status ? getEnvironment(deps.db, status.hash) : null;
    ctx.set('Cache-Control', 'private, no-store');
    if (wantsJson(ctx)) {
      ctx.body = status ? { ...status, log: row?.log ?? '' } : { state: 'none' };
      return;
    }
    ctx.render('environments/environment.njk', { course, slug: assignment.slug, isStaffView: true, status, log: row?.log ?? '', refresh: status?.state === 'building' || status?.state === 'queued' });
  });
}
