import type { EventEmitter } from 'node:events';
import type { Deps } from '../../plugin.js';
import type { Job, JobQueue } from './queue.js';
import { errorGrade } from './results.js';
import { JobSpecError, jobSpec, runSpec, type RunOutcome } from './runner.js';
import { insertResult } from './store.js';

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
  const active = new Map<number, AbortController>();
  const slots: Array<Promise<void>> = [];
  const waiters = new Set<() => void>();

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
        queue.handBack(job.id, options.owner);
        log.info({ jobId: job.id }, 'job handed back to the queue at shutdown');
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
      if (recordOutcome(deps, queue, job, options.owner, outcome, options.owner)) {
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
    }
  }

  async function slot(): Promise<void> {
    while (!stopping) {
      let job: Job | null = null;
      try {
        job = queue.claim(options.owner, options.leaseMs);
      } catch (err) {
        log.error({ err }, 'could not claim a job');
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
