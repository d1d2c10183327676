import type { Plugin } from '../../plugin.js';
import { createMetrics } from './registry.js';
import { metricsRoutes } from './routes.js';

/** Prometheus metrics at /metrics: loopback, or anyone with LECTERN_METRICS_TOKEN. */
const metrics: Plugin = {
  name: 'metrics',
  needs: ['grading'],
  create(deps) {
    // This app's registry; the grading figures in it read deps.services.grading at scrape time.
    const m = createMetrics(deps);
    return {
      observeRequests: m.observe,
      routes: (r) => metricsRoutes(r, deps, m),
    };
  },
};

export default metrics;
