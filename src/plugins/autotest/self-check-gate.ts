import type { Config } from '../../config.js';
import type { Db } from '../../db/open.js';
import { getSelfCheck } from './self-check-store.js';

/**
 * Where the publish-time self-check of a bundle version runs, if anywhere:
 * - `here`: this process grades (embedded queue, LECTERN_GRADERS > 0) and so checks too;
 * - `elsewhere`: this process grades nothing (LECTERN_GRADERS=0); another process on the same
 *   database that grades takes the check, and until then the version waits;
 * - `remote`: grading runs on `lectern worker` machines (Redis mode): the web server's primary
 *   sends each submission of the check to them as a job and judges the outcomes
 *   (redis-self-check.ts); until then the version waits;
 * - `off`: LECTERN_SELF_CHECK=no: nothing is checked and nothing waits.
 * Sandboxes are only ever started in a process that grades.
 */
export type SelfCheckSite = 'here' | 'elsewhere' | 'remote' | 'off';

export function selfCheckSite(config: Pick<Config, 'selfCheck' | 'queue' | 'graders'>): SelfCheckSite {
  if (!config.selfCheck) return 'off';
  if (config.queue !== 'sqlite') return 'remote';
  return config.graders > 0 ? 'here' : 'elsewhere';
}

/** The check passed, or a lecturer read its warning and confirmed the version. */
export function selfCheckCleared(db: Db, versionId: number): boolean {
  const c = getSelfCheck(db, versionId);
  if (!c) return false;
  if (c.confirmedAt !== null) return true;
  return c.state === 'done' && !c.warning;
}

/**
 * For importBundle: a version becomes current at once only when it has cleared its self-check;
 * otherwise it waits as the pending version while the current one keeps serving students (and
 * grading every job queued meanwhile). Undefined where no self-check will run, so nothing waits.
 */
export function holdUntilChecked(deps: { db: Db; config: Pick<Config, 'selfCheck' | 'queue' | 'graders'> }): ((versionId: number) => boolean) | undefined {
  const site = selfCheckSite(deps.config);
  if (site === 'off') return undefined;
  return (versionId) => !selfCheckCleared(deps.db, versionId);
}
