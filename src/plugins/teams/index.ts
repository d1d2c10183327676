import { fromOldShape, type OldShapePlugin } from '../../core/assemble.js';
import { registerTeamRoutes } from './routes.js';

const teams: OldShapePlugin = {
  name: 'teams',
  routes(router, deps) {
    registerTeamRoutes(router, deps);
  },
};

export default fromOldShape(teams);
