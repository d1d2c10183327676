import type { GradingConfig } from '../review/config.js';

/** One thing wrong with a bundle, for the lecturer: which file, which field, what to do. */
export interface Problem {
  file: string;
  /** Dotted field path inside the file, or "" for the file as a whole. */
  field: string;
  message: string;
}

export function formatProblem(p: Problem): string {
  return p.field ? `${p.file}: ${p.field}: ${p.message}` : `${p.file}: ${p.message}`;
}

export type Visibility = 'visible' | 'after_due_date' | 'after_published' | 'hidden';

/**
 * Where a run finds its files, as the autograder expects them: Lectern's own (the submission,
 * tests/ and params.json in /work), Gradescope's (/autograder/source, /autograder/submission,
 * /autograder/results/results.json) or PrairieLearn's external grader (/grade/tests,
 * /grade/student, /grade/data/data.json, /grade/results/results.json).
 */
export type Layout = 'lectern' | 'gradescope' | 'prairielearn';

/** What the assignment's sandboxes run on instead of the host's /usr (see environments). */
export interface EnvironmentSpec {
  debian: string[];
  python: string[];
  /** npm packages (name, name@version or name@range) installed from the registry when the root is built. */
  npm: string[];
  /** A bundle path of an OCI image archive (docker save / podman save output). */
  oci: string | null;
  /** A bundle path: a script run once as root inside the new root when it is built (Gradescope's setup.sh). */
  setup: string | null;
}

export interface RunLimits {
  wallMs: number;
  cpuSeconds: number;
  memoryBytes: number;
  outputBytes: number;
  processes: number;
}

/** One declarative I/O case; stdin, args and expected are templates over the variant's parameters. */
export interface IoCase {
  name: string;
  stdin: string;
  args: string[];
  /** Null: the checker decides. */
  expected: string | null;
  points: number;
  visibility: Visibility | null;
}

export interface IoTests {
  /** Run once in a student sandbox before the cases; its `keep` files are handed to every case. */
  build: string[] | null;
  keep: string[];
  run: string[];
  compare: 'exact' | 'trim' | 'tokens';
  /** Run in a trusted sandbox beside tests/ to judge a case's output. */
  checker: string[] | null;
  cases: IoCase[];
}

/**
 * How a bundle grades. `harness`: the lecturer's program runs alone in the harness sandbox and
 * reaches student code only through run_student; `io`: Lectern runs declarative cases and judges
 * them itself; `legacy`: the old single sandbox where student code shares the test's work dir.
 */
export type TestMode = 'legacy' | 'harness' | 'io';

export interface TestConfig {
  /** Absent in versions stored before the modes existed: those are legacy. */
  mode?: TestMode;
  /** The legacy test command or the harness; empty for io. */
  command: string[];
  /** The whole run (the harness sandbox; for io the sum of every step); workDirBytes absent in older versions. */
  limits: RunLimits & { workDirBytes?: number };
  /**
   * results: a run without a results file could not be graded; exit_code: exit 0 earns the points.
   * Absent in versions stored before it existed: exit_code (what they did).
   */
  gradeBy?: 'results' | 'exit_code';
  /** Each student sandbox (one run_student call, the build, one case). */
  studentLimits?: RunLimits;
  /** run_student calls per run. */
  maxCalls?: number;
  io?: IoTests | null;
}

export const DEFAULT_STUDENT_LIMITS: RunLimits = Object.freeze({ wallMs: 10_000, cpuSeconds: 10, memoryBytes: 256 * 1024 ** 2, outputBytes: 1024 ** 2, processes: 32 });
export const DEFAULT_MAX_CALLS = 200;

/** The test settings with the defaults of versions stored before the modes existed. */
export function testPlanOf(config: AssignmentConfig): Required<TestConfig> {
  const t = config.test;
  return { mode: t.mode ?? 'legacy', command: t.command, limits: t.limits, gradeBy: t.gradeBy ?? 'exit_code', studentLimits: t.studentLimits ?? DEFAULT_STUDENT_LIMITS, maxCalls: t.maxCalls ?? DEFAULT_MAX_CALLS, io: t.io ?? null };
}

/** The normalised assignment.yaml: times in epoch ms, durations in ms, sizes in bytes. */
export interface AssignmentConfig {
  title: string;
  /** ISO text as written (for display) and the instant. Null: open from the import on. */
  opens: string | null;
  opensAt: number | null;
  deadline: string;
  deadlineAt: number;
  graceMs: number;
  late: {
    /** Percent of the score taken per started day after deadline + grace. */
    penaltyPerDay: number;
    /** Largest total penalty, percent. */
    cap: number;
    /** After this instant nothing is accepted. Without a late policy: deadline + grace. */
    hardCloseAt: number;
  };
  /** File names or globs a submission must consist of. */
  files: string[];
  maxUploadBytes: number;
  maxFiles: number;
  /** Null: no limit. */
  submissionsPerHour: number | null;
  counts: 'last' | 'best';
  /** A team assignment: team sizes and who may form teams (the lecturer always may). Null: everyone alone. */
  team: { min: number; max: number; formedBy: 'students' | 'lecturer' } | null;
  /** The assignment's points: the maximum when the results name none. Null: from the results (or 1). */
  points: number | null;
  layout: Layout;
  test: TestConfig;
  /** Extra environment variables of every run (the sandbox's environment is otherwise empty). */
  env: Record<string, string>;
  /** Caps on the bundle itself (files, bytes), above the defaults for bundles that carry libraries. */
  bundle: { maxFiles: number; maxBytes: number };
  environment: EnvironmentSpec | null;
  generator: {
    limits: { wallMs: number; cpuSeconds: number; memoryBytes: number };
  };
  feedback: {
    /** Default for a test in results.json that names no visibility. */
    tests: Visibility;
    /** The top-level "output" of results.json. */
    output: Visibility;
    /** The total score. */
    score: Visibility;
    /**
     * hidden (Gradescope's rule): while some tests are hidden from a student, so is the total
     * they are part of. visible: the lecturer shows the total anyway.
     */
    totalWithHiddenTests: 'hidden' | 'visible';
  };
  /** Final-score rule, rubric and regrade window (the review plugin's); absent in versions stored before it. */
  grading?: GradingConfig;
}

/** Bundle caps: the defaults, and the most an assignment.yaml may raise them to. */
export const DEFAULT_BUNDLE_FILES = 2000;
export const DEFAULT_BUNDLE_BYTES = 100 * 1024 ** 2;
export const MAX_BUNDLE_FILES = 20_000;
export const MAX_BUNDLE_BYTES = 1024 ** 3;
export const DEFAULT_WORK_DIR_BYTES = 128 * 1024 ** 2;
