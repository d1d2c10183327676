import { fromOldShape, type OldShapePlugin } from '../../core/assemble.js';
import { startEnvironments } from './manager.js';
import { registerRoutes } from './routes.js';

/** Per-assignment environments: read-only roots built once per distinct spec, in the background. */
const environments: OldShapePlugin = {
  name: 'environments',
  routes(router, deps) {
    registerRoutes(router, deps);
  },
  async start(deps) {
    return startEnvironments(deps);
  },
};

export default fromOldShape(environments);
