import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FolderPublisher } from '../../../lib/publish-dir.js';
import { WaitingError, Worker, type Job as BullJob } from 'bullmq';
import type { Config } from '../../../config.js';
import type { Logger } from '../../../lib/logger.js';
import type { Sandbox, SandboxInput } from '../../../lib/sandbox/types.js';
import {
  blobKey,
  describeUrl,
  HEARTBEAT_MS,
  HEARTBEAT_TTL_MS,
  PREFIX,
  QUEUE,
  WORKERS_SET,
  workerKey,
  type GradingPayload,
  type GradingReturn,
  type PayloadFile,
  type WorkerBeat,
} from './redis-common.js';
import { connect } from './redis-connect.js';
import { runPrepared, type RunOutcome } from './run.js';
import { environmentRoot, environmentsDir, EnvironmentUnavailable, specHash, unreachable } from '../../environments/environments.js';
import { BuildError, buildEnvironment, sweepBuilds } from '../../environments/builder.js';
import { errorGrade } from './grade.js';

/**
 * `lectern worker`: takes grading jobs from Redis, runs them in this machine's sandbox and hands
 * the outcome back as the BullMQ job's return value. It has no database: the payload names every
 * file by sha256 and the bytes wait in Redis (the tests of a bundle version once, for all jobs).
 */
export interface WorkerDeps {
  config: Config;
  log: Logger;
  sandbox: Sandbox;
  /** Where files of running jobs and unpacked tests/ folders live on this machine. */
  cacheDir: string;
  /** Told of each run (the worker's own /metrics), when it serves them. */
  metrics?: { jobStarted(): void; jobFinished(status: string, seconds: number): void };
}

export interface RunningWorker {
  id: string;
  /** Stops taking jobs; running ones get `graceMs` to finish, then are stopped and handed back. */
  stop(graceMs: number): Promise<void>;
}

/** Unpacked tests/ folders and built environments not used for this long are removed at start-up. */
const TESTS_KEEP_MS = 7 * 24 * 3600_000;
/** How long a failed environment build answers for its hash before a job tries it again. */
const FAILED_BUILD_KEEP_MS = 10 * 60_000;

class PayloadError extends Error {}

function safeRelative(p: string): string {
  const parts = p.split('/');
  if (!p || p.startsWith('/') || parts.some((s) => s === '' || s === '.' || s === '..')) throw new PayloadError(`unsafe path in the job payload: ${JSON.stringify(p)}`);
  return p;
}

export async function startWorker(deps: WorkerDeps): Promise<RunningWorker> {
  const { config, log, sandbox } = deps;
  const id = `${config.workerName}:${process.pid}`;
  const startedAt = Date.now();
  const jobsDir = path.join(deps.cacheDir, 'jobs');
  const testsRoot = path.join(deps.cacheDir, 'tests');
  await mkdir(jobsDir, { recursive: true, mode: 0o755 });
  await mkdir(testsRoot, { recursive: true, mode: 0o755 });
  // Files of jobs a killed worker left behind.
  for (const name of await readdir(jobsDir)) await rm(path.join(jobsDir, name), { recursive: true, force: true });
  for (const name of await readdir(testsRoot)) {
    const st = await stat(path.join(testsRoot, name)).catch(() => null);
    if (st && Date.now() - st.mtimeMs > TESTS_KEEP_MS) await rm(path.join(testsRoot, name), { recursive: true, force: true });
  }
  // Builds a killed worker cut off, and environments no job has used for a week (no database here
  // says which versions are current: a job that needs one again builds it again).
  const envDir = environmentsDir(deps.cacheDir);
  await sweepBuilds(envDir);
  for (const name of await readdir(envDir).catch(() => [] as string[])) {
    const st = await stat(path.join(envDir, name)).catch(() => null);
    if (st && /^[0-9a-f]{64}$/.test(name) && Date.now() - st.mtimeMs > TESTS_KEEP_MS) await rm(path.join(envDir, name), { recursive: true, force: true });
  }

  const conn = connect(config.queue, { name: `lectern-worker ${id}` });
  const workerConn = connect(config.queue, { name: `lectern-worker ${id} jobs` });
  let lastProblem = '';
  const problem = (what: string) => (err: unknown) => {
    const message = (err as Error)?.message ?? String(err);
    if (message !== lastProblem) log.warn({ err: message }, what);
    lastProblem = message;
  };
  conn.on('error', problem('Redis connection problem'));
  workerConn.on('error', () => undefined);
  conn.on('ready', () => {
    lastProblem = '';
    log.info({ redis: describeUrl(config.queue), worker: id }, 'connected to Redis');
    void beat();
  });

  let running = 0;
  let jobsDone = 0;
  let stopping = false;
  const active = new Map<string, AbortController>();

  async function beat(): Promise<void> {
    if (stopping || conn.status !== 'ready') return;
    const b: WorkerBeat = { id, host: config.workerName, pid: process.pid, concurrency: config.workerConcurrency, running, jobsDone, sandbox: sandbox.describe(), startedAt, at: Date.now() };
    try {
      await conn.multi().set(workerKey(id), JSON.stringify(b), 'PX', HEARTBEAT_TTL_MS).sadd(WORKERS_SET, id).exec();
    } catch (err) {
      problem('heartbeat failed')(err);
    }
  }
  const heartbeat = setInterval(() => void beat(), HEARTBEAT_MS);

  async function fetchBlob(sha256: string): Promise<Buffer> {
    const buf = await conn.getBuffer(blobKey(sha256));
    // Redis lost it (restarted without its data) or it expired: the web server sends it again
    // when the job comes back to it as failed.
    if (!buf) throw new PayloadError(`file ${sha256.slice(0, 12)} of the job is not in Redis any more`);
    const got = createHash('sha256').update(buf).digest('hex');
    if (got !== sha256) throw new PayloadError(`file ${sha256.slice(0, 12)} of the job arrived damaged`);
    return buf;
  }

  async function writeTree(root: string, files: PayloadFile[]): Promise<void> {
    for (const f of files) {
      const file = path.join(root, ...safeRelative(f.path).split('/'));
      await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
      await writeFile(file, await fetchBlob(f.sha256));
      await chmod(file, f.mode === 0o755 ? 0o755 : 0o644);
    }
  }

  /** One unpacked tests/ per bundle version, shared by all its jobs (written once, then renamed). */
  const testFolders = new FolderPublisher();
  function testsFor(p: GradingPayload): Promise<string> {
    if (!/^[0-9a-f]{64}$/.test(p.bundleHash)) return Promise.reject(new PayloadError('the job payload names no bundle version'));
    const now = new Date();
    // An existing folder is marked used, so the cleanup by age keeps it.
    return testFolders.publish(path.join(testsRoot, p.bundleHash), (tmp) => writeTree(tmp, p.tests), (dir) => utimes(dir, now, now));
  }

  /**
   * The job's environment, built here by its hash the first time (one build per hash at a time).
   * A failed build is remembered for a while: every job of a broken environment would otherwise
   * run the whole build again (a Debian one takes minutes) only to fail the same way.
   */
  const building = new Map<string, Promise<string>>();
  // Builds stop with the jobs at the end of the grace time; their jobs are then handed back.
  const stopBuilds = new AbortController();
  const failedBuilds = new Map<string, { error: BuildError; until: number }>();
  async function environmentFor(run: NonNullable<GradingPayload['run']>, bundleDir: string | null): Promise<{ root: string; built: boolean }> {
    const hash = run.environment!;
    let root: string | null = null;
    let built = false;
    try {
      root = await environmentRoot(deps.cacheDir, hash);
    } catch {
      // Not built on this machine yet.
    }
    if (!root) {
      if (!run.environmentSpec || specHash(run.environmentSpec) !== hash) throw new PayloadError('the job names an environment without the spec it is built from');
      const failed = failedBuilds.get(hash);
      if (failed && failed.until > Date.now()) throw failed.error;
      let pending = building.get(hash);
      if (!pending) {
        pending = (async () => {
          log.info({ hash }, 'building an environment for grading');
          const started = Date.now();
          try {
            const { bytes } = await buildEnvironment({ dir: environmentsDir(deps.cacheDir), hash, spec: run.environmentSpec!, inputs: bundleDir, setupPath: run.environmentSetup ?? null, onProgress: () => undefined, signal: stopBuilds.signal });
            failedBuilds.delete(hash);
            log.info({ hash, ms: Date.now() - started, bytes }, 'environment built for grading');
          } catch (err) {
            if (err instanceof BuildError && !stopBuilds.signal.aborted) {
              failedBuilds.set(hash, { error: err, until: Date.now() + FAILED_BUILD_KEEP_MS });
              log.warn({ hash, ms: Date.now() - started, err: err.message, log: (err as BuildError & { log?: string }).log }, 'environment build failed');
            }
            throw err;
          }
          return environmentRoot(deps.cacheDir, hash);
        })();
        building.set(hash, pending);
        built = true;
        void pending.finally(() => building.delete(hash)).catch(() => undefined);
      }
      root = await pending;
    }
    // Marked used, so the cleanup by age at start-up keeps it.
    const now = new Date();
    await utimes(path.dirname(root), now, now).catch(() => undefined);
    const blocked = await unreachable(root);
    if (blocked) throw new EnvironmentUnavailable(`${blocked} (on grading worker ${config.workerName})`);
    return { root, built };
  }

  async function processJob(job: BullJob<GradingPayload, GradingReturn>, token?: string): Promise<GradingReturn> {
    const p = job.data;
    if (p?.v !== 1) throw new PayloadError(`unknown job payload version ${String(p?.v)}: update this worker`);
    const controller = new AbortController();
    active.set(job.id!, controller);
    running++;
    deps.metrics?.jobStarted();
    // A run that never produced an outcome (bad payload, Redis lost a file) counts as error.
    let verdict = 'error';
    const started = Date.now();
    void beat();
    const dir = await mkdtemp(path.join(jobsDir, `${p.jobId}-`));
    try {
      await chmod(dir, 0o755);
      const files = path.join(dir, 'files');
      await writeTree(files, p.files);
      const submission: SandboxInput[] = p.files.map((f) => ({ from: path.join(files, ...f.path.split('/')), to: f.path }));
      const bundleDir = p.tests.length ? await testsFor(p) : null;
      const tests = bundleDir && p.tests.some((f) => f.path.startsWith('tests/')) ? path.join(bundleDir, 'tests') : null;
      let root: string | null = null;
      let environmentBuilt = false;
      let envFailure: string | null = null;
      try {
        const env = p.run?.environment ? await environmentFor(p.run, bundleDir) : null;
        root = env?.root ?? null;
        environmentBuilt = env?.built ?? false;
      } catch (err) {
        if (err instanceof BuildError) envFailure = `the assignment's environment could not be built on grading worker ${config.workerName}: ${err.message}`;
        else if (err instanceof EnvironmentUnavailable) envFailure = err.message;
        else throw err;
      }
      log.info({ jobId: p.jobId, bullJob: job.id, mode: p.plan?.mode ?? 'legacy', ...(p.check ? { selfCheck: p.check } : {}) }, 'grading');
      // The same trust model as the local pool: the plan travels with the payload.
      const outcome: RunOutcome = envFailure
        ? { grade: errorGrade(envFailure), durationMs: 0, infrastructure: false }
        : await runPrepared(sandbox, p, { submission, tests, bundleDir, root }, controller.signal);
      if (controller.signal.aborted) {
        // Stopped at shutdown: the job goes back to wait for another worker, not counted as a try.
        verdict = 'handed_back';
        await job.moveToWait(token);
        log.info({ jobId: p.jobId }, 'job handed back at shutdown');
        throw new WaitingError();
      }
      // Students' jobs, as the dashboard counts them; a self-check's submissions are not jobs.
      if (!p.check) jobsDone++;
      verdict = outcome.grade.status;
      log.info({ jobId: p.jobId, status: outcome.grade.status, score: outcome.grade.score, ms: outcome.durationMs, totalMs: Date.now() - started, ...(p.run?.environment ? { environmentBuilt } : {}) }, 'graded');
      return { outcome, worker: id };
    } finally {
      active.delete(job.id!);
      running--;
      deps.metrics?.jobFinished(verdict, (Date.now() - started) / 1000);
      await rm(dir, { recursive: true, force: true });
      void beat();
    }
  }

  const worker = new Worker<GradingPayload, GradingReturn>(QUEUE, processJob, {
    connection: workerConn,
    prefix: PREFIX,
    name: id,
    concurrency: config.workerConcurrency,
    lockDuration: config.redisLockMs,
    stalledInterval: config.redisStalledMs,
    // A job whose worker died twice is failed; the web server then retries it within its own limit.
    maxStalledCount: 2,
  });
  worker.on('error', problem('BullMQ worker problem'));
  worker.on('failed', (job, err) => {
    if (err?.name !== 'WaitingError') log.warn({ bullJob: job?.id, err: err?.message }, 'job failed on this worker');
  });

  return {
    id,
    async stop(graceMs) {
      stopping = true;
      clearInterval(heartbeat);
      const closing = worker.close();
      const timer = setTimeout(() => {
        if (active.size) log.info({ running: active.size }, 'grace time over: stopping running jobs and handing them back');
        for (const c of active.values()) c.abort();
        stopBuilds.abort();
      }, graceMs);
      await closing;
      clearTimeout(timer);
      try {
        if (conn.status === 'ready') await conn.multi().del(workerKey(id)).srem(WORKERS_SET, id).exec();
      } catch (err) {
        problem('could not remove the heartbeat')(err);
      }
      conn.disconnect();
      workerConn.disconnect();
    },
  };
}
