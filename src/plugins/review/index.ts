import type { Plugin } from '../../plugin.js';
import { regradeParam } from './policy.js';
import { reviewRoutes } from './routes.js';
import { createReviewService } from './service.js';

/** Manual grading and code review: rubrics, line comments, the final score, release, regrade requests, the grading queue. */
const review: Plugin = {
  name: 'review',
  needs: ['mail', 'grades'],
  create(deps) {
    return {
      provides: { review: createReviewService(deps) },
      params: { rid: regradeParam(deps) },
      // Routes are declared once every plugin is created, so the mail service is there.
      routes: (r) => reviewRoutes(r, deps, deps.services.mail),
    };
  },
};

export default review;
