import path from 'node:path';
import type { Sandbox, SandboxInput } from '../../lib/sandbox/types.js';
import type { Deps } from '../../plugin.js';
import { getAssignmentById, getVersion, materialiseVersion } from '../assignments/store.js';
import { variantForSubmission } from '../assignments/variants.js';
import { getSubmission, submissionFiles } from '../submissions/store.js';
import type { Job } from './queue.js';
import { interpretRun, type Grade } from './results.js';

/** Caps of what is kept and shown: long outputs are cut, the tail is what matters. */
export const OUTPUT_CAP = 16 * 1024;
export const RESULTS_FILE_CAP = 1024 * 1024;

export interface RunOutcome {
  grade: Grade;
  durationMs: number;
  /** True when the failure was ours (sandbox, missing bundle), so the job may be retried. */
  infrastructure: boolean;
}

/** What a grading run needs, gathered from the database: used by the local pool and by remote workers. */
export interface JobSpec {
  jobId: number;
  submissionId: number;
  /** Submission files: name -> blob sha256. */
  files: Array<{ name: string; sha256: string; size: number }>;
  versionId: number;
  params: Record<string, unknown>;
  command: string[];
  limits: { wallMs: number; cpuSeconds: number; memoryBytes: number; outputBytes: number; processes: number };
  points: number;
  defaultVisibility: Grade['tests'][number]['visibility'];
}

export class JobSpecError extends Error {}

export function jobSpec(deps: Pick<Deps, 'db'>, job: Job): JobSpec {
  const submission = getSubmission(deps.db, job.submissionId);
  if (!submission) throw new JobSpecError(`submission ${job.submissionId} is missing`);
  const version = getVersion(deps.db, job.versionId);
  if (!version) throw new JobSpecError(`bundle version ${job.versionId} is missing`);
  const assignment = getAssignmentById(deps.db, version.assignmentId);
  if (!assignment) throw new JobSpecError(`assignment ${version.assignmentId} is missing`);
  const variant = variantForSubmission(deps.db, submission);
  if (!variant) throw new JobSpecError(`the student's variant of ${assignment.slug} is missing`);
  return {
    jobId: job.id,
    submissionId: submission.id,
    files: submissionFiles(deps.db, submission.id),
    versionId: version.id,
    params: variant.params,
    command: version.config.test.command,
    limits: version.config.test.limits,
    points: 1,
    defaultVisibility: version.config.feedback.tests,
  };
}

/**
 * Runs one job in the sandbox: the submission's files at the top of the work dir, the bundle's
 * tests/ beside them and the student's params.json, then reads results.json.
 */
export async function runSpec(deps: Pick<Deps, 'db' | 'sandbox' | 'blobs' | 'config'>, spec: JobSpec, signal?: AbortSignal): Promise<RunOutcome> {
  const version = getVersion(deps.db, spec.versionId);
  if (!version) throw new JobSpecError(`bundle version ${spec.versionId} is missing`);
  const bundleDir = await materialiseVersion(deps, version);
  const hasTests = version.manifest.some((e) => e.path.startsWith('tests/'));
  return runPrepared(
    deps.sandbox,
    spec,
    [...spec.files.map((f) => ({ from: deps.blobs.path(f.sha256), to: f.name })), ...(hasTests ? [{ from: path.join(bundleDir, 'tests'), to: 'tests' }] : [])],
    signal,
  );
}

/**
 * The run itself, once the inputs are files on this machine: shared by the local pool (files from
 * the blob store) and by `lectern worker` (files from the job payload), which has no database.
 */
export async function runPrepared(
  sandbox: Sandbox,
  spec: Pick<JobSpec, 'command' | 'limits' | 'params' | 'points' | 'defaultVisibility'>,
  inputs: SandboxInput[],
  signal?: AbortSignal,
): Promise<RunOutcome> {
  const started = Date.now();
  const run = await sandbox.run({
    command: spec.command,
    inputs,
    files: { 'params.json': JSON.stringify(spec.params, null, 2) },
    limits: spec.limits,
    collect: ['results.json'],
    collectBytes: RESULTS_FILE_CAP,
    ...(signal ? { signal } : {}),
  });
  const grade = interpretRun(run, run.files['results.json'], { points: spec.points, outputCap: OUTPUT_CAP, defaultVisibility: spec.defaultVisibility });
  return { grade, durationMs: run.wallMs || Date.now() - started, infrastructure: run.status === 'error' };
}
