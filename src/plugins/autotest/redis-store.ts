import type { Db } from '../../db/open.js';
import { preparedFor } from '../../db/prepared.js';
import type { Deps } from '../../plugin.js';
import { BULL_OWNER, HEARTBEAT_TTL_MS, type WorkerBeat } from './run/redis-common.js';

/** The SQL of Redis mode: the outbox mark on jobs rows, and the mirror of worker heartbeats. */
export interface OutboxRow {
  id: number;
  submissionId: number;
  versionId: number;
  state: 'queued' | 'running';
  priority: number;
  leaseOwner: string | null;
  forwardedAt: number | null;
}

/** What a worker said in its last heartbeat, with when this server first and last heard it. */
export interface WorkerInfo extends Omit<WorkerBeat, 'at'> {
  firstSeen: number;
  lastSeen: number;
  /** Heartbeat seen within the last few seconds. */
  alive: boolean;
}

const OUTBOX = 'id, submission_id AS submissionId, version_id AS versionId, state, priority, lease_owner AS leaseOwner, forwarded_at AS forwardedAt';
const owned = `substr(lease_owner, 1, ${BULL_OWNER.length}) = '${BULL_OWNER}'`;

function statements(db: Db) {
  return {
    outbox: db.prepare<{ now: number; limit: number }, OutboxRow>(
      `SELECT ${OUTBOX} FROM jobs
        WHERE state = 'queued' AND forwarded_at IS NULL AND not_before <= :now
        ORDER BY priority DESC, id LIMIT :limit`,
    ),
    outboxStats: db.prepare<[], { n: number; oldest: number | null }>(`SELECT count(*) AS n, min(enqueued_at) AS oldest FROM jobs WHERE state = 'queued' AND forwarded_at IS NULL`),
    forwarded: db.prepare<[], OutboxRow>(
      `SELECT ${OUTBOX} FROM jobs
        WHERE forwarded_at IS NOT NULL AND state IN ('queued', 'running') ORDER BY id`,
    ),
    markForwarded: db.prepare<{ id: number; now: number }>(`UPDATE jobs SET forwarded_at = :now WHERE id = :id AND state = 'queued' AND forwarded_at IS NULL`),
    unforward: db.prepare<{ id: number }>(`UPDATE jobs SET forwarded_at = NULL WHERE id = :id`),
    // A worker died or handed the job back: BullMQ has it waiting again. The attempt is not
    // counted here; BullMQ's stalled limit bounds how often that may happen.
    backToQueued: db.prepare<{ id: number }>(
      `UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, attempts = max(attempts - 1, 0)
        WHERE id = :id AND state = 'running' AND ${owned}`,
    ),
    renew: db.prepare<{ id: number; until: number }>(`UPDATE jobs SET lease_expires_at = :until WHERE id = :id AND state = 'running' AND ${owned}`),
    // Leases of the local pool (this install ran in sqlite mode before): back to the queue, as at
    // any start-up; the Redis ones are judged against Redis instead.
    localRunning: db.prepare<[], { id: number }>(`SELECT id FROM jobs WHERE state = 'running' AND (lease_owner IS NULL OR NOT ${owned})`),
    requeueLocal: db.prepare<{ id: number }>(
      `UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'error' ELSE 'queued' END,
              lease_owner = NULL, lease_expires_at = NULL, last_error = 'lease of ' || coalesce(lease_owner, 'nobody') || ' abandoned'
        WHERE id = :id AND state = 'running'`,
    ),
    upsertWorker: db.prepare<{ id: string; host: string; pid: number; concurrency: number; running: number; jobs_done: number; sandbox: string; started_at: number; now: number }>(
      `INSERT INTO workers (id, host, pid, concurrency, running, jobs_done, sandbox, started_at, first_seen, last_seen)
       VALUES (:id, :host, :pid, :concurrency, :running, :jobs_done, :sandbox, :started_at, :now, :now)
       ON CONFLICT (id) DO UPDATE SET host = :host, pid = :pid, concurrency = :concurrency, running = :running,
         jobs_done = :jobs_done, sandbox = :sandbox, started_at = :started_at, last_seen = :now, gone_at = NULL`,
    ),
    workerGone: db.prepare<{ id: string; now: number }>(`UPDATE workers SET gone_at = :now, running = 0 WHERE id = :id AND gone_at IS NULL`),
    liveWorkerIds: db.prepare<[], { id: string }>(`SELECT id FROM workers WHERE gone_at IS NULL`),
    listWorkers: db.prepare<{ since: number }, Omit<WorkerInfo, 'alive'> & { goneAt: number | null }>(
      `SELECT id, host, pid, concurrency, running, jobs_done AS jobsDone, sandbox, started_at AS startedAt, first_seen AS firstSeen, last_seen AS lastSeen, gone_at AS goneAt FROM workers WHERE last_seen >= :since ORDER BY gone_at IS NOT NULL, host, id`),
    forgetWorkers: db.prepare<{ before: number }>(`DELETE FROM workers WHERE last_seen < :before`),
  };
}

export const redisSql = preparedFor(statements);
export type RedisStatements = ReturnType<typeof statements>;

export function recordBeats(db: Db, beats: WorkerBeat[], now: number): { gone: string[] } {
  const sql = redisSql(db);
  return db.transaction(() => {
    const seen = new Set<string>();
    for (const b of beats) {
      seen.add(b.id);
      sql.upsertWorker.run({ id: b.id, host: b.host, pid: b.pid, concurrency: b.concurrency, running: b.running, jobs_done: b.jobsDone, sandbox: b.sandbox, started_at: b.startedAt, now });
    }
    const gone: string[] = [];
    for (const { id } of sql.liveWorkerIds.all()) {
      if (!seen.has(id) && sql.workerGone.run({ id, now }).changes) gone.push(id);
    }
    // A worker not seen for a week is history.
    sql.forgetWorkers.run({ before: now - 7 * 24 * 3600_000 });
    return { gone };
  })();
}

/**
 * The grading workers for the lecturer's dashboard: those seen in the last day, live ones first.
 * Empty in sqlite mode (grading then runs inside the web server).
 */
export function listWorkers(deps: Pick<Deps, 'db' | 'clock'>): WorkerInfo[] {
  const now = deps.clock.now();
  return redisSql(deps.db)
    .listWorkers.all({ since: now - 24 * 3600_000 })
    .map(({ goneAt, ...w }) => ({ ...w, alive: goneAt === null && now - w.lastSeen <= HEARTBEAT_TTL_MS * 2 }));
}
