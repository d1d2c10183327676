import type { Plugin } from '../../plugin.js';
import { registerTeamRoutes } from './routes.js';

const teams: Plugin = {
  name: 'teams',
  routes(router, deps) {
    registerTeamRoutes(router, deps);
  },
};

export default teams;
