import type { Plugin } from '../../plugin.js';
import { teamHandlers } from './handlers.js';
import { teamRoutes } from './routes.js';

/** Teams for team assignments: formed by students or made by the lecturer, with their own extensions. */
const teams: Plugin = {
  name: 'teams',
  create(deps) {
    const handlers = teamHandlers(deps);
    return { routes: (r) => teamRoutes(r, handlers) };
  },
};

export default teams;
