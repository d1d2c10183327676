import type { Sandbox, SandboxInput } from '../../../lib/sandbox/types.js';
import { harnessHelpersDir } from './harness-files.js';
import type { LayoutPlan } from './layouts.js';
import type { GradingPlan } from './plan.js';
import { errorGrade, type Grade } from './grade.js';
import { interpretRun } from './results.js';
import { StudentRunner, startRunStudentServer } from './student-runs.js';

export interface RunInputs {
  /** The submission's files, each at its name. */
  submission: SandboxInput[];
  /** The bundle version's tests/ folder on this machine, or null when it has none. */
  tests: string | null;
  /** The whole bundle version on this machine (Gradescope's layout needs it all); default: tests/'s parent. */
  bundleDir?: string | null;
  /** The assignment's environment root, or null/absent for the host's /usr. */
  root?: string | null;
}

/** What every sandbox of a run shares beyond its inputs: the assignment's root, env: and work dir size. */
export interface RunExtras {
  root?: string;
  env: Record<string, string>;
  workDirBytes?: number;
  /** Gradescope's or PrairieLearn's layout for the harness sandbox (absent: Lectern's own). */
  layout?: LayoutPlan;
}

export interface HarnessSpec {
  command: string[];
  limits: { wallMs: number; cpuSeconds: number; memoryBytes: number; outputBytes: number; processes: number };
  params: Record<string, unknown>;
  points: number;
  defaultVisibility: Grade['tests'][number]['visibility'];
}

/** Where the harness finds its helpers and the socket (inside its sandbox). */
const HELPERS_AT = '/lectern';
const SOCKET_AT = '/lectern/sock';

/**
 * The harness model (INGInious' run_student): the lecturer's harness runs alone in its sandbox
 * with tests/, params.json and a read-only copy of the submission under submission/; student
 * code runs only in the student sandboxes its run_student calls start. The verdict is the
 * harness's results.json, which only the harness sandbox can write, read by its pid 1 after
 * everything in it was killed, and only once every student sandbox of the run is gone.
 */
export async function runHarness(
  sandbox: Sandbox,
  spec: HarnessSpec,
  plan: Extract<GradingPlan, { mode: 'harness' }>,
  inputs: RunInputs,
  caps: { outputCap: number; resultsCap: number },
  signal?: AbortSignal,
  extras: RunExtras = { env: {} },
): Promise<{ grade: Grade; wallMs: number; infrastructure: boolean }> {
  const started = performance.now();
  const runner = new StudentRunner(sandbox, inputs.submission, plan.studentLimits, plan.maxCalls, started + spec.limits.wallMs, signal, studentExtras(extras));
  let server: Awaited<ReturnType<typeof startRunStudentServer>> | null = null;
  try {
    const helpers = await harnessHelpersDir();
    server = await startRunStudentServer(runner);
    const unsafe = sandbox.unsafe;
    // Lectern's layout: submission/, tests/ and params.json in /work. Gradescope's and
    // PrairieLearn's: their own folders, the submission where their graders look for it.
    const harnessInputs: SandboxInput[] = extras.layout ? extras.layout.inputs : [...inputs.submission.map((s) => ({ from: s.from, to: `submission/${s.to}` }))];
    if (!extras.layout && inputs.tests) harnessInputs.push({ from: inputs.tests, to: 'tests' });
    const resultsAt = extras.layout?.results ?? 'results.json';
    const run = await sandbox.run({
      command: spec.command,
      inputs: harnessInputs,
      files: extras.layout ? extras.layout.files : { 'params.json': JSON.stringify(spec.params, null, 2) },
      ...(extras.layout && extras.layout.workDir !== '/work' ? { workDir: extras.layout.workDir } : {}),
      ...(extras.root ? { root: extras.root } : {}),
      limits: { ...spec.limits, ...(extras.workDirBytes ? { workDirBytes: extras.workDirBytes } : {}) },
      binds: [
        { from: helpers, to: HELPERS_AT },
        { from: server.dir, to: SOCKET_AT },
      ],
      env: {
        ...extras.env,
        PATH: `${unsafe ? `${helpers}/bin` : `${HELPERS_AT}/bin`}:/usr/local/bin:/usr/bin:/bin`,
        PYTHONPATH: unsafe ? `${helpers}/python` : `${HELPERS_AT}/python`,
        LECTERN_SOCKET: unsafe ? server.socket : `${SOCKET_AT}/s`,
      },
      collect: [resultsAt],
      collectBytes: caps.resultsCap,
      ...(signal ? { signal } : {}),
    });
    // Nothing of the student may be alive when the verdict is read.
    await runner.close();
    const tamper = runner.tamper;
    if (run.status === 'error') return { grade: { ...interpretRun(run, undefined, { points: spec.points, outputCap: caps.outputCap }), tamper }, wallMs: run.wallMs, infrastructure: true };
    const resultsFile = run.files[resultsAt];
    if (run.status === 'ok' && !resultsFile) {
      // The harness is the lecturer's: without a verdict the run says nothing about the student.
      const grade = errorGrade(
        `The harness ended (${run.exitCode === 0 ? 'exit code 0' : (run.message ?? `exit code ${run.exitCode}`)}) without writing ${resultsAt}.\n--- stdout ---\n${run.stdout.slice(-caps.outputCap)}\n--- stderr ---\n${run.stderr.slice(-caps.outputCap)}`,
      );
      return { grade: { ...grade, tamper }, wallMs: run.wallMs, infrastructure: false };
    }
    // The harness's own printing may quote hidden tests: interpreted without it (the student sees
    // only what results.json says), and kept for staff when the run could not grade.
    const grade = interpretRun({ ...run, stdout: '', stderr: '' }, resultsFile, { points: spec.points, outputCap: caps.outputCap, defaultVisibility: spec.defaultVisibility });
    if (!grade.gradable) grade.problem = `${grade.problem ?? ''}\n--- harness stdout ---\n${run.stdout.slice(-caps.outputCap)}\n--- harness stderr ---\n${run.stderr.slice(-caps.outputCap)}`;
    if (!resultsFile) grade.output = { timeout: 'The tests ran out of time.', memory: 'The tests ran out of memory.', output_limit: 'The tests printed too much output.' }[run.status as string] ?? 'The tests did not finish.';
    return { grade: { ...grade, tamper, ...(resultsFile ? {} : { problem: `harness ${run.status}: ${run.message ?? ''}\n--- stderr ---\n${run.stderr.slice(-caps.outputCap)}` }) }, wallMs: run.wallMs, infrastructure: false };
  } finally {
    await runner.close();
    await server?.close();
  }
}

/** The student sandboxes of a run share the assignment's root and env:, never the harness's layout. */
export function studentExtras(extras: RunExtras): { root?: string; env: Record<string, string> } {
  return { ...(extras.root ? { root: extras.root } : {}), env: extras.env };
}
