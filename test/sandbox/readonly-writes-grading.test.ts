import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { copyDemoContent } from '../helpers/content.js';
import { createTestApp, type TestApp } from '../helpers/index.js';
import { upload, waitForResult, type StatusJson } from '../helpers/submit.js';

/**
 * The write observer end to end: a declarative I/O assignment graded through upload -> queue ->
 * student sandbox -> result. A submission that tries to write to /usr gets the score its output
 * earns, and the attempt reaches staff (the submission, the dashboard), never the student.
 */

function content(): string {
  const dir = copyDemoContent();
  const upper = path.join(dir, 'assignments', 'upper');
  mkdirSync(upper, { recursive: true });
  writeFileSync(
    path.join(upper, 'assignment.yaml'),
    `title: Upper case
opens: 2026-09-01T08:00:00+02:00
deadline: 2026-10-15T23:59:00+02:00
files: [upper.py]
max_files: 1
test:
  run: [/usr/bin/python3, upper.py]
  limits: { wall: 40s }
  student_limits: { wall: 4s }
  cases:
    - name: shouts hello
      stdin: "hello\\n"
      expected: "HELLO\\n"
      points: 2
`,
  );
  writeFileSync(path.join(upper, 'statement.md'), '# Upper case\n\nPrint standard input in upper case.\n');
  return dir;
}

let t: TestApp;
let student: SignedInAgent;
let tutor: SignedInAgent;

beforeAll(async () => {
  t = await createTestApp({ config: { graders: 1, contentDir: content() } });
  student = await signIn(t, { name: 'Wendy Writer' });
  tutor = await signIn(t, { role: 'tutor' });
});
afterAll(async () => {
  await t.close();
});

async function grade(source: string): Promise<{ id: number; mine: StatusJson; staff: StatusJson }> {
  const res = await upload(student, 'prog1', 'upper', [{ name: 'upper.py', content: source }]);
  expect(res.status, await res.clone().text()).toBe(201);
  const { id } = (await res.json()) as { id: number };
  return { id, mine: await waitForResult(student, 'prog1', id, 120_000), staff: await waitForResult(tutor, 'prog1', id, 120_000) };
}

describe('a write to a read-only mount during grading', () => {
  it('is flagged to staff on the submission and the dashboard, not to the student, and the score is the output\'s', async () => {
    const hostile = `import sys
try:
    open("/usr/lib/python3/dist-packages/planted.py", "w").write("x")
except OSError:
    pass
sys.stdout.write(sys.stdin.read().upper())
`;
    const g = await grade(hostile);
    expect(g.mine.result).toMatchObject({ status: 'passed', score: 2 });
    const flags = g.staff.result!.tamper.filter((f) => f.kind === 'readonly_write');
    expect(flags.length).toBe(1);
    expect(flags[0]!.detail).toMatch(/tried to write to a read-only mount .*1 time, e\.g\. \/usr\/lib\/python3\/dist-packages\/planted\.py/);

    const status = await (await student.fetch(`/courses/prog1/submissions/${g.id}/status`)).text();
    const page = (await student.get(`/courses/prog1/submissions/${g.id}`)).text;
    expect(g.mine.result!.tamper).toEqual([]);
    for (const text of [status, page]) {
      expect(text).not.toContain('planted.py');
      expect(text).not.toMatch(/read-only mount|tamper sign/i);
    }
    const staffPage = (await tutor.get(`/courses/prog1/submissions/${g.id}`)).text;
    expect(staffPage).toContain('For staff: tamper signs');
    expect(staffPage).toContain('planted.py');
    const dash = (await tutor.get('/courses/prog1/dashboard')).text;
    expect(dash).toContain('tamper signs');
    expect(dash).toContain('read-only mount');
  });

  it('an honest submission is not flagged', async () => {
    const g = await grade('import sys\nsys.stdout.write(sys.stdin.read().upper())\n');
    expect(g.mine.result).toMatchObject({ status: 'passed', score: 2 });
    expect(g.staff.result!.tamper).toEqual([]);
    expect(g.staff.result!.unobserved ?? []).toEqual([]);
  });
});
