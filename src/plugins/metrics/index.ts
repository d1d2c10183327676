import { fromOldShape, type OldShapePlugin } from '../../core/assemble.js';
import { metricsFor } from './registry.js';
import { registerRoutes } from './routes.js';

/** Prometheus metrics at /metrics: loopback, or anyone with LECTERN_METRICS_TOKEN. */
const metrics: OldShapePlugin = {
  name: 'metrics',
  observeRequests: (deps) => metricsFor(deps).observe,
  routes: registerRoutes,
};

export default fromOldShape(metrics);
