import { Queue, QueueEvents } from 'bullmq';
import type { Deps } from '../../plugin.js';
import type { Grading } from './grading.js';
import type { JobEvent } from './pool.js';
import type { Job } from './queue.js';
import { bullPriority, jobPayload, uploadBlobs } from './redis-payload.js';
import { createReconciler } from './redis-reconcile.js';
import { redisCheckGrader, sweepCheckJobs } from './redis-self-check.js';
import type { CheckGrader } from './self-check.js';
import { listWorkers, redisSql } from './redis-store.js';
import { bullJobId, describeUrl, PREFIX, QUEUE, type GradingPayload, type GradingReturn } from './run/redis-common.js';
import { connect } from './run/redis-connect.js';
import { JobSpecError } from './runner.js';

/**
 * The web server's side of Redis mode: an outbox forwarder and a reconciler.
 *
 * The jobs rows stay the source of truth. Intake writes a queued row as always and never talks to
 * Redis. The forwarder adds queued rows without a forwarded_at mark to BullMQ (job id = our id, so
 * adding twice is harmless) and then marks them. Workers return the outcome as the BullMQ job's
 * return value and the job stays in Redis's completed set until the web server has recorded it in
 * SQLite (the state change and the results row in one transaction; results.job_id is UNIQUE) and
 * only then removes it. A crash between the two records nothing twice: the next pass finds the job
 * still there and the row already finished. Every few seconds (and at once on BullMQ events) the
 * reconciler compares the live rows with Redis: completed -> record, failed -> retry or error,
 * active -> running, waiting -> queued again (a worker died and BullMQ's stalled check put it
 * back), missing (Redis restarted without its data) -> forwarded again.
 *
 * This file holds the connection, the pass loop and the forwarder; the reconciler is
 * ./redis-reconcile.ts and a job's payload ./redis-payload.ts.
 */

/** Jobs forwarded per pass; the next pass follows at once when there were more. */
const FORWARD_BATCH = 50;
/** How often graded self-check submissions that no check reads any more are looked for. */
const SWEEP_MS = 10 * 60_000;
/** An outbox older than this means grading is behind even though Redis answers. */
const OUTBOX_LAG_MS = 30_000;


export interface RedisDispatcher {
  /** Runs one pass now (tests and shutdown use it). */
  sync(): Promise<void>;
  /** Grades self-check submissions on the workers, over this dispatcher's connection (redis-self-check.ts). */
  checkGrader: CheckGrader;
  stop(): Promise<void>;
}

export function startRedisDispatcher(deps: Deps, grading: Grading): RedisDispatcher {
  const log = deps.log.child({ part: 'redis' });
  const url = deps.config.queue;
  const where = describeUrl(url);
  const sql = redisSql(deps.db);
  const conn = connect(url, { failFast: true, name: 'lectern-web' });
  const eventsConn = connect(url, { name: 'lectern-web-events' });
  const queue = new Queue<GradingPayload, GradingReturn>(QUEUE, { connection: conn, prefix: PREFIX });
  const queueEvents = new QueueEvents(QUEUE, { connection: eventsConn, prefix: PREFIX });

  let ready = false;
  let downSince: number | null = deps.clock.now();
  let lastProblem: string | null = null;
  let stopped = false;

  const problem = (what: string, err: unknown) => {
    const message = (err as Error)?.message ?? String(err);
    if (lastProblem !== message) log.warn({ err: message }, what);
    lastProblem = message;
  };
  conn.on('ready', () => {
    ready = true;
    downSince = null;
    lastProblem = null;
    log.info({ redis: where }, 'connected to Redis');
    kick();
  });
  conn.on('close', () => {
    if (ready) log.warn({ redis: where }, 'lost the connection to Redis: submissions wait in the outbox');
    if (downSince === null) downSince = deps.clock.now();
    ready = false;
  });
  conn.on('error', (err) => problem('Redis connection problem', err));
  eventsConn.on('error', () => undefined);
  queue.on('error', (err) => problem('BullMQ queue problem', err));
  queueEvents.on('error', () => undefined);
  for (const e of ['active', 'completed', 'failed', 'waiting', 'stalled'] as const) queueEvents.on(e, () => kick());

  const emit = (jobId: number, submissionId: number, state: Job['state']) => grading.events.emit('job', { jobId, submissionId, state } satisfies JobEvent);

  // Leases of the local pool (sqlite mode before this start) go back to the queue now, as the
  // pool's own start-up would do; rows owned by Redis workers are judged against Redis below.
  for (const { id } of sql.localRunning.all()) sql.requeueLocal.run({ id });

  const { reconcile, finishLocally } = createReconciler({ deps, grading, sql, queue, conn, log, emit, kick });

  async function forward(): Promise<number> {
    const rows = sql.outbox.all({ now: deps.clock.now(), limit: FORWARD_BATCH });
    for (const row of rows) {
      if (stopped || !ready) break;
      const job = grading.queue.get(row.id);
      if (!job || job.state !== 'queued') continue;
      let sent: ReturnType<typeof jobPayload>;
      try {
        sent = jobPayload(deps, job);
      } catch (err) {
        if (err instanceof JobSpecError) {
          finishLocally(row, err.message);
          continue;
        }
        throw err;
      }
      await uploadBlobs(conn, sent.sources);
      await queue.add('grade', sent.payload, {
        jobId: bullJobId(job.id),
        priority: bullPriority(job.priority),
        attempts: 1,
        removeOnComplete: false,
        removeOnFail: false,
      });
      sql.markForwarded.run({ id: job.id, now: deps.clock.now() });
    }
    return rows.length;
  }

  let sweptAt = 0;
  async function tick(): Promise<void> {
    if (!ready) return;
    try {
      await reconcile();
      if ((await forward()) === FORWARD_BATCH) kick();
      if (Date.now() - sweptAt > SWEEP_MS) {
        sweptAt = Date.now();
        const n = await sweepCheckJobs(queue, Date.now());
        if (n) log.info({ removed: n }, 'removed self-check outcomes no check reads');
      }
      lastProblem = null;
    } catch (err) {
      problem('grading pass against Redis failed; trying again shortly', err);
    }
  }

  let again = false;
  let pass: Promise<void> | null = null;
  function kick(): void {
    if (stopped) return;
    again = true;
    if (pass) return;
    pass = (async () => {
      while (again && !stopped) {
        again = false;
        await tick();
      }
      pass = null;
    })();
  }
  const timer = setInterval(kick, deps.config.redisSyncMs);
  timer.unref();

  grading.setDispatcher({
    notify: kick,
    describe() {
      const outbox = sql.outboxStats.get()!;
      const stats = grading.queue.stats();
      const workers = listWorkers(deps).filter((w) => w.alive);
      const slots = workers.reduce((n, w) => n + w.concurrency, 0);
      const waitingHere = `${outbox.n} submission${outbox.n === 1 ? '' : 's'} waiting here`;
      if (!ready) {
        const since = downSince === null ? '' : ` since ${new Date(downSince).toISOString()}`;
        return { mode: 'redis', delayed: true, detail: `Grading is delayed: Redis at ${where} is unreachable${since}; ${waitingHere}, sent on as soon as it is back.` };
      }
      if (outbox.n && outbox.oldest !== null && deps.clock.now() - outbox.oldest > OUTBOX_LAG_MS) {
        return { mode: 'redis', delayed: true, detail: `Grading is delayed: ${waitingHere} to be sent to Redis at ${where}${lastProblem ? ` (${lastProblem})` : ''}.` };
      }
      if (!workers.length && stats.queued + stats.running > 0) {
        return { mode: 'redis', delayed: true, detail: `Grading is delayed: no grading worker is connected to Redis at ${where}; ${stats.queued} job${stats.queued === 1 ? '' : 's'} waiting.` };
      }
      return {
        mode: 'redis',
        delayed: false,
        detail: `${workers.length} worker${workers.length === 1 ? '' : 's'} (${slots} slot${slots === 1 ? '' : 's'}) via Redis at ${where}; ${stats.queued} queued, ${stats.running} running.`,
      };
    },
  });
  kick();

  return {
    checkGrader: redisCheckGrader({ deps, queue, conn, log, where, ready: () => ready }),
    async sync() {
      kick();
      while (pass) await pass;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      grading.setDispatcher(null);
      while (pass) await pass;
      const quit = async (what: { close(): Promise<void> }) => {
        let t: NodeJS.Timeout | undefined;
        await Promise.race([what.close().catch(() => undefined), new Promise((r) => (t = setTimeout(r, 2_000)))]);
        clearTimeout(t);
      };
      await quit(queueEvents);
      await quit(queue);
      conn.disconnect();
      eventsConn.disconnect();
    },
  };
}
