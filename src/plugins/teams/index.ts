import type { Plugin } from '../../plugin.js';
import { teamHandlers } from './handlers.js';
import { teamRoutes } from './routes.js';

/** Teams for team assignments: formed by students or made by the lecturer, with their own extensions. */
const teams: Plugin = {
  name: 'teams',
  needs: ['mail'],
  create(deps) {
    // Handlers are made when routes are declared, once every plugin (mail among them) is created.
    return { routes: (r) => teamRoutes(r, teamHandlers(deps)) };
  },
};

export default teams;
