import { chmodSync, cpSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEMO_CONTENT, tempDir } from './index.js';

/** A copy of the demo course in a temporary folder, for a test to add to or change. */
export function copyDemoContent(): string {
  const dir = tempDir('lectern-content-');
  cpSync(DEMO_CONTENT, dir, { recursive: true });
  return dir;
}

export interface ShellAssignment {
  title: string;
  opens: string;
  deadline: string;
  /** The body of tests/run.sh (after #!/bin/sh), run in the sandbox beside the student's answer.txt. */
  script: string;
  /** statement.md; "# <title>" when omitted. */
  statement?: string;
  maxUpload?: string;
  counts?: 'last' | 'best';
  submissionsPerHour?: number;
  wall: string;
  memory?: string;
  /** results: a run without results.json could not be graded (the default of assignment.yaml); exit_code: exit 0 passes. */
  gradeBy?: 'results' | 'exit_code';
  /** feedback.total_with_hidden_tests (absent: the default of the layout). */
  totalWithHiddenTests?: 'hidden' | 'visible';
}

/**
 * Adds an assignment `slug` to a course folder: one file answer.txt, its test a shell script,
 * everything in the feedback visible. Returns the assignment's folder (for fixture files).
 */
export function writeShellAssignment(courseDir: string, slug: string, a: ShellAssignment): string {
  const dir = path.join(courseDir, 'assignments', slug);
  mkdirSync(path.join(dir, 'tests'), { recursive: true });
  writeFileSync(
    path.join(dir, 'assignment.yaml'),
    [
      `title: ${a.title}`,
      `opens: ${a.opens}`,
      `deadline: ${a.deadline}`,
      'files: [answer.txt]',
      `max_upload_size: ${a.maxUpload ?? '4KB'}`,
      'max_files: 1',
      ...(a.submissionsPerHour ? [`submissions_per_hour: ${a.submissionsPerHour}`] : []),
      `counts: ${a.counts ?? 'last'}`,
      'test:',
      // These fixtures grade by exit code unless their script writes results.json.
      `  grade_by: ${a.gradeBy ?? 'exit_code'}`,
      '  command: [/bin/sh, tests/run.sh]',
      '  limits:',
      `    wall: ${a.wall}`,
      ...(a.memory ? [`    memory: ${a.memory}`] : []),
      'feedback:',
      '  tests: visible',
      '  output: visible',
      '  score: visible',
      ...(a.totalWithHiddenTests ? [`  total_with_hidden_tests: ${a.totalWithHiddenTests}`] : []),
      '',
    ].join('\n'),
  );
  writeFileSync(path.join(dir, 'statement.md'), a.statement ?? `# ${a.title}\n`);
  writeFileSync(path.join(dir, 'tests', 'run.sh'), `#!/bin/sh\n${a.script}`);
  chmodSync(path.join(dir, 'tests', 'run.sh'), 0o755);
  return dir;
}
