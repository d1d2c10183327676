import type { PluginRouter } from '../../core/routes.js';
import type { Deps } from '../../plugin.js';
import { metricsReader } from './policy.js';
import type { Metrics } from './registry.js';

export function metricsRoutes(r: PluginRouter, deps: Deps, metrics: Metrics): void {
  r.get('/metrics', metricsReader(deps.config), async (ctx) => {
    const text = await metrics.registry.metrics();
    ctx.set('Cache-Control', 'no-store');
    ctx.type = metrics.registry.contentType;
    ctx.body = text;
  });
}
