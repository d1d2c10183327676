import { readFile } from 'node:fs/promises';
import { Queue, QueueEvents, type Job as BullJob } from 'bullmq';
import type { Deps } from '../../plugin.js';
import { getVersion } from '../assignments/store.js';
import type { Grading } from './grading.js';
import type { JobEvent } from './pool.js';
import { recordOutcome } from './pool.js';
import { errorGrade } from './run/grade.js';
import { layoutNeeds } from './run/layouts.js';
import type { Job } from './queue.js';
import {
  BLOB_TTL_S,
  blobKey,
  BULL_OWNER,
  bullJobId,
  bullOwner,
  describeUrl,
  jobIdOf,
  PREFIX,
  QUEUE,
  WORKERS_SET,
  workerKey,
  type GradingPayload,
  type GradingReturn,
  type PayloadFile,
  type WorkerBeat,
} from './run/redis-common.js';
import { connect } from './run/redis-connect.js';
import { listWorkers, recordBeats, redisSql, type OutboxRow } from './redis-store.js';
import { JobSpecError, jobSpec, type RunOutcome } from './runner.js';
import { insertResult } from './store.js';

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
 */

/** Lease of a row that a Redis worker runs: renewed by every pass; Redis, not the lease, decides. */
const REDIS_LEASE_MS = 10 * 60_000;
/** Jobs forwarded per pass; the next pass follows at once when there were more. */
const FORWARD_BATCH = 50;
/** Finished jobs taken from Redis per pass. */
const COLLECT_BATCH = 200;
/** An outbox older than this means grading is behind even though Redis answers. */
const OUTBOX_LAG_MS = 30_000;

/** Lower numbers run first in BullMQ; ours are higher-first. */
const bullPriority = (priority: number) => 1 + Math.max(0, Math.min(2_000_000, 1000 - priority));

export interface RedisDispatcher {
  /** Runs one pass now (tests and shutdown use it). */
  sync(): Promise<void>;
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
    emit(row.id, row.submission_id, 'done');
  }

  async function collect(ids: string[], finished: 'completed' | 'failed'): Promise<void> {
    for (const bullId of ids.slice(0, COLLECT_BATCH)) {
      const jobId = jobIdOf(bullId);
      if (jobId === null) continue;
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
          emit(row.id, row.submission_id, 'queued');
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
      if (row.state === 'running') emit(row.id, row.submission_id, 'queued');
    }
  }

  /** Stores the file contents under their sha256 (once per content), renewing those already there. */
  async function uploadBlobs(files: Array<{ sha256: string; source: string }>): Promise<void> {
    const unique = [...new Map(files.map((f) => [f.sha256, f])).values()];
    if (!unique.length) return;
    const renewed = await conn.pipeline(unique.map((f) => ['expire', blobKey(f.sha256), String(BLOB_TTL_S)])).exec();
    for (const [i, f] of unique.entries()) {
      const [err, n] = renewed?.[i] ?? [null, 0];
      if (err) throw err;
      if (n === 1) continue;
      await conn.set(blobKey(f.sha256), await readFile(f.source), 'EX', BLOB_TTL_S);
    }
  }

  async function forward(): Promise<number> {
    const rows = sql.outbox.all({ now: deps.clock.now(), limit: FORWARD_BATCH });
    for (const row of rows) {
      if (stopped || !ready) break;
      const job = grading.queue.get(row.id);
      if (!job || job.state !== 'queued') continue;
      let payload: GradingPayload;
      const sources: Array<{ sha256: string; source: string }> = [];
      try {
        const spec = jobSpec(deps, job);
        const version = getVersion(deps.db, spec.versionId);
        if (!version) throw new JobSpecError(`bundle version ${spec.versionId} is missing`);
        const files: PayloadFile[] = spec.files.map((f) => ({ path: f.name, sha256: f.sha256, size: f.size, mode: 0o644 }));
        const layout = spec.run?.layout ?? 'lectern';
        // Remote workers build the environment themselves: they get the files its build reads.
        const envInputs = new Set(Object.keys(spec.run?.environmentSpec?.inputs ?? {}));
        const tests: PayloadFile[] = version.manifest.filter((e) => layoutNeeds(layout, e.path) || envInputs.has(e.path)).map((e) => ({ path: e.path, sha256: e.sha256, size: e.size, mode: e.mode }));
        const bytes = [...files, ...tests].reduce((n, f) => n + f.size, 0);
        if (bytes > deps.config.redisPayloadBytes) {
          throw new JobSpecError(
            `the submission and the bundle's tests/ are ${bytes} bytes together, more than the ${deps.config.redisPayloadBytes} bytes a job may carry to a grading worker (LECTERN_REDIS_PAYLOAD_BYTES)`,
          );
        }
        for (const f of [...files, ...tests]) sources.push({ sha256: f.sha256, source: deps.blobs.path(f.sha256) });
        payload = {
          v: 1,
          jobId: job.id,
          submissionId: job.submissionId,
          bundleHash: version.contentHash,
          files,
          tests,
          params: spec.params,
          command: spec.command,
          limits: spec.limits,
          points: spec.points,
          defaultVisibility: spec.defaultVisibility,
          ...(spec.plan ? { plan: spec.plan } : {}),
          ...(spec.run ? { run: spec.run } : {}),
        };
      } catch (err) {
        if (err instanceof JobSpecError) {
          finishLocally(row, err.message);
          continue;
        }
        throw err;
      }
      await uploadBlobs(sources);
      await queue.add('grade', payload, {
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

  async function tick(): Promise<void> {
    if (!ready) return;
    try {
      await reconcile();
      if ((await forward()) === FORWARD_BATCH) kick();
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
