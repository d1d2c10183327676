import type { Deps } from '../../plugin.js';
import { startPool } from './pool.js';
import { processOwner } from './queue.js';
import { startSelfChecks } from './self-check.js';
import { selfCheckSite } from './self-check-gate.js';
import { sweepLeftoverSandboxes } from '../../lib/sandbox/sweep.js';
import { sweepRunStudentDirs } from '../../lib/sandbox/sweep-sockets.js';

/** A grader holds a job this long without renewing before another may take it. */
export const LEASE_MS = 60_000;
/** How often idle graders and live pages look at the database for work done by other processes. */
export const POLL_MS = 1_000;

/**
 * The autotest plugin's background work: in SQLite mode the local grader pool (after sweeping what
 * a dead server left behind) and the lease sweeper; in Redis mode the dispatcher; self-checks of
 * new bundle versions where this process grades or, in Redis mode, sends them to the workers. Returns its stop.
 */
export async function startGrading(deps: Deps): Promise<() => Promise<void>> {
  const grading = deps.services.grading;
  if (deps.config.queue !== 'sqlite') {
    // Redis mode: workers on other machines hold the jobs, so Redis (not a local lease) says
    // which are abandoned; the dispatcher recovers them itself. Self-checks are graded on those
    // workers too, sent and read by this process (the primary: start() runs only there).
    const { startRedisDispatcher } = await import('./redis-dispatcher.js');
    const dispatcher = startRedisDispatcher(deps, grading);
    const stopSelfChecks = selfCheckSite(deps.config) === 'remote' ? startSelfChecks(deps, dispatcher.checkGrader) : async () => undefined;
    return async () => {
      await stopSelfChecks();
      await dispatcher.stop();
    };
  }
  // Self-checks start sandboxes, so only a process that grades runs them (self-check-gate.ts).
  const stopSelfChecks = selfCheckSite(deps.config) === 'here' ? startSelfChecks(deps) : async () => undefined;
  // Sandboxes of a server that died (kill -9, a crash) go before their jobs run again.
  await sweepLeftoverSandboxes(deps.log);
  await sweepRunStudentDirs(deps.log);
  const recovered = grading.queue.recoverAbandoned();
  if (recovered) deps.log.info({ recovered }, 'jobs of a previous process went back to the queue');
  if (deps.config.graders === 0) return stopSelfChecks;
  const owner = processOwner('web');
  const pool = startPool(deps, grading.queue, grading.events, { concurrency: deps.config.graders, owner, leaseMs: LEASE_MS, pollMs: POLL_MS });
  grading.setDispatcher({
    notify: () => pool.wake(),
    describe: () => ({ mode: 'local', delayed: false, detail: `${deps.config.graders} grader${deps.config.graders === 1 ? '' : 's'} on this machine` }),
  });
  // Leases of graders that died elsewhere (another process on this box) come back periodically.
  const sweeper = setInterval(() => {
    try {
      const n = grading.queue.recoverAbandoned(owner);
      if (n) {
        deps.log.info({ recovered: n }, 'abandoned jobs went back to the queue');
        pool.wake();
      }
    } catch (err) {
      deps.log.warn({ err }, 'could not recover abandoned jobs');
    }
  }, LEASE_MS / 2);
  sweeper.unref();
  // Jobs are handed back as soon as the drain begins, not after it: nothing of grading holds a restart.
  const unsubscribe = deps.lifecycle.onClosing(() => void pool.stop(0));
  return async () => {
    unsubscribe();
    await stopSelfChecks();
    clearInterval(sweeper);
    grading.setDispatcher(null);
    // Running jobs are handed back at once (not counted as attempts) rather than finished: the
    // next process starts them again, and a restart never keeps the site down for a test run's
    // length (docs/faults.md).
    await pool.stop(0);
  };
}
