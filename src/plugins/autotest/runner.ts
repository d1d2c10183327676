import type { Sandbox, SandboxInput } from '../../lib/sandbox/types.js';
import type { Deps } from '../../plugin.js';
import { getAssignmentById, getVersion, materialiseVersion, type Version } from '../assignments/store.js';
import { DEFAULT_WORK_DIR_BYTES } from '../assignments/config.js';
import { environmentHashOf, normaliseSpec, type NormalisedSpec } from '../environments/environments.js';
import { useEnvironment } from '../environments/manager.js';
import { findVariant } from '../assignments/variants.js';
import { getSubmission, submissionFiles } from '../submissions/store.js';
import type { Job } from './queue.js';
import { planLayout } from './layouts.js';
import { interpretRun, type Grade, type ResultsFormat } from './results.js';
import type { Layout } from '../assignments/config.js';

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
  /** How the bundle's autograder expects to be run and read (absent in jobs from older servers: Lectern's own). */
  run?: RunSettings;
}

export interface RunSettings {
  layout: Layout;
  gradeBy: 'results' | 'exit_code';
  /** The assignment's points (null: from the results). */
  points: number | null;
  env: Record<string, string>;
  workDirBytes: number;
  /** Which bundle paths exist (for the layout). */
  paths: string[];
  title: string;
  deadlineAt: number;
  submittedAt: number;
  /** The assignment's environment (its hash), or null for the host's /usr. */
  environment: string | null;
  /** What a remote worker needs to build the environment itself (its hash must match). */
  environmentSpec?: NormalisedSpec | null;
  environmentSetup?: string | null;
}

export class JobSpecError extends Error {}

export function jobSpec(deps: Pick<Deps, 'db'>, job: Job): JobSpec {
  const submission = getSubmission(deps.db, job.submissionId);
  if (!submission) throw new JobSpecError(`submission ${job.submissionId} is missing`);
  const version = getVersion(deps.db, job.versionId);
  if (!version) throw new JobSpecError(`bundle version ${job.versionId} is missing`);
  const assignment = getAssignmentById(deps.db, version.assignmentId);
  if (!assignment) throw new JobSpecError(`assignment ${version.assignmentId} is missing`);
  const variant = findVariant(deps.db, assignment.id, submission.userId);
  if (!variant) throw new JobSpecError(`the student's variant of ${assignment.slug} is missing`);
  return {
    jobId: job.id,
    submissionId: submission.id,
    files: submissionFiles(deps.db, submission.id),
    versionId: version.id,
    params: variant.params,
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

export function runSettings(config: Version['config'], paths: string[], submittedAt: number, environment: string | null): RunSettings {
  return {
    layout: config.layout ?? 'lectern',
    gradeBy: config.test.gradeBy ?? 'exit_code',
    points: config.points ?? null,
    env: config.env ?? {},
    workDirBytes: config.test.limits.workDirBytes ?? DEFAULT_WORK_DIR_BYTES,
    paths,
    title: config.title,
    deadlineAt: config.deadlineAt,
    submittedAt,
    environment,
  };
}

/**
 * Runs one job in the sandbox: the submission's files at the top of the work dir, the bundle's
 * tests/ beside them and the student's params.json, then reads results.json.
 */
export async function runSpec(deps: Pick<Deps, 'db' | 'sandbox' | 'blobs' | 'config' | 'clock'>, spec: JobSpec, signal?: AbortSignal): Promise<RunOutcome> {
  const version = getVersion(deps.db, spec.versionId);
  if (!version) throw new JobSpecError(`bundle version ${spec.versionId} is missing`);
  const bundleDir = await materialiseVersion(deps, version);
  const env = await useEnvironment(deps, version, signal);
  try {
    return await runPrepared(deps.sandbox, spec, { submission: spec.files.map((f) => ({ from: deps.blobs.path(f.sha256), to: f.name })), bundleDir, root: env?.root ?? null }, signal);
  } finally {
    env?.release();
  }
}

/**
 * The run itself, once the inputs are files on this machine: shared by the local pool (files from
 * the blob store) and by `lectern worker` (files from the job payload), which has no database.
 */
export async function runPrepared(
  sandbox: Sandbox,
  spec: Pick<JobSpec, 'jobId' | 'submissionId' | 'command' | 'limits' | 'params' | 'points' | 'defaultVisibility' | 'run'>,
  where: { submission: SandboxInput[]; bundleDir: string | null; root: string | null },
  signal?: AbortSignal,
): Promise<RunOutcome> {
  const started = Date.now();
  // Jobs queued by an older server carry no settings: they ran Lectern's layout and graded by exit code.
  const settings = spec.run;
  const layout = settings?.layout ?? 'lectern';
  const paths = settings?.paths ?? [];
  const has = (p: string) => (p.endsWith('/') ? paths.some((x) => x.startsWith(p)) : paths.includes(p)) || (!settings && p === 'tests/');
  const plan = planLayout(layout, {
    submission: where.submission,
    bundleDir: where.bundleDir,
    has,
    params: spec.params,
    meta: { submissionId: spec.submissionId, title: settings?.title, deadlineAt: settings?.deadlineAt, submittedAt: settings?.submittedAt },
  });
  const run = await sandbox.run({
    command: spec.command,
    inputs: plan.inputs,
    files: plan.files,
    workDir: plan.workDir,
    ...(where.root ? { root: where.root } : {}),
    env: settings?.env ?? {},
    limits: { ...spec.limits, ...(settings ? { workDirBytes: settings.workDirBytes } : {}) },
    collect: [plan.results],
    collectBytes: RESULTS_FILE_CAP,
    ...(signal ? { signal } : {}),
  });
  const format: ResultsFormat = layout === 'gradescope' ? 'gradescope' : layout === 'prairielearn' ? 'prairielearn' : 'auto';
  const grade = interpretRun(run, run.files[plan.results], {
    points: settings ? settings.points : spec.points,
    outputCap: OUTPUT_CAP,
    defaultVisibility: spec.defaultVisibility,
    gradeBy: settings?.gradeBy ?? 'exit_code',
    format,
  });
  return { grade, durationMs: run.wallMs || Date.now() - started, infrastructure: run.status === 'error' };
}
