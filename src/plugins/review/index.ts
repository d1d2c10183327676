import { fromOldShape, type OldShapePlugin } from '../../core/assemble.js';
import { registerRoutes } from './routes.js';

/** Manual grading and code review: rubrics, line comments, the final score, release, regrade requests, the grading queue. */
const review: OldShapePlugin = {
  name: 'review',
  routes(router, deps) {
    registerRoutes(router, deps);
  },
};

export default fromOldShape(review);
