import path from 'node:path';
import type { Sandbox, SandboxInput } from '../../lib/sandbox/types.js';
import type { Deps } from '../../plugin.js';
import { getAssignmentById, getVersion, materialiseVersion } from '../assignments/store.js';
import { variantForSubmission } from '../assignments/variants.js';
import { getSubmission, submissionFiles } from '../submissions/store.js';
import type { Job } from './queue.js';
import { runHarness, type RunInputs } from './harness.js';
import { runIoTests } from './io-tests.js';
import { PlanError, planFor, type GradingPlan } from './plan.js';
import { interpretRun, type Grade } from './results.js';
import { studentRunFlags } from './tamper.js';

/** Caps of what is kept and shown: long outputs are cut, the tail is what matters. */
export const OUTPUT_CAP = 16 * 1024;
export const RESULTS_FILE_CAP = 1024 * 1024;

export interface RunOutcome {
  grade: Grade;
  durationMs: number;
  /** CPU time of the run's processes (absent when nothing ran). */
  cpuMs?: number;
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
  /** How the job grades; absent (legacy) in payloads of servers from before the trust model. */
  plan?: GradingPlan;
}

export class JobSpecError extends Error {}

/** `params` replaces the student's own parameters (the similarity report's variant-aware check); the plan is made from them too. */
export function jobSpec(deps: Pick<Deps, 'db'>, job: Job, params?: Record<string, unknown>): JobSpec {
  const submission = getSubmission(deps.db, job.submissionId);
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
    files: submissionFiles(deps.db, submission.id),
    versionId: version.id,
    params: params ?? variant.params,
    command: version.config.test.command,
    limits: version.config.test.limits,
    points: 1,
    defaultVisibility: version.config.feedback.tests,
  };
}

/** Runs one job on this machine: the submission's files from the blob store, tests/ from the bundle version. */
export async function runSpec(deps: Pick<Deps, 'db' | 'sandbox' | 'blobs' | 'config'>, spec: JobSpec, signal?: AbortSignal): Promise<RunOutcome> {
  const version = getVersion(deps.db, spec.versionId);
  if (!version) throw new JobSpecError(`bundle version ${spec.versionId} is missing`);
  const bundleDir = await materialiseVersion(deps, version);
  const hasTests = version.manifest.some((e) => e.path.startsWith('tests/'));
  return runPrepared(deps.sandbox, spec, { submission: spec.files.map((f) => ({ from: deps.blobs.path(f.sha256), to: f.name })), tests: hasTests ? path.join(bundleDir, 'tests') : null }, signal);
}

/**
 * The run itself, once the inputs are files on this machine: shared by the local pool (files from
 * the blob store) and by `lectern worker` (files from the job payload), which has no database.
 */
export async function runPrepared(
  sandbox: Sandbox,
  spec: Pick<JobSpec, 'command' | 'limits' | 'params' | 'points' | 'defaultVisibility' | 'plan'>,
  inputs: RunInputs,
  signal?: AbortSignal,
): Promise<RunOutcome> {
  const started = Date.now();
  const plan = spec.plan ?? { mode: 'legacy' };
  const caps = { outputCap: OUTPUT_CAP, resultsCap: RESULTS_FILE_CAP };
  if (plan.mode === 'harness') {
    const r = await runHarness(sandbox, spec, plan, inputs, caps, signal);
    return { grade: r.grade, durationMs: r.wallMs || Date.now() - started, infrastructure: r.infrastructure };
  }
  if (plan.mode === 'io') {
    const r = await runIoTests(sandbox, spec, plan, inputs, caps, signal);
    return { grade: r.grade, durationMs: r.wallMs || Date.now() - started, infrastructure: r.infrastructure };
  }
  return runLegacy(sandbox, spec, inputs, signal);
}

/**
 * The single-sandbox model of bundles written before the trust model: the test command, the
 * student's code and results.json share one work dir, so the results file is only as good as the
 * student's honesty. What the student can use to escape grading is closed: nothing in the file
 * makes such a run "could not be graded" (that would exempt the submission); it counts as zero
 * and is flagged for staff.
 */
async function runLegacy(sandbox: Sandbox, spec: Pick<JobSpec, 'command' | 'limits' | 'params' | 'points' | 'defaultVisibility'>, inputs: RunInputs, signal?: AbortSignal): Promise<RunOutcome> {
  const started = Date.now();
  const sandboxInputs: SandboxInput[] = [...inputs.submission, ...(inputs.tests ? [{ from: inputs.tests, to: 'tests' }] : [])];
  const run = await sandbox.run({
    command: spec.command,
    inputs: sandboxInputs,
    files: { 'params.json': JSON.stringify(spec.params, null, 2) },
    limits: spec.limits,
    collect: ['results.json'],
    collectBytes: RESULTS_FILE_CAP,
    ...(signal ? { signal } : {}),
  });
  let grade = interpretRun(run, run.files['results.json'], { points: spec.points, outputCap: OUTPUT_CAP, defaultVisibility: spec.defaultVisibility });
  const tamper = studentRunFlags(run, 'the test run (student code shares it)', new Set(['results.json']));
  if (!grade.gradable && run.status !== 'error') {
    tamper.push({ kind: 'legacy_results', detail: `results.json could not be used, and in a legacy bundle student code can write it: counted as 0 until staff re-run it. ${grade.problem?.split('\n')[0] ?? ''}`.trim() });
    grade = {
      status: 'failed',
      score: 0,
      maxScore: declaredMax(run.files['results.json']) ?? spec.points,
      gradable: true,
      output: 'The tests did not produce a usable result.',
      tests: [],
      problem: grade.problem,
    };
  }
  return { grade: { ...grade, tamper }, durationMs: run.wallMs || Date.now() - started, cpuMs: run.cpuMs, infrastructure: run.status === 'error' };
}

function declaredMax(file: Buffer | undefined): number | null {
  try {
    const raw = JSON.parse(file?.toString('utf8') ?? '') as { max_score?: unknown };
    return typeof raw.max_score === 'number' && Number.isFinite(raw.max_score) && raw.max_score > 0 ? raw.max_score : null;
  } catch {
    return null;
  }
}
