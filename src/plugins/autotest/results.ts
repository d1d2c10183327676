import { z } from 'zod';
import type { SandboxResult } from '../../lib/sandbox/types.js';
import type { TamperFlag } from './tamper.js';

export type RunStatus = 'passed' | 'failed' | 'timeout' | 'memory' | 'output_limit' | 'crashed' | 'error';
export type Visibility = 'visible' | 'after_due_date' | 'hidden';

export interface TestOutcome {
  name: string;
  score: number | null;
  maxScore: number | null;
  status: 'passed' | 'failed';
  output: string;
  visibility: Visibility;
}

export interface Grade {
  status: RunStatus;
  /** Null when the run could not be graded. */
  score: number | null;
  maxScore: number | null;
  /** False: the run says nothing about the student's work (it does not count against them). */
  gradable: boolean;
  /** Text shown to the student (capped). */
  output: string;
  tests: TestOutcome[];
  /** What went wrong, for the lecturer only. */
  problem: string | null;
  /** Signs of student code reaching outside its sandbox, for staff only (see tamper.ts). */
  tamper?: TamperFlag[];
}

export interface InterpretOptions {
  /** Points for a bundle without results.json: exit 0 earns them all. */
  points: number;
  /** Cap on each output shown to students (characters). */
  outputCap: number;
  /** Default visibility of tests that don't say. */
  defaultVisibility?: Visibility;
}

const num = z.number().finite();
const testSchema = z.object({
  name: z.string().max(500).default('test'),
  score: num.optional(),
  max_score: num.nonnegative().optional(),
  status: z.enum(['passed', 'failed']).optional(),
  output: z.string().optional(),
  visibility: z.enum(['visible', 'after_due_date', 'hidden']).optional(),
});
const resultsSchema = z.object({
  score: num.optional(),
  max_score: num.nonnegative().optional(),
  output: z.string().optional(),
  gradable: z.boolean().optional(),
  tests: z.array(testSchema).max(1000).optional(),
});

export function capText(text: string, cap: number): string {
  if (text.length <= cap) return text;
  return `${text.slice(0, cap)}\n… (${text.length - cap} more characters not shown)`;
}

function tail(text: string, cap: number): string {
  if (text.length <= cap) return text;
  return `… (${text.length - cap} earlier characters not shown)\n${text.slice(-cap)}`;
}

const SANDBOX_STATUS_TEXT: Record<string, string> = {
  timeout: 'The tests ran out of time. Look for an endless loop or a very slow algorithm.',
  memory: 'The tests ran out of memory.',
  output_limit: 'The program printed too much output.',
  crashed: 'The program crashed.',
};

/** The grade of a run that says nothing about the student's work: not counted against them. */
export function errorGrade(problem: string): Grade {
  return {
    status: 'error',
    score: null,
    maxScore: null,
    gradable: false,
    output: 'This submission could not be graded automatically. It does not count against you; the teachers have been told.',
    tests: [],
    problem,
  };
}

function ungradable(problem: string, run: SandboxResult, opts: InterpretOptions): Grade {
  return errorGrade(`${problem}\n--- stdout ---\n${tail(run.stdout, opts.outputCap)}\n--- stderr ---\n${tail(run.stderr, opts.outputCap)}`);
}

/**
 * Turns a sandbox run into a grade. The run's own limits (time, memory, output) are the
 * student's; a broken results file or a sandbox failure is not, and is marked ungradable.
 */
export function interpretRun(run: SandboxResult, resultsFile: Buffer | undefined, opts: InterpretOptions): Grade {
  const combined = [run.stdout, run.stderr].filter(Boolean).join('\n');
  if (run.status === 'error') return ungradable(`The sandbox failed: ${run.message ?? 'unknown error'}`, run, opts);
  if (run.status !== 'ok') {
    return {
      status: run.status,
      score: 0,
      maxScore: opts.points,
      gradable: true,
      output: `${SANDBOX_STATUS_TEXT[run.status] ?? ''}\n${tail(combined, opts.outputCap)}`.trim(),
      tests: [],
      problem: null,
    };
  }
  if (!resultsFile) {
    const passed = run.exitCode === 0;
    return {
      status: passed ? 'passed' : 'failed',
      score: passed ? opts.points : 0,
      maxScore: opts.points,
      gradable: true,
      output: tail(combined, opts.outputCap),
      tests: [],
      problem: null,
    };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(resultsFile.toString('utf8'));
  } catch (err) {
    return ungradable(`results.json is not valid JSON: ${(err as Error).message}`, run, opts);
  }
  const parsed = resultsSchema.safeParse(raw);
  if (!parsed.success) {
    return ungradable(`results.json does not match the format: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`, run, opts);
  }
  const r = parsed.data;
  if (r.gradable === false) return ungradable('results.json says the submission is not gradable ("gradable": false).', run, opts);

  const tests: TestOutcome[] = (r.tests ?? []).map((t) => {
    const maxScore = t.max_score ?? null;
    const score = t.score ?? null;
    const status = t.status ?? (score !== null && maxScore !== null ? (score >= maxScore ? 'passed' : 'failed') : 'failed');
    return { name: t.name, score, maxScore, status, output: capText(t.output ?? '', opts.outputCap), visibility: t.visibility ?? opts.defaultVisibility ?? 'visible' };
  });
  for (const t of tests) {
    if (t.score !== null && (t.score < 0 || (t.maxScore !== null && t.score > t.maxScore))) {
      return ungradable(`results.json: test "${t.name}" has score ${t.score} outside 0..${t.maxScore ?? '∞'}.`, run, opts);
    }
  }
  let maxScore = r.max_score ?? (tests.some((t) => t.maxScore !== null) ? tests.reduce((s, t) => s + (t.maxScore ?? 0), 0) : null);
  let score = r.score ?? (tests.some((t) => t.score !== null) ? tests.reduce((s, t) => s + (t.score ?? 0), 0) : null);
  if (score === null) return ungradable('results.json has no score and no scored tests.', run, opts);
  // PrairieLearn style: a bare fraction in [0, 1].
  if (maxScore === null) {
    if (score < 0 || score > 1) return ungradable(`results.json: score ${score} without max_score must be a fraction in [0, 1].`, run, opts);
    maxScore = 1;
  }
  if (score < 0 || score > maxScore) return ungradable(`results.json: score ${score} is outside 0..${maxScore}.`, run, opts);
  score = Math.round(score * 1000) / 1000;
  return {
    status: score >= maxScore ? 'passed' : 'failed',
    score,
    maxScore,
    gradable: true,
    output: capText(r.output ?? (tests.length ? '' : tail(combined, opts.outputCap)), opts.outputCap),
    tests,
    problem: null,
  };
}

/** What a viewer may see of the tests: staff everything, students by each test's visibility. */
export function visibleTests(tests: TestOutcome[], viewer: { staff: boolean; afterDeadline: boolean }): TestOutcome[] {
  if (viewer.staff) return tests;
  return tests.filter((t) => t.visibility === 'visible' || (t.visibility === 'after_due_date' && viewer.afterDeadline));
}
