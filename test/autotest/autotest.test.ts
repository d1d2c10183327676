import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, createTestApp, type TestApp } from '../helpers/index.js';
import { signIn, type SignedInAgent } from '../helpers/accounts.js';
import { copyDemoContent, writeShellAssignment } from '../helpers/content.js';
import { upload, waitForResult } from '../helpers/submit.js';
import { postJson } from '../helpers/review.js';
import { ensureVariant } from '../../src/plugins/assignments/variants.js';
import { renderText } from '../../src/plugins/assignments/render.js';

const solution = (name: string) => readFileSync(path.join(ROOT, 'examples/solutions', name), 'utf8');

/** Reference solutions are templates over the student's variant, like the starter files. */
async function personal(t: TestApp, agent: SignedInAgent, slug: string, file: string): Promise<string> {
  const variant = await ensureVariant(t.app.deps, { course: 'prog1', slug, user: { id: agent.user.id, name: agent.user.name } });
  return renderText(solution(file), { params: variant!.params, student: { id: String(agent.user.id), name: agent.user.name } });
}

/** The demo course plus an assignment whose test script writes whichever results.json the "submission" names. */
function contentWithResultsFixture(): string {
  const dir = copyDemoContent();
  const a = writeShellAssignment(dir, 'rj', {
    title: 'Results fixture',
    opens: '2026-09-01T08:00:00+02:00',
    deadline: '2026-10-15T23:59:00+02:00',
    counts: 'best',
    wall: '3s',
    totalWithHiddenTests: 'hidden',
    memory: '256MB',
    statement: '# Results fixture\n\nWrite a mode into answer.txt.\n',
    script: `mode=$(cat answer.txt)
case "$mode" in
  exit0) echo "fine"; exit 0 ;;
  exit3) echo "not fine" >&2; exit 3 ;;
  sleep) sleep 100 ;;
  env) env > results.txt; cat params.json; exit 0 ;;
  *) cp "tests/$mode.json" results.json ;;
esac
`,
  });
  const files: Record<string, unknown> = {
    valid: {
      output: 'Well done',
      tests: [
        { name: 'visible one', score: 2, max_score: 2, status: 'passed', output: '<b>bold?</b>' },
        { name: 'later one', score: 0, max_score: 3, status: 'failed', visibility: 'after_due_date' },
        { name: 'secret one', score: 5, max_score: 5, status: 'passed', visibility: 'hidden' },
      ],
    },
    fraction: { score: 0.5 },
    published: {
      tests: [
        { name: 'now', score: 1, max_score: 1 },
        { name: 'on release', score: 1, max_score: 1, visibility: 'after_published', output: 'shown when grades are released' },
      ],
    },
    extra: { score: 12, max_score: 10 },
    negative: { tests: [{ name: 't', score: -1, max_score: 1 }] },
    pl: { score: 0.25, message: 'compiled with warnings', tests: [{ name: 'a', points: 1, max_points: 4, message: 'off by one' }] },
    plungradable: { gradable: false, message: 'caesar.c does not compile: expected ;', output: 'gcc: error' },
    ungradable: { score: 0, gradable: false },
    wrongtype: { score: 'ten', max_score: 10 },
  };
  // The same grader, but the results file grades (what imported Gradescope graders do).
  const rjr = writeShellAssignment(dir, 'rjr', {
    title: 'Results required',
    opens: '2026-09-01T08:00:00+02:00',
    deadline: '2026-10-15T23:59:00+02:00',
    wall: '3s',
    gradeBy: 'results',
    totalWithHiddenTests: 'hidden',
    script: 'if [ "$(cat answer.txt)" = published ]; then cp tests/published.json results.json; else echo "no results file"; fi\n',
  });
  for (const [name, body] of Object.entries(files)) writeFileSync(path.join(a, 'tests', `${name}.json`), JSON.stringify(body));
  writeFileSync(path.join(rjr, 'tests', 'published.json'), JSON.stringify(files.published));
  writeFileSync(path.join(a, 'tests', 'malformed.json'), '{"score": 3,');
  return dir;
}

let t: TestApp;
let student: SignedInAgent;
let tutor: SignedInAgent;

beforeAll(async () => {
  t = await createTestApp({ config: { graders: 2, contentDir: contentWithResultsFixture() } });
  student = await signIn(t, { name: 'Grace Student' });
  tutor = await signIn(t, { role: 'tutor' });
});
afterAll(async () => {
  await t.close();
});

async function submit(agent: SignedInAgent, slug: string, name: string, content: string | Buffer): Promise<number> {
  const res = await upload(agent, 'prog1', slug, [{ name, content }]);
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as { id: number }).id;
}

describe('grading the demo assignments in the real sandbox', () => {
  it('a correct C solution passes with full marks; a wrong one fails', async () => {
    const good = await submit(student, 'caesar', 'caesar.c', await personal(t, student, 'caesar', 'caesar/caesar.c'));
    const bad = await submit(student, 'caesar', 'caesar.c', await personal(t, student, 'caesar', 'caesar-wrong/caesar.c'));
    // The demo has hidden tests but shows the total anyway (feedback.total_with_hidden_tests).
    const g = await waitForResult(student, 'prog1', good);
    expect(g.result).toMatchObject({ status: 'passed', gradable: true });
    expect(g.result!.score).toBe(g.result!.maxScore);
    const b = await waitForResult(student, 'prog1', bad);
    expect(b.result).toMatchObject({ status: 'failed', gradable: true });
    expect(b.result!.score).toBeLessThan(b.result!.maxScore!);
    expect(b.result!.tests.some((x) => x.status === 'failed')).toBe(true);
  });

  it('a correct Python solution passes; a wrong one fails', async () => {
    const good = await submit(student, 'stats', 'stats.py', solution('stats/stats.py'));
    const bad = await submit(student, 'stats', 'stats.py', solution('stats-wrong/stats.py'));
    expect((await waitForResult(student, 'prog1', good)).result).toMatchObject({ status: 'passed', gradable: true });
    expect((await waitForResult(student, 'prog1', bad)).result).toMatchObject({ status: 'failed', gradable: true });
  });
});

describe('results.json', () => {
  it('a valid file: scores summed, hidden and after-due tests kept from the student but shown to staff', async () => {
    const id = await submit(student, 'rj', 'answer.txt', 'valid');
    const s = await waitForResult(student, 'prog1', id);
    // The total would give away the points of the hidden tests: it is hidden too (as on Gradescope).
    expect(s.result).toMatchObject({ status: 'submitted', score: null, maxScore: null, scoreHidden: true, scoreHiddenWhy: 'hidden_tests', output: 'Well done', hiddenTests: 2 });
    expect(s.result!.tests.map((x) => x.name)).toEqual(['visible one']);
    const staff = await waitForResult(tutor, 'prog1', id);
    expect(staff.result).toMatchObject({ status: 'failed', score: 7, maxScore: 10 });
    expect(staff.result!.tests.map((x) => x.name)).toEqual(['visible one', 'later one', 'secret one']);
    // Test output is text, escaped on the page.
    const page = await student.get(`/courses/prog1/submissions/${id}`);
    expect(page.text).toContain('&lt;b&gt;bold?&lt;/b&gt;');
    expect(page.text).not.toContain('<b>bold?</b>');
    expect(page.text).not.toContain('secret one');
  });

  it('after the deadline, after_due_date tests appear for the student', async () => {
    const id = await submit(student, 'rj', 'answer.txt', 'valid');
    await waitForResult(student, 'prog1', id);
    const now = t.clock.now();
    t.clock.set('2026-10-16T12:00:00+02:00');
    try {
      const s = await (await (await signIn(t, { email: student.user.email })).fetch(`/courses/prog1/submissions/${id}/status`)).json();
      expect((s as { result: { tests: Array<{ name: string }> } }).result.tests.map((x) => x.name)).toEqual(['visible one', 'later one']);
    } finally {
      t.clock.set(now);
    }
  });

  it('after_published tests reach the student once staff release the grades (the review plugin\'s release)', async () => {
    const id = await submit(student, 'rjr', 'answer.txt', 'published');
    const before = await waitForResult(student, 'prog1', id);
    expect(before.result!.tests.map((x) => x.name)).toEqual(['now']);
    expect(before.result).toMatchObject({ hiddenTests: 1 });
    const lecturer = await signIn(t, { role: 'lecturer' });
    expect((await postJson(lecturer, '/courses/prog1/assignments/rjr/release', { action: 'release' })).status).toBe(200);
    const after = await waitForResult(student, 'prog1', id);
    expect(after.result!.tests.map((x) => x.name)).toEqual(['now', 'on release']);
    expect(after.result).toMatchObject({ hiddenTests: 0, score: 2, maxScore: 2 });
    expect((await postJson(lecturer, '/courses/prog1/assignments/rjr/release', { action: 'withdraw' })).status).toBe(200);
    expect((await waitForResult(student, 'prog1', id)).result!.tests.map((x) => x.name)).toEqual(['now']);
  });

  it('a PrairieLearn-style fraction counts as a score out of 1', async () => {
    const s = await waitForResult(student, 'prog1', await submit(student, 'rj', 'answer.txt', 'fraction'));
    expect(s.result).toMatchObject({ score: 0.5, maxScore: 1, gradable: true });
  });

  // In a legacy bundle student code can write results.json, so PrairieLearn's gradable: false
  // cannot exempt the submission: it counts 0, flagged for staff, and its message still shows.
  it('PrairieLearn points and messages reach the student; gradable: false in a legacy bundle is 0 with its message, flagged', async () => {
    const s = await waitForResult(student, 'prog1', await submit(student, 'rj', 'answer.txt', 'pl'));
    expect(s.result).toMatchObject({ score: 1, maxScore: 4, gradable: true, message: 'compiled with warnings' });
    expect(s.result!.tests[0]).toMatchObject({ name: 'a', score: 1, maxScore: 4, message: 'off by one' });
    const id = await submit(student, 'rj', 'answer.txt', 'plungradable');
    const u = await waitForResult(student, 'prog1', id);
    expect(u.result).toMatchObject({ status: 'failed', gradable: true, score: 0, message: 'caesar.c does not compile: expected ;', tamper: [], legacy: false });
    const page = await student.get(`/courses/prog1/submissions/${id}`);
    expect(page.text).toContain('caesar.c does not compile: expected ;');
    const staff = await waitForResult(tutor, 'prog1', id);
    expect(staff.result).toMatchObject({ legacy: true });
    expect(staff.result!.tamper.map((f) => f.kind)).toEqual(['legacy_results']);
  });

  it('extra credit: a score above the maximum is kept (in a legacy bundle, flagged for staff to check)', async () => {
    const id = await submit(student, 'rj', 'answer.txt', 'extra');
    const s = await waitForResult(student, 'prog1', id);
    expect(s.result).toMatchObject({ status: 'passed', score: 12, maxScore: 10, gradable: true, tamper: [] });
    // Student code could have written it in this legacy bundle: staff are asked to check.
    const staff = await waitForResult(tutor, 'prog1', id);
    expect(staff.result!.tamper.map((f) => f.kind)).toEqual(['legacy_results']);
  });

  it('no results file where the bundle grades by results: could not be graded (not the student\'s 0), flagged for staff', async () => {
    const id = await submit(student, 'rjr', 'answer.txt', 'exit0');
    const s = await waitForResult(student, 'prog1', id);
    expect(s.result).toMatchObject({ status: 'error', gradable: false, score: null, tamper: [] });
    const staff = await waitForResult(tutor, 'prog1', id);
    expect(staff.result!.problem).toMatch(/without writing its results file/);
    expect(staff.result!.tamper.map((f) => f.kind)).toEqual(['legacy_results']);
  });

  it('no results file: exit code 0 is full marks, anything else zero, with the output tail', async () => {
    const pass = await waitForResult(student, 'prog1', await submit(student, 'rj', 'answer.txt', 'exit0'));
    expect(pass.result).toMatchObject({ status: 'passed', score: 1, maxScore: 1 });
    expect(pass.result!.output).toContain('fine');
    const fail = await waitForResult(student, 'prog1', await submit(student, 'rj', 'answer.txt', 'exit3'));
    expect(fail.result).toMatchObject({ status: 'failed', score: 0, maxScore: 1 });
    expect(fail.result!.output).toContain('not fine');
  });

  // A legacy bundle's results.json is writable by student code: nothing in it may exempt the
  // submission from grading (issue 14 item 11). It counts as zero, flagged for staff to re-run.
  it.each(['malformed', 'negative', 'ungradable', 'wrongtype'])('a %s results file in a legacy bundle counts as zero and is flagged for staff', async (mode) => {
    const id = await submit(student, 'rj', 'answer.txt', mode);
    const s = await waitForResult(student, 'prog1', id);
    expect(s.result).toMatchObject({ status: 'failed', gradable: true, score: 0, problem: null, tamper: [] });
    const staff = await waitForResult(tutor, 'prog1', id);
    expect(staff.result!.problem).toMatch(/results\.json/);
    expect(staff.result!.tamper.map((f) => f.kind)).toEqual(['legacy_results']);
  });

  it('a run over its time limit is a timeout, counted as zero', async () => {
    const s = await waitForResult(student, 'prog1', await submit(student, 'rj', 'answer.txt', 'sleep'));
    expect(s.result).toMatchObject({ status: 'timeout', score: 0, gradable: true });
  });

  it('the test sees the submission, its tests and the student params, and nothing of the server environment', async () => {
    process.env.LECTERN_SECRET_FOR_TEST = 'do-not-leak';
    const s = await waitForResult(student, 'prog1', await submit(student, 'rj', 'answer.txt', 'env'));
    expect(s.result!.output).not.toContain('do-not-leak');
    expect(s.result!.output).toContain('{');
  });
});

describe('live status', () => {
  it('streams the queue state and the result as server-sent events, then ends', async () => {
    const id = await submit(student, 'rj', 'answer.txt', 'valid');
    const res = await student.fetch(`/courses/prog1/submissions/${id}/events`);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const text = await res.text();
    const events = [...text.matchAll(/event: (\w+)\ndata: (.*)\n\n/g)].map((m) => ({ event: m[1], data: JSON.parse(m[2]!) as { state?: string; html?: string } }));
    expect(events.at(-1)!.event).toBe('end');
    const last = events.filter((e) => e.event === 'status').at(-1)!;
    expect(last.data.state).toBe('done');
    expect(last.data.html).toContain('the total is shown once every test is');
    expect(last.data.html).not.toContain('/ 10');
  });

  it('the submission page works without JavaScript and carries the event URL', async () => {
    const id = await submit(student, 'rj', 'answer.txt', 'exit0');
    await waitForResult(student, 'prog1', id);
    const page = await student.get(`/courses/prog1/submissions/${id}`);
    expect(page.text).toContain(`data-events="/courses/prog1/submissions/${id}/events"`);
    expect(page.text).toContain('All tests passed');
    expect(page.text).toMatch(/<noscript>.*Reload/s);
  });
});
