import { describe, expect, it } from 'vitest';
import type { SandboxResult } from '../../src/lib/sandbox/types.js';
import { parseAssignmentYaml } from '../../src/plugins/assignments/config.js';
import { renderOutput } from '../../src/plugins/autotest/output-format.js';
import { gradeDetails, type Grade } from '../../src/plugins/autotest/run/grade.js';
import { interpretRun, type InterpretOptions } from '../../src/plugins/autotest/run/results.js';
import type { StoredResult } from '../../src/plugins/autotest/store.js';
import { presentStatus } from '../../src/plugins/submissions/present.js';

function run(over: Partial<SandboxResult> = {}): SandboxResult {
  return { status: 'ok', exitCode: 0, signal: null, stdout: 'harness says hi', stderr: 'harness warns', stdoutTruncated: false, stderrTruncated: false, wallMs: 5, cpuMs: 1, files: {}, ...over };
}
const opts: InterpretOptions = { points: null, outputCap: 16 * 1024, gradeBy: 'results' };
const grade = (results: unknown, o: Partial<InterpretOptions> = {}, r: Partial<SandboxResult> = {}): Grade =>
  interpretRun(run(r), Buffer.from(typeof results === 'string' ? results : JSON.stringify(results)), { ...opts, ...o });

function stored(g: Grade): StoredResult {
  return { id: 1, jobId: 1, submissionId: 1, status: g.status, score: g.score, maxScore: g.maxScore, gradable: g.gradable, output: g.output, tests: g.tests, problem: g.problem, durationMs: 5, worker: null, createdAt: 0, tamper: g.tamper ?? [], details: gradeDetails(g) };
}
const visibleFeedback = { tests: 'visible', output: 'visible', score: 'visible', totalWithHiddenTests: 'hidden' } as const;
function present(g: Grade, viewer: { staff: boolean; afterDeadline?: boolean; published?: boolean }) {
  return presentStatus({ state: 'done', position: null, result: stored(g), jobId: 1 }, { afterDeadline: false, ...viewer }, visibleFeedback, 0).result!;
}

describe('Gradescope results.json, field by field', () => {
  it('score: the tests sum up; a top-level score overrides the sum', () => {
    const tests = [{ name: 'a', score: 1, max_score: 2 }, { name: 'b', score: 3, max_score: 3 }];
    expect(grade({ tests })).toMatchObject({ score: 4, maxScore: 5, status: 'failed', gradable: true });
    expect(grade({ score: 5, tests })).toMatchObject({ score: 5, maxScore: 5, status: 'passed' });
  });

  it('a bare score takes its maximum from points: in assignment.yaml, or cannot be graded without one', () => {
    expect(grade({ score: 44 }, { points: 50, format: 'gradescope' })).toMatchObject({ score: 44, maxScore: 50 });
    const g = grade({ score: 44 }, { format: 'gradescope' });
    expect(g).toMatchObject({ gradable: false, score: null });
    expect(g.problem).toMatch(/no maximum/);
  });

  it('extra credit: a test or total above its maximum is kept', () => {
    expect(grade({ tests: [{ name: 'bonus', score: 3, max_score: 2 }] })).toMatchObject({ score: 3, maxScore: 2, status: 'passed', gradable: true });
  });

  it('negative test scores are penalties; a negative total cannot be graded', () => {
    expect(grade({ tests: [{ name: 'a', score: 5, max_score: 5 }, { name: 'style', score: -1, max_score: 0 }] })).toMatchObject({ score: 4, maxScore: 5 });
    expect(grade({ tests: [{ name: 'a', score: -1, max_score: 1 }] }).gradable).toBe(false);
  });

  it('visibility: the top-level one is the default for tests; a test may say otherwise; after_published is accepted', () => {
    const g = grade({ visibility: 'after_due_date', tests: [{ name: 'a', score: 1, max_score: 1 }, { name: 'b', score: 1, max_score: 1, visibility: 'after_published' }] }, { defaultVisibility: 'visible' });
    expect(g.tests.map((t) => t.visibility)).toEqual(['after_due_date', 'after_published']);
    expect(grade({ tests: [{ name: 'a', score: 1, max_score: 1 }] }, { defaultVisibility: 'hidden' }).tests[0]!.visibility).toBe('hidden');
  });

  it('after_published tests open when grades are published (review\'s release, the viewer\'s published)', () => {
    const g = grade({ tests: [{ name: 'now', score: 1, max_score: 1 }, { name: 'later', score: 0, max_score: 1, visibility: 'after_published' }] });
    expect(present(g, { staff: false }).tests.map((t) => t.name)).toEqual(['now']);
    expect(present(g, { staff: false, afterDeadline: true }).tests.map((t) => t.name)).toEqual(['now']);
    expect(present(g, { staff: false, published: true }).tests.map((t) => t.name)).toEqual(['now', 'later']);
    expect(present(g, { staff: true }).tests.map((t) => t.name)).toEqual(['now', 'later']);
  });

  it('hidden tests: the student sees neither their points nor the total they make up; staff see all', () => {
    const g = grade({ tests: [{ name: 'shown', score: 1, max_score: 1 }, { name: 'secret', score: 0, max_score: 9, visibility: 'hidden' }] });
    const s = present(g, { staff: false });
    expect(s).toMatchObject({ score: null, maxScore: null, finalScore: null, scoreHidden: true, scoreHiddenWhy: 'hidden_tests', status: 'submitted', hiddenTests: 1 });
    expect(JSON.stringify(s)).not.toContain('secret');
    expect(JSON.stringify(s)).not.toMatch(/"maxScore":9|10/);
    expect(present(g, { staff: true })).toMatchObject({ score: 1, maxScore: 10, scoreHidden: false });
    // Once the hidden test is a visible one (after the deadline), the total is shown.
    const later = grade({ tests: [{ name: 'shown', score: 1, max_score: 1 }, { name: 'later', score: 0, max_score: 9, visibility: 'after_due_date' }] });
    expect(present(later, { staff: false, afterDeadline: true })).toMatchObject({ score: 1, maxScore: 10 });
  });

  it('stdout_visibility: the harness output is staff-only unless results.json shows it', () => {
    const hidden = grade({ score: 1, max_score: 1 });
    expect(present(hidden, { staff: false }).stdout).toBeNull();
    expect(present(hidden, { staff: true }).stdout).toContain('harness says hi');
    const shown = grade({ score: 1, max_score: 1, stdout_visibility: 'visible' });
    expect(present(shown, { staff: false }).stdout).toContain('harness warns');
  });

  it('number orders the tests (1.2 before 1.10, unnumbered last); tags are kept', () => {
    const g = grade({
      tests: [
        { name: 'x', score: 1, max_score: 1 },
        { name: 'c', number: '1.10', score: 1, max_score: 1 },
        { name: 'b', number: 1.2, score: 1, max_score: 1, tags: ['loops'] },
        { name: 'a', number: '1.1', score: 1, max_score: 1 },
      ],
    });
    expect(g.tests.map((t) => `${t.number}:${t.name}`)).toEqual(['1.1:a', '1.2:b', '1.10:c', 'null:x']);
    expect(g.tests[1]!.tags).toEqual(['loops']);
  });

  it('extra_data is kept for staff only; execution_time and leaderboard are kept', () => {
    const g = grade({ score: 1, max_score: 1, execution_time: 136, extra_data: { seed: 7 }, leaderboard: [{ name: 'Accuracy', value: 0.93 }, { name: 'Time', value: 15.1, order: 'asc' }], tests: [{ name: 't', score: 1, max_score: 1, extra_data: { x: 1 } }] });
    expect(g).toMatchObject({ executionTime: 136, extraData: { seed: 7 }, leaderboard: [{ name: 'Accuracy', value: 0.93, order: 'desc' }, { name: 'Time', value: 15.1, order: 'asc' }] });
    const s = present(g, { staff: false });
    expect(s.extraData).toBeUndefined();
    expect(s.tests[0]!.extraData).toBeUndefined();
    expect(present(g, { staff: true })).toMatchObject({ extraData: { seed: 7 }, tests: [{ extraData: { x: 1 } }] });
  });

  it('output_format and test_output_format: text escaped, md rendered safely, ansi as classes, html sanitised', () => {
    const g = grade({
      score: 1,
      max_score: 1,
      output: '**well** <script>alert(1)</script>',
      output_format: 'md',
      test_output_format: 'ansi',
      tests: [
        { name: 'ansi', score: 1, max_score: 1, output: '\u001b[31mred\u001b[0m <b>' },
        { name: 'html', score: 0, max_score: 0, output_format: 'html', output: '<b onclick="x()">b</b><script>alert(1)</script><img src="https://evil/x.png"><a href="javascript:alert(1)">l</a><p style="color:red" class="banner">p</p>' },
        { name: 'text', score: 0, max_score: 0, output_format: 'text', output: '<i>x</i>' },
      ],
    });
    const s = present(g, { staff: false });
    expect(s.outputHtml).toContain('<strong>well</strong>');
    expect(s.outputHtml).not.toContain('<script');
    const [ansi, html, text] = s.tests.map((t) => t.outputHtml);
    expect(ansi).toContain('<span class="ansi-red-fg">red</span>');
    expect(ansi).toContain('&lt;b&gt;');
    expect(html).toContain('<b>b</b>');
    for (const bad of ['onclick', '<script', 'evil', 'javascript:', 'style=', 'banner']) expect(html).not.toContain(bad);
    expect(text).toBe('<pre class="output">&lt;i&gt;x&lt;/i&gt;</pre>');
    expect(renderOutput('a\n\nb\nc', 'simple_format')).toBe('<p>a</p><p>b<br>c</p>');
  });

  it('a wrong type or unknown visibility cannot be graded, naming the field', () => {
    const g = grade({ tests: [{ name: 't', score: 1, max_score: 1, visibility: 'sometimes' }] });
    expect(g.gradable).toBe(false);
    expect(g.problem).toMatch(/tests\.0\.visibility/);
  });
});

describe('PrairieLearn results.json, field by field', () => {
  it('score is a fraction of the points: of the tests\' max_points, or points: in assignment.yaml, or 1', () => {
    const tests = [{ name: 'a', points: 1, max_points: 2 }, { name: 'b', points: 0, max_points: 2 }];
    expect(grade({ score: 0.25, tests }, { format: 'prairielearn' })).toMatchObject({ score: 1, maxScore: 4 });
    expect(grade({ score: 0.5 }, { format: 'prairielearn', points: 10 })).toMatchObject({ score: 5, maxScore: 10 });
    expect(grade({ score: 0.5 })).toMatchObject({ score: 0.5, maxScore: 1 });
    expect(grade({ score: 1.5 }, { format: 'prairielearn' }).gradable).toBe(false);
  });

  it('points/max_points per test, without a top-level score, sum up', () => {
    const g = grade({ tests: [{ name: 'a', points: 2, max_points: 2 }, { name: 'b', points: 1, max_points: 3, message: 'expected 4, got 5', description: 'adds', output: 'out' }] });
    expect(g).toMatchObject({ score: 3, maxScore: 5, gradable: true });
    expect(g.tests.map((t) => t.status)).toEqual(['passed', 'failed']);
    expect(g.tests[1]).toMatchObject({ message: 'expected 4, got 5', description: 'adds', output: 'out' });
  });

  it('full marks with points/max_points lists every test as passed', () => {
    const g = grade({ score: 1, tests: [{ name: 'a', points: 1, max_points: 1 }, { name: 'b', points: 2, max_points: 2 }] }, { format: 'prairielearn' });
    expect(g).toMatchObject({ score: 3, maxScore: 3, status: 'passed' });
    expect(g.tests.every((t) => t.status === 'passed')).toBe(true);
  });

  it('message is kept and shown to the student', () => {
    const g = grade({ score: 0, message: 'Compilation failed:\nmain.c:3: error', tests: [] }, { format: 'prairielearn' });
    expect(g).toMatchObject({ gradable: true, score: 0, message: 'Compilation failed:\nmain.c:3: error' });
    expect(present(g, { staff: false }).message).toContain('main.c:3: error');
  });

  it('gradable: false is not counted and its message reaches student and staff', () => {
    const g = grade({ gradable: false, message: 'square.c is missing' });
    expect(g).toMatchObject({ gradable: false, score: null, status: 'error', message: 'square.c is missing' });
    expect(present(g, { staff: false })).toMatchObject({ message: 'square.c is missing', problem: null });
    expect(present(g, { staff: true }).problem).toContain('harness warns');
  });

  it('format_errors (list or object) make the submission not gradable and are shown', () => {
    const g = grade({ score: 0, format_errors: { x: 'not a number', y: ['too long', 'bad'] } });
    expect(g).toMatchObject({ gradable: false, formatErrors: ['x: not a number', 'y: too long', 'y: bad'] });
    expect(grade({ format_errors: ['one'] }).formatErrors).toEqual(['one']);
  });

  it('images: raster data URLs are shown; anything else is dropped', () => {
    const png = 'data:image/png;base64,iVBORw0KGgo=';
    const g = grade({ score: 1, images: [{ label: 'plot', url: png }, { label: 'svg', url: 'data:image/svg+xml;base64,PHN2Zz4=' }, { label: 'remote', url: 'https://example.org/x.png' }], tests: [{ name: 't', points: 1, max_points: 1, images: [{ url: png }] }] });
    expect(g.images).toEqual([{ label: 'plot', url: png }]);
    expect(g.tests[0]!.images).toEqual([{ label: '', url: png }]);
  });

  it('succeeded: false is the grader\'s own failure: could not be graded, for staff', () => {
    const g = grade({ succeeded: false, message: 'grader crashed' });
    expect(g).toMatchObject({ gradable: false, output: expect.stringMatching(/could not be graded/) });
    expect(g.problem).toMatch(/succeeded/);
  });
});

describe('no results file', () => {
  it('is "could not be graded" with the harness output for staff, never a zero', () => {
    const g = interpretRun(run({ exitCode: 1 }), undefined, opts);
    expect(g).toMatchObject({ gradable: false, score: null, status: 'error' });
    expect(g.problem).toMatch(/without writing its results file/);
    expect(g.problem).toContain('harness warns');
  });

  it('grades by exit code only when the bundle says so', () => {
    expect(interpretRun(run({ exitCode: 0 }), undefined, { ...opts, gradeBy: 'exit_code', points: 5 })).toMatchObject({ score: 5, maxScore: 5, status: 'passed' });
    expect(interpretRun(run({ exitCode: 2 }), undefined, { ...opts, gradeBy: 'exit_code' })).toMatchObject({ score: 0, maxScore: 1, status: 'failed' });
  });

  it('a broken file is never the student\'s zero either', () => {
    expect(grade('{"score": ').gradable).toBe(false);
    expect(grade('[1,2]').gradable).toBe(false);
  });
});

describe('feedback.total_with_hidden_tests', () => {
  it('defaults to hidden for Gradescope and PrairieLearn graders and to visible for Lectern bundles', () => {
    const yaml = (layout: string) => `title: T\ndeadline: 2026-10-15T23:59:00+02:00\nfiles: [a.py]\nlayout: ${layout}\ntest:\n  command: [/bin/sh, run.sh]\n`;
    expect(parseAssignmentYaml(yaml('gradescope')).config!.feedback.totalWithHiddenTests).toBe('hidden');
    expect(parseAssignmentYaml(yaml('prairielearn')).config!.feedback.totalWithHiddenTests).toBe('hidden');
    expect(parseAssignmentYaml(yaml('lectern')).config!.feedback.totalWithHiddenTests).toBe('visible');
    expect(parseAssignmentYaml(`${yaml('lectern')}feedback:\n  total_with_hidden_tests: hidden\n`).config!.feedback.totalWithHiddenTests).toBe('hidden');
  });

  it('visible: the lecturer shows the total although some tests stay hidden', () => {
    const g = interpretRun(run(), Buffer.from(JSON.stringify({ tests: [{ name: 'a', score: 1, max_score: 1 }, { name: 'h', score: 2, max_score: 2, visibility: 'hidden' }] })), opts);
    const r = presentStatus({ state: 'done', position: null, result: stored(g), jobId: 1 }, { staff: false, afterDeadline: false }, { ...visibleFeedback, totalWithHiddenTests: 'visible' }, 0).result!;
    expect(r).toMatchObject({ score: 3, maxScore: 3, hiddenTests: 1 });
  });
});
