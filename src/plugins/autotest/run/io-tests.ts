import type { Sandbox, SandboxResult } from '../../../lib/sandbox/types.js';
import { studentExtras, type RunExtras, type RunInputs } from './harness.js';
import type { GradingPlan, RenderedCase } from './plan.js';
import { baseGrade, capText, errorGrade, normaliseTest, type Grade, type TestOutcome } from './grade.js';
import { CallRefused, StudentRunner } from './student-runs.js';

type IoPlan = Extract<GradingPlan, { mode: 'io' }>;

/** How much of an input, expected or actual output a failed case shows. */
const SHOW_CAP = 2000;

function clip(text: string): string {
  return text.length <= SHOW_CAP ? text : `${text.slice(0, SHOW_CAP)}\n[... ${text.length - SHOW_CAP} more characters]`;
}

function normalise(text: string, how: IoPlan['compare']): string {
  if (how === 'exact') return text;
  if (how === 'tokens') return text.split(/\s+/).filter(Boolean).join(' ');
  return text
    .replace(/\r\n/g, '\n')
    .split('\n')
    .map((l) => l.replace(/[ \t]+$/, ''))
    .join('\n')
    .replace(/\n+$/, '');
}

const ENDED: Record<string, string> = {
  timeout: 'ran out of time',
  memory: 'ran out of memory',
  output_limit: 'printed too much output',
  crashed: 'crashed',
};

function howItEnded(run: SandboxResult): string | null {
  if (run.status === 'ok') return run.exitCode === 0 ? null : `exited with code ${run.exitCode}`;
  const base = ENDED[run.status] ?? 'could not run';
  return run.status === 'crashed' && run.signal ? `${base} (${run.signal})` : base;
}

/**
 * Declarative I/O tests, judged by Lectern (DOMjudge's model): the optional build and every case
 * run in fresh student sandboxes holding the submission (and the build's kept files), never
 * tests/ or an expected output; the comparison happens here, and a checker, when the bundle has
 * one, runs in a trusted sandbox beside tests/ that no student code ever entered.
 */
export async function runIoTests(
  sandbox: Sandbox,
  spec: { limits: { wallMs: number }; params: Record<string, unknown> },
  plan: IoPlan,
  inputs: RunInputs,
  caps: { outputCap: number },
  signal?: AbortSignal,
  extras: RunExtras = { env: {} },
): Promise<{ grade: Grade; wallMs: number; infrastructure: boolean }> {
  const started = performance.now();
  const deadline = started + spec.limits.wallMs;
  const runner = new StudentRunner(sandbox, inputs.submission, plan.studentLimits, plan.cases.length + 1, deadline, signal, studentExtras(extras));
  const maxScore = plan.cases.reduce((n, c) => n + c.points, 0);
  const elapsed = () => Math.round(performance.now() - started);
  try {
    let kept: Record<string, Buffer> = {};
    let buildNote = '';
    if (plan.build) {
      const build = await runner.run({ argv: plan.build, collect: plan.keep }, 'the build');
      if (build.status === 'error') return { grade: infraGrade(`the build's sandbox failed: ${build.message ?? ''}`, runner), wallMs: elapsed(), infrastructure: true };
      // Only the student's files were in the build's sandbox: its messages can only be about them.
      const messages = capText([build.stdout, build.stderr].filter(Boolean).join('\n').trim(), caps.outputCap);
      const ended = howItEnded(build);
      const missing = plan.keep.filter((k) => build.files[k] === undefined);
      if (ended || missing.length) {
        const why = ended ? `The build ${ended}.` : `The build made no ${missing.join(', ')}.`;
        const tests = plan.cases.map((c) => outcome(c, false, 'not run: the build failed'));
        return { grade: { ...baseGrade({ status: 'failed', score: 0, maxScore, gradable: true, output: `${why}\n${messages}`.trim(), problem: null }), tests, tamper: runner.tamper }, wallMs: elapsed(), infrastructure: false };
      }
      kept = build.files;
      buildNote = messages ? `Build messages:\n${messages}` : '';
    }
    const tests: TestOutcome[] = [];
    for (const c of plan.cases) {
      let run: SandboxResult;
      try {
        run = await runner.run({ argv: [...plan.run, ...c.args], stdin: c.stdin, files: kept }, 'student code');
      } catch (err) {
        if (!(err instanceof CallRefused)) throw err;
        tests.push(outcome(c, false, 'not run: the time for the whole run (test.limits.wall) is over'));
        continue;
      }
      if (run.status === 'error') {
        if (signal?.aborted) return { grade: infraGrade('aborted', runner), wallMs: elapsed(), infrastructure: true };
        return { grade: infraGrade(`a case's sandbox failed: ${run.message ?? ''}`, runner), wallMs: elapsed(), infrastructure: true };
      }
      const ended = howItEnded(run);
      if (ended) {
        tests.push(outcome(c, false, `The program ${ended}.${run.stderr ? `\n${clip(run.stderr)}` : ''}`));
        continue;
      }
      if (plan.checker) {
        const verdict = await check(sandbox, plan, c, run.stdout, spec.params, inputs.tests, Math.max(1000, deadline - performance.now()), signal, extras.root);
        if (verdict.infrastructure) return { grade: infraGrade(verdict.message, runner), wallMs: elapsed(), infrastructure: true };
        tests.push(outcome(c, verdict.passed, verdict.message));
        continue;
      }
      const passed = normalise(run.stdout, plan.compare) === normalise(c.expected ?? '', plan.compare);
      tests.push(outcome(c, passed, passed ? '' : `input    ${JSON.stringify(clip(c.stdin))}${c.args.length ? `\nargs     ${JSON.stringify(c.args)}` : ''}\nexpected ${JSON.stringify(clip(c.expected ?? ''))}\n     got ${JSON.stringify(clip(run.stdout))}`));
    }
    const score = Math.round(tests.reduce((n, t) => n + (t.score ?? 0), 0) * 1000) / 1000;
    const summary = score >= maxScore ? 'All tests passed.' : 'Some tests failed: see below.';
    return {
      grade: { ...baseGrade({ status: score >= maxScore ? 'passed' : 'failed', score, maxScore, gradable: true, output: [summary, buildNote].filter(Boolean).join('\n\n'), problem: null }), tests, tamper: runner.tamper },
      wallMs: elapsed(),
      infrastructure: false,
    };
  } finally {
    await runner.close();
  }
}

function outcome(c: RenderedCase, passed: boolean, output: string): TestOutcome {
  return normaliseTest({ name: c.name, score: passed ? c.points : 0, maxScore: c.points, status: passed ? 'passed' : 'failed', output: capText(output, SHOW_CAP * 4), visibility: c.visibility });
}

function infraGrade(problem: string, runner: StudentRunner): Grade {
  return {
    ...errorGrade(problem),
    tamper: runner.tamper,
  };
}

/** The bundle's checker, in a trusted sandbox: tests/, params.json, input, expected (if any) and output. Exit 0 passes; its stdout is the message. */
async function check(
  sandbox: Sandbox,
  plan: IoPlan,
  c: RenderedCase,
  output: string,
  params: Record<string, unknown>,
  tests: string | null,
  wallMs: number,
  signal?: AbortSignal,
  root?: string,
): Promise<{ passed: boolean; message: string; infrastructure: boolean }> {
  const run = await sandbox.run({
    command: plan.checker!,
    ...(root ? { root } : {}),
    inputs: tests ? [{ from: tests, to: 'tests' }] : [],
    files: { 'params.json': JSON.stringify(params), input: c.stdin, output, ...(c.expected !== null ? { expected: c.expected } : {}), 'args.json': JSON.stringify(c.args) },
    limits: { wallMs: Math.min(wallMs, 30_000), cpuSeconds: 30, outputBytes: 256 * 1024 },
    ...(signal ? { signal } : {}),
  });
  if (run.status !== 'ok') return { passed: false, message: `the checker ${run.status}: ${run.message ?? ''}\n${run.stderr.slice(-2000)}`, infrastructure: true };
  return { passed: run.exitCode === 0, message: clip(run.stdout.trim()), infrastructure: false };
}
