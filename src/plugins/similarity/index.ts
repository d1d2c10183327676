import type { Plugin } from '../../plugin.js';
import { similarityHandlers } from './handlers.js';
import { similarityRoutes } from './routes.js';
import { failUnfinished } from './store.js';
import { createWork } from './work.js';

/** Similarity reports of an assignment's submissions, and variant checks of a pair. */
const similarity: Plugin = {
  name: 'similarity',
  create(deps) {
    // This app's background work: reports and checks, one after another.
    const work = createWork(deps);
    const handlers = similarityHandlers(deps, work);
    return {
      routes: (r) => similarityRoutes(r, handlers),
      async start() {
        const n = failUnfinished(deps.db, deps.clock.now());
        if (n) deps.log.info({ reports: n }, 'similarity work left unfinished by the previous process marked as failed');
        return () => work.stop();
      },
    };
  },
};

export default similarity;
