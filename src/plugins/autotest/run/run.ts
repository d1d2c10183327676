import path from 'node:path';
import type { Sandbox } from '../../../lib/sandbox/types.js';
import { DEFAULT_WORK_DIR_BYTES, type AssignmentConfig, type Layout } from '../../assignments/config.js';
import type { NormalisedSpec } from '../../environments/environments.js';
import { runHarness, type RunInputs, type RunExtras } from './harness.js';
import { runIoTests } from './io-tests.js';
import { planLayout, type LayoutPlan } from './layouts.js';
import type { GradingPlan } from './plan.js';
import { baseGrade, type Grade, type ResultsFormat } from './grade.js';
import { interpretRun } from './results.js';
import { studentRunFlags, unobservedIn } from './tamper.js';

/**
 * The database-free run step: a job's spec and its input files on this machine in, a grade out.
 * Shared by the web server's grader pool (through ../runner.ts, which gathers the spec from the
 * database) and by `lectern worker` (./worker.ts), which has no database: nothing in this folder
 * imports a store.
 */

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

export function runSettings(config: AssignmentConfig, paths: string[], submittedAt: number, environment: string | null): RunSettings {
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
 * The run itself, once the inputs are files on this machine: shared by the local pool (files from
 * the blob store) and by `lectern worker` (files from the job payload), which has no database.
 */
export async function runPrepared(
  sandbox: Sandbox,
  spec: Pick<JobSpec, 'command' | 'limits' | 'params' | 'points' | 'defaultVisibility' | 'plan' | 'run'> & Partial<Pick<JobSpec, 'submissionId'>>,
  inputs: RunInputs,
  signal?: AbortSignal,
): Promise<RunOutcome> {
  const started = Date.now();
  const plan = spec.plan ?? { mode: 'legacy' };
  const caps = { outputCap: OUTPUT_CAP, resultsCap: RESULTS_FILE_CAP };
  // Jobs queued by an older server carry no settings: Lectern's layout, graded by exit code.
  const settings = spec.run;
  const layout = settings?.layout ?? 'lectern';
  const bundleDir = inputs.bundleDir ?? (inputs.tests ? path.dirname(inputs.tests) : null);
  const extras: RunExtras = {
    ...(inputs.root ? { root: inputs.root } : {}),
    env: settings?.env ?? {},
    ...(settings ? { workDirBytes: settings.workDirBytes } : {}),
  };
  const where = layout === 'lectern' ? null : layoutOf(layout, spec, inputs, bundleDir);
  const outcome = await (async (): Promise<RunOutcome> => {
    if (plan.mode === 'harness') {
      const r = await runHarness(sandbox, spec, plan, inputs, caps, signal, { ...extras, ...(where ? { layout: where } : {}) });
      return { grade: r.grade, durationMs: r.wallMs || Date.now() - started, infrastructure: r.infrastructure };
    }
    if (plan.mode === 'io') {
      const r = await runIoTests(sandbox, spec, plan, inputs, caps, signal, extras);
      return { grade: r.grade, durationMs: r.wallMs || Date.now() - started, infrastructure: r.infrastructure };
    }
    return runLegacy(sandbox, spec, where ?? layoutOf('lectern', spec, inputs, bundleDir), extras, signal);
  })();
  const unobserved = unobservedIn(sandbox);
  return unobserved.length ? { ...outcome, grade: { ...outcome.grade, unobserved } } : outcome;
}

function layoutOf(layout: Layout, spec: Pick<JobSpec, 'params' | 'run'> & Partial<Pick<JobSpec, 'submissionId'>>, inputs: RunInputs, bundleDir: string | null): LayoutPlan {
  const settings = spec.run;
  const paths = settings?.paths ?? [];
  const has = (p: string) => (p.endsWith('/') ? paths.some((x) => x.startsWith(p)) : paths.includes(p)) || (p === 'tests/' && inputs.tests !== null && !settings);
  return planLayout(layout, {
    submission: inputs.submission,
    bundleDir,
    has,
    paths,
    params: spec.params,
    meta: { submissionId: spec.submissionId ?? 0, title: settings?.title, deadlineAt: settings?.deadlineAt, submittedAt: settings?.submittedAt },
  });
}

/**
 * The single-sandbox model: the test command, the student's code and the results file share one
 * work dir. That is how bundles written before the trust model run, and how a Gradescope or
 * PrairieLearn autograder imported unchanged runs (in its own /autograder or /grade layout):
 * such graders start the student's code in their own process tree, so the results file is only
 * as good as the student's honesty, and every such run is marked legacy for staff.
 *
 * What the student can do to the file is closed off as far as it can be: the file is read only
 * after every process of the sandbox is dead; a file that is there but unusable counts as zero
 * and is flagged (student code can write it, and "could not be graded" would exempt the
 * submission); a missing file is "could not be graded" (never the student's zero: a grader that
 * crashed says nothing about the work) unless the bundle grades by exit code, and is flagged too.
 */
async function runLegacy(
  sandbox: Sandbox,
  spec: Pick<JobSpec, 'command' | 'limits' | 'points' | 'defaultVisibility' | 'run'>,
  where: LayoutPlan,
  extras: RunExtras,
  signal?: AbortSignal,
): Promise<RunOutcome> {
  const started = Date.now();
  const settings = spec.run;
  const layout = settings?.layout ?? 'lectern';
  const run = await sandbox.run({
    command: spec.command,
    inputs: where.inputs,
    files: where.files,
    ...(where.workDir !== '/work' ? { workDir: where.workDir } : {}),
    ...(extras.root ? { root: extras.root } : {}),
    env: extras.env,
    limits: { ...spec.limits, ...(extras.workDirBytes ? { workDirBytes: extras.workDirBytes } : {}) },
    collect: [where.results],
    collectBytes: RESULTS_FILE_CAP,
    ...(signal ? { signal } : {}),
    // Student code shares this sandbox: its writes to read-only mounts are a tamper sign.
    observeWrites: true,
  });
  const resultsFile = run.files[where.results];
  const format: ResultsFormat = layout === 'gradescope' ? 'gradescope' : layout === 'prairielearn' ? 'prairielearn' : 'auto';
  const gradeBy = settings?.gradeBy ?? 'exit_code';
  let grade = interpretRun(run, resultsFile, {
    points: settings ? settings.points : spec.points,
    outputCap: OUTPUT_CAP,
    defaultVisibility: spec.defaultVisibility,
    gradeBy,
    format,
  });
  const tamper = studentRunFlags(run, 'the test run (student code shares it)', new Set([where.results]));
  if (!grade.gradable && run.status !== 'error') {
    if (!resultsFile) {
      tamper.push({
        kind: 'legacy_results',
        detail: `The grader wrote no ${where.results}, and in a legacy run student code can stop it (kill it, delete the file): not graded until staff look or re-run it.`,
      });
    } else {
      tamper.push({ kind: 'legacy_results', detail: `${where.results} could not be used, and in a legacy run student code can write it: counted as 0 until staff re-run it. ${grade.problem?.split('\n')[0] ?? ''}`.trim() });
      // PrairieLearn's message and format errors (a compiler error) still reach the student.
      const said = [grade.message, ...grade.formatErrors].filter(Boolean).join('\n');
      grade = {
        ...baseGrade({
          status: 'failed',
          score: 0,
          maxScore: declaredMax(resultsFile) ?? (settings ? settings.points : spec.points) ?? 1,
          gradable: true,
          output: said ? '' : 'The tests did not produce a usable result.',
          problem: grade.problem,
        }),
        message: grade.message,
        formatErrors: grade.formatErrors,
        images: grade.images,
      };
    }
  }
  if (grade.gradable && grade.score !== null && grade.maxScore !== null && grade.score > grade.maxScore) {
    tamper.push({ kind: 'legacy_results', detail: `Extra credit (${grade.score} of ${grade.maxScore}) from a legacy run, where student code can write ${where.results}: check it before it counts.` });
  }
  return { grade: { ...grade, tamper, legacy: true }, durationMs: run.wallMs || Date.now() - started, cpuMs: run.cpuMs, infrastructure: run.status === 'error' };
}

function declaredMax(file: Buffer | undefined): number | null {
  try {
    const raw = JSON.parse(file?.toString('utf8') ?? '') as { max_score?: unknown; max_points?: unknown };
    const max = raw.max_score ?? raw.max_points;
    return typeof max === 'number' && Number.isFinite(max) && max > 0 ? max : null;
  } catch {
    return null;
  }
}
