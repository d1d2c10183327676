import type { Deps } from '../../plugin.js';
import { referencedBlobs } from '../assignments/store.js';
import { blobReferenced } from './store.js';

/**
 * At start-up: a crash between storing blobs and committing the submission leaves blobs nobody
 * references, and an interrupted upload leaves temp files: both go now.
 */
export async function sweepUnreferencedBlobs(deps: Deps): Promise<() => Promise<void>> {
  const bundles = referencedBlobs(deps.db);
  const swept = deps.blobs.sweep((sha) => bundles.has(sha) || blobReferenced(deps.db, sha), 0);
  if (swept.removed) deps.log.info(swept, 'swept unreferenced blobs and temp files');
  return async () => undefined;
}
