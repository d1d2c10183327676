import type { Grade } from './grade.js';
import type { JobSpec, RunOutcome } from './run.js';

/**
 * What the web server and `lectern worker` agree on in Redis mode: key names, the job payload and
 * the result. Everything a run needs travels through Redis, so a worker needs no access to the
 * web server's database or files, and no network path to the web server at all.
 */

/** BullMQ key prefix and queue name; one Redis database serves one Lectern installation. */
export const PREFIX = 'lectern';
export const QUEUE = 'grading';
/** File contents, by sha256, shared by every job that needs them (the tests of one bundle version). */
export const blobKey = (sha256: string) => `${PREFIX}:blob:${sha256}`;
/** A worker's heartbeat: a JSON WorkerBeat that expires unless renewed. */
export const workerKey = (id: string) => `${PREFIX}:worker:${id}`;
export const WORKERS_SET = `${PREFIX}:workers`;
/** Blobs outlive any reasonable wait in the queue; forwarding a job again renews them. */
export const BLOB_TTL_S = 7 * 24 * 3600;
export const HEARTBEAT_MS = 2_000;
/** A worker whose heartbeat is this old is gone (its key expires then). */
export const HEARTBEAT_TTL_MS = 4 * HEARTBEAT_MS;

/** BullMQ job ids may not look like integers. */
export const bullJobId = (jobId: number) => `job-${jobId}`;
export function jobIdOf(bullId: string | undefined): number | null {
  const m = /^job-(\d+)$/.exec(bullId ?? '');
  return m ? Number(m[1]) : null;
}

/**
 * Self-check submissions (self-check.ts) travel as their own BullMQ jobs beside the student's, with
 * no jobs row: `check-<version id>-<hash of the payload>`, which jobIdOf never takes for a job. The
 * same submission of the same version has the same id, so a check run again after a restart finds
 * its submissions still queued (or graded) instead of adding them twice.
 */
export const CHECK_JOB = 'check-';
export const checkJobId = (versionId: number, payloadHash: string) => `${CHECK_JOB}${versionId}-${payloadHash.slice(0, 24)}`;

/** Lease owners of jobs rows that a Redis worker runs: `bullmq/<worker>`, never a host:pid owner. */
export const BULL_OWNER = 'bullmq/';
export const bullOwner = (worker: string | undefined) => `${BULL_OWNER}${worker || 'unknown'}`;

export interface PayloadFile {
  /** Relative path: a submission file name, or a bundle path the layout needs (tests/... for Lectern's). */
  path: string;
  sha256: string;
  size: number;
  mode: number;
}

/** BullMQ job data: the run, with files named by sha256 (their bytes are in blobKey()). */
export interface GradingPayload {
  v: 1;
  jobId: number;
  submissionId: number;
  /** The bundle version's content hash: workers keep one tests/ folder per hash. */
  bundleHash: string;
  files: PayloadFile[];
  tests: PayloadFile[];
  params: JobSpec['params'];
  command: JobSpec['command'];
  limits: JobSpec['limits'];
  points: number;
  defaultVisibility: Grade['tests'][number]['visibility'];
  /** How to grade (harness, declarative I/O); absent from older servers' payloads: legacy. */
  plan?: JobSpec['plan'];
  /** The layout, grading rule, env and environment of the run (absent from older servers). */
  run?: JobSpec['run'];
  /** A self-check's submission (jobId and submissionId are then 0): which version, which submission. */
  check?: { versionId: number; name: string };
}

/** BullMQ job return value. */
export interface GradingReturn {
  outcome: RunOutcome;
  worker: string;
}

export interface WorkerBeat {
  id: string;
  host: string;
  pid: number;
  concurrency: number;
  running: number;
  jobsDone: number;
  sandbox: string;
  startedAt: number;
  /** The worker's own clock, for display only (the web server stamps what it saw with its own). */
  at: number;
}

/** The URL without its password, for logs and the dashboard. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
  } catch {
    return 'redis';
  }
}
