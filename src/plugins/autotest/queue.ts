import { hostname } from 'node:os';
import type { Db } from '../../db/open.js';
import type { Clock } from '../../lib/clock.js';
import { preparedFor } from '../../db/prepared.js';

/**
 * The grading queue in SQLite. A job row is written in the same transaction as its submission,
 * so a submission never exists without its job. Grading machines take jobs with a lease; a
 * lease that is not renewed (the grader died) expires and the job goes back to the queue.
 * The rows stay the source of truth in every mode: a Redis dispatcher only moves them.
 */
export type JobState = 'queued' | 'running' | 'done' | 'error' | 'cancelled';

export interface Job {
  id: number;
  submissionId: number;
  versionId: number;
  state: JobState;
  priority: number;
  attempts: number;
  maxAttempts: number;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  enqueuedAt: number;
  notBefore: number;
  startedAt: number | null;
  finishedAt: number | null;
  lastError: string | null;
  /** Why the job exists: a student's submission, or a lecturer's re-run. */
  reason: string;
  batch: string | null;
  /** How many times the server died while this job ran (not attempts: a crash is not the job's failure). */
  crashes: number;
}

/**
 * A job running when the server died is run alone afterwards (nothing else grades beside it), so
 * that a later death can be laid at its door. It is set aside for staff once the server has died
 * this many times while it ran alone: with the first, unproven crash, a job survives
 * CRASHES_ALONE_LIMIT deaths of the server and is set aside at the next.
 */
export const CRASHES_ALONE_LIMIT = 3;
export const SET_ASIDE_PREFIX = 'set aside:';

/** Live student submissions first, lecturer re-runs behind them, superseded submissions last. */
export const PRIORITY = { live: 100, rerun: 10, superseded: 0 } as const;

/** The jobs columns as a Job (aliases instead of a row mapper). */
const JOB = `id, submission_id AS submissionId, version_id AS versionId, state, priority, attempts, max_attempts AS maxAttempts,
  lease_owner AS leaseOwner, lease_expires_at AS leaseExpiresAt, enqueued_at AS enqueuedAt, not_before AS notBefore,
  started_at AS startedAt, finished_at AS finishedAt, last_error AS lastError, reason, batch, crashes`;

/** This process as a lease owner: host and pid, so a restarted server can tell a dead owner at once. */
export function processOwner(tag = 'web'): string {
  return `${hostname()}:${process.pid}:${tag}`;
}

export function ownerIsDeadHere(owner: string): boolean {
  const [host, pidText] = owner.split(':');
  if (host !== hostname()) return false;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function statements(db: Db) {
  return {
    insert: db.prepare<{ submissionId: number; versionId: number; priority: number; maxAttempts: number; now: number; reason: string; batch: string | null }>(
      `INSERT INTO jobs (submission_id, version_id, state, priority, attempts, max_attempts, enqueued_at, not_before, reason, batch)
       VALUES (:submissionId, :versionId, 'queued', :priority, 0, :maxAttempts, :now, :now, :reason, :batch)`,
    ),
    supersede: db.prepare<{ assignmentId: number; userId: number; teamId: number | null; keep: number; priority: number }>(
      `UPDATE jobs SET priority = :priority
        WHERE state = 'queued' AND reason = 'submission' AND id <> :keep AND priority > :priority
          AND submission_id IN (SELECT id FROM submissions WHERE assignment_id = :assignmentId
                AND CASE WHEN :teamId IS NULL THEN user_id = :userId AND team_id IS NULL ELSE team_id = :teamId END)`,
    ),
    claimOne: db.prepare<{ owner: string; now: number; leaseUntil: number; alone: number }, Job>(
      // A job suspected of bringing the server down (crashes > 0) is taken only by a grader with
      // nothing else running; the pool then runs nothing beside it.
      `UPDATE jobs SET state = 'running', lease_owner = :owner, lease_expires_at = :leaseUntil,
              attempts = attempts + 1, started_at = :now
        WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND not_before <= :now AND (crashes = 0 OR :alone = 1)
                    ORDER BY priority DESC, id LIMIT 1)
        RETURNING ${JOB}`,
    ),
    claimById: db.prepare<{ id: number; owner: string; now: number; leaseUntil: number }, Job>(
      `UPDATE jobs SET state = 'running', lease_owner = :owner, lease_expires_at = :leaseUntil,
              attempts = attempts + 1, started_at = :now
        WHERE id = :id AND state = 'queued'
        RETURNING ${JOB}`,
    ),
    renew: db.prepare<{ id: number; owner: string; leaseUntil: number }>(
      `UPDATE jobs SET lease_expires_at = :leaseUntil WHERE id = :id AND state = 'running' AND lease_owner = :owner`,
    ),
    finish: db.prepare<{ id: number; owner: string; now: number; state: JobState; error: string | null }>(
      `UPDATE jobs SET state = :state, finished_at = :now, lease_owner = NULL, lease_expires_at = NULL, last_error = :error
        WHERE id = :id AND state = 'running' AND lease_owner = :owner`,
    ),
    retryLater: db.prepare<{ id: number; owner: string; notBefore: number; error: string }>(
      `UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, not_before = :notBefore, last_error = :error
        WHERE id = :id AND state = 'running' AND lease_owner = :owner`,
    ),
    handBack: db.prepare<{ id: number; owner: string }>(
      // Handed back at shutdown: the attempt did not fail, so it does not count.
      `UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, attempts = max(attempts - 1, 0)
        WHERE id = :id AND state = 'running' AND lease_owner = :owner`,
    ),
    running: db.prepare<[], Job>(`SELECT ${JOB} FROM jobs WHERE state = 'running'`),
    requeue: db.prepare<{ id: number; error: string; limit: number; now: number }>(
      // The server (or the grader holding the lease) died: the attempt does not count, the crash
      // does. Past the limit the job is set aside (state error, reason given) for staff to re-run.
      `UPDATE jobs SET crashes = crashes + 1, attempts = max(attempts - 1, 0),
              state = CASE WHEN crashes + 1 > :limit THEN 'error' ELSE 'queued' END,
              finished_at = CASE WHEN crashes + 1 > :limit THEN :now ELSE NULL END,
              lease_owner = NULL, lease_expires_at = NULL,
              last_error = CASE WHEN crashes + 1 > :limit
                THEN '${SET_ASIDE_PREFIX} the server stopped ' || (crashes + 1) || ' times while this job ran, ' || crashes || ' of them with nothing else running. Re-run it once the cause is found.'
                ELSE :error END
        WHERE id = :id AND state = 'running'`,
    ),
    byId: db.prepare<[number], Job>(`SELECT ${JOB} FROM jobs WHERE id = ?`),
    latestForSubmission: db.prepare<[number], Job>(`SELECT ${JOB} FROM jobs WHERE submission_id = ? ORDER BY id DESC LIMIT 1`),
    positionOf: db.prepare<{ id: number; priority: number }, { n: number }>(
      `SELECT count(*) AS n FROM jobs WHERE state = 'queued' AND (priority > :priority OR (priority = :priority AND id < :id))`,
    ),
    statsQuery: db.prepare<[], { queued: number; running: number; oldest: number | null }>(
      `SELECT (SELECT count(*) FROM jobs WHERE state = 'queued') AS queued,
              (SELECT count(*) FROM jobs WHERE state = 'running') AS running,
              (SELECT min(enqueued_at) FROM jobs WHERE state = 'queued') AS oldest`,
    ),
    cancel: db.prepare<{ id: number; now: number }>(`UPDATE jobs SET state = 'cancelled', finished_at = :now WHERE id = :id AND state = 'queued'`),
  };
}

const queueSql = preparedFor(statements);

export type JobQueue = ReturnType<typeof createJobQueue>;

/**
 * One app's queue (the grading service's `queue`): the statements of this database, and the clock.
 */
export function createJobQueue(db: Db, clock: Clock) {
  const sql = queueSql(db);
  return {
    /** Call inside the transaction that writes the submission. */
    enqueue(submissionId: number, versionId: number, options: { priority?: number; maxAttempts?: number; reason?: string; batch?: string } = {}): number {
      const info = sql.insert.run({
        submissionId,
        versionId,
        batch: options.batch ?? null,
        priority: options.priority ?? PRIORITY.live,
        maxAttempts: options.maxAttempts ?? 3,
        now: clock.now(),
        reason: options.reason ?? 'submission',
      });
      return Number(info.lastInsertRowid);
    },
    /** A newer submission by the same student (or team: one queue slot) moves their older queued ones to the back. */
    supersedeOlder(assignmentId: number, userId: number, keepJobId: number, teamId: number | null = null): number {
      return sql.supersede.run({ assignmentId, userId, teamId, keep: keepJobId, priority: PRIORITY.superseded }).changes;
    },
    /**
     * Leases the best queued job (or the given one). `alone`: this grader runs nothing else, so
     * it may take a job suspected of crashing the server. UPDATE ... RETURNING hands back the row
     * before the statement completes: when the write then fails (SQLITE_FULL, SQLITE_BUSY) the
     * error is thrown here, never a row that was not leased.
     */
    claim(owner: string, leaseMs: number, jobId?: number, options: { alone?: boolean } = {}): Job | null {
      const now = clock.now();
      const rows =
        jobId === undefined
          ? sql.claimOne.all({ owner, now, leaseUntil: now + leaseMs, alone: options.alone === false ? 0 : 1 })
          : sql.claimById.all({ id: jobId, owner, now, leaseUntil: now + leaseMs });
      return rows[0] ?? null;
    },
    renew(jobId: number, owner: string, leaseMs: number): boolean {
      return sql.renew.run({ id: jobId, owner, leaseUntil: clock.now() + leaseMs }).changes === 1;
    },
    /** Marks the job finished; false when this owner no longer holds it (then record nothing). */
    finish(jobId: number, owner: string, state: 'done' | 'error', error: string | null = null): boolean {
      return sql.finish.run({ id: jobId, owner, now: clock.now(), state, error }).changes === 1;
    },
    /** An infrastructure failure: try again later, or give up after maxAttempts. */
    fail(job: Job, owner: string, error: string): 'retry' | 'error' {
      if (job.attempts >= job.maxAttempts) {
        sql.finish.run({ id: job.id, owner, now: clock.now(), state: 'error', error });
        return 'error';
      }
      const backoff = Math.min(60_000, 2_000 * 2 ** (job.attempts - 1));
      sql.retryLater.run({ id: job.id, owner, notBefore: clock.now() + backoff, error });
      return 'retry';
    },
    handBack(jobId: number, owner: string): boolean {
      return sql.handBack.run({ id: jobId, owner }).changes === 1;
    },
    /**
     * Running jobs whose lease expired, or whose owner on this host is gone (kill -9, crash),
     * go back to the queue without losing an attempt; a job the server kept dying on is set aside.
     */
    recoverAbandoned(liveOwner?: string): number {
      const now = clock.now();
      let n = 0;
      for (const row of sql.running.all()) {
        // This process's own jobs are not abandoned, even when a lease could not be renewed (full disk).
        if (liveOwner !== undefined && row.leaseOwner === liveOwner) continue;
        const expired = row.leaseExpiresAt === null || row.leaseExpiresAt < now;
        const dead = row.leaseOwner !== null && ownerIsDeadHere(row.leaseOwner);
        if (expired || dead) n += sql.requeue.run({ id: row.id, error: `lease of ${row.leaseOwner ?? 'nobody'} abandoned`, limit: CRASHES_ALONE_LIMIT, now }).changes;
      }
      return n;
    },
    cancel(jobId: number): boolean {
      return sql.cancel.run({ id: jobId, now: clock.now() }).changes === 1;
    },
    get(jobId: number): Job | null {
      return sql.byId.get(jobId) ?? null;
    },
    latestFor(submissionId: number): Job | null {
      return sql.latestForSubmission.get(submissionId) ?? null;
    },
    /** 1-based place in the queue of a queued job; null when it is not waiting. */
    position(job: Job): number | null {
      if (job.state !== 'queued') return null;
      return (sql.positionOf.get({ id: job.id, priority: job.priority })?.n ?? 0) + 1;
    },
    stats(): { queued: number; running: number; oldestQueuedAt: number | null } {
      const s = sql.statsQuery.get()!;
      return { queued: s.queued, running: s.running, oldestQueuedAt: s.oldest };
    },
  };
}
