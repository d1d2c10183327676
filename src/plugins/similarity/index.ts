import type { Deps } from '../../plugin.js';
import { fromOldShape, type OldShapePlugin } from '../../core/assemble.js';
import { registerSimilarityRoutes } from './routes.js';
import { failUnfinished } from './store.js';
import { createWork, type SimilarityWork } from './work.js';

const workByDeps = new WeakMap<Deps, SimilarityWork>();
/** One background worker per app (several apps share a process in tests). */
export function similarityWork(deps: Deps): SimilarityWork {
  let w = workByDeps.get(deps);
  if (!w) {
    w = createWork(deps);
    workByDeps.set(deps, w);
  }
  return w;
}

const similarity: OldShapePlugin = {
  name: 'similarity',
  routes(router, deps) {
    registerSimilarityRoutes(router, deps, similarityWork(deps));
  },
  async start(deps) {
    const n = failUnfinished(deps.db, deps.clock.now());
    if (n) deps.log.info({ reports: n }, 'similarity work left unfinished by the previous process marked as failed');
    return async () => {
      await similarityWork(deps).stop();
    };
  },
};

export default fromOldShape(similarity);
