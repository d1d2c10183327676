import path from 'node:path';
import type { Deps } from '../../plugin.js';
import { getAssignmentById, getVersion, materialiseVersion, type Version } from '../assignments/store.js';
import { variantForSubmission } from '../assignments/variants.js';
import { environmentHashOf, normaliseSpec } from '../environments/environments.js';
import { EnvironmentUnavailable } from '../environments/environments.js';
import type { Job } from './queue.js';
import { PlanError, planFor, type GradingPlan } from './run/plan.js';
import { runPrepared, runSettings, type JobSpec, type RunOutcome } from './run/run.js';

/**
 * A queued job run on this machine: its spec gathered from the database (the job's submission,
 * bundle version and the student's variant), then the database-free run step of ./run/.
 */

export class JobSpecError extends Error {}

/** `params` replaces the student's own parameters (the similarity report's variant-aware check); the plan is made from them too. */
export function jobSpec(deps: Pick<Deps, 'db' | 'services'>, job: Job, params?: Record<string, unknown>): JobSpec {
  const submission = deps.services.submissions.get(job.submissionId);
  if (!submission) throw new JobSpecError(`submission ${job.submissionId} is missing`);
  const version = getVersion(deps.db, job.versionId);
  if (!version) throw new JobSpecError(`bundle version ${job.versionId} is missing`);
  const assignment = getAssignmentById(deps.db, version.assignmentId);
  if (!assignment) throw new JobSpecError(`assignment ${version.assignmentId} is missing`);
  const variant = variantForSubmission(deps.db, submission);
  if (!variant) throw new JobSpecError(`the student's variant of ${assignment.slug} is missing`);
  let plan: GradingPlan;
  try {
    plan = planFor(version.config, params ?? variant.params, { id: String(submission.userId), name: '' });
  } catch (err) {
    if (err instanceof PlanError) throw new JobSpecError(err.message);
    throw err;
  }
  return {
    plan,
    jobId: job.id,
    submissionId: submission.id,
    files: deps.services.submissions.files(submission.id),
    versionId: version.id,
    params: params ?? variant.params,
    command: version.config.test.command,
    limits: version.config.test.limits,
    points: version.config.points ?? 1,
    defaultVisibility: version.config.feedback.tests,
    run: {
      ...runSettings(version.config, version.manifest.map((e) => e.path), submission.submittedAt, environmentHashOf(version.config, version.manifest)),
      environmentSpec: version.config.environment ? normaliseSpec(version.config.environment, version.manifest) : null,
      environmentSetup: version.config.environment?.setup ?? null,
    },
  };
}

/**
 * Runs one job on this machine: the submission's files from the blob store, the bundle version
 * unpacked, and the assignment's environment (built first when it is not yet).
 */
export async function runSpec(deps: Pick<Deps, 'db' | 'sandbox' | 'blobs' | 'config' | 'clock' | 'services'>, spec: JobSpec, signal?: AbortSignal): Promise<RunOutcome> {
  const version = getVersion(deps.db, spec.versionId);
  if (!version) throw new JobSpecError(`bundle version ${spec.versionId} is missing`);
  const bundleDir = await materialiseVersion(deps, version);
  const hasTests = version.manifest.some((e) => e.path.startsWith('tests/'));
  const env = await useEnvironment(deps, version, signal);
  try {
    return await runPrepared(deps.sandbox, spec, { submission: spec.files.map((f) => ({ from: deps.blobs.path(f.sha256), to: f.name })), tests: hasTests ? path.join(bundleDir, 'tests') : null, bundleDir, root: env?.root ?? null }, signal);
  } finally {
    env?.release();
  }
}

/**
 * The built environment a version runs in (null: the host's /usr). A version that needs one in an
 * app without the environments plugin, or whose build failed, cannot be graded: a JobSpecError.
 */
async function useEnvironment(deps: Pick<Deps, 'services'>, version: Version, signal?: AbortSignal): Promise<{ root: string; release(): void } | null> {
  if (!version.config.environment) return null;
  const service = deps.services.environments;
  if (!service) throw new JobSpecError('the assignment needs an environment, and this app has no environments plugin');
  try {
    return await service.use(version, signal);
  } catch (err) {
    if (err instanceof EnvironmentUnavailable) throw new JobSpecError(err.message);
    throw err;
  }
}
