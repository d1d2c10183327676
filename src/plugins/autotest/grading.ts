import { EventEmitter } from 'node:events';
import type { Deps } from '../../plugin.js';
import { createJobQueue, PRIORITY, type Job, type JobQueue } from './queue.js';
import { latestResult, type StoredResult } from './store.js';

/**
 * The grading seam. Intake calls enqueue() inside its transaction and notify() after the commit;
 * the dispatcher that actually runs the jobs (the local pool, or a forwarder to Redis workers)
 * subscribes through setDispatcher(). Intake never learns which one is in use.
 */
export interface Dispatcher {
  /** Something was queued in this process. */
  notify(): void;
  /** One line for the lecturer's dashboard, e.g. "4 local graders" or "Redis: delayed". */
  describe(): { mode: string; delayed: boolean; detail: string };
}

export interface Grading {
  queue: JobQueue;
  /** 'job' events (JobEvent) for live pages. */
  events: EventEmitter;
  enqueue(submissionId: number, versionId: number, options?: { priority?: number; reason?: string; batch?: string }): number;
  notify(): void;
  setDispatcher(d: Dispatcher | null): void;
  dispatcher(): Dispatcher | null;
  status(submissionId: number): SubmissionStatus;
  /** Live-status streams open in this process (for metrics and the benchmarks). */
  liveStreams: { open: number };
  /** The queue plan of src/plugins/autotest/forecast.ts, kept briefly. */
  forecastCache: { version: string; second: number; plan: unknown } | null;
}

export interface SubmissionStatus {
  /** waiting: no job yet (should not happen); otherwise the latest job's state. */
  state: Job['state'] | 'none';
  position: number | null;
  result: StoredResult | null;
  jobId: number | null;
}

/** One app's grading state, made by the autotest plugin and offered to the others as the `grading` service. */
export function createGrading(deps: Pick<Deps, 'db' | 'clock'>): Grading {
  const queue = createJobQueue(deps.db, deps.clock);
  const events = new EventEmitter();
  events.setMaxListeners(0);
  let dispatcher: Dispatcher | null = null;
  return {
    queue,
    events,
    enqueue(submissionId, versionId, options = {}) {
      return queue.enqueue(submissionId, versionId, { priority: options.priority ?? PRIORITY.live, reason: options.reason ?? 'submission', ...(options.batch ? { batch: options.batch } : {}) });
    },
    notify() {
      dispatcher?.notify();
    },
    setDispatcher(d) {
      dispatcher = d;
    },
    dispatcher: () => dispatcher,
    liveStreams: { open: 0 },
    forecastCache: null,
    status(submissionId) {
      const job = queue.latestFor(submissionId);
      return { state: job?.state ?? 'none', position: job ? queue.position(job) : null, result: latestResult(deps.db, submissionId), jobId: job?.id ?? null };
    },
  };
}
