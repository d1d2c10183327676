import type { Plugin } from '../../plugin.js';
import { startGrading } from './background.js';
import { createGrading, type Grading } from './grading.js';
import { workerCommand } from './run/worker-command.js';

declare module '../../plugin.js' {
  interface Services {
    /** The grading seam (queue, events, status, dispatcher) of src/plugins/autotest/grading.ts. */
    grading: Grading;
  }
}

const autotest: Plugin = {
  name: 'autotest',
  needs: ['submissions'],
  commands: { worker: workerCommand },
  create(deps) {
    return {
      provides: { grading: createGrading(deps) },
      start: () => startGrading(deps),
    };
  },
};

export default autotest;
