import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/index.js';
import { validateBundleDir } from '../../src/plugins/assignments/bundle.js';
import { formatProblem, parseAssignmentYaml } from '../../src/plugins/assignments/config.js';
import { loadConfig } from '../../src/config.js';

const BASE = `title: Libraries
deadline: 2027-06-15T23:59:00+02:00
files: [a.py]
test:
  command: [/usr/bin/python3, tests/run.py]
`;

function bundleWith(yaml: string, files: number): string {
  const dir = tempDir('lectern-caps-');
  writeFileSync(path.join(dir, 'assignment.yaml'), yaml);
  writeFileSync(path.join(dir, 'statement.md'), '# Libraries\n');
  mkdirSync(path.join(dir, 'tests', 'lib'), { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(path.join(dir, 'tests', 'lib', `m${i}.py`), 'x = 1\n');
  return dir;
}

describe('per-assignment caps, env and work dir', () => {
  it('a bundle carrying its libraries may raise its own file cap; without it the default holds', async () => {
    const over = await validateBundleDir(bundleWith(BASE, 2001));
    expect(over.problems.map(formatProblem)).toContain('(bundle): has 2003 files; at most 2000 are allowed');
    const raised = await validateBundleDir(bundleWith(`${BASE}bundle:\n  max_files: 3000\n  max_size: 300MB\n`, 2001));
    expect(raised.problems).toEqual([]);
    expect(raised.config!.bundle).toEqual({ maxFiles: 3000, maxBytes: 300 * 1024 ** 2 });
  });

  it('the operator\'s maxima (LECTERN_BUNDLE_MAX_FILES / _BYTES) bound what a bundle may ask for', async () => {
    const ceiling = { maxFiles: 2500, maxBytes: 200 * 1024 ** 2 };
    const asked = await validateBundleDir(bundleWith(`${BASE}bundle:\n  max_files: 3000\n  max_size: 300MB\n`, 10), undefined, ceiling);
    expect(asked.problems.map(formatProblem)).toEqual([
      'assignment.yaml: bundle.max_files: must be at most 2500 on this server (LECTERN_BUNDLE_MAX_FILES)',
      `assignment.yaml: bundle.max_size: must be at most ${200 * 1024 ** 2} bytes on this server (LECTERN_BUNDLE_MAX_BYTES)`,
    ]);
    const within = await validateBundleDir(bundleWith(`${BASE}bundle:\n  max_files: 2500\n`, 2001), undefined, ceiling);
    expect(within.problems).toEqual([]);
    expect(loadConfig({ LECTERN_BUNDLE_MAX_FILES: '5000', LECTERN_BUNDLE_MAX_BYTES: String(300 * 1024 ** 2) })).toMatchObject({ bundleMaxFiles: 5000, bundleMaxBytes: 300 * 1024 ** 2 });
  });

  it('caps cannot go past the server maximum', () => {
    const { problems } = parseAssignmentYaml(`${BASE}bundle:\n  max_files: 50000\n  max_size: 5GB\n`);
    expect(problems.map(formatProblem)).toEqual(['assignment.yaml: bundle.max_files: must be at most 20000', 'assignment.yaml: bundle.max_size: must be between 1 bytes and 1 GB']);
  });

  it('env: variables for every run; names checked, HOME and PWD are the sandbox\'s', () => {
    const ok = parseAssignmentYaml(`${BASE}env:\n  JAVA_TOOL_OPTIONS: -Xss1m\n  RETRIES: 3\n  DEBUG: false\n`);
    expect(ok.config!.env).toEqual({ JAVA_TOOL_OPTIONS: '-Xss1m', RETRIES: '3', DEBUG: 'false' });
    const bad = parseAssignmentYaml(`${BASE}env:\n  1BAD: x\n`);
    expect(bad.problems.map(formatProblem)).toEqual(['assignment.yaml: env.1BAD: names must be letters, digits and _ (not starting with a digit)']);
    const reserved = parseAssignmentYaml(`${BASE}env:\n  HOME: /root\n`);
    expect(reserved.problems.map(formatProblem)).toEqual(['assignment.yaml: env.HOME: is set by the sandbox and cannot be changed']);
  });

  it('test.limits.work_dir sizes the work dir; layout and grade_by have defaults', () => {
    const { config } = parseAssignmentYaml(`${BASE.replace('test:\n', 'test:\n  limits:\n    work_dir: 1GB\n')}`);
    expect(config!.test.limits.workDirBytes).toBe(1024 ** 3);
    expect(config!).toMatchObject({ layout: 'lectern', points: null, test: { gradeBy: 'exit_code' }, environment: null });
    expect(parseAssignmentYaml(`layout: gradescope\n${BASE}`).config!.test.gradeBy).toBe('results');
    expect(parseAssignmentYaml(`${BASE}  grade_by: results\n`).config!.test.gradeBy).toBe('results');
  });
});
