import { createHash } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../../lib/logger.js';
import type { Deps } from '../../plugin.js';
import type { Version } from '../assignments/store.js';
import { PRIORITY } from './queue.js';
import { bullPriority, bundleFiles, uploadBlobs, type BlobSource } from './redis-payload.js';
import { listWorkers } from './redis-store.js';
import type { Grade } from './run/grade.js';
import { CHECK_JOB, checkJobId, type GradingPayload, type GradingReturn, type PayloadFile } from './run/redis-common.js';
import { JobSpecError } from './runner.js';
import type { CheckGrader, CheckSpec, CheckSubmission } from './self-check.js';
import { noteSelfCheckProgress } from './self-check-store.js';

/**
 * Redis mode's self-check grader (self-check.ts CheckGrader): each submission of a check goes to
 * the grading workers as a BullMQ job with the payload a student's job of the version would carry
 * (its files stored in Redis by sha256, the bundle files its layout and environment need, params,
 * limits, plan, run settings); the worker builds the environment and grades it as any job. The web
 * server's loop waits for the outcome, reads it and removes the job from Redis.
 *
 * Priority: behind live submissions (a deadline's rush is graded first), ahead of reruns and
 * superseded jobs; a submission that has waited AGE_MS moves up to live submissions' priority, in
 * line behind those already waiting, so a long rush delays a check but never starves it.
 */
export const SELF_CHECK_PRIORITY = 50;
const AGE_MS = 10 * 60_000;
/** A submission whose run failed on workers this often (workers died under it, files lost) makes the check "could not run". */
const MAX_TRIES = 3;

export interface RedisCheckLink {
  deps: Deps;
  queue: Queue<GradingPayload, GradingReturn>;
  conn: Redis;
  log: Logger;
  /** Whether the dispatcher's connection to Redis is up. */
  ready(): boolean;
  where: string;
}

type Phase = 'queued' | 'running' | 'done';

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

export function redisCheckGrader(link: RedisCheckLink): CheckGrader {
  const { deps, queue, conn, log } = link;
  // Each waiting submission costs two Redis round trips a poll: a check is minutes long, a second is soon enough.
  const pollMs = 1_000;
  /** Per version being checked: each submission's phase, and the last note written. */
  const progress = new Map<number, { phases: Map<string, Phase>; unreachable: boolean; note: string }>();

  const report = (versionId: number, name: string, phase: Phase, unreachable = false) => {
    let p = progress.get(versionId);
    if (!p) progress.set(versionId, (p = { phases: new Map(), unreachable: false, note: '' }));
    p.phases.set(name, phase);
    p.unreachable = unreachable;
    const phases = [...p.phases.values()];
    const done = phases.filter((x) => x === 'done').length;
    const running = phases.some((x) => x === 'running');
    const state: 'queued' | 'running' = running ? 'running' : 'queued';
    const why = unreachable
      ? `Redis at ${link.where} is unreachable`
      : running
        ? 'on grading workers'
        : listWorkers(deps).some((w) => w.alive)
          ? 'waiting for a free grading worker'
          : 'no grading worker is connected';
    const note = `${state}: ${why}; ${done} of ${phases.length} submissions graded`;
    if (note === p.note) return;
    p.note = note;
    try {
      noteSelfCheckProgress(deps.db, versionId, state, note.slice(state.length + 2));
    } catch (err) {
      // Only a note for the staff page; the next change writes it again.
      log.debug({ err, versionId }, 'self-check progress not noted');
    }
  };

  return {
    // Every submission goes to Redis at once: the workers, not this loop, decide how many run.
    parallel: Number.POSITIVE_INFINITY,
    async grade(version: Version, spec: CheckSpec, submission: CheckSubmission, signal: AbortSignal): Promise<Grade> {
      const blobs: BlobSource[] = [];
      const files: PayloadFile[] = submission.files.map((f) => {
        const sha256 = createHash('sha256').update(f.data).digest('hex');
        blobs.push({ sha256, data: f.data });
        return { path: f.path, sha256, size: f.data.length, mode: 0o644 };
      });
      const { tests, sources } = bundleFiles(deps, version, spec.run, files);
      const payload: GradingPayload = {
        v: 1,
        jobId: 0,
        submissionId: 0,
        check: { versionId: version.id, name: submission.name },
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
      const id = checkJobId(version.id, createHash('sha256').update(JSON.stringify(payload)).digest('hex'));
      let sent = false;
      let aged = false;
      let failures = 0;
      let graded = false;
      report(version.id, submission.name, 'queued', !link.ready());
      try {
        for (;;) {
          if (signal.aborted) throw new Error('self-check stopped');
          try {
            if (!sent) {
              await uploadBlobs(conn, [...sources, ...blobs]);
              // Added again after a restart of this server: the same id finds the one already there.
              await queue.add('self-check', payload, { jobId: id, priority: bullPriority(SELF_CHECK_PRIORITY), attempts: 1, removeOnComplete: false, removeOnFail: false });
              sent = true;
            }
            const job = await queue.getJob(id);
            const state = job ? await job.getState() : 'unknown';
            if (!job || state === 'unknown') {
              // Redis lost it (restarted without its data): sent again, with its files.
              sent = false;
              continue;
            }
            if (state === 'completed') {
              const ret = job.returnvalue as GradingReturn | null;
              await job.remove();
              if (ret?.outcome?.grade) {
                log.info({ versionId: version.id, submission: submission.name, worker: ret.worker, status: ret.outcome.grade.status, score: ret.outcome.grade.score }, 'self-check submission graded by a worker');
                graded = true;
                report(version.id, submission.name, 'done');
                return ret.outcome.grade;
              }
              failures++;
              sent = false;
              if (failures >= MAX_TRIES) throw new JobSpecError(`a grading worker returned no outcome for "${submission.name}"`);
              continue;
            }
            if (state === 'failed') {
              const reason = job.failedReason || 'the grading worker failed';
              await job.remove();
              failures++;
              sent = false;
              log.warn({ versionId: version.id, submission: submission.name, reason, failures }, 'a worker could not run a self-check submission');
              if (failures >= MAX_TRIES) throw new JobSpecError(`"${submission.name}" could not be run on a grading worker: ${reason}`);
              continue;
            }
            if (state === 'prioritized' && !aged && Date.now() - job.timestamp > AGE_MS) {
              await job.changePriority({ priority: bullPriority(PRIORITY.live) });
              aged = true;
            }
            report(version.id, submission.name, state === 'active' ? 'running' : 'queued');
          } catch (err) {
            if (err instanceof JobSpecError) throw err;
            // Redis is down or answered with an error: the check waits, its submissions as they are.
            report(version.id, submission.name, 'queued', true);
            log.debug({ err, versionId: version.id }, 'self-check waits for Redis');
          }
          await sleep(pollMs, signal);
        }
      } finally {
        // The version's notes go once all its submissions are graded, or at once when one fails
        // (the check as a whole then could not run).
        const p = progress.get(version.id);
        if (p && (!graded || [...p.phases.values()].every((x) => x === 'done'))) progress.delete(version.id);
      }
    },
  };
}

/** A check's outcome not read this long after it was graded belongs to no running check. */
const ORPHAN_MS = 60 * 60_000;

/**
 * Removes graded self-check submissions that no check reads any more (the loop reads its own
 * within a second or two): those of a check whose parameters came out differently when it ran
 * again after a restart, or of a server since started with LECTERN_SELF_CHECK=no.
 */
export async function sweepCheckJobs(queue: Queue<GradingPayload, GradingReturn>, now: number): Promise<number> {
  let removed = 0;
  for (const id of await queue.getRanges(['completed', 'failed'])) {
    if (!id.startsWith(CHECK_JOB)) continue;
    const job = await queue.getJob(id);
    if (job?.finishedOn && now - job.finishedOn > ORPHAN_MS) {
      await job.remove();
      removed++;
    }
  }
  return removed;
}
