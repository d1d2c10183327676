import type { Plugin } from '../../plugin.js';
import { metricsFor } from './registry.js';
import { registerRoutes } from './routes.js';

/** Prometheus metrics at /metrics: loopback, or anyone with LECTERN_METRICS_TOKEN. */
const metrics: Plugin = {
  name: 'metrics',
  observeRequests: (deps) => metricsFor(deps).observe,
  routes: registerRoutes,
};

export default metrics;
