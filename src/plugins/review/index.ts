import type { Plugin } from '../../plugin.js';
import { registerRoutes } from './routes.js';

/** Manual grading and code review: rubrics, line comments, the final score, release, regrade requests, the grading queue. */
const review: Plugin = {
  name: 'review',
  routes(router, deps) {
    registerRoutes(router, deps);
  },
};

export default review;
