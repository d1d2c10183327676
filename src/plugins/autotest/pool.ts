import type { EventEmitter } from 'node:events';
import type { Deps } from '../../plugin.js';
import type { Job, JobQueue } from './queue.js';
import { errorGrade } from './run/grade.js';
import { JobSpecError, jobSpec, runSpec } from './runner.js';
import type { RunOutcome } from './run/run.js';
import { insertResult } from './store.js';
import { isDatabaseBusy, isStorageFull } from '../../lib/unavailable.js';

/** Emitted as 'job' whenever a job changes state, so live pages can update at once. */
export interface JobEvent {
  jobId: number;
  submissionId: number;
  state: Job['state'];
}

export interface PoolOptions {
  concurrency: number;
  owner: string;
  leaseMs: number;
  /** How often an idle slot looks for work queued by another process. */
  pollMs: number;
}

export interface Pool {
  /** A job was queued in this process: look now instead of at the next poll. */
  wake(): void;
  /** Stops taking jobs; running ones get `graceMs` to finish, then are killed and handed back. */
  stop(graceMs: number): Promise<void>;
  readonly running: number;
}

/**
 * Records the outcome of a job exactly once: the job must still be leased to this owner, and the
 * results row is unique per job; both happen in one transaction.
 */
export function recordOutcome(deps: Pick<Deps, 'db' | 'clock'>, queue: JobQueue, job: Job, owner: string, outcome: RunOutcome, worker: string): boolean {
  return deps.db.transaction(() => {
    if (!queue.finish(job.id, owner, outcome.grade.gradable || !outcome.infrastructure ? 'done' : 'error', outcome.grade.problem)) return false;
    return insertResult(deps.db, { jobId: job.id, submissionId: job.submissionId, grade: outcome.grade, durationMs: outcome.durationMs, cpuMs: outcome.cpuMs, worker, at: deps.clock.now() });
  })();
}

export function startPool(deps: Deps, queue: JobQueue, events: EventEmitter, options: PoolOptions): Pool {
  const { log } = deps;
  let stopping = false;
  // Jobs handed back by an immediate stop, before their sandboxes were gone.
  const handedBack = new Set<number>();
  const active = new Map<number, AbortController>();
  const slots: Array<Promise<void>> = [];
  const waiters = new Set<() => void>();
  // A job suspected of crashing the server runs with nothing beside it (see CRASHES_ALONE_LIMIT).
  let alone: number | null = null;

  const emit = (job: Job, state: Job['state']) => events.emit('job', { jobId: job.id, submissionId: job.submissionId, state } satisfies JobEvent);

  const idle = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, options.pollMs);
      waiters.add(done);
    });

  async function handle(job: Job): Promise<void> {
    const controller = new AbortController();
    active.set(job.id, controller);
    emit(job, 'running');
    const renew = setInterval(() => {
      try {
        if (!queue.renew(job.id, options.owner, options.leaseMs)) controller.abort();
      } catch (err) {
        log.warn({ err, jobId: job.id }, 'could not renew a job lease');
      }
    }, Math.max(1_000, Math.floor(options.leaseMs / 3)));
    try {
      let outcome: RunOutcome;
      try {
        outcome = await runSpec(deps, jobSpec(deps, job), controller.signal);
      } catch (err) {
        if (err instanceof JobSpecError) {
          // The data the job needs is gone: retrying cannot help.
          outcome = { grade: errorGrade(err.message), durationMs: 0, infrastructure: false };
          log.error({ jobId: job.id, reason: err.message }, 'job cannot run');
        } else {
          throw err;
        }
      }
      if (controller.signal.aborted && stopping) {
        if (!handedBack.has(job.id)) {
          queue.handBack(job.id, options.owner);
          log.info({ jobId: job.id }, 'job handed back to the queue at shutdown');
        }
        emit(job, 'queued');
        return;
      }
      if (outcome.infrastructure) {
        const next = queue.fail(job, options.owner, outcome.grade.problem ?? 'infrastructure failure');
        log.warn({ jobId: job.id, attempt: job.attempts, next, problem: outcome.grade.problem?.split('\n')[0] }, 'grading run failed');
        if (next === 'error') {
          insertResult(deps.db, { jobId: job.id, submissionId: job.submissionId, grade: outcome.grade, durationMs: outcome.durationMs, cpuMs: outcome.cpuMs, worker: options.owner, at: deps.clock.now() });
          emit(job, 'error');
        } else {
          emit(job, 'queued');
        }
        return;
      }
      if (await recordWhenPossible(() => recordOutcome(deps, queue, job, options.owner, outcome, options.owner), job)) {
        log.info({ jobId: job.id, submissionId: job.submissionId, status: outcome.grade.status, score: outcome.grade.score, ms: outcome.durationMs }, 'graded');
      } else {
        log.warn({ jobId: job.id }, 'job was no longer ours when it finished: result not recorded');
      }
      emit(job, 'done');
    } catch (err) {
      log.error({ err, jobId: job.id }, 'grading failed unexpectedly');
      try {
        queue.fail(job, options.owner, (err as Error).message);
      } catch (inner) {
        log.error({ err: inner, jobId: job.id }, 'could not put the job back');
      }
      emit(job, 'queued');
    } finally {
      clearInterval(renew);
      active.delete(job.id);
      if (alone === job.id) {
        alone = null;
        for (const done of [...waiters]) done();
      }
    }
  }

  /**
   * A finished run is worth keeping: when the database cannot take the result now (a full disk,
   * a lock held elsewhere) it is tried again with growing pauses, the lease renewed meanwhile,
   * instead of being dropped and the job run again. Gives up only at shutdown (the job is then
   * handed back by the next start's recovery).
   */
  async function recordWhenPossible(record: () => boolean, job: Job): Promise<boolean> {
    let pause = 500;
    for (;;) {
      try {
        return record();
      } catch (err) {
        if (!isStorageFull(err) && !isDatabaseBusy(err)) throw err;
        if (stopping) throw err;
        log.warn({ jobId: job.id, code: (err as { code?: string }).code, retryInMs: pause }, 'could not record a result yet: trying again');
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 30_000);
    }
  }

  let claimPause = 0;
  async function slot(): Promise<void> {
    while (!stopping) {
      let job: Job | null = null;
      if (alone === null) {
        try {
          job = queue.claim(options.owner, options.leaseMs, undefined, { alone: active.size === 0 });
          if (job && job.crashes > 0) {
            alone = job.id;
            log.warn({ jobId: job.id, crashes: job.crashes }, 'the server stopped while this job ran: running it alone');
          }
          claimPause = 0;
        } catch (err) {
          // A full disk or a held lock: the job stays queued. Looked at again with growing pauses,
          // so that a full disk does not make every grader spin and fill the log.
          claimPause = Math.min(Math.max(claimPause * 2, options.pollMs), 60_000);
          log.error({ err, retryInMs: claimPause }, 'could not claim a job');
          await new Promise((resolve) => setTimeout(resolve, claimPause));
          continue;
        }
      }
      if (!job) {
        await idle();
        continue;
      }
      await handle(job);
    }
  }

  for (let i = 0; i < options.concurrency; i++) slots.push(slot());

  return {
    wake() {
      for (const done of [...waiters]) done();
    },
    get running() {
      return active.size;
    },
    async stop(graceMs) {
      stopping = true;
      this.wake();
      if (graceMs <= 0) {
        // A restart must not wait for test runs: the jobs go back to the queue now (the next
        // process runs them), their sandboxes are killed, and the slots get a moment to settle.
        // A sandbox still tearing down when the process exits dies with it (parent-death
        // signal); its run dir is swept at the next start.
        for (const [jobId, c] of active) {
          try {
            if (queue.handBack(jobId, options.owner)) {
              handedBack.add(jobId);
              log.info({ jobId }, 'job handed back to the queue at shutdown');
            }
          } catch (err) {
            log.warn({ err, jobId }, 'could not hand a job back: the next start recovers it');
          }
          c.abort();
        }
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([Promise.all(slots), new Promise((r) => (timer = setTimeout(r, 250)))]);
        clearTimeout(timer);
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      const all = Promise.all(slots);
      const finished = await Promise.race([all.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs)))]);
      clearTimeout(timer);
      if (!finished) {
        log.info({ running: active.size }, 'grace time over: stopping running jobs and handing them back');
        for (const c of active.values()) c.abort();
        await all;
      }
    },
  };
}
