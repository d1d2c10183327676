import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, createTestApp, tempDir, type TestApp } from '../helpers/index.js';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { makeZip, type ArchiveEntry } from '../helpers/archives.js';
import { upload, waitForResult } from '../helpers/submit.js';
import { assignmentCommand } from '../../src/plugins/assignments/cli.js';
import { currentVersion } from '../../src/plugins/assignments/store.js';

/**
 * Autograders written for Gradescope and PrairieLearn (Lectern's own equivalents of their public
 * samples, in test/fixtures/autograders) imported without a change, graded through upload ->
 * queue -> result, give the scores those systems would.
 */
const FIXTURES = path.join(ROOT, 'test/fixtures/autograders');

function entries(dir: string, prefix = ''): ArchiveEntry[] {
  const out: ArchiveEntry[] = [];
  for (const name of readdirSync(path.join(dir, prefix)).sort()) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const st = statSync(path.join(dir, rel));
    if (st.isDirectory()) out.push(...entries(dir, rel));
    // Executables as the lecturer's zip would carry them (the fixtures' own bits depend on the checkout).
    else out.push({ name: rel, data: readFileSync(path.join(dir, rel)), mode: /run_autograder$|\.sh$/.test(rel) ? 0o100755 : 0o100644 });
  }
  return out;
}

async function zipOf(fixture: string): Promise<string> {
  const file = path.join(tempDir('lectern-zip-'), `${fixture}.zip`);
  await makeZip(file, entries(path.join(FIXTURES, fixture)));
  return file;
}

async function uploadBundle(agent: SignedInAgent, file: string, slug: string): Promise<Response> {
  const form = new FormData();
  form.append('slug', slug);
  form.append('bundle', new Blob([readFileSync(file)]), path.basename(file));
  return agent.fetch(`/courses/prog1/assignments/new?_csrf=${encodeURIComponent(agent.csrf)}`, { method: 'POST', body: form });
}

let t: TestApp;
let lecturer: SignedInAgent;
let student: SignedInAgent;
let tutor: SignedInAgent;

beforeAll(async () => {
  t = await createTestApp({ config: { graders: 2 } });
  lecturer = await signIn(t, { role: 'lecturer' });
  tutor = await signIn(t, { role: 'tutor' });
  student = await signIn(t, { name: 'Sam Student' });
});
afterAll(async () => {
  await t.close();
});

async function grade(slug: string, name: string, content: string) {
  const res = await upload(student, 'prog1', slug, [{ name, content }]);
  expect(res.status, await res.clone().text()).toBe(201);
  const id = ((await res.json()) as { id: number }).id;
  return { id, student: await waitForResult(student, 'prog1', id), staff: await waitForResult(tutor, 'prog1', id) };
}

describe('a Gradescope autograder zip', () => {
  it('uploads as it is and gets a default assignment.yaml in the Gradescope layout', async () => {
    const res = await uploadBundle(lecturer, await zipOf('gs-python'), 'calc');
    expect(res.status, await res.clone().text()).toBe(302);
    const v = currentVersion(t.app.deps.db, 'prog1', 'calc')!.version;
    expect(v.config).toMatchObject({ layout: 'gradescope', files: ['*'], test: { command: ['/autograder/run_autograder'], gradeBy: 'results' } });
    expect(v.manifest.map((e) => e.path)).toEqual(expect.arrayContaining(['assignment.yaml', 'statement.md', 'run_autograder', 'setup.sh', 'json_runner.py', 'tests/test_calculator.py']));
    const staffPage = await lecturer.get('/courses/prog1/assignments/calc/staff');
    expect(staffPage.res.status).toBe(200);
    // Gradescope's graders run student code in their own process tree: issue 13's legacy level.
    expect(staffPage.text).toContain('legacy: student code shares the test sandbox');
  });

  it('the unittest JSON runner grades as on Gradescope: weights, numbers, after_due_date, hidden total', async () => {
    const good = await grade('calc', 'calculator.py', 'def add(a, b):\n    return a + b\n\ndef mul(a, b):\n    return a * b\n');
    expect(good.staff.result).toMatchObject({ status: 'passed', score: 10, maxScore: 10, gradable: true });
    expect(good.staff.result!.tests.map((x) => `${x.number} ${x.name}`)).toEqual(['1.1 add() adds two numbers', '1.2 mul() multiplies two numbers', '2.1 mul() handles negative numbers']);
    // The after_due_date test is not shown yet, and neither is the total it is part of.
    expect(good.student.result).toMatchObject({ score: null, scoreHiddenWhy: 'hidden_tests', hiddenTests: 1 });
    expect(good.student.result!.stdout).toBeNull();
    expect(good.staff.result!.stdout).toContain('Ran 3 tests');
    // Every run of such a grader is marked legacy for staff (never for the student).
    expect(good.staff.result).toMatchObject({ legacy: true, tamper: [] });
    expect(good.student.result).toMatchObject({ legacy: false });
    expect((await tutor.get(`/courses/prog1/submissions/${good.id}`)).text).toContain('Legacy run:');
    expect((await student.get(`/courses/prog1/submissions/${good.id}`)).text).not.toContain('Legacy run:');

    const wrong = await grade('calc', 'calculator.py', 'def add(a, b):\n    return a + b\n\ndef mul(a, b):\n    return abs(a * b)\n');
    expect(wrong.staff.result).toMatchObject({ status: 'failed', score: 5, maxScore: 10 });
    const failed = wrong.staff.result!.tests.find((x) => x.number === '2.1')!;
    expect(failed).toMatchObject({ status: 'failed', score: 0, maxScore: 5, visibility: 'after_due_date' });
    expect(failed.output).toContain('21 != -21');
  });

  it('a C autograder imported with `lectern assignment import` compiles and scores the student', async () => {
    const write = process.stdout.write.bind(process.stdout);
    let printed = '';
    process.stdout.write = ((chunk: string) => {
      printed += chunk;
      return true;
    }) as typeof process.stdout.write;
    let code: number;
    try {
      code = await assignmentCommand.run(['import', await zipOf('gs-c'), '--course', 'prog1', '--slug', 'fact'], t.app.deps);
    } finally {
      process.stdout.write = write;
    }
    expect(code).toBe(0);
    expect(printed).toContain('prog1/fact: imported as version 1');

    const good = await grade('fact', 'fact.c', 'long fact(int n) { return n <= 1 ? 1 : n * fact(n - 1); }\n');
    expect(good.student.result).toMatchObject({ status: 'passed', score: 6, maxScore: 6, gradable: true });
    const off = await grade('fact', 'fact.c', 'long fact(int n) { return n <= 1 ? 1 : (n * fact(n - 1)) % 1000000; }\n');
    expect(off.student.result).toMatchObject({ status: 'failed', score: 3, maxScore: 6 });
    const broken = await grade('fact', 'fact.c', 'long fact(int n) { return n <= 1 ? 1 : n * fact(n - 1) }\n');
    expect(broken.student.result).toMatchObject({ status: 'failed', score: 0, maxScore: 6, gradable: true });
    expect(broken.student.result!.output).toContain('did not compile');
    expect(broken.student.result!.output).toMatch(/error: expected .;. before/);
  });

  it('a run_autograder that writes no results is "could not be graded" with its stderr for staff, not a zero', async () => {
    const file = path.join(tempDir('lectern-zip-'), 'broken.zip');
    await makeZip(file, [{ name: 'run_autograder', data: '#!/bin/sh\necho "harness exploded" >&2\nexit 1\n', mode: 0o100755 }]);
    expect((await uploadBundle(lecturer, file, 'broken')).status).toBe(302);
    const r = await grade('broken', 'x.txt', 'anything');
    expect(r.student.result).toMatchObject({ gradable: false, score: null, status: 'error', problem: null, tamper: [] });
    expect(r.staff.result!.problem).toContain('harness exploded');
    // Student code could have stopped the grader: staff see it among the runs to look at.
    expect(r.staff.result!.tamper.map((f) => f.kind)).toEqual(['legacy_results']);
  });

  it('student code sharing a legacy run finds neither the reference solution nor the statement in /autograder/source', async () => {
    const file = path.join(tempDir('lectern-zip-'), 'listing.zip');
    const run = '#!/bin/sh\nls=$(cd /autograder/source && find . -type f | sort | tr "\\n" " ")\nprintf \'{"score": 1, "max_score": 1, "output": "%s"}\' "$ls" > /autograder/results/results.json\n';
    await makeZip(file, [
      { name: 'run_autograder', data: run, mode: 0o100755 },
      { name: 'helper.py', data: 'x = 1\n' },
      { name: 'solution/answer.txt', data: 'the reference answer' },
    ]);
    expect((await uploadBundle(lecturer, file, 'listing')).status).toBe(302);
    const r = await grade('listing', 'x.txt', 'anything');
    expect(r.staff.result).toMatchObject({ score: 1, gradable: true, legacy: true });
    expect(r.staff.result!.output).toContain('./helper.py');
    expect(r.staff.result!.output).toContain('./run_autograder');
    expect(r.staff.result!.output).not.toContain('solution');
    expect(r.staff.result!.output).not.toContain('statement.md');
  });

  it('upgraded to the harness model (docs/autograders.md): the same layout, student code only through run_student', async () => {
    const runAutograder = [
      '#!/bin/sh',
      '# The grader stays in /autograder; the student program runs in its own sandbox.',
      'cd /autograder/source',
      'printf "5\\n" > in.txt',
      'got=$(run_student --stdin in.txt -- /bin/sh square.sh)',
      'seen=$(run_student -- /bin/sh -c "ls /autograder/source /autograder/results 2>&1; cat /autograder/source/secret.txt 2>&1")',
      'if [ "$got" = "25" ]; then s=1; else s=0; fi',
      'printf \'{"tests":[{"name":"square(5)","score":%s,"max_score":1,"output":"got %s"}],"extra_data":{"seen":"%s"}}\' "$s" "$got" "$(echo "$seen" | tr -d \'"\\n\')" > /autograder/results/results.json',
      '',
    ].join('\n');
    const yaml = ['title: Square', 'deadline: 2026-12-20T23:59:00+01:00', 'files: [square.sh]', 'layout: gradescope', 'test:', '  harness: [/autograder/run_autograder]', ''].join('\n');
    const file = path.join(tempDir('lectern-zip-'), 'upgraded.zip');
    await makeZip(file, [
      { name: 'assignment.yaml', data: yaml },
      { name: 'statement.md', data: '# Square\n' },
      { name: 'run_autograder', data: runAutograder, mode: 0o100755 },
      { name: 'secret.txt', data: 'hidden-expected-answers' },
    ]);
    const res = await uploadBundle(lecturer, file, 'upgraded');
    expect(res.status, await res.clone().text()).toBe(302);
    const staffPage = await lecturer.get('/courses/prog1/assignments/upgraded/staff');
    expect(staffPage.text).toContain('harness: your tests run in their own sandbox');
    // A student program that tries to read the grader's files and forge its results.
    const r = await grade('upgraded', 'square.sh', 'read n; echo $((n*n)); echo \'{"score": 99}\' > /autograder/results/results.json 2>/dev/null; true\n');
    expect(r.staff.result).toMatchObject({ status: 'passed', score: 1, maxScore: 1, gradable: true, legacy: false });
    const seen = JSON.stringify(r.staff.result!.extraData);
    expect(seen).not.toContain('hidden-expected-answers');
    expect(seen).toMatch(/No such file|cannot access/);
  });
});

describe('a PrairieLearn question with an external C grader', () => {
  it('uploads as it is; /grade layout, entrypoint, file names and timeout come from info.json and question.html', async () => {
    const res = await uploadBundle(lecturer, await zipOf('pl-c'), 'square');
    expect(res.status, await res.clone().text()).toBe(302);
    const v = currentVersion(t.app.deps.db, 'prog1', 'square')!.version;
    expect(v.config).toMatchObject({ title: 'Square a number in C', layout: 'prairielearn', files: ['square.c'], test: { command: ['/grade/tests/run.sh'], limits: { wallMs: 20_000 } } });
  });

  it('scores like PrairieLearn: score is the fraction, points/max_points per test, compiler message shown', async () => {
    const good = await grade('square', 'square.c', 'int square(int x) { return x * x; }\n');
    expect(good.student.result).toMatchObject({ status: 'passed', score: 4, maxScore: 4, gradable: true });
    expect(good.student.result!.tests.every((x) => x.status === 'passed')).toBe(true);
    const partial = await grade('square', 'square.c', 'int square(int x) { return x < 0 ? 0 : x * x; }\n');
    expect(partial.student.result).toMatchObject({ status: 'failed', score: 3, maxScore: 4 });
    expect(partial.student.result!.tests.find((x) => x.name === 'square(-4)')).toMatchObject({ score: 0, maxScore: 1, status: 'failed' });
    const broken = await grade('square', 'square.c', 'int square(int x) { return x * x }\n');
    expect(broken.student.result).toMatchObject({ score: 0, gradable: true });
    expect(broken.student.result!.message).toContain('Compilation failed');
    const page = await student.get(`/courses/prog1/submissions/${broken.id}`);
    expect(page.text).toContain('Compilation failed');
  });
});
