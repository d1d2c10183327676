import { readFile } from 'node:fs/promises';
import type { Redis } from 'ioredis';
import type { Deps } from '../../plugin.js';
import { getVersion, type Version } from '../assignments/store.js';
import type { Job } from './queue.js';
import { BLOB_TTL_S, blobKey, type GradingPayload, type PayloadFile } from './run/redis-common.js';
import { layoutNeeds } from './run/layouts.js';
import { JobSpecError, jobSpec } from './runner.js';
import type { JobSpec } from './run/run.js';

/**
 * What a job carries to a remote worker (Redis mode): the payload naming every file by sha256 (the
 * submission's files and the bundle files its layout and environment need), and where those
 * files are here, to be stored in Redis once per content. A job that cannot be sent throws
 * JobSpecError.
 */
export function jobPayload(deps: Pick<Deps, 'db' | 'services' | 'config' | 'blobs'>, job: Job): { payload: GradingPayload; sources: BlobSource[] } {
  const spec = jobSpec(deps, job);
  const version = getVersion(deps.db, spec.versionId);
  if (!version) throw new JobSpecError(`bundle version ${spec.versionId} is missing`);
  const files: PayloadFile[] = spec.files.map((f) => ({ path: f.name, sha256: f.sha256, size: f.size, mode: 0o644 }));
  const { tests, sources } = bundleFiles(deps, version, spec.run, files);
  for (const f of files) sources.push({ sha256: f.sha256, source: deps.blobs.path(f.sha256) });
  const payload: GradingPayload = {
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
  return { payload, sources };
}

/** A file for Redis: its bytes at a path here (the blob store) or in memory (a self-check's submissions). */
export type BlobSource = { sha256: string; source: string } | { sha256: string; data: Buffer };

/**
 * The bundle files a run of `version` needs on a worker (those its layout reads, and those its
 * environment's build reads: workers build the environment themselves), with where they are here.
 * Throws JobSpecError when they and the submission's `files` are more than a job may carry.
 */
export function bundleFiles(deps: Pick<Deps, 'config' | 'blobs'>, version: Version, run: JobSpec['run'], files: PayloadFile[]): { tests: PayloadFile[]; sources: BlobSource[] } {
  const layout = run?.layout ?? 'lectern';
  const envInputs = new Set(Object.keys(run?.environmentSpec?.inputs ?? {}));
  const tests: PayloadFile[] = version.manifest.filter((e) => layoutNeeds(layout, e.path) || envInputs.has(e.path)).map((e) => ({ path: e.path, sha256: e.sha256, size: e.size, mode: e.mode }));
  const bytes = [...files, ...tests].reduce((n, f) => n + f.size, 0);
  if (bytes > deps.config.redisPayloadBytes) {
    throw new JobSpecError(
      `the submission and the bundle's tests/ are ${bytes} bytes together, more than the ${deps.config.redisPayloadBytes} bytes a job may carry to a grading worker (LECTERN_REDIS_PAYLOAD_BYTES)`,
    );
  }
  return { tests, sources: tests.map((f) => ({ sha256: f.sha256, source: deps.blobs.path(f.sha256) })) };
}

/** Lower numbers run first in BullMQ; ours are higher-first. */
export const bullPriority = (priority: number) => 1 + Math.max(0, Math.min(2_000_000, 1000 - priority));

/** Stores the file contents under their sha256 (once per content), renewing those already there. */
export async function uploadBlobs(conn: Redis, files: BlobSource[]): Promise<void> {
  const unique = [...new Map(files.map((f) => [f.sha256, f])).values()];
  if (!unique.length) return;
  const renewed = await conn.pipeline(unique.map((f) => ['expire', blobKey(f.sha256), String(BLOB_TTL_S)])).exec();
  for (const [i, f] of unique.entries()) {
    const [err, n] = renewed?.[i] ?? [null, 0];
    if (err) throw err;
    if (n === 1) continue;
    await conn.set(blobKey(f.sha256), 'data' in f ? f.data : await readFile(f.source), 'EX', BLOB_TTL_S);
  }
}

