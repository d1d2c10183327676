import type { Job as BullJob, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../../lib/logger.js';
import type { Deps } from '../../plugin.js';
import type { Grading } from './grading.js';
import { recordOutcome } from './pool.js';
import type { Job } from './queue.js';
import { recordBeats, type OutboxRow, type RedisStatements } from './redis-store.js';
import { errorGrade } from './run/grade.js';
import { BULL_OWNER, bullJobId, bullOwner, jobIdOf, WORKERS_SET, workerKey, type GradingPayload, type GradingReturn, type WorkerBeat } from './run/redis-common.js';
import type { RunOutcome } from './run/run.js';
import { insertResult } from './store.js';

/**
 * The reconciler of Redis mode (./redis-dispatcher.ts): what Redis says of each forwarded job
 * (completed, failed, active, waiting, lost) brought into the jobs rows, and the outcomes
 * recorded, each in one transaction with the row's change of state.
 */

/** Lease of a row that a Redis worker runs: renewed by every pass; Redis, not the lease, decides. */
export const REDIS_LEASE_MS = 10 * 60_000;
/** Finished jobs taken from Redis per pass. */
const COLLECT_BATCH = 200;

/** What the dispatcher's parts share: its connections, statements and ways to tell others. */
export interface RedisLink {
  deps: Deps;
  grading: Grading;
  sql: RedisStatements;
  queue: Queue<GradingPayload, GradingReturn>;
  conn: Redis;
  log: Logger;
  /** Tells live pages of a job's new state. */
  emit(jobId: number, submissionId: number, state: Job['state']): void;
  /** Asks for another pass soon. */
  kick(): void;
}

export function createReconciler(link: RedisLink) {
  const { deps, grading, sql, queue, conn, log, emit, kick } = link;

/** Outcome recorded in one transaction with the row's change of state; false when stale. */
function record(jobId: number, ret: GradingReturn): 'recorded' | 'retry' | 'error' | 'stale' {
  return deps.db.transaction(() => {
    let job = grading.queue.get(jobId);
    if (!job || (job.state !== 'queued' && job.state !== 'running')) return 'stale';
    if (job.state === 'queued') job = grading.queue.claim(bullOwner(ret.worker), REDIS_LEASE_MS, jobId);
    if (!job?.leaseOwner) return 'stale';
    const owner = job.leaseOwner;
    if (ret.outcome.infrastructure) {
      const next = grading.queue.fail(job, owner, ret.outcome.grade.problem ?? 'infrastructure failure');
      if (next === 'error') insertResult(deps.db, { jobId, submissionId: job.submissionId, grade: ret.outcome.grade, durationMs: ret.outcome.durationMs, cpuMs: ret.outcome.cpuMs, worker: ret.worker, at: deps.clock.now() });
      else sql.unforward.run({ id: jobId });
      return next;
    }
    return recordOutcome(deps, grading.queue, job, owner, ret.outcome, ret.worker) ? 'recorded' : 'stale';
  })();
}

/** A job that cannot be sent at all is finished here, like the local pool does. */
function finishLocally(row: OutboxRow, problemText: string): void {
  const outcome: RunOutcome = { grade: errorGrade(problemText), durationMs: 0, infrastructure: false };
  deps.db.transaction(() => {
    const job = grading.queue.claim(`${BULL_OWNER}forwarder`, REDIS_LEASE_MS, row.id);
    if (job) recordOutcome(deps, grading.queue, job, job.leaseOwner!, outcome, 'forwarder');
  })();
  log.error({ jobId: row.id, reason: problemText }, 'job cannot be graded');
  emit(row.id, row.submissionId, 'done');
}

async function collect(ids: string[], finished: 'completed' | 'failed'): Promise<void> {
  // Only students' jobs: a self-check's submissions (checkJobId) are read by the self-check loop.
  for (const bullId of ids.filter((id) => jobIdOf(id) !== null).slice(0, COLLECT_BATCH)) {
    const jobId = jobIdOf(bullId)!;
    const row = grading.queue.get(jobId);
    // Not ours: another installation shares this Redis database. Leave its jobs alone.
    if (!row) continue;
    const live = row.state === 'queued' || row.state === 'running';
    if (!live) {
      await queue.remove(bullId);
      continue;
    }
    const bull = (await queue.getJob(bullId)) as BullJob<GradingPayload, GradingReturn> | undefined;
    if (!bull) continue;
    if (finished === 'completed') {
      const given = bull.returnvalue as GradingReturn | null;
      const ret: GradingReturn = given?.outcome?.grade
        ? given
        : { worker: bull.processedBy ?? 'unknown', outcome: { grade: errorGrade('the grading worker returned no outcome'), durationMs: 0, infrastructure: true } };
      // A retry must leave Redis before the row goes back to the outbox, or adding it again would
      // find the old finished job there and do nothing; a result is recorded before it leaves.
      if (ret.outcome.infrastructure) await queue.remove(bullId);
      const what = record(jobId, ret);
      if (!ret.outcome.infrastructure) await queue.remove(bullId);
      log.info({ jobId, worker: ret.worker, status: ret.outcome.grade.status, score: ret.outcome.grade.score, what }, 'graded by a worker');
      emit(jobId, row.submissionId, what === 'retry' ? 'queued' : what === 'error' ? 'error' : 'done');
    } else {
      // The run itself failed (no worker could finish it, or it died too often): an
      // infrastructure failure, retried by our own bounded attempts, like the local pool.
      await queue.remove(bullId);
      const reason = bull.failedReason || 'the grading worker failed';
      const what = record(jobId, { worker: bull.processedBy ?? 'unknown', outcome: { grade: errorGrade(reason), durationMs: 0, infrastructure: true } });
      log.warn({ jobId, reason, what }, 'a worker could not run a job');
      emit(jobId, row.submissionId, what === 'retry' ? 'queued' : 'error');
    }
  }
}

async function reconcile(): Promise<void> {
  // Heartbeats first: the dashboard's list of workers.
  const ids = await conn.smembers(WORKERS_SET);
  const raw = ids.length ? await conn.mget(ids.map(workerKey)) : [];
  const beats: WorkerBeat[] = [];
  const expired: string[] = [];
  raw.forEach((text, i) => {
    if (text) {
      try {
        beats.push(JSON.parse(text) as WorkerBeat);
        return;
      } catch {
        // A malformed beat counts as none.
      }
    }
    expired.push(ids[i]!);
  });
  if (expired.length) await conn.srem(WORKERS_SET, ...expired);
  const { gone } = recordBeats(deps.db, beats, deps.clock.now());
  if (gone.length) log.info({ workers: gone }, 'grading workers left');

  // In the order a job moves (waiting, active, finished), so that a job moving on during these
  // reads is seen at least once; the furthest state wins.
  const waiting = new Set(await queue.getRanges(['waiting', 'prioritized', 'delayed', 'waiting-children']));
  const active = (await queue.getJobs(['active'])).filter((j): j is BullJob<GradingPayload, GradingReturn> => Boolean(j?.id));
  const completed = await queue.getRanges(['completed']);
  const failed = await queue.getRanges(['failed']);
  const finished = new Set([...completed, ...failed]);

  await collect(completed, 'completed');
  await collect(failed, 'failed');

  const activeIds = new Set<string>();
  for (const bull of active) {
    activeIds.add(bull.id!);
    if (finished.has(bull.id!)) continue;
    const jobId = jobIdOf(bull.id);
    if (jobId === null) continue;
    const owner = bullOwner(bull.processedBy);
    const changed = deps.db.transaction(() => {
      const row = grading.queue.get(jobId);
      if (!row) return null;
      if (row.state === 'running' && row.leaseOwner === owner) {
        sql.renew.run({ id: jobId, until: deps.clock.now() + REDIS_LEASE_MS });
        return null;
      }
      // Another worker took it over after a stall: the row follows.
      if (row.state === 'running') sql.backToQueued.run({ id: jobId });
      const claimed = grading.queue.claim(owner, REDIS_LEASE_MS, jobId);
      return claimed ? claimed.submissionId : null;
    })();
    if (changed !== null) emit(jobId, changed, 'running');
  }

  for (const row of sql.forwarded.all()) {
    const bullId = bullJobId(row.id);
    if (finished.has(bullId) || activeIds.has(bullId)) continue;
    if (waiting.has(bullId)) {
      if (row.state === 'running' && sql.backToQueued.run({ id: row.id }).changes) {
        log.info({ jobId: row.id }, 'job is waiting in Redis again (its worker stopped or died)');
        emit(row.id, row.submissionId, 'queued');
      }
      continue;
    }
    // Seen nowhere: it may have moved on during the reads; ask about this one job.
    const state = await queue.getJobState(bullId);
    if (state !== 'unknown') {
      kick();
      continue;
    }
    // Redis lost it (restarted without its data): send it again.
    deps.db.transaction(() => {
      sql.backToQueued.run({ id: row.id });
      sql.unforward.run({ id: row.id });
    })();
    log.warn({ jobId: row.id }, 'job was lost by Redis: forwarding it again');
    if (row.state === 'running') emit(row.id, row.submissionId, 'queued');
  }
}

  return { reconcile, finishLocally };
}
