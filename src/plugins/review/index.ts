import type { Plugin } from '../../plugin.js';
import { createMailer } from '../mail/mailer.js';
import { regradeParam } from './policy.js';
import { reviewRoutes } from './routes.js';
import { createReviewService } from './service.js';

/** Manual grading and code review: rubrics, line comments, the final score, release, regrade requests, the grading queue. */
const review: Plugin = {
  name: 'review',
  create(deps) {
    const mailer = createMailer(deps);
    return {
      provides: { review: createReviewService(deps) },
      params: { rid: regradeParam(deps) },
      routes: (r) => reviewRoutes(r, deps, mailer),
    };
  },
};

export default review;
