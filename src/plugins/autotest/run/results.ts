import { z } from 'zod';
import type { SandboxResult } from '../../../lib/sandbox/types.js';
import { baseGrade, capText, errorGrade, tail, UNGRADED_TEXT, type Grade, type ResultImage, type ResultsFormat, type TestOutcome, type Visibility } from './grade.js';

/**
 * Reading a run's verdict: a results.json (Gradescope's, or PrairieLearn's results read as well)
 * or the exit code, into a Grade.
 */
export interface InterpretOptions {
  /** The assignment's points: the maximum when results name none (and what exit code 0 earns). */
  points: number | null;
  /** Cap on each output shown to students (characters). */
  outputCap: number;
  /** Default visibility of tests that don't say. */
  defaultVisibility?: Visibility;
  /** exit_code: without a results file, exit 0 earns the points. results: the file is required. */
  gradeBy?: 'results' | 'exit_code';
  format?: ResultsFormat;
}

const num = z.number().finite();
const visibility = z.enum(['visible', 'after_due_date', 'after_published', 'hidden']);
const outputFormat = z.enum(['text', 'simple_format', 'md', 'ansi', 'html']);
/** Harnesses write numbers as 1.2 or "1.2"; both are kept as text. */
const testNumber = z.union([z.string().max(50), num]).transform((v) => String(v));
const image = z.object({ label: z.string().max(500).optional(), url: z.string().max(4 * 1024 * 1024) });
/** PrairieLearn writes format_errors as a list or as an object of field -> message(s). */
const formatErrors = z.union([z.array(z.unknown()), z.record(z.string(), z.unknown()), z.string()]);
const extra = z.unknown();

const testSchema = z.object({
  name: z.string().max(500).optional(),
  number: testNumber.optional(),
  score: num.optional(),
  max_score: num.nonnegative().optional(),
  points: num.optional(),
  max_points: num.nonnegative().optional(),
  status: z.enum(['passed', 'failed']).optional(),
  output: z.string().optional(),
  output_format: outputFormat.optional(),
  visibility: visibility.optional(),
  tags: z.array(z.string().max(100)).max(50).optional(),
  extra_data: extra.optional(),
  description: z.string().optional(),
  message: z.string().optional(),
  images: z.array(image).max(20).optional(),
});
const resultsSchema = z.object({
  score: num.optional(),
  max_score: num.nonnegative().optional(),
  points: num.optional(),
  max_points: num.nonnegative().optional(),
  output: z.string().optional(),
  output_format: outputFormat.optional(),
  test_output_format: outputFormat.optional(),
  visibility: visibility.optional(),
  stdout_visibility: visibility.optional(),
  execution_time: num.nonnegative().optional(),
  extra_data: extra.optional(),
  leaderboard: z
    .array(z.object({ name: z.string().max(200), value: z.union([num, z.string().max(200)]), order: z.enum(['asc', 'desc']).optional() }))
    .max(50)
    .optional(),
  gradable: z.boolean().optional(),
  succeeded: z.boolean().optional(),
  message: z.string().optional(),
  format_errors: formatErrors.optional(),
  images: z.array(image).max(20).optional(),
  tests: z.array(testSchema).max(1000).optional(),
});
type RawResults = z.infer<typeof resultsSchema>;

const SANDBOX_STATUS_TEXT: Record<string, string> = {
  timeout: 'The tests ran out of time. Look for an endless loop or a very slow algorithm.',
  memory: 'The tests ran out of memory.',
  output_limit: 'The program printed too much output.',
  crashed: 'The program crashed.',
};

function harnessText(run: SandboxResult, cap: number): string {
  return `--- stdout ---\n${tail(run.stdout, cap)}\n--- stderr ---\n${tail(run.stderr, cap)}`;
}

function ungradable(problem: string, run: SandboxResult, opts: InterpretOptions): Grade {
  return errorGrade(`${problem}\n${harnessText(run, opts.outputCap)}`);
}

/** Only raster images as data: URLs: nothing that could fetch, track or script. */
const DATA_IMAGE = /^data:image\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]+$/;

function images(list: Array<{ label?: string | undefined; url: string }> | undefined): ResultImage[] {
  return (list ?? []).filter((i) => DATA_IMAGE.test(i.url)).map((i) => ({ label: i.label ?? '', url: i.url.replace(/\s+/g, '') }));
}

/** Anything PrairieLearn's format_errors may hold, as lines of text. */
function errorLines(v: unknown, prefix = ''): string[] {
  if (v === undefined || v === null || v === false) return [];
  if (typeof v === 'string') return [prefix ? `${prefix}: ${v}` : v];
  if (typeof v === 'number' || typeof v === 'boolean') return [prefix ? `${prefix}: ${String(v)}` : String(v)];
  if (Array.isArray(v)) return v.flatMap((x) => errorLines(x, prefix));
  if (typeof v === 'object') return Object.entries(v as Record<string, unknown>).flatMap(([k, x]) => errorLines(x, prefix ? `${prefix}.${k}` : k));
  return [];
}

/** "1.10" after "1.9": compares dotted numbers part by part, numerically where both are numbers. */
export function compareTestNumbers(a: string, b: string): number {
  const pa = a.split('.');
  const pb = b.split('.');
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = Number(x);
    const ny = Number(y);
    const c = x !== '' && y !== '' && Number.isFinite(nx) && Number.isFinite(ny) ? nx - ny : x < y ? -1 : x > y ? 1 : 0;
    if (c !== 0) return c;
  }
  return 0;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** Which dialect a results file is in, when the bundle does not say. */
function dialectOf(r: RawResults, format: ResultsFormat): 'gradescope' | 'prairielearn' {
  if (format !== 'auto') return format;
  if (r.max_score !== undefined || (r.tests ?? []).some((t) => t.max_score !== undefined || t.score !== undefined)) return 'gradescope';
  const pl =
    r.succeeded !== undefined ||
    r.message !== undefined ||
    r.format_errors !== undefined ||
    r.images !== undefined ||
    r.points !== undefined ||
    (r.tests ?? []).some((t) => t.points !== undefined || t.max_points !== undefined);
  // A bare {"score": 0.5} is read as PrairieLearn's fraction unless the score could not be one.
  return pl || (r.score !== undefined && r.score >= 0 && r.score <= 1) ? 'prairielearn' : 'gradescope';
}

/**
 * Turns a sandbox run into a grade. The run's own limits (time, memory, output) are the
 * student's; a missing or broken results file or a sandbox failure is not, and is marked
 * ungradable (unless the bundle grades by exit code).
 */
export function interpretRun(run: SandboxResult, resultsFile: Buffer | undefined, opts: InterpretOptions): Grade {
  const combined = [run.stdout, run.stderr].filter(Boolean).join('\n');
  const points = opts.points ?? 1;
  if (run.status === 'error') return ungradable(`The sandbox failed: ${run.message ?? 'unknown error'}`, run, opts);
  if (run.status !== 'ok') {
    return baseGrade({
      status: run.status,
      score: 0,
      maxScore: points,
      gradable: true,
      output: `${SANDBOX_STATUS_TEXT[run.status] ?? ''}\n${tail(combined, opts.outputCap)}`.trim(),
      problem: null,
    });
  }
  if (!resultsFile) {
    if (opts.gradeBy !== 'exit_code') {
      return ungradable(
        `The test command ended (exit code ${run.exitCode ?? '?'}) without writing its results file. The bundle grades by results file; write "grade_by: exit_code" under test: in assignment.yaml to let the exit code grade instead.`,
        run,
        opts,
      );
    }
    const passed = run.exitCode === 0;
    return baseGrade({
      status: passed ? 'passed' : 'failed',
      score: passed ? points : 0,
      maxScore: points,
      gradable: true,
      output: tail(combined, opts.outputCap),
      problem: null,
    });
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
  return fromResults(parsed.data, run, opts);
}

function fromResults(r: RawResults, run: SandboxResult, opts: InterpretOptions): Grade {
  const cap = opts.outputCap;
  const dialect = dialectOf(r, opts.format ?? 'auto');
  const stdout = tail([run.stdout, run.stderr].filter(Boolean).join('\n'), cap);
  const common = {
    outputFormat: r.output_format ?? 'text',
    stdout,
    // Gradescope: the autograder's stdout is for instructors unless results.json says otherwise.
    stdoutVisibility: r.stdout_visibility ?? 'hidden',
    message: capText(r.message ?? '', cap),
    formatErrors: errorLines(r.format_errors).slice(0, 100).map((l) => capText(l, 1000)),
    images: images(r.images),
    extraData: r.extra_data ?? null,
    executionTime: r.execution_time ?? null,
    leaderboard: (r.leaderboard ?? []).map((e) => ({ name: e.name, value: e.value, order: e.order ?? 'desc' })),
  } satisfies Partial<Grade>;

  if (r.succeeded === false) {
    return ungradable(`results.json says the grader itself failed ("succeeded": false).${r.message ? ` Its message: ${r.message}` : ''}`, run, opts);
  }
  if (r.gradable === false || common.formatErrors.length) {
    // PrairieLearn: the submission could not be graded as it stands (it does not compile, a file
    // is missing): the student is told why and it does not count; staff see the same and the log.
    const why = [common.message, ...common.formatErrors].filter(Boolean).join('\n');
    return {
      ...baseGrade({
        status: 'error',
        score: null,
        maxScore: null,
        gradable: false,
        output: r.output !== undefined ? capText(r.output, cap) : why ? '' : UNGRADED_TEXT,
        problem: `results.json says the submission is not gradable ("gradable": false).\n${why}\n${harnessText(run, cap)}`,
      }),
      ...common,
    };
  }

  const defaultVisibility = r.visibility ?? opts.defaultVisibility ?? 'visible';
  const testFormat = r.test_output_format ?? 'text';
  const indexed = (r.tests ?? []).map((t, i) => {
    const maxScore = t.max_score ?? t.max_points ?? null;
    const score = t.score ?? t.points ?? null;
    const status = t.status ?? (score !== null && maxScore !== null ? (score >= maxScore ? 'passed' : 'failed') : 'failed');
    const outcome: TestOutcome = {
      name: t.name ?? (t.number !== undefined ? `Test ${t.number}` : `Test ${i + 1}`),
      number: t.number ?? null,
      score,
      maxScore,
      status,
      output: capText(t.output ?? '', cap),
      outputFormat: t.output_format ?? testFormat,
      visibility: t.visibility ?? defaultVisibility,
      tags: t.tags ?? [],
      description: capText(t.description ?? '', 2000),
      message: capText(t.message ?? '', cap),
      images: images(t.images),
      extraData: t.extra_data ?? null,
    };
    return { outcome, i };
  });
  // Numbered tests in their number's order (unnumbered ones after, as written).
  indexed.sort((a, b) => {
    const x = a.outcome.number;
    const y = b.outcome.number;
    if (x !== null && y !== null) return compareTestNumbers(x, y) || a.i - b.i;
    if (x !== null) return -1;
    if (y !== null) return 1;
    return a.i - b.i;
  });
  const tests = indexed.map((x) => x.outcome);

  const testMax = tests.some((t) => t.maxScore !== null) ? tests.reduce((s, t) => s + (t.maxScore ?? 0), 0) : null;
  const testSum = tests.some((t) => t.score !== null) ? tests.reduce((s, t) => s + (t.score ?? 0), 0) : null;
  let score: number | null;
  let maxScore: number | null;
  if (dialect === 'prairielearn') {
    maxScore = r.max_points ?? testMax ?? opts.points ?? 1;
    if (r.points !== undefined) score = r.points;
    else if (r.score !== undefined) {
      if (r.score < 0 || r.score > 1) return ungradable(`results.json: PrairieLearn's "score" must be a fraction from 0 to 1, not ${r.score}.`, run, opts);
      score = r.score * maxScore;
    } else score = testSum;
  } else {
    maxScore = r.max_score ?? testMax ?? opts.points;
    // Gradescope: a top-level score overrides the tests' sum.
    score = r.score ?? testSum;
  }
  if (score === null) return ungradable('results.json has no score and no scored tests.', run, opts);
  if (maxScore === null) {
    return ungradable(`results.json gives a score of ${score} but no maximum: give max_score in results.json, scores per test, or points: in assignment.yaml.`, run, opts);
  }
  // Negative points on a test are penalties (allowed); a negative total is a harness bug.
  if (score < 0) return ungradable(`results.json: the total score ${score} is below zero.`, run, opts);
  score = round(score);
  maxScore = round(maxScore);
  return {
    ...baseGrade({
      // Extra credit (score above the maximum) is kept as it is.
      status: score >= maxScore ? 'passed' : 'failed',
      score,
      maxScore,
      gradable: true,
      output: capText(r.output ?? '', cap),
      problem: null,
    }),
    ...common,
    tests,
  };
}
