import type { TamperFlag } from './tamper.js';

/**
 * A run's grade: what the harness, the I/O judge or a legacy results file say of a submission,
 * before anything is stored or shown (the verdict a remote worker hands back).
 */

export type RunStatus = 'passed' | 'failed' | 'timeout' | 'memory' | 'output_limit' | 'crashed' | 'error';
/**
 * Who sees a test (or the output): always, once the student's deadline has passed, once staff
 * have published the grades (Gradescope's after_published), or staff only.
 */
export type Visibility = 'visible' | 'after_due_date' | 'after_published' | 'hidden';
/** How an output text is shown: Gradescope's output_format values (simple_format: text with paragraphs). */
export type OutputFormat = 'text' | 'simple_format' | 'md' | 'ansi' | 'html';
/** Which results dialect a bundle writes; decides what a bare top-level `score` means. */
export type ResultsFormat = 'auto' | 'gradescope' | 'prairielearn';

export interface ResultImage {
  label: string;
  /** A data: URL of a PNG, JPEG, GIF or WebP image (nothing else is kept). */
  url: string;
}

export interface TestOutcome {
  name: string;
  /** Gradescope's "number" ("1.2"): tests are ordered by it when given. */
  number: string | null;
  score: number | null;
  maxScore: number | null;
  status: 'passed' | 'failed';
  output: string;
  outputFormat: OutputFormat;
  visibility: Visibility;
  tags: string[];
  /** PrairieLearn's per-test description and message (shown with the output). */
  description: string;
  message: string;
  images: ResultImage[];
  /** Gradescope's per-test extra_data: kept for staff only. */
  extraData: unknown;
}

export interface LeaderboardEntry {
  name: string;
  value: number | string;
  order: 'asc' | 'desc';
}

export interface Grade {
  status: RunStatus;
  /** Null when the run could not be graded. */
  score: number | null;
  maxScore: number | null;
  /** False: the run says nothing about the student's work (it does not count against them). */
  gradable: boolean;
  /** Text shown to the student (capped), in `outputFormat`. */
  output: string;
  outputFormat: OutputFormat;
  tests: TestOutcome[];
  /** What went wrong, for the lecturer only. */
  problem: string | null;
  /** Signs of student code reaching outside its sandbox, for staff only (see tamper.ts). */
  tamper?: TamperFlag[];
  /** The harness's own stdout + stderr tail, shown by `stdoutVisibility` (Gradescope hides it by default). */
  stdout: string;
  stdoutVisibility: Visibility;
  /** PrairieLearn's top-level message; for `gradable: false` it says why, to student and staff. */
  message: string;
  /** PrairieLearn's format_errors, shown to the student: the submission is not in a gradable form. */
  formatErrors: string[];
  images: ResultImage[];
  /** Gradescope's top-level extra_data: staff only. */
  extraData: unknown;
  /** Seconds, as the harness reports (Gradescope's execution_time). */
  executionTime: number | null;
  leaderboard: LeaderboardEntry[];
  /**
   * A legacy run: student code shared the grader's sandbox (a bundle's test.command, or a
   * Gradescope/PrairieLearn grader imported unchanged), so the results are the grader's only as
   * far as the student let them be. Shown to staff, never to the student.
   */
  legacy?: boolean;
  /**
   * Tamper signs this run could not observe at all (unsafe mode has no network namespace whose
   * counters could be read): said to staff, so that no flag is not mistaken for a clean run.
   */
  unobserved?: string[];
}

/** The parts of a Grade kept in results.details (the rest have their own columns). */
export type GradeDetails = Pick<Grade, 'outputFormat' | 'stdout' | 'stdoutVisibility' | 'message' | 'formatErrors' | 'images' | 'extraData' | 'executionTime' | 'leaderboard' | 'legacy' | 'unobserved'>;

export const NO_DETAILS: GradeDetails = Object.freeze({
  outputFormat: 'text',
  stdout: '',
  stdoutVisibility: 'hidden',
  message: '',
  formatErrors: [],
  images: [],
  extraData: null,
  executionTime: null,
  leaderboard: [],
}) as GradeDetails;

export function gradeDetails(g: Grade): GradeDetails {
  return {
    outputFormat: g.outputFormat,
    stdout: g.stdout,
    stdoutVisibility: g.stdoutVisibility,
    message: g.message,
    formatErrors: g.formatErrors,
    images: g.images,
    extraData: g.extraData,
    executionTime: g.executionTime,
    leaderboard: g.leaderboard,
    ...(g.legacy ? { legacy: true } : {}),
    ...(g.unobserved?.length ? { unobserved: g.unobserved } : {}),
  };
}

/** A test as stored by an older version (before number, tags, formats...): filled with defaults. */
export function normaliseTest(t: Partial<TestOutcome> & { name: string }): TestOutcome {
  return {
    name: t.name,
    number: t.number ?? null,
    score: t.score ?? null,
    maxScore: t.maxScore ?? null,
    status: t.status ?? 'failed',
    output: t.output ?? '',
    outputFormat: t.outputFormat ?? 'text',
    visibility: t.visibility ?? 'visible',
    tags: t.tags ?? [],
    description: t.description ?? '',
    message: t.message ?? '',
    images: t.images ?? [],
    extraData: t.extraData ?? null,
  };
}

export function capText(text: string, cap: number): string {
  if (text.length <= cap) return text;
  return `${text.slice(0, cap)}\n… (${text.length - cap} more characters not shown)`;
}

export function tail(text: string, cap: number): string {
  if (text.length <= cap) return text;
  return `… (${text.length - cap} earlier characters not shown)\n${text.slice(-cap)}`;
}

export const UNGRADED_TEXT = 'This submission could not be graded automatically. It does not count against you; the teachers have been told.';

export function baseGrade(over: Partial<Grade> & Pick<Grade, 'status' | 'score' | 'maxScore' | 'gradable' | 'output' | 'problem'>): Grade {
  return { ...NO_DETAILS, tests: [], ...over };
}

/** The grade of a run that says nothing about the student's work: not counted against them. */
export function errorGrade(problem: string): Grade {
  return baseGrade({ status: 'error', score: null, maxScore: null, gradable: false, output: UNGRADED_TEXT, problem });
}
