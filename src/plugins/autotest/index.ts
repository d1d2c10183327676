import { PassThrough } from 'node:stream';
import type { AppRouter, Deps, Plugin } from '../../plugin.js';
import { statusFor } from '../submissions/index.js';
import { visibleOf } from '../submissions/policy.js';
import { createGrading, type Grading } from './grading.js';
import type { JobEvent } from './pool.js';
import { startPool } from './pool.js';
import { processOwner } from './queue.js';
import { startSelfChecks } from './self-check.js';
import { selfCheckSite } from './self-check-gate.js';
import { workerCommand } from './worker-command.js';
import { sweepLeftoverSandboxes } from '../../lib/sandbox/sweep.js';
import { sweepRunStudentDirs } from '../../lib/sandbox/sweep-sockets.js';

/** A grader holds a job this long without renewing before another may take it. */
export const LEASE_MS = 60_000;
/** How often idle graders and live pages look at the database for work done by other processes. */
const POLL_MS = 1_000;

export { listWorkers, type WorkerInfo } from './redis-store.js';

declare module '../../plugin.js' {
  interface Services {
    /** The grading seam (queue, events, status, dispatcher) of src/plugins/autotest/grading.ts. */
    grading: Grading;
  }
}

function registerRoutes(router: AppRouter, deps: Deps): void {
  {
    router.get('/courses/:course/submissions/:id/status', async (ctx) => {
      const v = visibleOf(ctx);
      ctx.set('Cache-Control', 'no-store');
      ctx.body = statusFor(deps, v);
    });

    // Server-sent events: the state now, then every change, until the result is there.
    router.get('/courses/:course/submissions/:id/events', async (ctx) => {
      const v = visibleOf(ctx);
      const grading = deps.services.grading;
      const stream = new PassThrough();
      ctx.req.socket.setTimeout(0);
      ctx.req.socket.setNoDelay(true);
      ctx.set('Content-Type', 'text/event-stream; charset=utf-8');
      ctx.set('Cache-Control', 'no-store');
      ctx.set('X-Accel-Buffering', 'no');
      ctx.status = 200;
      ctx.body = stream;

      let last = '';
      let ended = false;
      grading.liveStreams.open++;
      const end = () => {
        if (ended) return;
        ended = true;
        grading.liveStreams.open--;
        clearInterval(poll);
        grading.events.off('job', onJob);
        unsubscribe();
        stream.end();
      };
      const push = () => {
        if (ended) return;
        let status;
        try {
          status = statusFor(deps, v);
        } catch (err) {
          // The database closed under us during shutdown; the browser reconnects.
          ctx.state.log.debug({ err }, 'status read failed in an event stream');
          end();
          return;
        }
        const html = deps.views.render('autotest/status.njk', { status, staff: v.staff, submission: v.submission });
        const payload = JSON.stringify({ state: status.state, position: status.position, html });
        if (payload !== last) {
          last = payload;
          stream.write(`event: status\ndata: ${payload}\n\n`);
        }
        if (status.state === 'done' || status.state === 'error' || status.state === 'cancelled') {
          stream.write('event: end\ndata: {}\n\n');
          end();
        }
      };
      const onJob = (e: JobEvent) => {
        if (e.submissionId === v.submission.id) push();
      };
      // During a restart the browser reconnects to the new process after a second.
      stream.write('retry: 1000\n\n');
      grading.events.on('job', onJob);
      const poll = setInterval(push, POLL_MS);
      const unsubscribe = deps.lifecycle.onClosing(end);
      ctx.req.on('close', end);
      push();
    });
  }
}

async function start(deps: Deps): Promise<() => Promise<void>> {
  {
    const grading = deps.services.grading;
    // Self-checks start sandboxes, so only a process that grades runs them (self-check-gate.ts).
    const stopSelfChecks = selfCheckSite(deps.config) === 'here' ? startSelfChecks(deps) : async () => undefined;
    if (deps.config.queue !== 'sqlite') {
      // Redis mode: workers on other machines hold the jobs, so Redis (not a local lease) says
      // which are abandoned; the dispatcher recovers them itself.
      const { startRedisDispatcher } = await import('./redis-dispatcher.js');
      const dispatcher = startRedisDispatcher(deps, grading);
      return async () => {
        await stopSelfChecks();
        await dispatcher.stop();
      };
    }
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
}

const autotest: Plugin = {
  name: 'autotest',
  commands: { worker: workerCommand },
  create(deps) {
    return {
      provides: { grading: createGrading(deps) },
      legacyRoutes: (router) => registerRoutes(router, deps),
      start: () => start(deps),
    };
  },
};

export default autotest;
