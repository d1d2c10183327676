import { parseDocument } from 'yaml';
import { z } from 'zod';
import { gradingSchema, normaliseGrading } from '../review/config.js';
import {
  DEFAULT_BUNDLE_BYTES,
  DEFAULT_BUNDLE_FILES,
  DEFAULT_MAX_CALLS,
  DEFAULT_STUDENT_LIMITS,
  DEFAULT_WORK_DIR_BYTES,
  MAX_BUNDLE_BYTES,
  MAX_BUNDLE_FILES,
  type AssignmentConfig,
  type Layout,
  type Problem,
} from './config-types.js';
import { DURATION, duration, instant, parseDuration, parseInstant, size } from './units.js';

// The config's types and defaults (config-types.ts) and its units (units.ts) live apart; here
// too, for the many callers that know them from config.
export * from './config-types.js';
export { describeBytes, describeMs, parseDuration, parseInstant, parseSize } from './units.js';

/** Variables the sandbox sets itself. */
const RESERVED_ENV = new Set(['HOME', 'PWD']);


const visibility = z.enum(['visible', 'after_due_date', 'after_published', 'hidden'], { error: 'must be visible, after_due_date, after_published or hidden' });

const filePattern = z
  .string({ error: 'must be a file name or glob' })
  .min(1, 'must not be empty')
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\\') && !p.includes('\0'), 'must be a relative name without ".." or backslashes');

/**
 * An npm package the environment installs from the registry: npm's package-name grammar (lower
 * case, optional @scope/, no leading dot, underscore or dash) and an optional exact version or
 * semver range. Nothing npm would read as a path, URL, git or GitHub spec, tag or option passes.
 */
const NPM_PART = String.raw`v?(?:\d+|[xX*])(?:\.(?:\d+|[xX*])){0,2}(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?`;
const NPM_COMPARATOR = String.raw`(?:[~^]|[<>]=?|=)?${NPM_PART}`;
const NPM_RANGE = String.raw`(?:${NPM_PART} - ${NPM_PART}|${NPM_COMPARATOR}(?: ${NPM_COMPARATOR})*)`;
const NPM_NAME = String.raw`(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*`;
export const NPM_SPEC = new RegExp(String.raw`^${NPM_NAME}(?:@${NPM_RANGE}(?: \|\| ${NPM_RANGE})*)?$`);

const percent = z.number({ error: 'must be a number of percent (0 to 100)' }).min(0, 'must be at least 0').max(100, 'must be at most 100');

function argv(example: string) {
  return z
    .array(z.string({ error: 'each argument must be a string' }).min(1, 'an argument must not be empty'), { error: `must be a list of arguments (argv), like ${example}` })
    .min(1, 'must not be empty');
}

const caseSchema = z.strictObject({
  name: z.string({ error: 'must be text' }).trim().min(1, 'must not be empty').max(500, 'must be at most 500 characters'),
  stdin: z.string({ error: 'must be text' }).max(4 * 1024 ** 2, 'must be at most 4 MB').default(''),
  args: z.array(z.string({ error: 'each argument must be text' }), { error: 'must be a list of arguments' }).max(100).default([]),
  expected: z.string({ error: 'must be text' }).max(16 * 1024 ** 2, 'must be at most 16 MB').optional(),
  points: z.number({ error: 'must be a number' }).min(0, 'must be at least 0').max(1000, 'must be at most 1000').default(1),
  visibility: visibility.optional(),
});

const schema = z.strictObject({
  title: z.string({ error: 'is required: the assignment title' }).trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  opens: instant.optional(),
  deadline: instant,
  grace: duration('m', 7 * 86_400_000, '15m').default(0),
  late: z
    .strictObject({
      penalty_per_day: percent,
      cap: percent.default(100),
      hard_close: z.union([z.string(), z.number()], { error: 'must be a date with offset or a duration after the deadline, like "7d"' }),
    })
    .optional(),
  // `files: stats.py` is how most people write a single name; it means the list of that one name.
  files: z.preprocess(
    (v) => (typeof v === 'string' ? [v] : v),
    z.array(filePattern, { error: 'must be a file name or glob, or a list of them' }).min(1, 'must name at least one file'),
  ),
  max_upload_size: size(512 * 1024 ** 2, '1MB').default(1024 ** 2),
  max_files: z.number({ error: 'must be a whole number' }).int('must be a whole number').min(1, 'must be at least 1').max(1000, 'must be at most 1000').default(20),
  submissions_per_hour: z.number({ error: 'must be a whole number' }).int('must be a whole number').min(1, 'must be at least 1').max(10_000, 'must be at most 10000').optional(),
  counts: z.enum(['last', 'best'], { error: 'must be "last" or "best"' }).default('last'),
  team: z
    .strictObject({
      min: z.number({ error: 'must be a whole number' }).int('must be a whole number').min(1, 'must be at least 1').max(50, 'must be at most 50').default(1),
      max: z.number({ error: 'must be a whole number' }).int('must be a whole number').min(2, 'must be at least 2 (a team of one is no team)').max(50, 'must be at most 50'),
      formed_by: z.enum(['students', 'lecturer'], { error: 'must be "students" or "lecturer"' }).default('students'),
    })
    .optional(),
  points: z.number({ error: 'must be a number of points' }).positive('must be more than 0').max(100_000, 'must be at most 100000').optional(),
  layout: z.enum(['lectern', 'gradescope', 'prairielearn'], { error: 'must be lectern, gradescope or prairielearn' }).optional(),
  env: z
    .record(
      z.string(),
      z.union([z.string().max(4096).refine((v) => !v.includes('\0'), 'must not hold a NUL byte'), z.number(), z.boolean()], { error: 'must be a string, number or true/false' }),
      { error: (issue) => (issue.code === 'invalid_type' ? 'must be a mapping of NAME: value' : undefined) },
    )
    .refine((e) => Object.keys(e).length <= 64, 'at most 64 variables')
    .default({}),
  bundle: z
    .strictObject({
      max_files: z.number({ error: 'must be a whole number' }).int('must be a whole number').min(1, 'must be at least 1').max(MAX_BUNDLE_FILES, `must be at most ${MAX_BUNDLE_FILES}`).optional(),
      max_size: size(MAX_BUNDLE_BYTES, '300MB').optional(),
    })
    .default({}),
  environment: z
    .strictObject({
      debian: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+:~-]+)?$/, 'must be a Debian package name (optionally =version)'), { error: 'must be a list of Debian package names' }).max(500, 'at most 500 packages').default([]),
      python: z.array(z.string().min(1).max(200).regex(/^[A-Za-z0-9][A-Za-z0-9._\-[\],<>=!~ ]*$/, 'must be a requirement like numpy or numpy>=1.24'), { error: 'must be a list of requirements' }).max(200, 'at most 200 requirements').default([]),
      npm: z.array(z.string().max(300).regex(NPM_SPEC, 'must be an npm package name, optionally with @ and an exact version or semver range (is-odd, @scope/name@1.2.3, lodash@^4.17.0): no paths, URLs or git specs'), { error: 'must be a list of npm packages' }).max(200, 'at most 200 packages').default([]),
      oci: filePattern.optional(),
      setup: filePattern.optional(),
    })
    .optional(),
  test: z.strictObject(
    {
      grade_by: z.enum(['results', 'exit_code'], { error: 'must be "results" (the results file grades) or "exit_code" (exit 0 earns the points)' }).optional(),
      command: argv('[/usr/bin/python3, tests/run.py]').optional(),
      harness: argv('[/usr/bin/python3, tests/harness.py]').optional(),
      build: argv('[gcc, -O2, -o, prog, prog.c]').optional(),
      keep: z.array(filePattern, { error: 'must be a list of file names the build makes' }).max(50, 'must name at most 50 files').optional(),
      run: argv('[./prog]').optional(),
      compare: z.enum(['exact', 'trim', 'tokens'], { error: 'must be exact, trim or tokens' }).default('trim'),
      checker: argv('[/usr/bin/python3, tests/check.py]').optional(),
      cases: z.array(caseSchema, { error: 'must be a list of cases' }).min(1, 'must hold at least one case').max(500, 'must hold at most 500 cases').optional(),
      max_calls: z.number({ error: 'must be a whole number' }).int('must be a whole number').min(1, 'must be at least 1').max(10_000, 'must be at most 10000').default(DEFAULT_MAX_CALLS),
      student_limits: z
        .strictObject({
          wall: duration('s', 10 * 60_000, '10s').default(DEFAULT_STUDENT_LIMITS.wallMs),
          cpu: duration('s', 10 * 60_000, '10s').optional(),
          memory: size(8 * 1024 ** 3, '256MB', 16 * 1024 ** 2).default(DEFAULT_STUDENT_LIMITS.memoryBytes),
          output: size(64 * 1024 ** 2, '1MB', 1024).default(DEFAULT_STUDENT_LIMITS.outputBytes),
          processes: z.number({ error: 'must be a whole number' }).int('must be a whole number').min(1, 'must be at least 1').max(4096, 'must be at most 4096').default(DEFAULT_STUDENT_LIMITS.processes),
        })
        .default({ wall: DEFAULT_STUDENT_LIMITS.wallMs, memory: DEFAULT_STUDENT_LIMITS.memoryBytes, output: DEFAULT_STUDENT_LIMITS.outputBytes, processes: DEFAULT_STUDENT_LIMITS.processes }),
      limits: z
        .strictObject({
          wall: duration('s', 30 * 60_000, '60s').default(60_000),
          cpu: duration('s', 30 * 60_000, '30s').optional(),
          memory: size(8 * 1024 ** 3, '512MB', 16 * 1024 ** 2).default(512 * 1024 ** 2),
          output: size(64 * 1024 ** 2, '1MB', 1024).default(1024 ** 2),
          processes: z.number({ error: 'must be a whole number' }).int('must be a whole number').min(1, 'must be at least 1').max(4096, 'must be at most 4096').default(64),
          work_dir: size(4 * 1024 ** 3, '256MB', 16 * 1024 ** 2).default(DEFAULT_WORK_DIR_BYTES),
        })
        .default({ wall: 60_000, memory: 512 * 1024 ** 2, output: 1024 ** 2, processes: 64, work_dir: DEFAULT_WORK_DIR_BYTES }),
    },
    { error: 'is required: how the submission is tested (harness, cases or command) and its limits' },
  ).check(
    z.superRefine(
      (raw: unknown, ctx) => {
        // Raw input: reported together with the block's other problems, even when those make it unparsable.
        const t = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
        const ways = ['harness', 'cases', 'command'].filter((k) => t[k] !== undefined);
        if (ways.length === 1) return;
        ctx.addIssue({
          code: 'custom',
          message: ways.length
            ? `gives ${ways.join(' and ')}: choose one way of testing`
            : 'needs one way of testing: harness (your program, calling run_student), cases (declarative input/output tests) or command (legacy: student code shares the test sandbox)',
        });
      },
      { when: (payload) => typeof payload.value === 'object' && payload.value !== null },
    ),
  ),
  generator: z
    .strictObject({
      limits: z
        .strictObject({
          wall: duration('s', 60_000, '5s').default(5_000),
          memory: size(1024 ** 3, '256MB', 16 * 1024 ** 2).default(256 * 1024 ** 2),
        })
        .default({ wall: 5_000, memory: 256 * 1024 ** 2 }),
    })
    .default({ limits: { wall: 5_000, memory: 256 * 1024 ** 2 } }),
  feedback: z
    .strictObject({
      tests: visibility.default('visible'),
      output: visibility.default('visible'),
      score: visibility.default('visible'),
      total_with_hidden_tests: z.enum(['hidden', 'visible'], { error: 'must be hidden or visible' }).optional(),
    })
    .default({ tests: 'visible', output: 'visible', score: 'visible' }),
  grading: gradingSchema,
});

const FILE = 'assignment.yaml';

/** Programs a sandboxed command can name by absolute path. */
export const SANDBOX_SYSTEM_DIRS = /^\/(usr|bin|sbin)\//;
/** Where each layout puts the bundle's files: a command may start there too. */
export const LAYOUT_DIRS: Record<Layout, RegExp> = { lectern: /^\/work\//, gradescope: /^\/autograder\//, prairielearn: /^\/grade\// };

function issuesToProblems(issues: z.core.$ZodIssue[]): Problem[] {
  const out: Problem[] = [];
  for (const issue of issues) {
    const field = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ file: FILE, field: field ? `${field}.${key}` : key, message: 'unknown field (check the spelling)' });
    } else if (issue.code === 'invalid_type' && issue.input === undefined) {
      out.push({ file: FILE, field: field || '(top)', message: issue.message.startsWith('is required') ? issue.message : 'is required' });
    } else if (issue.code === 'invalid_type' && issue.message.startsWith('is required')) {
      // The field is there with the wrong type: "is required" would send the author looking for a typo.
      out.push({ file: FILE, field: field || '(top)', message: `must be ${issue.expected === 'array' ? 'a list' : issue.expected === 'object' ? 'a mapping of fields' : `a ${issue.expected}`}` });
    } else {
      out.push({ file: FILE, field: field || '(top)', message: issue.message });
    }
  }
  return out;
}

/** Parses and validates assignment.yaml; every problem at once, each with its field. */
export function parseAssignmentYaml(text: string): { config: AssignmentConfig | null; problems: Problem[] } {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    return {
      config: null,
      problems: doc.errors.map((e) => ({ file: FILE, field: e.linePos?.[0] ? `line ${e.linePos[0].line}` : '', message: (e.message.split('\n')[0] ?? 'not valid YAML').replace(/ at line \d+, column \d+:?$/, '') })),
    };
  }
  const raw: unknown = doc.toJS();
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { config: null, problems: [{ file: FILE, field: '', message: 'must be a YAML mapping of fields (title, deadline, files, test, ...)' }] };
  }
  // reportInput: a field that is present with the wrong type is told apart from a missing one.
  const parsed = schema.safeParse(raw, { reportInput: true });
  if (!parsed.success) return { config: null, problems: issuesToProblems(parsed.error.issues) };
  const y = parsed.data;
  const problems: Problem[] = [];
  const opensAt = y.opens ? parseInstant(y.opens) : null;
  const deadlineAt = parseInstant(y.deadline)!;
  if (opensAt !== null && opensAt >= deadlineAt) problems.push({ file: FILE, field: 'opens', message: 'must be before the deadline' });
  let hardCloseAt = deadlineAt + y.grace;
  if (y.late) {
    const hc = y.late.hard_close;
    const asInstant = typeof hc === 'string' ? parseInstant(hc) : null;
    const asDuration = asInstant === null ? parseDuration(hc, 'm') : null;
    if (asInstant !== null) hardCloseAt = asInstant;
    else if (asDuration !== null && typeof hc === 'string' && DURATION.test(hc.trim())) hardCloseAt = deadlineAt + asDuration;
    else {
      problems.push({
        file: FILE,
        field: 'late.hard_close',
        message: 'must be ISO 8601 with a time-zone offset (like 2026-10-22T23:59:00+02:00) or a duration after the deadline with a unit (like "7d")',
      });
    }
    if (hardCloseAt < deadlineAt + y.grace) problems.push({ file: FILE, field: 'late.hard_close', message: 'must not be before the deadline plus grace' });
  }
  const t = y.test;
  const ioOnly = (['build', 'keep', 'run', 'checker'] as const).filter((k) => t[k] !== undefined);
  if (!t.cases && ioOnly.length) problems.push({ file: FILE, field: `test.${ioOnly[0]}`, message: 'belongs to declarative tests: only with test.cases' });
  if (t.cases) {
    if (!t.run) problems.push({ file: FILE, field: 'test.run', message: 'is required with test.cases: the argv each case runs, like [./prog] or [/usr/bin/python3, prog.py]' });
    if (!t.checker) {
      t.cases.forEach((c, i) => {
        if (c.expected === undefined) problems.push({ file: FILE, field: `test.cases.${i}.expected`, message: 'is required without a test.checker' });
      });
    }
  }
  const layout = y.layout ?? 'lectern';
  for (const [field, cmd] of [['test.command', t.command], ['test.harness', t.harness], ['test.checker', t.checker], ['test.build', t.build], ['test.run', t.run]] as const) {
    const cmd0 = cmd?.[0] ?? '';
    // The layout's own folder holds the bundle's files (Gradescope's /autograder/run_autograder);
    // with its own environment the root is the assignment's, where any absolute path may exist.
    const layoutDir = field === 'test.command' || field === 'test.harness' ? LAYOUT_DIRS[layout].test(cmd0) : false;
    if (cmd0.startsWith('/') && !SANDBOX_SYSTEM_DIRS.test(cmd0) && !layoutDir && !y.environment) {
      problems.push({ file: FILE, field, message: `"${cmd0}" is outside /usr (and /bin, /sbin), the only system folders the sandbox offers` });
    }
  }
  if (y.team && y.team.min > y.team.max) problems.push({ file: FILE, field: 'team.min', message: `must not be more than team.max (${y.team.max})` });
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(y.env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(k)) problems.push({ file: FILE, field: `env.${k}`, message: 'names must be letters, digits and _ (not starting with a digit)' });
    else if (RESERVED_ENV.has(k)) problems.push({ file: FILE, field: `env.${k}`, message: 'is set by the sandbox and cannot be changed' });
    env[k] = String(v);
  }
  if (problems.length) return { config: null, problems };
  const wallMs = y.test.limits.wall;
  return {
    problems: [],
    config: {
      title: y.title,
      opens: y.opens ?? null,
      opensAt,
      deadline: y.deadline,
      deadlineAt,
      graceMs: y.grace,
      late: { penaltyPerDay: y.late?.penalty_per_day ?? 0, cap: y.late?.cap ?? 0, hardCloseAt },
      files: y.files,
      maxUploadBytes: y.max_upload_size,
      maxFiles: y.max_files,
      submissionsPerHour: y.submissions_per_hour ?? null,
      counts: y.counts,
      team: y.team ? { min: y.team.min, max: y.team.max, formedBy: y.team.formed_by } : null,
      points: y.points ?? null,
      layout,
      env,
      bundle: { maxFiles: y.bundle.max_files ?? DEFAULT_BUNDLE_FILES, maxBytes: y.bundle.max_size ?? DEFAULT_BUNDLE_BYTES },
      environment: y.environment
        ? { debian: [...new Set(y.environment.debian)].sort(), python: [...new Set(y.environment.python)].sort(), npm: [...new Set(y.environment.npm)].sort(), oci: y.environment.oci ?? null, setup: y.environment.setup ?? null }
        : null,
      test: {
        mode: t.harness ? 'harness' : t.cases ? 'io' : 'legacy',
        // Gradescope and PrairieLearn graders always write a results file (a missing one is their
        // failure); Lectern's own test commands were graded by exit code without one, and still are.
        gradeBy: y.test.grade_by ?? (layout === 'lectern' ? 'exit_code' : 'results'),
        command: t.harness ?? t.command ?? [],
        limits: {
          wallMs,
          cpuSeconds: Math.max(1, Math.ceil((y.test.limits.cpu ?? wallMs) / 1000)),
          memoryBytes: y.test.limits.memory,
          outputBytes: y.test.limits.output,
          processes: y.test.limits.processes,
          workDirBytes: y.test.limits.work_dir,
        },
        studentLimits: {
          wallMs: t.student_limits.wall,
          cpuSeconds: Math.max(1, Math.ceil((t.student_limits.cpu ?? t.student_limits.wall) / 1000)),
          memoryBytes: t.student_limits.memory,
          outputBytes: t.student_limits.output,
          processes: t.student_limits.processes,
        },
        maxCalls: t.max_calls,
        io: t.cases
          ? {
              build: t.build ?? null,
              keep: t.keep ?? (t.build && t.run?.[0]?.startsWith('./') ? [t.run[0].slice(2)] : []),
              run: t.run!,
              compare: t.compare,
              checker: t.checker ?? null,
              cases: t.cases.map((c) => ({ name: c.name, stdin: c.stdin, args: c.args, expected: c.expected ?? null, points: c.points, visibility: c.visibility ?? null })),
            }
          : null,
      },
      generator: {
        limits: {
          wallMs: y.generator.limits.wall,
          cpuSeconds: Math.max(1, Math.ceil(y.generator.limits.wall / 1000)),
          memoryBytes: y.generator.limits.memory,
        },
      },
      feedback: {
        tests: y.feedback.tests,
        output: y.feedback.output,
        score: y.feedback.score,
        // Gradescope's rule for its graders (a total that includes hidden tests gives them away);
        // Lectern's own bundles show the total unless they say otherwise, as they always did.
        totalWithHiddenTests: y.feedback.total_with_hidden_tests ?? (layout === 'lectern' ? 'visible' : 'hidden'),
      },
      grading: normaliseGrading(y.grading),
    },
  };
}
