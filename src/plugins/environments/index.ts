import type { Plugin } from '../../plugin.js';
import { EnvironmentBuilds, startEnvironments, useEnvironmentOf } from './manager.js';
import { environmentRoutes } from './routes.js';
import type { EnvironmentService } from './service.js';
import { environmentStatus } from './status.js';

/** Per-assignment environments: read-only roots built once per distinct spec, in the background. */
const environments: Plugin = {
  name: 'environments',
  create(deps) {
    const builds = new EnvironmentBuilds();
    const service: EnvironmentService = {
      kick: () => builds.kick(),
      status: (version) => environmentStatus(deps.db, version),
      use: (version, signal) => useEnvironmentOf(deps, builds, version, signal),
    };
    return {
      provides: { environments: service },
      routes: (r) => environmentRoutes(r, deps),
      start: async () => startEnvironments(deps, builds),
    };
  },
};

export default environments;
