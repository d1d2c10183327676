import type { AppRouter, Deps } from '../../plugin.js';
import { metricsRefusal } from './access.js';
import { metricsFor } from './registry.js';

export function registerRoutes(router: AppRouter, deps: Deps): void {
  router.get('/metrics', async (ctx) => {
    const refusal = metricsRefusal(ctx.req, { token: deps.config.metricsToken, proxy: deps.config.proxy });
    if (refusal) {
      if (refusal.status === 401) ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
      ctx.throw(refusal.status, refusal.message);
    }
    const { registry } = metricsFor(deps);
    const text = await registry.metrics();
    ctx.set('Cache-Control', 'no-store');
    ctx.type = registry.contentType;
    ctx.body = text;
  });
}
