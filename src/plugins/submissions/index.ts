import type { Plugin } from '../../plugin.js';
import { submissionParam } from './policy.js';
import { routes } from './routes.js';
import { createSubmissionsService } from './service.js';
import { sweepUnreferencedBlobs } from './sweep.js';

const submissions: Plugin = {
  name: 'submissions',
  needs: ['grading'],
  create(deps) {
    return {
      provides: { submissions: createSubmissionsService(deps.db) },
      params: { id: submissionParam(deps) },
      routes: (r) => routes(r, deps),
      start: () => sweepUnreferencedBlobs(deps),
    };
  },
};

export default submissions;
