import type { Config } from '../../config.js';
import { accessRule, type Access } from '../../core/routes.js';
import { metricsRefusal } from './access.js';

/**
 * Who may read /metrics (src/plugins/metrics/access.ts): a peer on loopback, or anyone with the
 * configured bearer token. A wrong token is a 401 that names the scheme; anything else a 403.
 */
export function metricsReader(config: Pick<Config, 'metricsToken' | 'proxy'>): Access {
  return accessRule('loopback or metrics token', (ctx) => {
    const refusal = metricsRefusal(ctx.req, { token: config.metricsToken, proxy: config.proxy });
    if (!refusal) return;
    if (refusal.status === 401) ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
    ctx.throw(refusal.status, refusal.message);
  });
}
